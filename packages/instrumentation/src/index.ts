export { createInstrumentations } from './all.js';
export {
  AnthropicInstrumentation,
  type AnthropicInstrumentationConfig,
} from './anthropic/instrumentation.js';
export {
  BedrockRuntimeInstrumentation,
  type BedrockRuntimeInstrumentationConfig,
} from './bedrock-runtime/instrumentation.js';
export { CohereInstrumentation, type CohereInstrumentationConfig } from './cohere/instrumentation.js';
export type {
  CallCost,
  CallPricer,
  CallRecord,
  CallRequest,
  CallResponse,
  CostType,
  TokenUsage,
} from './core/call-record.js';
export type { TokenmeterInstrumentationConfig } from './core/config.js';
export { LlmInstrumentation } from './core/instrumentation-base.js';
export {
  type CallRecordProcessor,
  type ContextAttributes,
  Recorder,
  type RecorderOptions,
  type SemconvMetricsMode,
} from './core/recorder.js';
export { partitionUsage, validateUsage } from './core/usage.js';
export {
  GoogleGenAIInstrumentation,
  type GoogleGenAIInstrumentationConfig,
} from './google-genai/instrumentation.js';
export {
  GoogleGenerativeAIInstrumentation,
  type GoogleGenerativeAIInstrumentationConfig,
} from './google-generative-ai/instrumentation.js';
export { GroqInstrumentation, type GroqInstrumentationConfig } from './groq/instrumentation.js';
export {
  LangChainInstrumentation,
  type LangChainInstrumentationConfig,
} from './langchain/instrumentation.js';
export { MistralInstrumentation, type MistralInstrumentationConfig } from './mistral/instrumentation.js';
export { OllamaInstrumentation, type OllamaInstrumentationConfig } from './ollama/instrumentation.js';
export { OpenAIInstrumentation, type OpenAIInstrumentationConfig } from './openai/instrumentation.js';
export * as semconv from './semconv.js';
export { VercelAIInstrumentation, type VercelAIInstrumentationConfig } from './vercel-ai/instrumentation.js';
export {
  PACKAGE_NAME as INSTRUMENTATION_SCOPE,
  PACKAGE_VERSION as INSTRUMENTATION_VERSION,
} from './version.js';
