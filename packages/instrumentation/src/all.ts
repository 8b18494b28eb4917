import { AnthropicInstrumentation } from './anthropic/instrumentation.js';
import { BedrockRuntimeInstrumentation } from './bedrock-runtime/instrumentation.js';
import { CohereInstrumentation } from './cohere/instrumentation.js';
import type { TokenmeterInstrumentationConfig } from './core/config.js';
import type { LlmInstrumentation } from './core/instrumentation-base.js';
import { GoogleGenAIInstrumentation } from './google-genai/instrumentation.js';
import { GoogleGenerativeAIInstrumentation } from './google-generative-ai/instrumentation.js';
import { GroqInstrumentation } from './groq/instrumentation.js';
import { LangChainInstrumentation } from './langchain/instrumentation.js';
import { MistralInstrumentation } from './mistral/instrumentation.js';
import { OllamaInstrumentation } from './ollama/instrumentation.js';
import { OpenAIInstrumentation } from './openai/instrumentation.js';
import { VercelAIInstrumentation } from './vercel-ai/instrumentation.js';

/**
 * One instance of every Tokenmeter instrumentation, sharing `config`: what `@tokenmeter/node`
 * registers. Each patches its library only if the app loads it.
 */
export function createInstrumentations(config: TokenmeterInstrumentationConfig = {}): LlmInstrumentation[] {
  return [
    new OpenAIInstrumentation(config),
    new AnthropicInstrumentation(config),
    new GoogleGenAIInstrumentation(config),
    new GoogleGenerativeAIInstrumentation(config),
    new BedrockRuntimeInstrumentation(config),
    new MistralInstrumentation(config),
    new CohereInstrumentation(config),
    new GroqInstrumentation(config),
    new OllamaInstrumentation(config),
    new VercelAIInstrumentation(config),
    new LangChainInstrumentation(config),
  ];
}
