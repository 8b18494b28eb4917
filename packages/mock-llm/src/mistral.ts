import type { ServerResponse } from 'node:http';
import type { MockRequest } from './provider.js';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario, textsOf } from './scenario.js';
import { EventWriter } from './sse.js';

type Body = Record<string, any>;

/**
 * Mistral's API (`api.mistral.ai`) as `@mistralai/mistralai` calls it. Its chat path is OpenAI's
 * (`/v1/chat/completions`), so requests are told apart by the SDK's user agent: the client sets
 * `mistral-client-typescript/<version>` (or `x-mistral-user-agent` where a browser drops it), and
 * Speakeasy's default agent names the package.
 */
export function isMistralRequest(mock: MockRequest): boolean {
  const agent = `${header(mock, 'user-agent')} ${header(mock, 'x-mistral-user-agent')}`;
  return agent.includes('mistral-client-typescript') || agent.includes('@mistralai/mistralai');
}

function header(mock: MockRequest, name: string): string {
  const value = mock.request.headers[name];
  return Array.isArray(value) ? value.join(' ') : (value ?? '');
}

const PATHS: Record<string, 'chat' | 'fim' | 'agents' | 'embeddings'> = {
  '/v1/chat/completions': 'chat',
  '/v1/fim/completions': 'fim',
  '/v1/agents/completions': 'agents',
  '/v1/embeddings': 'embeddings',
};

/** The model an agent (`agentId`) runs on: agents requests name no model, responses do. */
const AGENT_MODEL = 'mistral-medium-latest';

export async function mistralRoute(mock: MockRequest): Promise<boolean> {
  if (!isMistralRequest(mock)) return false;
  const { response, scenario, body } = mock;
  const kind = PATHS[mock.url.pathname];
  if (scenario.httpError) {
    mistralError(response, scenario.httpError);
    return true;
  }
  if (mock.request.method !== 'POST' || !kind) {
    mistralError(response, 404);
    return true;
  }
  if (kind === 'embeddings') embeddings(response, body, scenario);
  else await completion(response, body, scenario, kind);
  return true;
}

/** Mistral's error body: `{object: "error", message, type, param, code}`. */
function mistralError(response: ServerResponse, status: number): void {
  const types: Record<number, [string, string | null]> = {
    400: ['invalid_request_error', null],
    401: ['authentication_error', null],
    404: ['invalid_request_error', 'model_not_found'],
    429: ['rate_limited', '1300'],
    500: ['internal_server_error', null],
    503: ['service_unavailable', null],
  };
  const [type, code] = types[status] ?? ['internal_server_error', null];
  response.writeHead(status, { 'content-type': 'application/json', 'x-kong-request-id': `mock_${status}` });
  response.end(JSON.stringify({ object: 'error', message: `Mock error ${status}`, type, param: null, code }));
}

/**
 * `prompt_tokens` includes the cached prompt tokens (`prompt_tokens_details.cached_tokens`): like the
 * real API, a request with a `prompt_cache_key` seen before reads its prefix from the cache (in
 * 64-token blocks).
 */
const cacheKeys = new Set<string>();

function usageFor(body: Body, kind: string, completionTokens: number, scenario: Scenario): unknown {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  const texts =
    kind === 'fim'
      ? textsOf([body.prompt, body.suffix])
      : kind === 'embeddings'
        ? textsOf(body.input)
        : textsOf(body.messages);
  const prompt = estimateInputTokens(texts, messages);
  let cached = 0;
  if (typeof body.prompt_cache_key === 'string') {
    if (cacheKeys.has(body.prompt_cache_key)) cached = Math.floor((prompt * 0.75) / 64) * 64;
    cacheKeys.add(body.prompt_cache_key);
  }
  const base: Body = {
    prompt_tokens: prompt,
    completion_tokens: completionTokens,
    total_tokens: prompt + completionTokens,
  };
  if (cached > 0) base.prompt_tokens_details = { cached_tokens: cached };
  return mergeUsage(base, scenario.usage);
}

const now = () => Math.floor(Date.now() / 1000);

async function completion(
  response: ServerResponse,
  body: Body,
  scenario: Scenario,
  kind: 'chat' | 'fim' | 'agents',
): Promise<void> {
  const words = pieces(scenario.chunks);
  const id = nextId('cmpl-');
  const model = kind === 'agents' ? AGENT_MODEL : typeof body.model === 'string' ? body.model : 'unknown';
  const created = now();
  const usage = usageFor(body, kind, words.length, scenario);

  if (!body.stream) {
    const result: Body = {
      id,
      object: 'chat.completion',
      model,
      created,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: words.join(''), tool_calls: null, prefix: false },
          finish_reason: 'stop',
        },
      ],
    };
    if (usage !== null) result.usage = usage;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(scenario.invalidJson ? '{"id": "cmpl-broken", "choices": [' : JSON.stringify(result));
    return;
  }

  // data-only SSE, ended by `data: [DONE]`; the chunk with the finish reason carries the usage.
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter);
  const chunk = (delta: Body, finishReason: string | null): Body => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  if (!(await events.send(chunk({ role: 'assistant', content: '' }, null)))) return;
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      await events.send({ object: 'error', message: 'Mock stream failure', type: 'internal_server_error' });
      events.end();
      return;
    }
    if (!(await events.send(chunk({ content: word }, null)))) return;
  }
  const last = chunk({ content: '' }, 'stop');
  if (usage !== null) last.usage = usage;
  if (!(await events.send(last))) return;
  await events.send('[DONE]');
  events.end();
}

function embeddings(response: ServerResponse, body: Body, scenario: Scenario): void {
  const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input];
  const usage = usageFor(body, 'embeddings', 0, scenario);
  const result: Body = {
    id: nextId('embd-'),
    object: 'list',
    data: inputs.map((_, index) => ({
      object: 'embedding',
      embedding: [0.0123, -0.0456, 0.0789, 0.0012],
      index,
    })),
    model: typeof body.model === 'string' ? body.model : 'mistral-embed',
  };
  if (usage !== null) result.usage = usage;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(scenario.invalidJson ? '{"id": "embd-broken", "data": [' : JSON.stringify(result));
}
