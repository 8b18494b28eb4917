import type { ClientAdapter, MeteredRequest, StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import { requiredCount } from '../core/usage.js';
import { chatUsage } from '../openai/adapter.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';

/** Groq's own response details, under a `groq.*` prefix the conventions leave to the vendor. */
export const ATTR_GROQ_REQUEST_ID = 'groq.request_id';
export const ATTR_GROQ_RESPONSE_SERVICE_TIER = 'groq.response.service_tier';
/** Server-side timings Groq reports with the usage, in seconds. */
export const ATTR_GROQ_QUEUE_TIME = 'groq.usage.queue_time';
export const ATTR_GROQ_PROMPT_TIME = 'groq.usage.prompt_time';
export const ATTR_GROQ_COMPLETION_TIME = 'groq.usage.completion_time';
export const ATTR_GROQ_TOTAL_TIME = 'groq.usage.total_time';

const TIMINGS: ReadonlyArray<readonly [field: string, attribute: string]> = [
  ['queue_time', ATTR_GROQ_QUEUE_TIME],
  ['prompt_time', ATTR_GROQ_PROMPT_TIME],
  ['completion_time', ATTR_GROQ_COMPLETION_TIME],
  ['total_time', ATTR_GROQ_TOTAL_TIME],
];

type Body = Record<string, any>;
type Kind = 'chat' | 'embeddings';

/**
 * Paths `groq-sdk` posts to, relative to its base URL (`https://api.groq.com`), in 0.x and 1.x
 * alike. Audio transcriptions/translations are not metered: Groq bills them per audio second,
 * which its responses only report with `response_format: verbose_json`.
 */
const ENDPOINTS: Record<string, { operation: string; kind: Kind }> = {
  '/openai/v1/chat/completions': { operation: 'chat', kind: 'chat' },
  '/openai/v1/embeddings': { operation: 'embeddings', kind: 'embeddings' },
};

/**
 * `groq-sdk`: Groq's OpenAI-compatible API. Usage is OpenAI-shaped (`prompt_tokens` includes the
 * `prompt_tokens_details.cached_tokens` Groq bills at its cache price; reasoning models report
 * `completion_tokens_details.reasoning_tokens` within `completion_tokens`). Streams carry the
 * usage in `x_groq.usage` on their final chunk without being asked, so nothing is added to the
 * request and nothing is hidden from the app.
 */
export class GroqAdapter implements ClientAdapter<any> {
  describe(client: any, path: string): MeteredRequest | undefined {
    const endpoint = ENDPOINTS[path];
    if (!endpoint) return undefined;
    const server = serverOf(client?.baseURL);
    const { kind, operation } = endpoint;
    const request: CallRequest = {
      operation,
      provider: 'groq',
      requestModel: undefined,
      stream: false,
      serverAddress: server.address,
      serverPort: server.port,
    };
    let body: Body = {};
    return {
      request,
      readOptions: (options) => {
        if (isPlainBody(options.body)) body = options.body as Body;
        request.requestModel = typeof body.model === 'string' ? body.model : undefined;
        request.stream = body.stream === true || options.stream === true;
        request.attributes = requestAttributes(body);
        return undefined;
      },
      input: () => {
        const texts: string[] = [];
        if (kind === 'chat') {
          collectText(body.messages, texts);
          return { texts, messageCount: Array.isArray(body.messages) ? body.messages.length : 0 };
        }
        collectText(body.input, texts);
        return { texts, messageCount: 0 };
      },
      readResponse: (data) => (kind === 'chat' ? chatResult(data) : embeddingsResult(data)),
      observeStream: () => new GroqChatStreamObserver(),
    };
  }
}

function isPlainBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && typeof (body as { then?: unknown }).then !== 'function';
}

function requestAttributes(body: Body): CallRequest['attributes'] {
  const attributes: NonNullable<CallRequest['attributes']> = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (typeof maxTokens === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = maxTokens;
  if (typeof body.temperature === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = body.temperature;
  return attributes;
}

/** Usage as Groq reports it; the timing fields are not tokens and go on the span instead. */
export function groqUsage(usage: unknown): TokenUsage | undefined {
  return chatUsage(usage);
}

function responseAttributes(data: any, usage: any, requestId: unknown): CallResponse['attributes'] {
  const attributes: NonNullable<CallResponse['attributes']> = {};
  if (typeof requestId === 'string') attributes[ATTR_GROQ_REQUEST_ID] = requestId;
  if (typeof data?.service_tier === 'string') attributes[ATTR_GROQ_RESPONSE_SERVICE_TIER] = data.service_tier;
  if (usage && typeof usage === 'object') {
    for (const [field, attribute] of TIMINGS) {
      const value = usage[field];
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) attributes[attribute] = value;
    }
  }
  return Object.keys(attributes).length ? attributes : undefined;
}

function chatResult(data: any): CallResponse {
  // Non-streamed responses carry the usage at the top level; `x_groq.usage` there holds only
  // hardware cache statistics (dram/sram cached tokens), which are not what Groq bills.
  const usage = data?.usage;
  return {
    responseModel: stringOr(data?.model),
    responseId: stringOr(data?.id),
    finishReasons: finishReasons(data?.choices),
    usage: groqUsage(usage),
    providerUsage: usage,
    attributes: responseAttributes(data, usage, data?.x_groq?.id),
  };
}

function embeddingsResult(data: any): CallResponse {
  const usage = data?.usage;
  return {
    responseModel: stringOr(data?.model),
    usage:
      usage && typeof usage === 'object'
        ? {
            inputTokens: requiredCount(usage.prompt_tokens),
            outputTokens: 0,
            cacheReadInputTokens: 0,
            cacheWriteInputTokens: 0,
            reasoningOutputTokens: 0,
          }
        : undefined,
    providerUsage: usage,
    attributes: responseAttributes(data, usage, data?.x_groq?.id),
  };
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function finishReasons(choices: unknown): string[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const reasons: string[] = [];
  for (const choice of choices)
    if (typeof choice?.finish_reason === 'string') reasons.push(choice.finish_reason);
  return reasons.length ? reasons : undefined;
}

/**
 * Chat chunks. The final chunk carries `x_groq.usage` (and `x_groq.id`, also sent on the first);
 * an OpenAI-style top-level `usage` (apps that send `stream_options.include_usage`) is read too,
 * and preferred when both are present. Nothing is hidden: the app asked for every chunk it gets.
 */
class GroqChatStreamObserver implements StreamObserver {
  private id: string | undefined;
  private model: string | undefined;
  private requestId: string | undefined;
  private groqUsageObject: unknown;
  private topLevelUsage: unknown;
  private readonly reasons: string[] = [];
  private readonly text: string[] = [];

  onEvent(chunk: any): boolean {
    if (!chunk || typeof chunk !== 'object') return false;
    if (this.id === undefined && typeof chunk.id === 'string') this.id = chunk.id;
    if (typeof chunk.model === 'string' && chunk.model) this.model = chunk.model;
    const choices = chunk.choices;
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        const delta = choice?.delta;
        if (delta) {
          if (typeof delta.content === 'string') this.text.push(delta.content);
          if (typeof delta.reasoning === 'string') this.text.push(delta.reasoning);
          if (Array.isArray(delta.tool_calls)) {
            for (const call of delta.tool_calls)
              if (typeof call?.function?.arguments === 'string') this.text.push(call.function.arguments);
          }
        }
        if (typeof choice?.finish_reason === 'string') this.reasons[choice.index ?? 0] = choice.finish_reason;
      }
    }
    const groq = chunk.x_groq;
    if (groq && typeof groq === 'object') {
      if (typeof groq.id === 'string') this.requestId = groq.id;
      if (groq.usage && typeof groq.usage === 'object') this.groqUsageObject = groq.usage;
    }
    if (chunk.usage && typeof chunk.usage === 'object') this.topLevelUsage = chunk.usage;
    return false;
  }

  result(): CallResponse {
    const usage = this.topLevelUsage ?? this.groqUsageObject;
    return {
      responseModel: this.model,
      responseId: this.id,
      finishReasons: this.reasons.length ? this.reasons.filter((reason) => reason !== undefined) : undefined,
      usage: groqUsage(usage),
      providerUsage: usage,
      attributes: responseAttributes(undefined, usage, this.requestId),
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}
