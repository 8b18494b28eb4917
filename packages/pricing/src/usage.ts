/**
 * One usage shape for pricing — the contract's — and one reader per provider wire format that fills
 * it. Totals follow the GenAI conventions: `inputTokens` includes cache reads and writes and
 * `outputTokens` includes reasoning, whatever the provider's own convention is.
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningOutputTokens: number;
  /** Billable units beyond text tokens, by name (input_audio_tokens, images, web_search_requests, …). */
  units?: Record<string, number>;
}

export class UsageError extends Error {}

function count(value: unknown, field: string, required = false): number {
  if (value === undefined || value === null) {
    if (required) throw new UsageError(`usage.${field} is missing`);
    return 0;
  }
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    !Number.isInteger(value) ||
    value > 1e9
  ) {
    throw new UsageError(`usage.${field} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function check(usage: TokenUsage): TokenUsage {
  if (usage.cacheReadInputTokens + usage.cacheWriteInputTokens > usage.inputTokens) {
    throw new UsageError('cache read + cache write tokens exceed the input tokens');
  }
  if (usage.reasoningOutputTokens > usage.outputTokens) {
    throw new UsageError('reasoning tokens exceed the output tokens');
  }
  return usage;
}

type Raw = Record<string, any>;

/** OpenAI Chat Completions (and compatible servers): `prompt_tokens` already includes cached tokens. */
export function fromOpenAIChat(usage: Raw): TokenUsage {
  const prompt = usage.prompt_tokens_details ?? {};
  const completion = usage.completion_tokens_details ?? {};
  const result: TokenUsage = {
    inputTokens: count(usage.prompt_tokens, 'prompt_tokens', true),
    outputTokens: count(usage.completion_tokens, 'completion_tokens'),
    // DeepSeek names its cache hits prompt_cache_hit_tokens.
    cacheReadInputTokens: count(
      prompt.cached_tokens ?? usage.prompt_cache_hit_tokens,
      'prompt_tokens_details.cached_tokens',
    ),
    cacheWriteInputTokens: count(prompt.cache_write_tokens, 'prompt_tokens_details.cache_write_tokens'),
    reasoningOutputTokens: count(completion.reasoning_tokens, 'completion_tokens_details.reasoning_tokens'),
  };
  const units: Record<string, number> = {};
  const audioIn = count(prompt.audio_tokens, 'prompt_tokens_details.audio_tokens');
  const audioOut = count(completion.audio_tokens, 'completion_tokens_details.audio_tokens');
  if (audioIn) units.input_audio_tokens = audioIn;
  if (audioOut) units.output_audio_tokens = audioOut;
  if (audioIn || audioOut) result.units = units;
  return check(result);
}

/** OpenAI Responses API (and image / transcription token usage): `input_tokens` includes cached tokens. */
export function fromOpenAIResponses(usage: Raw): TokenUsage {
  return check({
    inputTokens: count(usage.input_tokens, 'input_tokens', true),
    outputTokens: count(usage.output_tokens, 'output_tokens'),
    cacheReadInputTokens: count(
      usage.input_tokens_details?.cached_tokens,
      'input_tokens_details.cached_tokens',
    ),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: count(
      usage.output_tokens_details?.reasoning_tokens,
      'output_tokens_details.reasoning_tokens',
    ),
  });
}

/** Anthropic Messages: cache reads and cache writes are reported IN ADDITION to `input_tokens`. */
export function fromAnthropic(usage: Raw): TokenUsage {
  const uncached = count(usage.input_tokens, 'input_tokens', true);
  const read = count(usage.cache_read_input_tokens, 'cache_read_input_tokens');
  const write = count(usage.cache_creation_input_tokens, 'cache_creation_input_tokens');
  const result: TokenUsage = {
    inputTokens: uncached + read + write,
    outputTokens: count(usage.output_tokens, 'output_tokens'),
    cacheReadInputTokens: read,
    cacheWriteInputTokens: write,
    reasoningOutputTokens: count(
      usage.output_tokens_details?.thinking_tokens,
      'output_tokens_details.thinking_tokens',
    ),
  };
  const units: Record<string, number> = {};
  const oneHour = count(
    usage.cache_creation?.ephemeral_1h_input_tokens,
    'cache_creation.ephemeral_1h_input_tokens',
  );
  const searches = count(usage.server_tool_use?.web_search_requests, 'server_tool_use.web_search_requests');
  if (oneHour) units.cache_write_1h_input_tokens = oneHour;
  if (searches) units.web_search_requests = searches;
  if (oneHour || searches) result.units = units;
  return check(result);
}

/**
 * Gemini `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount`, while
 * `thoughtsTokenCount` is NOT part of `candidatesTokenCount` — billed output is both.
 */
export function fromGemini(usage: Raw): TokenUsage {
  const candidates = count(usage.candidatesTokenCount, 'candidatesTokenCount');
  const thoughts = count(usage.thoughtsTokenCount, 'thoughtsTokenCount');
  return check({
    inputTokens:
      count(usage.promptTokenCount, 'promptTokenCount', true) +
      count(usage.toolUsePromptTokenCount, 'toolUsePromptTokenCount'),
    outputTokens: candidates + thoughts,
    cacheReadInputTokens: count(usage.cachedContentTokenCount, 'cachedContentTokenCount'),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: thoughts,
  });
}

/** Bedrock Converse `usage`: `inputTokens` excludes cache reads and writes, as Anthropic's does. */
export function fromBedrockConverse(usage: Raw): TokenUsage {
  const uncached = count(usage.inputTokens, 'inputTokens', true);
  const read = count(usage.cacheReadInputTokens ?? usage.cacheReadInputTokenCount, 'cacheReadInputTokens');
  const write = count(
    usage.cacheWriteInputTokens ?? usage.cacheWriteInputTokenCount,
    'cacheWriteInputTokens',
  );
  return check({
    inputTokens: uncached + read + write,
    outputTokens: count(usage.outputTokens, 'outputTokens'),
    cacheReadInputTokens: read,
    cacheWriteInputTokens: write,
    reasoningOutputTokens: 0,
  });
}

/**
 * Reads a provider's usage object as its API returns it, choosing the reader by provider and, for
 * OpenAI-compatible providers, by shape (Chat Completions vs Responses).
 */
export function usageFromProvider(provider: string, usage: unknown): TokenUsage {
  if (!usage || typeof usage !== 'object') throw new UsageError('usage must be a JSON object');
  const raw = usage as Raw;
  if (
    provider === 'anthropic' ||
    ((provider === 'aws.bedrock' || provider === 'gcp.vertex_ai') &&
      'input_tokens' in raw &&
      !('input_tokens_details' in raw))
  ) {
    return fromAnthropic(raw);
  }
  if (provider === 'aws.bedrock') return fromBedrockConverse(raw);
  if ('promptTokenCount' in raw) return fromGemini(raw);
  if ('prompt_tokens' in raw) return fromOpenAIChat(raw);
  if ('input_tokens' in raw) return fromOpenAIResponses(raw);
  throw new UsageError(`no usage fields recognised for provider ${provider}`);
}
