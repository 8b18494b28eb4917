import type { StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { EstimationSource } from '../core/recorder.js';
import { countOrZero, requiredCount } from '../core/usage.js';
import * as sc from '../semconv.js';

/**
 * LangChain.js (`@langchain/core`) knowledge, and nothing else: which provider and model a chat
 * model (or a text-completion LLM) stands for, and how to read LangChain's own usage record from
 * what its base classes return. Knows nothing about spans, prices or the vendor SDKs underneath.
 */

type AnyModel = Record<string, any>;

/**
 * LangChain's `ls_provider` (from `getLsParams`, what the integrations report to LangSmith) or, for
 * text-completion LLMs, `_llmType()` → `gen_ai.provider.name`. Names not listed are kept, lower-cased.
 */
const PROVIDERS: Record<string, string> = {
  openai: 'openai',
  azure: 'azure.ai.openai',
  azure_openai: 'azure.ai.openai',
  azureopenai: 'azure.ai.openai',
  anthropic: 'anthropic',
  google_genai: 'gcp.gemini',
  googlegenerativeai: 'gcp.gemini',
  google_gemini: 'gcp.gemini',
  google_vertexai: 'gcp.vertex_ai',
  vertexai: 'gcp.vertex_ai',
  google_vertex_ai: 'gcp.vertex_ai',
  vertexai_web: 'gcp.vertex_ai',
  amazon_bedrock: 'aws.bedrock',
  bedrock: 'aws.bedrock',
  aws_bedrock: 'aws.bedrock',
  mistral: 'mistral_ai',
  mistralai: 'mistral_ai',
  mistral_ai: 'mistral_ai',
  groq: 'groq',
  ollama: 'ollama',
  cohere: 'cohere',
  deepseek: 'deepseek',
  xai: 'x_ai',
  x_ai: 'x_ai',
  perplexity: 'perplexity',
  ibm: 'ibm.watsonx.ai',
  watsonx: 'ibm.watsonx.ai',
  fireworks: 'fireworks',
  together: 'together_ai',
  togetherai: 'together_ai',
  cerebras: 'cerebras',
  openrouter: 'openrouter',
};

export function providerName(lsProvider: unknown): string | undefined {
  if (typeof lsProvider !== 'string' || lsProvider.length === 0) return undefined;
  const key = lsProvider
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  return PROVIDERS[key] ?? (key || undefined);
}

export type ModelKind = 'chat' | 'llm';

/**
 * What is known before the call: provider and model from the model object, exact as configured.
 * The provider is the integration's `ls_provider` when it reports one (`getLsParams` overridden, as
 * every partner package does); LangChain's default derives it from the class name, so a custom
 * model's own `_llmType()` is preferred then.
 */
export function describeModel(
  model: AnyModel,
  callOptions: unknown,
  kind: ModelKind,
  stream: boolean,
  base?: { prototype: AnyModel },
): CallRequest {
  let params: Record<string, unknown> | undefined;
  if (typeof model.getLsParams === 'function') {
    try {
      params = model.getLsParams(callOptions ?? {});
    } catch {
      // A model whose tracing params throw on these options: fall back to its fields.
    }
  }
  let llmType: string | undefined;
  try {
    const type = typeof model._llmType === 'function' ? model._llmType() : undefined;
    if (typeof type === 'string') llmType = type.replace(/^chat[_-]?|[_-]chat$/i, '');
  } catch {
    // ignored: _llmType is abstract in older classes
  }
  const ownLsParams = base === undefined || model.getLsParams !== base.prototype.getLsParams;
  const provider =
    (ownLsParams ? providerName(params?.ls_provider) : undefined) ??
    providerName(llmType) ??
    providerName(params?.ls_provider) ??
    'langchain';
  const requestModel = firstString(params?.ls_model_name, model.model, model.modelName, model.model_name);
  const request: CallRequest = {
    operation: kind === 'chat' ? 'chat' : 'text_completion',
    provider,
    requestModel,
    stream,
    serverAddress: undefined,
    serverPort: undefined,
  };
  const attributes: Record<string, number> = {};
  if (isFiniteNumber(params?.ls_max_tokens))
    attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = params.ls_max_tokens;
  if (isFiniteNumber(params?.ls_temperature))
    attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = params.ls_temperature;
  if (Object.keys(attributes).length) request.attributes = attributes;
  return request;
}

/**
 * LangChain's `UsageMetadata`: `input_tokens` is "the sum of all input token types" (the
 * integrations add Anthropic's cache reads and writes to it; OpenAI's and Gemini's prompt counts
 * include them already), `output_tokens` the sum of all output types (reasoning included). That is
 * the conventions' shape; `cache_creation` is the cache write count.
 */
export function usageFromMetadata(usage: any, partial = false): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  // A stream chunk may carry only part of the record (output only, say): absent counts are 0 there.
  const total = partial ? countOrZero : requiredCount;
  return {
    inputTokens: total(usage.input_tokens),
    outputTokens: total(usage.output_tokens),
    cacheReadInputTokens: countOrZero(usage.input_token_details?.cache_read),
    cacheWriteInputTokens: countOrZero(usage.input_token_details?.cache_creation),
    reasoningOutputTokens: countOrZero(usage.output_token_details?.reasoning),
  };
}

/** Older integrations and text LLMs: `llmOutput.tokenUsage` ({promptTokens, completionTokens}). */
export function usageFromTokenUsage(tokenUsage: any): TokenUsage | undefined {
  if (!tokenUsage || typeof tokenUsage !== 'object') return undefined;
  if (tokenUsage.promptTokens === undefined && tokenUsage.completionTokens === undefined) return undefined;
  return {
    inputTokens: requiredCount(tokenUsage.promptTokens),
    outputTokens: countOrZero(tokenUsage.completionTokens),
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: 0,
  };
}

/** Sums two usage records field by field, as LangChain's `mergeUsageMetadata` does. */
function addUsage(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage | undefined {
  if (!a) return b;
  if (!b) return a;
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
    cacheWriteInputTokens: a.cacheWriteInputTokens + b.cacheWriteInputTokens,
    reasoningOutputTokens: a.reasoningOutputTokens + b.reasoningOutputTokens,
  };
}

/** Accumulates what messages (or message chunks) tell about the call. */
class ResponseBuilder {
  usage: TokenUsage | undefined;
  rawUsage: unknown[] = [];
  responseModel: string | undefined;
  responseId: string | undefined;
  finishReasons: string[] = [];

  addMessage(message: any, generationInfo?: any): void {
    if (!message || typeof message !== 'object') return;
    const metadata = message.response_metadata;
    this.responseModel ??= firstString(metadata?.model_name, metadata?.model, generationInfo?.model_name);
    // LangChain names messages without a provider id after its run (`run-…`): not a response id.
    const id = message.id;
    if (this.responseId === undefined && typeof id === 'string' && !/^(run-|lc_run)/.test(id))
      this.responseId = id;
    const reason = firstString(
      metadata?.finish_reason,
      metadata?.stop_reason,
      metadata?.finishReason,
      generationInfo?.finish_reason,
    );
    if (reason !== undefined && !this.finishReasons.includes(reason)) this.finishReasons.push(reason);
  }

  addUsage(raw: unknown, partial = false): void {
    if (raw === undefined || raw === null) return;
    this.rawUsage.push(raw);
    this.usage = addUsage(this.usage, usageFromMetadata(raw, partial) ?? NAN_USAGE);
  }

  result(fallbackUsage?: unknown): CallResponse {
    let usage = this.usage;
    let providerUsage: unknown = this.rawUsage.length === 1 ? this.rawUsage[0] : this.rawUsage;
    if (usage === undefined && fallbackUsage !== undefined) {
      usage = usageFromTokenUsage(fallbackUsage);
      providerUsage = fallbackUsage;
    }
    return {
      responseModel: this.responseModel,
      responseId: this.responseId,
      finishReasons: this.finishReasons.length ? this.finishReasons : undefined,
      usage,
      providerUsage: usage ? providerUsage : undefined,
    };
  }
}

/** A usage record that is present but not an object: rejected as a whole by validation. */
const NAN_USAGE: TokenUsage = {
  inputTokens: Number.NaN,
  outputTokens: Number.NaN,
  cacheReadInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningOutputTokens: 0,
};

/**
 * Reads the `LLMResult` of `_generateUncached`: `generations[i]` is the answer to the i-th prompt
 * (one provider request each); its messages share that request's usage (OpenAI puts the same
 * record on every choice of `n > 1`), so each prompt's usage is read once, from its first
 * generation that has one, and prompts are summed. Without `usage_metadata` (text LLMs, older
 * integrations), `llmOutput.tokenUsage` is used.
 */
export function readGenerateResult(result: any): CallResponse {
  const builder = new ResponseBuilder();
  const generations: unknown = result?.generations;
  if (Array.isArray(generations)) {
    for (const list of generations) {
      if (!Array.isArray(list)) continue;
      let usageSeen = false;
      for (const generation of list) {
        const message = generation?.message;
        builder.addMessage(message, generation?.generationInfo);
        if (!usageSeen && message?.usage_metadata !== undefined && message?.usage_metadata !== null) {
          usageSeen = true;
          builder.addUsage(message.usage_metadata);
        }
        if (!message) {
          const reason = firstString(generation?.generationInfo?.finish_reason);
          if (reason !== undefined && !builder.finishReasons.includes(reason))
            builder.finishReasons.push(reason);
        }
      }
    }
  }
  return builder.result(result?.llmOutput?.tokenUsage);
}

/** Text of the generations, for estimation when no usage was reported. */
export function generatedText(result: any): string {
  const texts: string[] = [];
  for (const list of Array.isArray(result?.generations) ? result.generations : []) {
    for (const generation of Array.isArray(list) ? list : []) {
      if (typeof generation?.text === 'string' && generation.text.length) texts.push(generation.text);
      else collectText(generation?.message?.content, texts);
    }
  }
  return texts.join('');
}

/**
 * The chunks `BaseChatModel._streamIterator` yields (`AIMessageChunk`s; text strings for text
 * LLMs). Usage is summed over the chunks, exactly as `AIMessageChunk.concat` merges it.
 */
export class ChunkStreamObserver implements StreamObserver {
  private readonly builder = new ResponseBuilder();
  private readonly text: string[] = [];

  onEvent(chunk: any): boolean {
    if (typeof chunk === 'string') {
      this.text.push(chunk);
      return false;
    }
    if (!chunk || typeof chunk !== 'object') return false;
    this.builder.addMessage(chunk);
    if (chunk.usage_metadata !== undefined && chunk.usage_metadata !== null)
      this.builder.addUsage(chunk.usage_metadata, true);
    if (typeof chunk.content === 'string') this.text.push(chunk.content);
    else collectText(chunk.content, this.text);
    return false;
  }

  result(): CallResponse {
    const response = this.builder.result();
    // A stream cut short keeps the usage of the chunks before the cut, typically the input count
    // alone (providers report output at the end): no output counted for text the app did receive
    // would under-count, so the call is estimated instead.
    if (response.usage?.outputTokens === 0 && this.text.some((piece) => piece.length > 0)) {
      return { ...response, usage: undefined, providerUsage: undefined };
    }
    return response;
  }

  outputText(): string {
    return this.text.join('');
  }
}

/**
 * The content-block event protocol of `BaseChatModel.streamEvents()` (core 1.4+): usage arrives
 * as snapshots (`message-start`, `usage`, `message-finish`) and the latest one holds, as in
 * `ChatModelStream`'s own assembly of the message.
 */
export class ChatModelEventObserver implements StreamObserver {
  private usage: unknown;
  private responseId: string | undefined;
  private finishReason: string | undefined;
  private responseModel: string | undefined;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    switch (event?.event) {
      case 'message-start':
        if (typeof event.id === 'string' && !/^(run-|lc_run)/.test(event.id)) this.responseId = event.id;
        if (event.usage) this.usage = event.usage;
        this.readMetadata(event);
        break;
      case 'usage':
        if (event.usage) this.usage = event.usage;
        break;
      case 'message-finish':
        if (event.usage) this.usage = event.usage;
        if (typeof event.reason === 'string') this.finishReason = event.reason;
        this.readMetadata(event);
        break;
      case 'content-block-delta': {
        const delta = event.delta ?? event.content;
        const piece = delta?.text ?? delta?.reasoning ?? delta?.args ?? delta?.thinking;
        if (typeof piece === 'string') this.text.push(piece);
        break;
      }
    }
    return false;
  }

  private readMetadata(event: any): void {
    const metadata = event.metadata ?? event.response_metadata;
    this.responseModel ??= firstString(metadata?.model_name, metadata?.model);
  }

  result(): CallResponse {
    const usage = this.usage === undefined ? undefined : (usageFromEvent(this.usage) ?? NAN_USAGE);
    return {
      responseModel: this.responseModel,
      responseId: this.responseId,
      finishReasons: this.finishReason === undefined ? undefined : [this.finishReason],
      usage,
      providerUsage: usage ? this.usage : undefined,
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}

/** Stream-protocol usage may omit totals (`ChatModelStream` reads them as 0). */
function usageFromEvent(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  return usageFromMetadata(usage, true);
}

/** Estimation input for chat calls: the messages' text, read only when usage is missing. */
export function chatEstimation(messages: () => unknown): EstimationSource {
  return {
    input: () => {
      const texts: string[] = [];
      let count = 0;
      const value = messages();
      const lists = Array.isArray(value) && value.every(Array.isArray) ? value : [value];
      for (const list of lists as unknown[]) {
        for (const message of Array.isArray(list) ? list : [list]) {
          count++;
          if (typeof message === 'string') texts.push(message);
          else collectText((message as any)?.content ?? message, texts);
        }
      }
      return { texts, messageCount: count };
    },
  };
}

/** Estimation input for text LLM calls: the prompts. */
export function promptEstimation(prompts: () => unknown): EstimationSource {
  return {
    input: () => {
      const texts: string[] = [];
      collectText(prompts(), texts);
      return { texts, messageCount: 0 };
    },
  };
}

function firstString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string' && value.length > 0) return value;
  return undefined;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
