/**
 * The provider-neutral shape every client adapter produces. Adapters parse one SDK's
 * request and response into these; the recorder turns them into spans and metrics;
 * pricing reads `CallRecord` without knowing which SDK made the call.
 */

/** What is known before the call is sent. */
export interface CallRequest {
  /** `gen_ai.operation.name`: chat, text_completion, embeddings, generate_content, … */
  operation: string;
  /** `gen_ai.provider.name`: openai, anthropic, azure.ai.openai, aws.bedrock, … */
  provider: string;
  /** The model (or deployment) as the app asked for it; kept exact, normalized only for pricing. */
  requestModel: string | undefined;
  stream: boolean;
  serverAddress: string | undefined;
  serverPort: number | undefined;
  /** Extra request attributes (max_tokens, temperature, …) for the span. */
  attributes?: Record<string, string | number | boolean | string[]>;
}

/**
 * Token usage in the conventions' sense: `inputTokens` counts ALL input tokens (cache reads and
 * writes included) and `outputTokens` ALL output tokens (reasoning included), for every provider.
 * The other fields are subsets. Units beyond tokens (images, audio seconds, requests) ride in
 * `units`, keyed by the catalog's unit name.
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningOutputTokens: number;
  units?: Record<string, number>;
}

/** What an adapter learned from the response (or the stream) of one call. */
export interface CallResponse {
  responseModel?: string | undefined;
  responseId?: string | undefined;
  finishReasons?: string[] | undefined;
  /** Usage as the provider reported it, already mapped to the convention's shape; unvalidated. */
  usage?: TokenUsage | undefined;
  /** Raw provider usage object, kept for pricing rules that need provider detail. */
  providerUsage?: unknown;
  /** Cost the provider reported itself (OpenRouter `usage.cost`), in USD. */
  providerCostUsd?: number | undefined;
  attributes?: Record<string, string | number | boolean | string[]>;
}

/** The finished, validated record of one metered call: what the recorder emits and pricing prices. */
export interface CallRecord extends CallRequest {
  responseModel: string | undefined;
  responseId: string | undefined;
  finishReasons: string[] | undefined;
  usage: TokenUsage | undefined;
  usageEstimated: boolean;
  providerUsage: unknown;
  providerCostUsd: number | undefined;
  errorType: string | undefined;
  startTimeMs: number;
  durationSeconds: number;
  timeToFirstChunkSeconds: number | undefined;
  /** The service tier the provider reports having served (default, flex, batch, priority…). */
  serviceTier?: string | undefined;
  /** Set when a pricer is configured and the call has usage. */
  cost?: CallCost | undefined;
}

/** Cost of one call: what `@tokenmeter/pricing`'s `Pricer.price` returns (structurally). */
export type CallCost =
  | {
      priced: true;
      amountUsd: number;
      currency: 'USD';
      source: 'local' | 'provider';
      breakdown: Record<CostType, number>;
      pricingModel: string;
    }
  | { priced: false; reason: string };

export type CostType = 'input' | 'output' | 'cache_read' | 'cache_write' | 'reasoning' | 'other';

/** Prices calls; pricing knows nothing of SDKs or OpenTelemetry, so this is all it is given. */
export interface CallPricer {
  price(request: {
    provider: string;
    model: string;
    usage: TokenUsage;
    providerCostUsd?: number | undefined;
    at?: number | undefined;
    serviceTier?: string | undefined;
  }): CallCost;
}

export const EMPTY_USAGE: Readonly<TokenUsage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningOutputTokens: 0,
});
