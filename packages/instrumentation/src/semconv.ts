/**
 * Attribute and metric names. The GenAI conventions (open-telemetry/semantic-conventions-genai)
 * are all "Development" and were renamed recently; the npm incubating constants lag behind,
 * so the names this package emits are defined here, in one place.
 */

// --- span attributes (GenAI conventions) ---
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = 'gen_ai.request.temperature';
export const ATTR_GEN_AI_AGENT_ID = 'gen_ai.agent.id';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
export const ATTR_GEN_AI_TOKEN_MODALITY = 'gen_ai.token.modality';
/** Only for the legacy `gen_ai.client.token.usage` histogram. */
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_OPENAI_RESPONSE_SERVICE_TIER = 'openai.response.service_tier';
export const ATTR_ANTHROPIC_RESPONSE_SERVICE_TIER = 'anthropic.response.service_tier';

// Cost (semantic-conventions-genai PR #443, still a draft): amount, currency, provider|local.
export const ATTR_GEN_AI_USAGE_COST_AMOUNT = 'gen_ai.usage.cost.amount';
export const ATTR_GEN_AI_USAGE_COST_CURRENCY = 'gen_ai.usage.cost.currency';
export const ATTR_GEN_AI_USAGE_COST_SOURCE = 'gen_ai.usage.cost.source';
export const METRIC_GEN_AI_CLIENT_OPERATION_COST = 'gen_ai.client.operation.cost';

// --- Tokenmeter's own names (see CONTRACT.md): stable when the conventions move ---
export const ATTR_TOKENMETER_USAGE_ESTIMATED = 'tokenmeter.usage.estimated';
export const ATTR_TOKENMETER_STREAM_OUTCOME = 'tokenmeter.stream.outcome';
export const ATTR_TOKENMETER_PRICING_MODEL = 'tokenmeter.pricing.model';
export const ATTR_TOKENMETER_PRICING_STATUS = 'tokenmeter.pricing.status';
export const ATTR_TOKENMETER_PRICING_REASON = 'tokenmeter.pricing.reason';
/** Prefix of the per-type cost breakdown: tokenmeter.cost.input, .output, .cache_read, … */
export const ATTR_TOKENMETER_COST_PREFIX = 'tokenmeter.cost.';
export const ATTR_TOKEN_TYPE = 'token_type';
export const ATTR_COST_TYPE = 'cost_type';
export const ATTR_OUTCOME = 'outcome';

// --- metrics ---
export const METRIC_TOKENMETER_TOKENS = 'tokenmeter.tokens';
export const METRIC_TOKENMETER_CALLS = 'tokenmeter.calls';
/** Exposed to Prometheus as `tokenmeter_cost_usd_total`. */
export const METRIC_TOKENMETER_COST = 'tokenmeter.cost.usd';
export const METRIC_TOKENMETER_UNPRICED_TOKENS = 'tokenmeter.unpriced_tokens';
export const METRIC_TOKENMETER_INTERNAL_ERRORS = 'tokenmeter.internal_errors';
export const METRIC_TOKENMETER_INVALID_USAGE = 'tokenmeter.invalid_usage';
export const METRIC_TOKENMETER_ESTIMATED_USAGE = 'tokenmeter.estimated_usage';
export const METRIC_TOKENMETER_DEDUPLICATED_CALLS = 'tokenmeter.deduplicated_calls';

/** Current conventions: one counter per token kind (`token-metrics.yaml`). */
export const METRIC_GEN_AI_INFERENCE_USAGE_INPUT_TOKENS = 'gen_ai.client.inference.usage.input_tokens';
export const METRIC_GEN_AI_INFERENCE_USAGE_OUTPUT_TOKENS = 'gen_ai.client.inference.usage.output_tokens';
export const METRIC_GEN_AI_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS =
  'gen_ai.client.inference.usage.cache_read.input_tokens';
export const METRIC_GEN_AI_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS =
  'gen_ai.client.inference.usage.cache_write.input_tokens';
export const METRIC_GEN_AI_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS =
  'gen_ai.client.inference.usage.reasoning.output_tokens';
export const METRIC_GEN_AI_INFERENCE_DURATION = 'gen_ai.client.inference.duration';
export const METRIC_GEN_AI_INFERENCE_TIME_TO_FIRST_CHUNK = 'gen_ai.client.inference.time_to_first_chunk';

/** Older conventions (semantic-conventions v1.41 and before), kept behind `semconvMetrics`. */
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage';
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration';
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK =
  'gen_ai.client.operation.time_to_first_chunk';

/** Bucket boundaries the conventions recommend. */
export const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
export const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
