import type { ServerResponse } from 'node:http';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario, textsOf } from './scenario.js';
import { EventWriter } from './sse.js';

type Body = Record<string, any>;

export function anthropicError(response: ServerResponse, status: number): void {
  const types: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    404: 'not_found_error',
    429: 'rate_limit_error',
    500: 'api_error',
    529: 'overloaded_error',
  };
  // Fixed per status: the SDK puts the body (and so this id) into the error message.
  const requestId = `req_mock_${status}`;
  response.writeHead(status, {
    'content-type': 'application/json',
    'retry-after': '0',
    'request-id': requestId,
  });
  response.end(
    JSON.stringify({
      type: 'error',
      error: { type: types[status] ?? 'api_error', message: `Mock error ${status}` },
      request_id: requestId,
    }),
  );
}

/** Prefixes marked with `cache_control` seen before: the first request writes the cache, later ones read it. */
const cachedPrefixes = new Set<string>();

/**
 * Like the real API: text up to the last `cache_control` marker is the cacheable prefix, reported in
 * `cache_creation_input_tokens` the first time and `cache_read_input_tokens` after, IN ADDITION to
 * `input_tokens`, which counts only the rest.
 */
function cacheSplit(body: Body, total: number): { uncached: number; read: number; write: number } {
  const serialized = JSON.stringify([body.system, body.messages]);
  const marker = serialized.lastIndexOf('"cache_control"');
  if (marker === -1) return { uncached: total, read: 0, write: 0 };
  const prefix = serialized.slice(0, marker);
  const prefixTokens = Math.min(total - 1, Math.ceil(prefix.length / 4));
  const seen = cachedPrefixes.has(prefix);
  cachedPrefixes.add(prefix);
  return { uncached: total - prefixTokens, read: seen ? prefixTokens : 0, write: seen ? 0 : prefixTokens };
}

function usageFor(body: Body, outputTokens: number, scenario: Scenario): unknown {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  const cache = cacheSplit(body, estimateInputTokens(textsOf([body.system, body.messages]), messages));
  return mergeUsage(
    {
      input_tokens: cache.uncached,
      cache_creation_input_tokens: cache.write,
      cache_read_input_tokens: cache.read,
      cache_creation: { ephemeral_5m_input_tokens: cache.write, ephemeral_1h_input_tokens: 0 },
      output_tokens: outputTokens,
      service_tier: 'standard',
    },
    scenario.usage,
  );
}

/** The complete message object, as `/v1/messages` (and Bedrock's invoke) returns it. */
export function message(body: Body, scenario: Scenario, model?: string): Body {
  const words = pieces(scenario.chunks);
  const content: unknown[] = [];
  if (body.thinking?.type === 'enabled')
    content.push({ type: 'thinking', thinking: 'Considering.', signature: 'sig' });
  content.push({ type: 'text', text: words.join('') });
  const result: Body = {
    id: nextId('msg_'),
    type: 'message',
    role: 'assistant',
    model: model ?? body.model,
    content,
    stop_reason: 'end_turn',
    stop_sequence: null,
  };
  const usage = usageFor(body, words.length, scenario);
  if (usage !== null) result.usage = usage;
  return result;
}

export async function messages(response: ServerResponse, body: Body, scenario: Scenario): Promise<void> {
  if (!body.stream) {
    response.writeHead(200, { 'content-type': 'application/json', 'request-id': nextId('req_') });
    response.end(
      scenario.invalidJson ? '{"id": "msg_broken", "content": [' : JSON.stringify(message(body, scenario)),
    );
    return;
  }
  const words = pieces(scenario.chunks);
  const usage = usageFor(body, words.length, scenario) as Body | null;
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter);
  const send = (type: string, fields: Body) => events.send({ type, ...fields }, type);
  const start: Body = {
    id: nextId('msg_'),
    type: 'message',
    role: 'assistant',
    model: body.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
  };
  // message_start carries the input side; output_tokens counts up in message_delta.
  if (usage !== null) start.usage = { ...usage, output_tokens: 1 };
  if (!(await send('message_start', { message: start }))) return;
  if (!(await send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }))) return;
  if (!(await events.send({ type: 'ping' }, 'ping'))) return;
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      await send('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });
      events.end();
      return;
    }
    if (!(await send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } }))) return;
  }
  if (!(await send('content_block_stop', { index: 0 }))) return;
  const delta: Body = { delta: { stop_reason: 'end_turn', stop_sequence: null } };
  if (usage !== null) {
    delta.usage = {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
    };
  }
  if (!(await send('message_delta', delta))) return;
  await send('message_stop', {});
  events.end();
}

export function countTokens(response: ServerResponse, body: Body): void {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify({ input_tokens: estimateInputTokens(textsOf([body.system, body.messages]), messages) }),
  );
}

/** Message batches, kept in memory: created, immediately ended, results as JSONL. */
export class Batches {
  private readonly batches = new Map<string, { requests: Body[]; createdAt: string }>();

  create(response: ServerResponse, body: Body, baseUrl: string): void {
    const id = nextId('msgbatch_');
    const requests: Body[] = Array.isArray(body.requests) ? body.requests : [];
    this.batches.set(id, { requests, createdAt: new Date().toISOString() });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(this.describe(id, 'in_progress', baseUrl)));
  }

  retrieve(response: ServerResponse, id: string, baseUrl: string): boolean {
    if (!this.batches.has(id)) return false;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(this.describe(id, 'ended', baseUrl)));
    return true;
  }

  results(response: ServerResponse, id: string, scenario: Scenario): boolean {
    const batch = this.batches.get(id);
    if (!batch) return false;
    response.writeHead(200, { 'content-type': 'application/binary' });
    for (const request of batch.requests) {
      const result = { type: 'succeeded', message: message(request.params ?? {}, scenario) };
      response.write(`${JSON.stringify({ custom_id: request.custom_id, result })}\n`);
    }
    response.end();
    return true;
  }

  private describe(id: string, status: 'in_progress' | 'ended', baseUrl: string): Body {
    const batch = this.batches.get(id)!;
    const count = batch.requests.length;
    return {
      id,
      type: 'message_batch',
      processing_status: status,
      request_counts: {
        processing: status === 'ended' ? 0 : count,
        succeeded: status === 'ended' ? count : 0,
        errored: 0,
        canceled: 0,
        expired: 0,
      },
      ended_at: status === 'ended' ? new Date().toISOString() : null,
      created_at: batch.createdAt,
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
      archived_at: null,
      cancel_initiated_at: null,
      results_url: status === 'ended' ? `${baseUrl}/v1/messages/batches/${id}/results` : null,
    };
  }
}
