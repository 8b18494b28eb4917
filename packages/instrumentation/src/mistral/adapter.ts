import type { StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { EstimationSource } from '../core/recorder.js';
import { countOrZero } from '../core/usage.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';

type Body = Record<string, any>;

/** The SDK methods Tokenmeter meters, by resource: `chat.complete`, `fim.stream`, … */
export type MistralMethodKind = 'chat' | 'fim' | 'agents' | 'embeddings';

export interface MistralMethod {
  kind: MistralMethodKind;
  stream: boolean;
}

/** One described call: the request for the span, and how to read what comes back. */
export interface MistralCall extends EstimationSource {
  request: CallRequest;
  readResponse(value: unknown): CallResponse;
  observeStream(): StreamObserver;
}

const OPERATIONS: Record<MistralMethodKind, string> = {
  chat: 'chat',
  // Fill-in-the-middle is a prompt → completion call, the conventions' `text_completion`.
  fim: 'text_completion',
  // What the conventions (and the SDK's own tracing) call an agent run; the model comes with the response.
  agents: 'invoke_agent',
  embeddings: 'embeddings',
};

/**
 * `@mistralai/mistralai` (Speakeasy): requests are camelCase objects (`maxTokens`), responses the
 * SDK's parsed models (`usage.promptTokens`); fields the SDK's models do not name are kept raw
 * (snake_case), which is where cached prompt tokens arrive.
 */
export function describeMistralCall(
  method: MistralMethod,
  client: any,
  request: unknown,
  options: unknown,
): MistralCall {
  const body: Body = request && typeof request === 'object' ? (request as Body) : {};
  // `_baseURL` since 1.1; 1.0 kept it public as `baseURL`.
  const serverURL = (options as Body | undefined)?.serverURL ?? client?._baseURL ?? client?.baseURL;
  const server = serverOf(serverURL === undefined || serverURL === null ? undefined : String(serverURL));
  const attributes: Record<string, string | number | boolean | string[]> = {};
  if (typeof body.maxTokens === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = body.maxTokens;
  if (typeof body.temperature === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = body.temperature;
  if (typeof body.agentId === 'string') attributes[sc.ATTR_GEN_AI_AGENT_ID] = body.agentId;
  const callRequest: CallRequest = {
    operation: OPERATIONS[method.kind],
    provider: 'mistral_ai',
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
      if (method.kind === 'embeddings') collectText(body.inputs ?? body.input, texts);
      else if (method.kind === 'fim') {
        collectText(body.prompt, texts);
        collectText(body.suffix, texts);
      } else collectText(body.messages, texts);
      const messageCount = Array.isArray(body.messages) ? body.messages.length : 0;
      return { texts, messageCount };
    },
    readResponse: (value) => responseResult(value),
    observeStream: () => new CompletionStreamObserver(),
  };
}

/**
 * Mistral's `prompt_tokens` includes the cached prompt tokens (`prompt_tokens_details.cached_tokens`,
 * billed at a tenth of the input price), as OpenAI's does. The SDK's schema defaults a missing
 * `prompt_tokens` to 0, so a zero prompt count — which no real call has — means "not reported".
 */
export function mistralUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const prompt = usage.promptTokens ?? usage.prompt_tokens;
  if (prompt === 0 || prompt === undefined || prompt === null) return undefined;
  // SDK 1.x's models collect the fields they do not name under `additionalProperties`; 2.x keeps them inline.
  const extra = usage.additionalProperties;
  const raw = extra && typeof extra === 'object' ? { ...extra, ...usage } : usage;
  const details = raw.promptTokensDetails ?? raw.prompt_tokens_details ?? raw.prompt_token_details;
  const cached =
    details?.cachedTokens ?? details?.cached_tokens ?? raw.numCachedTokens ?? raw.num_cached_tokens;
  const completionDetails = raw.completionTokensDetails ?? raw.completion_tokens_details;
  return {
    // Left as reported: the recorder's validation rejects a negative or fractional count whole.
    inputTokens: typeof prompt === 'number' ? prompt : Number.NaN,
    outputTokens: countOrZero(usage.completionTokens ?? usage.completion_tokens),
    cacheReadInputTokens: countOrZero(cached),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: countOrZero(
      completionDetails?.reasoningTokens ?? completionDetails?.reasoning_tokens,
    ),
  };
}

function responseResult(response: any): CallResponse {
  const reasons: string[] = [];
  if (Array.isArray(response?.choices)) {
    for (const choice of response.choices) {
      const reason = choice?.finishReason ?? choice?.finish_reason;
      if (typeof reason === 'string') reasons.push(reason);
    }
  }
  return {
    responseModel: typeof response?.model === 'string' ? response.model : undefined,
    responseId: typeof response?.id === 'string' ? response.id : undefined,
    finishReasons: reasons.length > 0 ? reasons : undefined,
    usage: mistralUsage(response?.usage),
    providerUsage: response?.usage,
  };
}

/**
 * `chat.stream`, `fim.stream`, `agents.stream` yield `{ data: CompletionChunk }`; the last chunk
 * (the one with a finish reason) carries `usage`.
 */
class CompletionStreamObserver implements StreamObserver {
  private id: string | undefined;
  private model: string | undefined;
  private usage: unknown;
  private readonly reasons: string[] = [];
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    const chunk = event?.data;
    if (!chunk || typeof chunk !== 'object') return false;
    if (this.id === undefined && typeof chunk.id === 'string') this.id = chunk.id;
    if (typeof chunk.model === 'string') this.model = chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    if (Array.isArray(chunk.choices)) {
      for (const choice of chunk.choices) {
        const content = choice?.delta?.content;
        if (typeof content === 'string') this.text.push(content);
        else if (content) collectText(content, this.text);
        const toolCalls = choice?.delta?.toolCalls;
        if (Array.isArray(toolCalls))
          collectText(
            toolCalls.map((call: any) => call?.function),
            this.text,
          );
        const reason = choice?.finishReason ?? choice?.finish_reason;
        if (typeof reason === 'string') this.reasons.push(reason);
      }
    }
    return false;
  }

  result(): CallResponse {
    return {
      responseModel: this.model,
      responseId: this.id,
      finishReasons: this.reasons.length > 0 ? [...this.reasons] : undefined,
      usage: mistralUsage(this.usage),
      providerUsage: this.usage,
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}
