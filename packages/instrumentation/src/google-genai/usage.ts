import type { StreamObserver } from '../core/adapter.js';
import type { CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import { countOrZero, requiredCount } from '../core/usage.js';

/**
 * Gemini's response shapes, shared by `@google/genai` and `@google/generative-ai` (both return the
 * wire JSON of the Gemini API and Vertex AI, camelCase, nearly untouched).
 */

/**
 * `usageMetadata` → the conventions' usage.
 * - `promptTokenCount` INCLUDES `cachedContentTokenCount` (cache reads), so it is the input total
 *   as it stands; there is no cache-write count (explicit caches are created, and billed for
 *   storage, by a separate call).
 * - `toolUsePromptTokenCount` (results of built-in tools such as search grounding or URL context,
 *   fed back to the model) is NOT part of `promptTokenCount` — `totalTokenCount` is prompt +
 *   candidates + tool-use prompt + thoughts — and is billed at the input price, so it is added to
 *   the input total.
 * - `thoughtsTokenCount` is NOT part of `candidatesTokenCount`; billed output is both, so output =
 *   candidates + thoughts and the thoughts are the reasoning subset.
 * The same reading as `@tokenmeter/pricing`'s `fromGemini`, which the CLI uses on raw usageMetadata.
 */
export function geminiUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const thoughts = countOrZero(usage.thoughtsTokenCount);
  return {
    inputTokens: requiredCount(usage.promptTokenCount) + countOrZero(usage.toolUsePromptTokenCount),
    outputTokens: countOrZero(usage.candidatesTokenCount) + thoughts,
    cacheReadInputTokens: countOrZero(usage.cachedContentTokenCount),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: thoughts,
  };
}

/**
 * Usage of an embeddings call, wherever the API put it: `usageMetadata.promptTokenCount` (Vertex
 * embedContent for Gemini embedding models, and the Gemini API when it reports any), else the sum of
 * the per-embedding `statistics.tokenCount` (Vertex `predict` for text-embedding models; the raw
 * wire field is `token_count`). The Gemini API's `embedContent`/`batchEmbedContents` report none:
 * undefined, and the recorder estimates.
 */
export function geminiEmbeddingUsage(response: any): { usage: TokenUsage | undefined; raw: unknown } {
  const metadata = response?.usageMetadata;
  if (metadata && typeof metadata === 'object' && metadata.promptTokenCount !== undefined) {
    return { usage: embeddingUsage(requiredCount(metadata.promptTokenCount)), raw: metadata };
  }
  const embeddings = response?.embeddings ?? (response?.embedding ? [response.embedding] : undefined);
  if (!Array.isArray(embeddings) || embeddings.length === 0) return { usage: undefined, raw: undefined };
  let total = 0;
  for (const embedding of embeddings) {
    const statistics = embedding?.statistics;
    const count = statistics?.tokenCount ?? statistics?.token_count;
    if (count === undefined || count === null) return { usage: undefined, raw: undefined };
    total += requiredCount(count);
  }
  return { usage: embeddingUsage(total), raw: { tokenCount: total } };
}

function embeddingUsage(input: number): TokenUsage {
  return {
    inputTokens: input,
    outputTokens: 0,
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: 0,
  };
}

/** A whole `GenerateContentResponse`: usage, `responseId`, `modelVersion`, a finish reason per candidate. */
export function readGenerateContentResponse(response: any): CallResponse {
  const usage = response?.usageMetadata;
  return {
    responseModel: stringOr(response?.modelVersion),
    responseId: stringOr(response?.responseId),
    finishReasons: finishReasons(response?.candidates),
    usage: geminiUsage(usage),
    providerUsage: usage,
  };
}

function finishReasons(candidates: unknown): string[] | undefined {
  if (!Array.isArray(candidates)) return undefined;
  const reasons: string[] = [];
  for (const candidate of candidates)
    if (typeof candidate?.finishReason === 'string') reasons.push(candidate.finishReason);
  return reasons.length ? reasons : undefined;
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The chunks of `streamGenerateContent`: each is a `GenerateContentResponse`; `usageMetadata` counts
 * up on the way and the last one is complete, so the latest wins. A stream that ended before any
 * candidate finished (break, abort, cut) keeps its last usage only when it already counted output
 * (`candidatesTokenCount`); a usage that knows only the prompt would report zero output, so the
 * recorder estimates instead.
 */
export class GenerateContentStreamObserver implements StreamObserver {
  private usage: any;
  private responseId: string | undefined;
  private responseModel: string | undefined;
  private readonly finished = new Map<number, string>();
  private readonly text: string[] = [];
  private error: GeminiStreamError | undefined;

  onEvent(chunk: any): boolean {
    if (!chunk || typeof chunk !== 'object') return false;
    if (chunk.error && typeof chunk.error === 'object') this.error ??= new GeminiStreamError(chunk.error);
    if (chunk.usageMetadata && typeof chunk.usageMetadata === 'object') this.usage = chunk.usageMetadata;
    this.responseId ??= stringOr(chunk.responseId);
    this.responseModel ??= stringOr(chunk.modelVersion);
    const candidates = chunk.candidates;
    if (Array.isArray(candidates)) {
      for (let position = 0; position < candidates.length; position++) {
        const candidate = candidates[position];
        const index = typeof candidate?.index === 'number' ? candidate.index : position;
        if (typeof candidate?.finishReason === 'string') this.finished.set(index, candidate.finishReason);
        collectText(candidate?.content, this.text);
      }
    }
    return false;
  }

  /** Completes the picture with what a later, aggregated response adds (the legacy SDK's `response`). */
  merge(response: CallResponse): CallResponse {
    const own = this.result();
    return {
      ...response,
      responseModel: response.responseModel ?? own.responseModel,
      responseId: response.responseId ?? own.responseId,
      finishReasons: response.finishReasons ?? own.finishReasons,
      usage: response.usage ?? own.usage,
      providerUsage: response.usage ? response.providerUsage : own.providerUsage,
    };
  }

  result(): CallResponse {
    const complete = this.finished.size > 0 || this.usage?.candidatesTokenCount !== undefined;
    const usage = complete ? this.usage : undefined;
    return {
      responseModel: this.responseModel,
      responseId: this.responseId,
      finishReasons: this.finished.size
        ? [...this.finished.entries()].sort((a, b) => a[0] - b[0]).map(([, reason]) => reason)
        : undefined,
      usage: geminiUsage(usage),
      providerUsage: usage,
    };
  }

  outputText(): string {
    return this.text.join('');
  }

  /**
   * An error object the server sent inside the stream (`{ error: { code, message, status } }`).
   * `@google/genai` throws it to the app itself; `@google/generative-ai` hands it over as a chunk.
   */
  streamError(): GeminiStreamError | undefined {
    return this.error;
  }
}

/** A failure the server reported inside a stream; `status` is its HTTP-like code, for `error.type`. */
export class GeminiStreamError extends Error {
  readonly status: number | undefined;

  constructor(error: { code?: unknown; status?: unknown }) {
    super(typeof error.status === 'string' ? error.status : 'stream error');
    this.name = 'GeminiStreamError';
    this.status = typeof error.code === 'number' ? error.code : undefined;
  }
}

/** Number of turns in a `contents` value (a string or single part/content is one). */
export function turnCount(contents: unknown): number {
  if (contents === undefined || contents === null) return 0;
  return Array.isArray(contents) ? contents.length : 1;
}
