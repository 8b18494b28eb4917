import type { ClientAdapter, MeteredRequest } from '../core/adapter.js';
import type { CallRequest, CallResponse } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import { requiredCount } from '../core/usage.js';
import {
  ChatStreamObserver,
  chatUsage,
  finishReasons,
  isPlainBody,
  requestAttributes,
  stringOr,
} from '../openai/adapter.js';
import { serverOf } from '../openai/providers.js';

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
    usage: chatUsage(usage),
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

/**
 * Chat chunks: the OpenAI chat observer (which reads the final chunk's `x_groq.usage`, or a
 * top-level `usage` when the app sent `stream_options.include_usage`), plus Groq's request id and
 * timings. Nothing is hidden: the app asked for every chunk it gets.
 */
class GroqChatStreamObserver extends ChatStreamObserver {
  private requestId: string | undefined;

  constructor() {
    super(false);
  }

  override onEvent(chunk: any): boolean {
    if (typeof chunk?.x_groq?.id === 'string') this.requestId = chunk.x_groq.id;
    return super.onEvent(chunk);
  }

  override result(): CallResponse {
    const result = super.result();
    return { ...result, attributes: responseAttributes(undefined, result.providerUsage, this.requestId) };
  }
}
