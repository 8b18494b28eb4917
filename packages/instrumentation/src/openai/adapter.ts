import type { ClientAdapter, MeteredRequest, StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import { countOrZero, requiredCount } from '../core/usage.js';
import * as sc from '../semconv.js';
import { ACCEPTS_STREAM_USAGE_OPTION, providerForServer, type ServerInfo, serverOf } from './providers.js';

export interface OpenAIAdapterOptions {
  hostProviders: Record<string, string>;
  /** Ask OpenAI/Azure streams for their usage event, and hide it from the app. Default true. */
  requestStreamUsage: boolean;
}

type Body = Record<string, any>;

/** Endpoint (path relative to the client's base URL) → operation name and how to read it. */
const ENDPOINTS: Record<string, { operation: string; kind: Kind }> = {
  '/chat/completions': { operation: 'chat', kind: 'chat' },
  '/completions': { operation: 'text_completion', kind: 'completion' },
  '/responses': { operation: 'chat', kind: 'responses' },
  '/embeddings': { operation: 'embeddings', kind: 'embeddings' },
  '/images/generations': { operation: 'image_generation', kind: 'images' },
  '/images/edits': { operation: 'image_generation', kind: 'images' },
  '/images/variations': { operation: 'image_generation', kind: 'images' },
  '/audio/speech': { operation: 'text_to_speech', kind: 'speech' },
  '/audio/transcriptions': { operation: 'transcription', kind: 'transcription' },
  '/audio/translations': { operation: 'transcription', kind: 'transcription' },
};
type Kind = 'chat' | 'completion' | 'responses' | 'embeddings' | 'images' | 'speech' | 'transcription';

export class OpenAIAdapter implements ClientAdapter<any> {
  private config: OpenAIAdapterOptions = { hostProviders: {}, requestStreamUsage: true };
  /** baseURL → provider: resolved once per client endpoint, not per call. */
  private readonly providers = new Map<string, string>();

  configure(config: OpenAIAdapterOptions): void {
    this.config = config;
    this.providers.clear();
  }

  private providerOf(client: any, server: ServerInfo): string {
    if (isAzureClient(client)) return 'azure.ai.openai';
    const baseURL = String(client?.baseURL);
    let provider = this.providers.get(baseURL);
    if (provider === undefined) {
      provider = providerForServer(server, this.config.hostProviders);
      if (this.providers.size > 1000) this.providers.clear();
      this.providers.set(baseURL, provider);
    }
    return provider;
  }

  describe(client: any, path: string): MeteredRequest | undefined {
    const endpoint = ENDPOINTS[path];
    if (!endpoint) return undefined;
    const config = this.config;
    const server = serverOf(client?.baseURL);
    const provider = this.providerOf(client, server);
    const { kind, operation } = endpoint;
    const request: CallRequest = {
      operation,
      provider,
      requestModel: undefined,
      stream: false,
      serverAddress: server.address,
      serverPort: server.port,
    };
    let body: Body = {};
    let usageInjected = false;
    return {
      request,
      readOptions: (options) => {
        // Multipart uploads (transcriptions, image edits) carry a form, not a JSON body.
        if (isPlainBody(options.body)) body = options.body as Body;
        request.requestModel = typeof body.model === 'string' ? body.model : undefined;
        request.stream = body.stream === true || options.stream === true;
        request.attributes = requestAttributes(body);
        usageInjected =
          request.stream &&
          config.requestStreamUsage &&
          (kind === 'chat' || kind === 'completion') &&
          ACCEPTS_STREAM_USAGE_OPTION.has(provider) &&
          body.stream_options?.include_usage !== true;
        if (!usageInjected) return undefined;
        return {
          ...options,
          body: { ...body, stream_options: { ...body.stream_options, include_usage: true } },
        };
      },
      input: () => estimationInput(kind, body),
      readResponse: (data) => readResponse(kind, data, body),
      observeStream: () =>
        kind === 'responses' ? new ResponsesStreamObserver() : new ChatStreamObserver(usageInjected),
    };
  }
}

export function isPlainBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && typeof (body as { then?: unknown }).then !== 'function';
}

function isAzureClient(client: any): boolean {
  // AzureOpenAI keeps its deployment routing in these fields; the class name survives minification less well.
  return client?.constructor?.name === 'AzureOpenAI' || typeof client?.apiVersion === 'string';
}

export function requestAttributes(body: Body): CallRequest['attributes'] {
  const attributes: NonNullable<CallRequest['attributes']> = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens;
  if (typeof maxTokens === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = maxTokens;
  if (typeof body.temperature === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = body.temperature;
  return attributes;
}

function estimationInput(kind: Kind, body: Body): { texts: string[]; messageCount: number } {
  const texts: string[] = [];
  switch (kind) {
    case 'chat':
      collectText(body.messages, texts);
      return { texts, messageCount: Array.isArray(body.messages) ? body.messages.length : 0 };
    case 'responses':
      collectText(body.instructions, texts);
      collectText(body.input, texts);
      return { texts, messageCount: Array.isArray(body.input) ? body.input.length : 1 };
    case 'completion':
      collectText(body.prompt, texts);
      return { texts, messageCount: 0 };
    default:
      collectText(body.input ?? body.prompt, texts);
      return { texts, messageCount: 0 };
  }
}

/** Chat Completions / legacy Completions usage. `prompt_tokens` already includes cached tokens. */
export function chatUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const promptDetails = usage.prompt_tokens_details;
  const completionDetails = usage.completion_tokens_details;
  // DeepSeek reports cache hits in its own field; OpenRouter and others use prompt_tokens_details.
  const cacheRead = promptDetails?.cached_tokens ?? usage.prompt_cache_hit_tokens;
  const result: TokenUsage = {
    inputTokens: requiredCount(usage.prompt_tokens),
    outputTokens: countOrZero(usage.completion_tokens),
    cacheReadInputTokens: countOrZero(cacheRead),
    cacheWriteInputTokens: countOrZero(promptDetails?.cache_write_tokens),
    reasoningOutputTokens: countOrZero(completionDetails?.reasoning_tokens),
  };
  const units: Record<string, number> = {};
  const audioIn = countOrZero(promptDetails?.audio_tokens);
  const audioOut = countOrZero(completionDetails?.audio_tokens);
  if (audioIn !== 0) units.input_audio_tokens = audioIn;
  if (audioOut !== 0) units.output_audio_tokens = audioOut;
  if (audioIn !== 0 || audioOut !== 0) result.units = units;
  return result;
}

/** Responses API (and gpt-image / gpt-4o-transcribe) usage: input_tokens includes cached tokens. */
export function responsesUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  return {
    inputTokens: requiredCount(usage.input_tokens),
    outputTokens: countOrZero(usage.output_tokens),
    cacheReadInputTokens: countOrZero(usage.input_tokens_details?.cached_tokens),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: countOrZero(usage.output_tokens_details?.reasoning_tokens),
  };
}

function providerCost(usage: any): number | undefined {
  const cost = usage?.cost;
  return typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : undefined;
}

function readResponse(kind: Kind, data: any, body: Body): CallResponse {
  switch (kind) {
    case 'chat':
    case 'completion':
      return {
        responseModel: stringOr(data?.model),
        responseId: stringOr(data?.id),
        finishReasons: finishReasons(data?.choices),
        usage: chatUsage(data?.usage),
        providerUsage: data?.usage,
        providerCostUsd: providerCost(data?.usage),
        attributes: serviceTier(data),
      };
    case 'responses':
      return responsesResult(data);
    case 'embeddings':
      return {
        responseModel: stringOr(data?.model),
        usage: data?.usage
          ? {
              inputTokens: requiredCount(data.usage.prompt_tokens),
              outputTokens: 0,
              cacheReadInputTokens: 0,
              cacheWriteInputTokens: 0,
              reasoningOutputTokens: 0,
            }
          : undefined,
        providerUsage: data?.usage,
      };
    case 'images': {
      const images = Array.isArray(data?.data) ? data.data.length : 0;
      const usage = responsesUsage(data?.usage) ?? zeroUsage();
      // gpt-image models bill image tokens at their own prices: name them as the catalog does.
      usage.units = { images };
      if (data?.usage) {
        usage.units.input_image_tokens = countOrZero(data.usage.input_tokens_details?.image_tokens);
        usage.units.output_image_tokens = usage.outputTokens;
      }
      return { usage, providerUsage: data?.usage };
    }
    case 'speech': {
      // Binary audio back; the request's text is what is billed (characters or tokens).
      const characters = typeof body.input === 'string' ? body.input.length : 0;
      return { usage: { ...zeroUsage(), units: { input_characters: characters } } };
    }
    case 'transcription': {
      const usage = data?.usage;
      if (usage?.type === 'duration') {
        return {
          usage: { ...zeroUsage(), units: { audio_seconds: countOrZero(Math.ceil(usage.seconds)) } },
          providerUsage: usage,
        };
      }
      // gpt-4o-transcribe: the input is audio tokens.
      const tokens = responsesUsage(usage);
      if (tokens)
        tokens.units = { input_audio_tokens: countOrZero(usage?.input_token_details?.audio_tokens) };
      return { usage: tokens, providerUsage: usage };
    }
  }
}

function responsesResult(response: any): CallResponse {
  const status = stringOr(response?.status);
  const reason = stringOr(response?.incomplete_details?.reason);
  return {
    responseModel: stringOr(response?.model),
    responseId: stringOr(response?.id),
    finishReasons: reason ? [reason] : status ? [status] : undefined,
    usage: responsesUsage(response?.usage),
    providerUsage: response?.usage,
    attributes: serviceTier(response),
  };
}

function serviceTier(data: any): CallResponse['attributes'] {
  return typeof data?.service_tier === 'string'
    ? { [sc.ATTR_OPENAI_RESPONSE_SERVICE_TIER]: data.service_tier }
    : undefined;
}

function zeroUsage(): TokenUsage {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: 0,
  };
}

export function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function finishReasons(choices: unknown): string[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const reasons: string[] = [];
  for (const choice of choices)
    if (typeof choice?.finish_reason === 'string') reasons.push(choice.finish_reason);
  return reasons.length ? reasons : undefined;
}

/** Chat and legacy completion chunks. */
export class ChatStreamObserver implements StreamObserver {
  private id: string | undefined;
  private model: string | undefined;
  private usage: any;
  private serviceTier: string | undefined;
  private readonly reasons: string[] = [];
  private readonly text: string[] = [];

  constructor(private readonly usageInjected: boolean) {}

  onEvent(chunk: any): boolean {
    if (!chunk || typeof chunk !== 'object') return false;
    if (this.id === undefined && typeof chunk.id === 'string') this.id = chunk.id;
    if (typeof chunk.model === 'string' && chunk.model) this.model = chunk.model;
    if (typeof chunk.service_tier === 'string') this.serviceTier = chunk.service_tier;
    const choices = chunk.choices;
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        const delta = choice?.delta;
        if (delta) {
          if (typeof delta.content === 'string') this.text.push(delta.content);
          // Reasoning text of OpenAI-compatible servers (Groq), for estimation only.
          if (typeof delta.reasoning === 'string') this.text.push(delta.reasoning);
          if (Array.isArray(delta.tool_calls)) {
            for (const call of delta.tool_calls) {
              if (typeof call?.function?.arguments === 'string') this.text.push(call.function.arguments);
            }
          }
        } else if (typeof choice?.text === 'string') {
          this.text.push(choice.text);
        }
        if (typeof choice?.finish_reason === 'string') this.reasons[choice.index ?? 0] = choice.finish_reason;
      }
    }
    // Groq reports stream usage under x_groq.
    const usage = chunk.usage ?? chunk.x_groq?.usage;
    if (usage) this.usage = usage;
    if (!this.usageInjected) return false;
    // Only we asked for usage: hide the extra final chunk, and the `usage: null` it adds to the others.
    if (chunk.usage && Array.isArray(choices) && choices.length === 0) return true;
    if ('usage' in chunk) delete chunk.usage;
    return false;
  }

  result(): CallResponse {
    return {
      responseModel: this.model,
      responseId: this.id,
      finishReasons: this.reasons.length ? this.reasons.filter((reason) => reason !== undefined) : undefined,
      usage: chatUsage(this.usage),
      providerUsage: this.usage,
      providerCostUsd: providerCost(this.usage),
      attributes: this.serviceTier ? { [sc.ATTR_OPENAI_RESPONSE_SERVICE_TIER]: this.serviceTier } : undefined,
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}

/** Responses API events: usage comes with `response.completed` (or `.incomplete` / `.failed`). */
class ResponsesStreamObserver implements StreamObserver {
  private response: any;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    const type = event?.type;
    if (typeof type !== 'string') return false;
    if (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta') {
      if (typeof event.delta === 'string') this.text.push(event.delta);
    } else if (type.startsWith('response.') && event.response && typeof event.response === 'object') {
      this.response = event.response;
    }
    return false;
  }

  result(): CallResponse {
    return this.response ? responsesResult(this.response) : {};
  }

  outputText(): string {
    return this.text.join('');
  }
}
