import type { StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { EstimationSource } from '../core/recorder.js';
import { countOrZero } from '../core/usage.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';

type Body = Record<string, any>;

export interface CohereMethod {
  api: 'v1' | 'v2';
  kind: 'chat' | 'embed';
  stream: boolean;
}

/** One described call: the request for the span, and how to read what comes back. */
export interface CohereCall extends EstimationSource {
  request: CallRequest;
  /** Reads a parsed response body (the `data` of Fern's `{ data, rawResponse }`). */
  readResponse(body: unknown): CallResponse;
  observeStream(): StreamObserver;
}

/** What the SDK calls when the client names no URL (`CohereEnvironment.Production`). */
const DEFAULT_BASE_URL = 'https://api.cohere.com';

/**
 * `cohere-ai` (Fern): requests and parsed responses are camelCase (`maxTokens`,
 * `usage.billedUnits.inputTokens`); the raw wire names are read too, for fields the SDK passes
 * through unparsed.
 */
export function describeCohereCall(method: CohereMethod, client: any, request: unknown): CohereCall {
  const body: Body = request && typeof request === 'object' ? (request as Body) : {};
  const options = client?._options;
  const baseUrl = options?.baseUrl ?? options?.environment ?? DEFAULT_BASE_URL;
  // Suppliers may be functions or promises; only a plain string tells the server without calling them.
  const server = serverOf(typeof baseUrl === 'string' ? baseUrl : undefined);
  const attributes: Record<string, string | number | boolean | string[]> = {};
  if (typeof body.maxTokens === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = body.maxTokens;
  if (typeof body.temperature === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = body.temperature;
  const callRequest: CallRequest = {
    operation: method.kind === 'embed' ? 'embeddings' : 'chat',
    provider: 'cohere',
    // v1 chat and embed may leave the model to the API's default; the span then says so by omission.
    requestModel: typeof body.model === 'string' ? body.model : undefined,
    stream: method.stream,
    serverAddress: server.address,
    serverPort: server.port,
  };
  if (Object.keys(attributes).length > 0) callRequest.attributes = attributes;
  return {
    request: callRequest,
    input: () => {
      const texts: string[] = [];
      if (method.kind === 'embed') {
        collectText(body.texts, texts);
        collectText(body.inputs, texts);
        return { texts, messageCount: 0 };
      }
      if (method.api === 'v2') {
        collectText(body.messages, texts);
        collectText(body.documents, texts);
        return { texts, messageCount: Array.isArray(body.messages) ? body.messages.length : 0 };
      }
      collectText(body.preamble, texts);
      collectText(
        Array.isArray(body.chatHistory) ? body.chatHistory.map((turn: Body) => turn?.message) : undefined,
        texts,
      );
      collectText(body.message, texts);
      collectText(body.documents, texts);
      const history = Array.isArray(body.chatHistory) ? body.chatHistory.length : 0;
      return { texts, messageCount: history + 1 };
    },
    readResponse: (response) =>
      method.kind === 'embed'
        ? embedResult(response)
        : method.api === 'v2'
          ? v2ChatResult(response)
          : v1ChatResult(response),
    observeStream: () => (method.api === 'v2' ? new V2ChatStreamObserver() : new V1ChatStreamObserver()),
  };
}

/**
 * Cohere reports two counts: `billed_units` (what the call is billed for) and `tokens` (everything
 * the model processed, including the prompt template and special tokens Cohere adds itself and does
 * not charge for — docs.cohere.com, "How does Cohere's pricing work?"). Tokenmeter meters cost, so
 * the billed counts are the usage (and what the price catalog gets); `tokens` is the fallback when a
 * response carries no billed units. `cached_tokens` ("prompt tokens that hit the inference cache")
 * is not mapped to cache reads: Cohere publishes no separate price for them and does not say whether
 * they are part of the billed or of the processed count. Both stay in the raw usage.
 */
export function cohereUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const billed = usage.billedUnits ?? usage.billed_units;
  const processed = usage.tokens;
  const source = hasTokenCounts(billed) ? billed : hasTokenCounts(processed) ? processed : undefined;
  if (!source) return undefined;
  const input = source.inputTokens ?? source.input_tokens;
  return {
    // Required, and left as reported: the recorder's validation rejects a missing or malformed count
    // (the whole record), and the call is estimated instead.
    inputTokens: typeof input === 'number' ? input : Number.NaN,
    outputTokens: countOrZero(source.outputTokens ?? source.output_tokens),
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: 0,
  };
}

function hasTokenCounts(counts: any): boolean {
  if (!counts || typeof counts !== 'object') return false;
  const input = counts.inputTokens ?? counts.input_tokens;
  const output = counts.outputTokens ?? counts.output_tokens;
  return (input !== undefined && input !== null) || (output !== undefined && output !== null);
}

function v2ChatResult(response: any): CallResponse {
  const reason = response?.finishReason ?? response?.finish_reason;
  return {
    responseId: typeof response?.id === 'string' ? response.id : undefined,
    finishReasons: typeof reason === 'string' ? [reason] : undefined,
    usage: cohereUsage(response?.usage),
    providerUsage: response?.usage,
  };
}

function v1ChatResult(response: any): CallResponse {
  const reason = response?.finishReason ?? response?.finish_reason;
  const id = response?.responseId ?? response?.response_id ?? response?.generationId;
  return {
    responseId: typeof id === 'string' ? id : undefined,
    finishReasons: typeof reason === 'string' ? [reason] : undefined,
    usage: cohereUsage(response?.meta),
    providerUsage: response?.meta,
  };
}

/** v1 and v2 embed responses both report usage in `meta`. */
function embedResult(response: any): CallResponse {
  return {
    responseId: typeof response?.id === 'string' ? response.id : undefined,
    usage: cohereUsage(response?.meta),
    providerUsage: response?.meta,
  };
}

/** v2 `chatStream` (SSE): `message-start` has the id, `message-end` the finish reason and usage. */
class V2ChatStreamObserver implements StreamObserver {
  private id: string | undefined;
  private reason: string | undefined;
  private usage: unknown;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    switch (event?.type) {
      case 'message-start':
        if (typeof event.id === 'string') this.id = event.id;
        break;
      case 'content-delta':
      case 'tool-plan-delta':
      case 'tool-call-delta': {
        const message = event.delta?.message;
        collectText(message?.content?.text ?? message?.toolPlan ?? message?.tool_plan, this.text);
        collectText(
          message?.toolCalls?.function?.arguments ?? message?.tool_calls?.function?.arguments,
          this.text,
        );
        break;
      }
      case 'message-end': {
        const delta = event.delta;
        const reason = delta?.finishReason ?? delta?.finish_reason;
        if (typeof reason === 'string') this.reason = reason;
        if (delta?.usage) this.usage = delta.usage;
        break;
      }
    }
    return false;
  }

  result(): CallResponse {
    return {
      responseId: this.id,
      finishReasons: this.reason === undefined ? undefined : [this.reason],
      usage: cohereUsage(this.usage),
      providerUsage: this.usage,
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}

/** v1 `chatStream` (newline-delimited JSON): `stream-end` carries the whole response with `meta`. */
class V1ChatStreamObserver implements StreamObserver {
  private id: string | undefined;
  private end: any;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    switch (event?.eventType ?? event?.event_type) {
      case 'stream-start': {
        const id = event.generationId ?? event.generation_id;
        if (typeof id === 'string') this.id = id;
        break;
      }
      case 'text-generation':
        if (typeof event.text === 'string') this.text.push(event.text);
        break;
      case 'stream-end':
        this.end = event;
        break;
    }
    return false;
  }

  result(): CallResponse {
    if (!this.end) return { responseId: this.id };
    const response = v1ChatResult(this.end.response);
    const reason = this.end.finishReason ?? this.end.finish_reason;
    if (typeof reason === 'string') response.finishReasons = [reason];
    response.responseId ??= this.id;
    return response;
  }

  outputText(): string {
    return this.text.join('');
  }
}
