import type { StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { EstimationSource } from '../core/recorder.js';
import { countOrZero, readCount, requiredCount } from '../core/usage.js';
import * as sc from '../semconv.js';

/**
 * The Vercel AI SDK's provider-neutral model specification (`@ai-sdk/provider`): every provider
 * package (`@ai-sdk/openai`, `@ai-sdk/anthropic`, `@ai-sdk/google`, community providers) turns its
 * API's response into the same result shape, so one reader covers them all:
 * - spec v3 (ai 6) and v4 (ai 7): `usage.inputTokens.{total,noCache,cacheRead,cacheWrite}`,
 *   `usage.outputTokens.{total,text,reasoning}`, `usage.raw` (the provider's own usage object);
 *   the providers already fold cache reads/writes into the input total and reasoning into the
 *   output total, which is the conventions' sense;
 * - spec v2 (ai 5): flat `inputTokens`, `outputTokens`, `cachedInputTokens`, `reasoningTokens`,
 *   whose meaning varied by provider (Anthropic's `inputTokens` excluded cache, Gemini's
 *   `outputTokens` excluded thoughts), so the raw usage in `providerMetadata` is read when present.
 * This file knows nothing about spans, prices or how the model is hooked.
 */

type AnyRecord = Record<string, any>;

/** What the instrumentation knows of the model object a call goes through. */
export interface ModelInfo {
  /** The model's `provider` string: `openai.chat`, `anthropic.messages`, `gateway`, … */
  provider?: unknown;
  modelId?: unknown;
}

/** `gen_ai.provider.name` for the first segment of a model's `provider` string. */
const PROVIDERS: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  azure: 'azure.ai.openai',
  'amazon-bedrock': 'aws.bedrock',
  bedrock: 'aws.bedrock',
  mistral: 'mistral_ai',
  groq: 'groq',
  cohere: 'cohere',
  xai: 'x_ai',
  deepseek: 'deepseek',
  openrouter: 'openrouter',
  togetherai: 'together_ai',
  fireworks: 'fireworks',
  perplexity: 'perplexity',
  cerebras: 'cerebras',
  ollama: 'ollama',
};

/** The model-id prefixes of the AI Gateway (`openai/gpt-5`, `google/gemini-2.5-pro`, …). */
const GATEWAY_PREFIXES: Record<string, string> = {
  ...PROVIDERS,
  google: 'gcp.gemini',
  vertex: 'gcp.vertex_ai',
  bedrock: 'aws.bedrock',
  amazon: 'aws.bedrock',
  mistralai: 'mistral_ai',
  'x-ai': 'x_ai',
};

/**
 * `gen_ai.provider.name` from the model's `provider` string. The suffix after the first dot names
 * the API (`openai.chat` / `openai.responses`), not who is paid, so it is dropped for providers not
 * listed; Google's strings tell the Gemini API (`google.generative-ai`) from Vertex
 * (`google.vertex.chat`, `vertex.anthropic.messages`); the AI Gateway (`gateway`) names the
 * upstream provider in the model id's prefix.
 */
export function providerName(provider: unknown, modelId: unknown): string {
  if (typeof provider !== 'string' || provider.length === 0) return 'vercel_ai';
  const name = provider.toLowerCase();
  if (name === 'gateway' || name.startsWith('gateway.')) {
    const prefix = typeof modelId === 'string' ? modelId.split('/')[0]!.toLowerCase() : '';
    return GATEWAY_PREFIXES[prefix] ?? (prefix || 'vercel_ai_gateway');
  }
  if (name.startsWith('google.vertex') || name.startsWith('vertex')) return 'gcp.vertex_ai';
  if (name.startsWith('google')) return 'gcp.gemini';
  const first = name.split('.')[0]!;
  return PROVIDERS[first] ?? first;
}

/** Gemini models are metered as `generate_content` (as Google's own SDKs are), the rest as `chat`. */
export function operationName(provider: string, providerString: unknown, modelId: unknown): string {
  if (typeof providerString === 'string' && providerString.endsWith('.completion')) return 'text_completion';
  if (provider === 'gcp.gemini') return 'generate_content';
  if (provider === 'gcp.vertex_ai' && typeof modelId === 'string' && /gemini/i.test(modelId))
    return 'generate_content';
  return 'chat';
}

export function describeLanguageModelCall(model: ModelInfo, options: unknown, stream: boolean): CallRequest {
  const provider = providerName(model.provider, model.modelId);
  const request: CallRequest = {
    operation: operationName(provider, model.provider, model.modelId),
    provider,
    requestModel: typeof model.modelId === 'string' ? model.modelId : undefined,
    stream,
    serverAddress: undefined,
    serverPort: undefined,
  };
  const opts = options as AnyRecord | undefined;
  const attributes: Record<string, number> = {};
  if (typeof opts?.maxOutputTokens === 'number')
    attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = opts.maxOutputTokens;
  if (typeof opts?.temperature === 'number')
    attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = opts.temperature;
  if (Object.keys(attributes).length) request.attributes = attributes;
  return request;
}

export function describeEmbeddingCall(model: ModelInfo): CallRequest {
  return {
    operation: 'embeddings',
    provider: providerName(model.provider, model.modelId),
    requestModel: typeof model.modelId === 'string' ? model.modelId : undefined,
    stream: false,
    serverAddress: undefined,
    serverPort: undefined,
  };
}

/** Texts of a spec-level prompt (`options.prompt`), read only if the provider reports no usage. */
export function promptEstimation(options: unknown): EstimationSource {
  return {
    input: () => {
      const prompt = (options as AnyRecord | undefined)?.prompt;
      const texts: string[] = [];
      collectText(prompt, texts);
      return { texts, messageCount: Array.isArray(prompt) ? prompt.length : 0 };
    },
  };
}

export function embeddingEstimation(options: unknown): EstimationSource {
  return {
    input: () => {
      const values = (options as AnyRecord | undefined)?.values;
      const texts: string[] = [];
      if (Array.isArray(values)) for (const value of values) if (typeof value === 'string') texts.push(value);
      return { texts, messageCount: 0 };
    },
  };
}

/**
 * Usage of one `doGenerate` / `doStream` (`finish` part), in the conventions' sense. `undefined`
 * when the provider reported none (both totals absent): the recorder then estimates.
 */
export function specUsage(
  usage: unknown,
  providerMetadata: unknown,
  provider: string,
): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const u = usage as AnyRecord;
  if (typeof u.inputTokens === 'object' || typeof u.outputTokens === 'object') return nestedUsage(u);
  return flatUsage(u, providerMetadata as AnyRecord | undefined, provider);
}

/** Spec v3/v4: totals are all-inclusive; a missing total is rebuilt from its parts when they exist. */
function nestedUsage(usage: AnyRecord): TokenUsage | undefined {
  const input: AnyRecord = usage.inputTokens ?? {};
  const output: AnyRecord = usage.outputTokens ?? {};
  if (input.total == null && input.noCache == null && output.total == null && output.text == null)
    return undefined;
  const cacheRead = countOrZero(input.cacheRead);
  const cacheWrite = countOrZero(input.cacheWrite);
  const reasoning = countOrZero(output.reasoning);
  const inputTokens =
    input.total != null ? requiredCount(input.total) : requiredCount(input.noCache) + cacheRead + cacheWrite;
  const outputTokens =
    output.total != null ? requiredCount(output.total) : requiredCount(output.text) + reasoning;
  return withUnits(
    {
      inputTokens,
      outputTokens,
      cacheReadInputTokens: cacheRead,
      cacheWriteInputTokens: cacheWrite,
      reasoningOutputTokens: reasoning,
    },
    usage.raw,
  );
}

/**
 * Spec v2 (ai 5). OpenAI-style providers reported all-inclusive counts; Anthropic's `inputTokens`
 * excluded cache reads and writes (writes only in `providerMetadata.anthropic`) and Gemini's
 * `outputTokens` excluded thoughts, so the raw usage the providers put in `providerMetadata` wins.
 */
function flatUsage(
  usage: AnyRecord,
  metadata: AnyRecord | undefined,
  provider: string,
): TokenUsage | undefined {
  const anthropicRaw = metadata?.anthropic?.usage;
  if (anthropicRaw && typeof anthropicRaw === 'object' && anthropicRaw.input_tokens != null)
    return anthropicRawUsage(anthropicRaw);
  const googleRaw = metadata?.google?.usageMetadata;
  if (googleRaw && typeof googleRaw === 'object' && googleRaw.promptTokenCount != null)
    return geminiRawUsage(googleRaw);
  if (usage.inputTokens == null && usage.outputTokens == null) return undefined;
  const cacheRead = countOrZero(usage.cachedInputTokens);
  const reasoning = countOrZero(usage.reasoningTokens);
  if (provider === 'anthropic' || provider === 'aws.bedrock') {
    // Only where the raw usage is missing: cache counts came on top of inputTokens.
    const cacheWrite = countOrZero(
      metadata?.anthropic?.cacheCreationInputTokens ?? metadata?.bedrock?.usage?.cacheWriteInputTokens,
    );
    return {
      inputTokens: requiredCount(usage.inputTokens) + cacheRead + cacheWrite,
      outputTokens: requiredCount(usage.outputTokens),
      cacheReadInputTokens: cacheRead,
      cacheWriteInputTokens: cacheWrite,
      reasoningOutputTokens: reasoning,
    };
  }
  return {
    inputTokens: requiredCount(usage.inputTokens),
    outputTokens: requiredCount(usage.outputTokens),
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: reasoning,
  };
}

function anthropicRawUsage(raw: AnyRecord): TokenUsage {
  const cacheRead = countOrZero(raw.cache_read_input_tokens);
  const cacheWrite = countOrZero(raw.cache_creation_input_tokens);
  return withUnits(
    {
      inputTokens: requiredCount(raw.input_tokens) + cacheRead + cacheWrite,
      outputTokens: countOrZero(raw.output_tokens),
      cacheReadInputTokens: cacheRead,
      cacheWriteInputTokens: cacheWrite,
      reasoningOutputTokens: countOrZero(raw.output_tokens_details?.thinking_tokens),
    },
    raw,
  );
}

/** Gemini: `promptTokenCount` includes cached tokens; thoughts are billed on top of candidates. */
function geminiRawUsage(raw: AnyRecord): TokenUsage {
  const thoughts = countOrZero(raw.thoughtsTokenCount);
  return {
    inputTokens: requiredCount(raw.promptTokenCount) + countOrZero(raw.toolUsePromptTokenCount),
    outputTokens: countOrZero(raw.candidatesTokenCount) + thoughts,
    cacheReadInputTokens: countOrZero(raw.cachedContentTokenCount),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: thoughts,
  };
}

/** Units the catalog prices apart, when the raw usage tells them (Anthropic's 1-hour cache writes, web searches). */
function withUnits(usage: TokenUsage, raw: unknown): TokenUsage {
  if (!raw || typeof raw !== 'object') return usage;
  const r = raw as AnyRecord;
  const units: Record<string, number> = {};
  const oneHour = readCount(r.cache_creation?.ephemeral_1h_input_tokens);
  if (typeof oneHour === 'number' && oneHour > 0) units.cache_write_1h_input_tokens = oneHour;
  const searches = readCount(r.server_tool_use?.web_search_requests);
  if (typeof searches === 'number' && searches > 0) units.web_search_requests = searches;
  return Object.keys(units).length ? { ...usage, units } : usage;
}

/** Cost the AI Gateway reported (`providerMetadata.gateway.cost`, USD as a decimal string). */
export function gatewayCost(providerMetadata: unknown): number | undefined {
  const gateway = (providerMetadata as AnyRecord | undefined)?.gateway;
  if (!gateway || typeof gateway !== 'object') return undefined;
  const cost = usd(gateway.cost);
  // BYOK: the gateway charges nothing and the provider bills its market price directly.
  if (cost === 0) return usd(gateway.marketCost) ?? cost;
  return cost;
}

function usd(value: unknown): number | undefined {
  const amount = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof amount === 'number' && Number.isFinite(amount) && amount >= 0 ? amount : undefined;
}

function finishReasons(finishReason: unknown): string[] | undefined {
  if (typeof finishReason === 'string') return [finishReason];
  const reason = finishReason as AnyRecord | undefined;
  if (typeof reason?.raw === 'string') return [reason.raw];
  if (typeof reason?.unified === 'string') return [reason.unified];
  return undefined;
}

function serverOf(url: unknown): { address: string; port: number | undefined } | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
    return { address: parsed.hostname, port };
  } catch {
    return undefined;
  }
}

/** Fills what only the result tells (the endpoint the provider reported) into the request. */
export function completeRequest(request: CallRequest, result: unknown): void {
  const server = serverOf((result as AnyRecord | undefined)?.request?.url);
  if (server) {
    request.serverAddress = server.address;
    request.serverPort = server.port;
  }
}

/** Reads a `doGenerate` result. */
export function readGenerateResult(result: unknown, provider: string): CallResponse {
  const r = (result ?? {}) as AnyRecord;
  return {
    responseModel: typeof r.response?.modelId === 'string' ? r.response.modelId : undefined,
    responseId: typeof r.response?.id === 'string' ? r.response.id : undefined,
    finishReasons: finishReasons(r.finishReason),
    usage: specUsage(r.usage, r.providerMetadata, provider),
    providerUsage: r.usage?.raw ?? r.usage,
    providerCostUsd: gatewayCost(r.providerMetadata),
  };
}

/** Reads a `doEmbed` result: input tokens only. */
export function readEmbedResult(result: unknown): CallResponse {
  const r = (result ?? {}) as AnyRecord;
  const tokens = r.usage?.tokens;
  const model = r.response?.body?.model;
  return {
    responseModel: typeof model === 'string' ? model : undefined,
    usage:
      tokens == null
        ? undefined
        : {
            inputTokens: requiredCount(tokens),
            outputTokens: 0,
            cacheReadInputTokens: 0,
            cacheWriteInputTokens: 0,
            reasoningOutputTokens: 0,
          },
    providerUsage: r.usage,
    providerCostUsd: gatewayCost(r.providerMetadata),
  };
}

/**
 * Sees the spec stream parts of one `doStream` (the parts `ai` itself consumes): `response-metadata`
 * carries the response id and model, `finish` the usage; an `error` part is a provider error
 * reported in-stream.
 */
export class SpecStreamObserver implements StreamObserver {
  private responseId: string | undefined;
  private responseModel: string | undefined;
  private finish: AnyRecord | undefined;
  /** The error of an `error` part, if any. */
  error: unknown;
  private readonly text: string[] = [];

  constructor(private readonly provider: string) {}

  onEvent(part: any): boolean {
    switch (part?.type) {
      case 'text-delta':
      case 'reasoning-delta':
      case 'tool-input-delta': {
        // v4/v3 say `delta`; v2 said `delta` too, older betas `textDelta`.
        const piece = part.delta ?? part.textDelta;
        if (typeof piece === 'string') this.text.push(piece);
        break;
      }
      case 'response-metadata':
        if (typeof part.id === 'string') this.responseId = part.id;
        if (typeof part.modelId === 'string') this.responseModel = part.modelId;
        break;
      case 'finish':
        this.finish = part;
        break;
      case 'error':
        if (this.error === undefined) this.error = part.error ?? part;
        break;
    }
    return false;
  }

  get finished(): boolean {
    return this.finish !== undefined;
  }

  result(): CallResponse {
    const finish = this.finish;
    return {
      responseModel: this.responseModel,
      responseId: this.responseId,
      finishReasons: finishReasons(finish?.finishReason),
      usage: finish ? specUsage(finish.usage, finish.providerMetadata, this.provider) : undefined,
      providerUsage: finish?.usage?.raw ?? finish?.usage,
      providerCostUsd: gatewayCost(finish?.providerMetadata),
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}
