import type { StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { EstimationSource } from '../core/recorder.js';
import { countOrZero, readCount } from '../core/usage.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';

/** Ollama's server-side timings (reported in nanoseconds), on the span in seconds. */
export const ATTR_OLLAMA_TOTAL_DURATION = 'ollama.response.total_duration';
export const ATTR_OLLAMA_LOAD_DURATION = 'ollama.response.load_duration';
export const ATTR_OLLAMA_PROMPT_EVAL_DURATION = 'ollama.response.prompt_eval_duration';
export const ATTR_OLLAMA_EVAL_DURATION = 'ollama.response.eval_duration';

const DURATIONS: ReadonlyArray<readonly [field: string, attribute: string]> = [
  ['total_duration', ATTR_OLLAMA_TOTAL_DURATION],
  ['load_duration', ATTR_OLLAMA_LOAD_DURATION],
  ['prompt_eval_duration', ATTR_OLLAMA_PROMPT_EVAL_DURATION],
  ['eval_duration', ATTR_OLLAMA_EVAL_DURATION],
];

/** The usage-bearing fields of a final message: the only part of it kept as `providerUsage`. */
const USAGE_FIELDS = [
  'prompt_eval_count',
  'prompt_eval_cached_count',
  'eval_count',
  'total_duration',
  'load_duration',
  'prompt_eval_duration',
  'eval_duration',
] as const;

/** The `Ollama` client methods that are metered. */
export type OllamaMethod = 'chat' | 'generate' | 'embed' | 'embeddings';
export const OLLAMA_METHODS: readonly OllamaMethod[] = ['chat', 'generate', 'embed', 'embeddings'];

const OPERATIONS: Record<OllamaMethod, string> = {
  chat: 'chat',
  generate: 'text_completion',
  embed: 'embeddings',
  embeddings: 'embeddings',
};

type Body = Record<string, any>;

export interface OllamaCall extends EstimationSource {
  request: CallRequest;
  readResponse(value: unknown): CallResponse;
  observeStream(): StreamObserver;
}

/**
 * The `ollama` npm package (`Ollama` class of `ollama` and `ollama/browser`, and the default
 * instance): `chat`, `generate`, `embed` and the legacy `embeddings`, against Ollama's native API.
 *
 * Usage: `prompt_eval_count` is the input (the whole prompt: since mid-2024 (ollama/ollama#5371) it
 * no longer depends on the prompt cache, and newer servers report the cached part separately
 * as `prompt_eval_cached_count`), `eval_count` the output (thinking included; Ollama reports no
 * separate reasoning count). Older servers omitted `prompt_eval_count` when the prompt came from
 * their cache (Go's `omitempty` on a count of newly evaluated tokens): the prompt size is then
 * unknown, not zero, so the call is estimated. An absent `eval_count` is a zero count.
 */
export class OllamaAdapter {
  describe(client: any, method: OllamaMethod, body: unknown): OllamaCall {
    const server = serverOf(client?.config?.host);
    const params: Body = typeof body === 'object' && body !== null ? (body as Body) : {};
    const stream = (method === 'chat' || method === 'generate') && params.stream === true;
    const request: CallRequest = {
      operation: OPERATIONS[method],
      provider: 'ollama',
      requestModel: typeof params.model === 'string' ? params.model : undefined,
      stream,
      serverAddress: server.address,
      serverPort: server.port,
      attributes: requestAttributes(params),
    };
    return {
      request,
      input: () => estimationInput(method, params),
      readResponse: (value) => readResponse(method, value),
      observeStream: () => new OllamaStreamObserver(method),
    };
  }
}

function requestAttributes(params: Body): CallRequest['attributes'] {
  const attributes: NonNullable<CallRequest['attributes']> = {};
  const options = params.options;
  if (options && typeof options === 'object') {
    if (typeof options.num_predict === 'number' && options.num_predict >= 0)
      attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = options.num_predict;
    if (typeof options.temperature === 'number')
      attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = options.temperature;
  }
  return attributes;
}

function estimationInput(method: OllamaMethod, params: Body): { texts: string[]; messageCount: number } {
  const texts: string[] = [];
  switch (method) {
    case 'chat':
      collectText(params.messages, texts);
      return { texts, messageCount: Array.isArray(params.messages) ? params.messages.length : 0 };
    case 'generate':
      collectText(params.system, texts);
      collectText(params.prompt, texts);
      collectText(params.suffix, texts);
      return { texts, messageCount: 0 };
    case 'embed':
      collectText(params.input, texts);
      return { texts, messageCount: 0 };
    case 'embeddings':
      collectText(params.prompt, texts);
      return { texts, messageCount: 0 };
  }
}

/** Tokens of a final message (or an `/api/embed` response); undefined when the input count is unknown. */
export function ollamaUsage(data: unknown, withOutput = true): TokenUsage | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const fields = data as Body;
  const prompt = readCount(fields.prompt_eval_count);
  if (prompt === undefined) return undefined;
  return {
    // A malformed count makes the record invalid as a whole (NaN is rejected by validateUsage).
    inputTokens: typeof prompt === 'number' ? prompt : Number.NaN,
    outputTokens: withOutput ? countOrZero(fields.eval_count) : 0,
    cacheReadInputTokens: countOrZero(fields.prompt_eval_cached_count),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: 0,
  };
}

function usageFields(data: Body): Record<string, unknown> | undefined {
  const result: Record<string, unknown> = {};
  for (const field of USAGE_FIELDS) if (field in data) result[field] = data[field];
  return Object.keys(result).length ? result : undefined;
}

function durationAttributes(data: Body): CallResponse['attributes'] {
  const attributes: NonNullable<CallResponse['attributes']> = {};
  for (const [field, attribute] of DURATIONS) {
    const nanoseconds = data[field];
    if (typeof nanoseconds === 'number' && Number.isFinite(nanoseconds) && nanoseconds >= 0)
      attributes[attribute] = nanoseconds / 1e9;
  }
  return Object.keys(attributes).length ? attributes : undefined;
}

function finalResult(method: OllamaMethod, data: Body): CallResponse {
  const reason = data.done_reason;
  return {
    responseModel: typeof data.model === 'string' ? data.model : undefined,
    finishReasons: typeof reason === 'string' && reason ? [reason] : undefined,
    usage: ollamaUsage(data, method === 'chat' || method === 'generate'),
    providerUsage: usageFields(data),
    attributes: durationAttributes(data),
  };
}

function readResponse(method: OllamaMethod, value: unknown): CallResponse {
  if (!value || typeof value !== 'object') return {};
  // The legacy /api/embeddings answers with the vector only: no model, no count.
  if (method === 'embeddings') return {};
  return finalResult(method, value as Body);
}

/**
 * Chat and generate messages: text pieces until `done: true`, whose message carries the counts.
 * Nothing is hidden from the app.
 */
class OllamaStreamObserver implements StreamObserver {
  private final: Body | undefined;
  private model: string | undefined;
  private readonly text: string[] = [];

  constructor(private readonly method: OllamaMethod) {}

  onEvent(event: any): boolean {
    if (!event || typeof event !== 'object') return false;
    if (typeof event.model === 'string') this.model = event.model;
    const message = event.message;
    if (message && typeof message === 'object') {
      if (typeof message.content === 'string') this.text.push(message.content);
      if (typeof message.thinking === 'string') this.text.push(message.thinking);
      if (Array.isArray(message.tool_calls)) {
        for (const call of message.tool_calls) {
          const args = call?.function?.arguments;
          if (args !== undefined) this.text.push(typeof args === 'string' ? args : JSON.stringify(args));
        }
      }
    }
    if (typeof event.response === 'string') this.text.push(event.response);
    if (typeof event.thinking === 'string') this.text.push(event.thinking);
    if (event.done === true) this.final = event;
    return false;
  }

  result(): CallResponse {
    if (this.final) return finalResult(this.method, this.final);
    return { responseModel: this.model };
  }

  outputText(): string {
    return this.text.join('');
  }
}
