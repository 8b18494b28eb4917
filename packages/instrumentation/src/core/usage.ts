import type { TokenUsage } from './call-record.js';

/** Above this a single call's count is treated as garbage, not as usage (largest context windows are ~10M). */
export const MAX_TOKENS_PER_CALL = 1e9;

export type UsageProblem =
  | 'missing'
  | 'not_a_number'
  | 'negative'
  | 'not_integer'
  | 'too_large'
  | 'inconsistent';

/**
 * Reads one count from a provider's usage object. `undefined`/`null` mean "not reported" (0 for
 * optional detail fields). Anything else that is not a finite, non-negative, sane integer is a problem:
 * we never coerce strings, never let NaN or negatives through.
 */
export function readCount(value: unknown): number | UsageProblem | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value)) return 'not_a_number';
  if (!Number.isFinite(value) || value > MAX_TOKENS_PER_CALL) return 'too_large';
  if (value < 0) return 'negative';
  if (!Number.isInteger(value)) return 'not_integer';
  return value;
}

export interface ValidatedUsage {
  usage: TokenUsage | undefined;
  problem: UsageProblem | undefined;
}

/**
 * Validates a usage record as a whole: every count sane, and the subsets no larger than their totals
 * (cache reads + writes within input, reasoning within output). A record that fails is dropped whole —
 * a partly trusted record would produce a wrong number — and the caller estimates instead.
 */
export function validateUsage(usage: TokenUsage | undefined): ValidatedUsage {
  if (!usage) return { usage: undefined, problem: 'missing' };
  const fields = [
    usage.inputTokens,
    usage.outputTokens,
    usage.cacheReadInputTokens,
    usage.cacheWriteInputTokens,
    usage.reasoningOutputTokens,
  ];
  for (const value of fields) {
    const count = readCount(value);
    if (typeof count === 'string') return { usage: undefined, problem: count };
    if (count === undefined) return { usage: undefined, problem: 'missing' };
  }
  if (
    usage.cacheReadInputTokens + usage.cacheWriteInputTokens > usage.inputTokens ||
    usage.reasoningOutputTokens > usage.outputTokens
  ) {
    return { usage: undefined, problem: 'inconsistent' };
  }
  if (usage.units) {
    for (const value of Object.values(usage.units)) {
      const count =
        typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_TOKENS_PER_CALL;
      if (!count) return { usage: undefined, problem: 'not_a_number' };
    }
  }
  return { usage, problem: undefined };
}

/**
 * Helper for adapters: a count from a provider field where absent means 0. Returns NaN for a
 * malformed value so that `validateUsage` rejects the whole record.
 */
export function countOrZero(value: unknown): number {
  const count = readCount(value);
  if (count === undefined) return 0;
  return typeof count === 'number' ? count : Number.NaN;
}

/** A required count: absent is as bad as malformed (NaN → record rejected). */
export function requiredCount(value: unknown): number {
  const count = readCount(value);
  return typeof count === 'number' ? count : Number.NaN;
}

/**
 * The contract's partition for metrics: `input` is uncached input only and `output` excludes
 * reasoning, so the five types add up to all tokens without double counting.
 */
export function partitionUsage(usage: TokenUsage): {
  input: number;
  output: number;
  cache_read: number;
  cache_write: number;
  reasoning: number;
} {
  return {
    input: usage.inputTokens - usage.cacheReadInputTokens - usage.cacheWriteInputTokens,
    output: usage.outputTokens - usage.reasoningOutputTokens,
    cache_read: usage.cacheReadInputTokens,
    cache_write: usage.cacheWriteInputTokens,
    reasoning: usage.reasoningOutputTokens,
  };
}
