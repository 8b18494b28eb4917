export { OpenAIInstrumentation, type OpenAIInstrumentationConfig } from './openai/instrumentation.js';
export { AnthropicInstrumentation, type AnthropicInstrumentationConfig } from './anthropic/instrumentation.js';
export type { TokenmeterInstrumentationConfig } from './core/config.js';
export type { CallRecord, CallRequest, CallResponse, TokenUsage } from './core/call-record.js';
export {
  Recorder,
  type CallRecordProcessor,
  type ContextAttributes,
  type RecorderOptions,
  type SemconvMetricsMode,
} from './core/recorder.js';
export { partitionUsage, validateUsage } from './core/usage.js';
export * as semconv from './semconv.js';
