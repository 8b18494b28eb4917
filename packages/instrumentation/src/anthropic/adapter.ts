import type { ClientAdapter, MeteredRequest, StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import { countOrZero, requiredCount } from '../core/usage.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';

type Body = Record<string, any>;

/**
 * `@anthropic-ai/sdk` (and its Bedrock and Vertex clients, which share its base client): the
 * Messages API, streamed or not, including the `messages.stream()` helper, which calls it.
 */
export class AnthropicAdapter implements ClientAdapter<any> {
  describe(client: any, path: string): MeteredRequest | undefined {
    // `/v1/messages`, and `/v1/messages?beta=true` from the beta resource; not count_tokens or batches.
    if (path !== '/v1/messages' && !path.startsWith('/v1/messages?')) return undefined;
    const server = serverOf(client?.baseURL);
    const request: CallRequest = {
      operation: 'chat',
      provider: providerOf(client, server.address),
      requestModel: undefined,
      stream: false,
      serverAddress: server.address,
      serverPort: server.port,
    };
    let body: Body = {};
    return {
      request,
      readOptions: (options) => {
        if (typeof options.body === 'object' && options.body !== null) body = options.body as Body;
        request.requestModel = typeof body.model === 'string' ? body.model : undefined;
        request.stream = body.stream === true || options.stream === true;
        if (typeof body.max_tokens === 'number') {
          request.attributes = { [sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS]: body.max_tokens };
        }
        return undefined;
      },
      input: () => {
        const texts: string[] = [];
        collectText(body.system, texts);
        collectText(body.messages, texts);
        return { texts, messageCount: Array.isArray(body.messages) ? body.messages.length : 0 };
      },
      readResponse: (message) => messageResult(message, (message as any)?.usage),
      observeStream: () => new MessageStreamObserver(),
    };
  }
}

/**
 * 1.x clients name their provider themselves (`_genAIProviderName`); older ones are told apart by
 * class and host.
 */
function providerOf(client: any, host: string | undefined): string {
  if (typeof client?._genAIProviderName === 'string') return client._genAIProviderName;
  const name: string = client?.constructor?.name ?? '';
  if (name.includes('Bedrock') || host?.startsWith('bedrock-runtime.')) return 'aws.bedrock';
  if (name.includes('Vertex') || host?.endsWith('aiplatform.googleapis.com')) return 'gcp.vertex_ai';
  return 'anthropic';
}

/**
 * Anthropic reports cache reads and writes IN ADDITION to `input_tokens`; the conventions' input
 * total includes them, so they are added here.
 */
export function anthropicUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const uncached = requiredCount(usage.input_tokens);
  const cacheRead = countOrZero(usage.cache_read_input_tokens);
  const cacheWrite = countOrZero(usage.cache_creation_input_tokens);
  const result: TokenUsage = {
    inputTokens: uncached + cacheRead + cacheWrite,
    outputTokens: countOrZero(usage.output_tokens),
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    reasoningOutputTokens: countOrZero(usage.output_tokens_details?.thinking_tokens),
  };
  const units: Record<string, number> = {};
  const webSearches = countOrZero(usage.server_tool_use?.web_search_requests);
  if (webSearches !== 0) units.web_search_requests = webSearches;
  // 1-hour cache writes are priced differently from 5-minute ones.
  const oneHourWrites = countOrZero(usage.cache_creation?.ephemeral_1h_input_tokens);
  if (oneHourWrites !== 0) units.cache_write_1h_input_tokens = oneHourWrites;
  if (Object.keys(units).length) result.units = units;
  return result;
}

function messageResult(message: any, usage: any): CallResponse {
  const stopReason = message?.stop_reason;
  const tier = usage?.service_tier;
  return {
    responseModel: typeof message?.model === 'string' ? message.model : undefined,
    responseId: typeof message?.id === 'string' ? message.id : undefined,
    finishReasons: typeof stopReason === 'string' ? [stopReason] : undefined,
    usage: anthropicUsage(usage),
    providerUsage: usage,
    attributes: typeof tier === 'string' ? { [sc.ATTR_ANTHROPIC_RESPONSE_SERVICE_TIER]: tier } : undefined,
  };
}

/**
 * `message_start` carries the input and cache counts; `message_delta` the cumulative output count
 * (and, from newer API versions, the final input counts again), so later fields win.
 */
class MessageStreamObserver implements StreamObserver {
  private message: any;
  private usage: any;
  private stopReason: string | undefined;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    switch (event?.type) {
      case 'content_block_delta': {
        const delta = event.delta;
        const piece = delta?.text ?? delta?.partial_json ?? delta?.thinking;
        if (typeof piece === 'string') this.text.push(piece);
        break;
      }
      case 'message_start':
        this.message = event.message;
        if (event.message?.usage) this.usage = { ...event.message.usage };
        break;
      case 'message_delta':
        if (typeof event.delta?.stop_reason === 'string') this.stopReason = event.delta.stop_reason;
        if (event.usage) this.usage = { ...this.usage, ...withoutNulls(event.usage) };
        break;
    }
    return false;
  }

  result(): CallResponse {
    return messageResult(
      { ...this.message, stop_reason: this.stopReason ?? this.message?.stop_reason },
      this.usage,
    );
  }

  outputText(): string {
    return this.text.join('');
  }
}

function withoutNulls(usage: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(usage)) if (value !== null) result[key] = value;
  return result;
}
