import type { ServerResponse } from 'node:http';
import type { MockRequest } from './provider.js';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario, textsOf } from './scenario.js';
import { EventWriter, JsonLinesWriter } from './sse.js';

type Body = Record<string, any>;

/**
 * Cohere's API (`api.cohere.com`) as `cohere-ai` calls it: `/v2/chat` (streams as SSE, one `event:`
 * line per type), `/v1/chat` (streams as newline-delimited JSON), `/v2/embed`, `/v1/embed`.
 */
export async function cohereRoute(mock: MockRequest): Promise<boolean> {
  const path = mock.url.pathname;
  if (path !== '/v2/chat' && path !== '/v1/chat' && path !== '/v2/embed' && path !== '/v1/embed')
    return false;
  const { response, scenario, body } = mock;
  if (scenario.httpError) {
    cohereError(response, scenario.httpError);
    return true;
  }
  if (mock.request.method !== 'POST') {
    cohereError(response, 404);
    return true;
  }
  if (path.endsWith('/embed')) embed(response, body, scenario, path.startsWith('/v2') ? 'v2' : 'v1');
  else if (path === '/v2/chat') await chatV2(response, body, scenario);
  else await chatV1(response, body, scenario);
  return true;
}

/** Cohere's error body is `{ "message": … }` (with an `id` on newer endpoints). */
function cohereError(response: ServerResponse, status: number): void {
  response.writeHead(status, { 'content-type': 'application/json', 'x-debug-trace-id': `mock_${status}` });
  response.end(JSON.stringify({ id: `mock-error-${status}`, message: `Mock error ${status}` }));
}

/**
 * Like the real API: `billed_units` counts what the call is billed for; `tokens` everything the
 * model processed, including the prompt template Cohere adds to the input (not billed).
 */
const TEMPLATE_TOKENS = 66;

function counts(input: number, output: number | undefined): Body {
  const billed: Body = { input_tokens: input };
  const tokens: Body = { input_tokens: input + TEMPLATE_TOKENS };
  if (output !== undefined) {
    billed.output_tokens = output;
    tokens.output_tokens = output;
  }
  return { billed_units: billed, tokens };
}

/** The usage object a response carries (v2 chat `usage`; v1 chat and both embeds `meta`), or null. */
function usageFor(base: Body, scenario: Scenario): Body | null {
  return mergeUsage(base, scenario.usage) as Body | null;
}

function v2Input(body: Body): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  return estimateInputTokens(textsOf(body.messages), messages);
}

function v1Input(body: Body): number {
  const history = Array.isArray(body.chat_history) ? body.chat_history : [];
  return estimateInputTokens(
    textsOf([body.preamble, history.map((turn: Body) => turn?.message), body.message]),
    history.length + 1,
  );
}

function json(response: ServerResponse, value: unknown, scenario: Scenario): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(scenario.invalidJson ? '{"id": "broken", "message": {' : JSON.stringify(value));
}

async function chatV2(response: ServerResponse, body: Body, scenario: Scenario): Promise<void> {
  const words = pieces(scenario.chunks);
  const id = nextId('c14c80c3-');
  const usage = usageFor(counts(v2Input(body), words.length), scenario);
  if (!body.stream) {
    const result: Body = {
      id,
      message: { role: 'assistant', content: [{ type: 'text', text: words.join('') }] },
      finish_reason: 'COMPLETE',
    };
    if (usage !== null) result.usage = usage;
    json(response, result, scenario);
    return;
  }
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter);
  const send = (type: string, fields: Body) => events.send({ type, ...fields }, type);
  const start = {
    id,
    delta: { message: { role: 'assistant', content: [], tool_plan: '', tool_calls: [], citations: [] } },
  };
  if (!(await send('message-start', start))) return;
  if (
    !(await send('content-start', { index: 0, delta: { message: { content: { type: 'text', text: '' } } } }))
  )
    return;
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      // How the API reports a failure after the stream began: the message ends with an error.
      await send('message-end', { delta: { error: 'Mock stream failure', finish_reason: 'ERROR' } });
      events.end();
      return;
    }
    if (!(await send('content-delta', { index: 0, delta: { message: { content: { text: word } } } }))) return;
  }
  if (!(await send('content-end', { index: 0 }))) return;
  const end: Body = { finish_reason: 'COMPLETE' };
  if (usage !== null) end.usage = usage;
  await send('message-end', { delta: end });
  events.end();
}

async function chatV1(response: ServerResponse, body: Body, scenario: Scenario): Promise<void> {
  const words = pieces(scenario.chunks);
  const generationId = nextId('gen-');
  const meta = usageFor({ api_version: { version: '1' }, ...counts(v1Input(body), words.length) }, scenario);
  const final = (text: string, finishReason: string): Body => {
    const result: Body = {
      response_id: nextId('resp-'),
      text,
      generation_id: generationId,
      chat_history: [
        { role: 'USER', message: typeof body.message === 'string' ? body.message : '' },
        { role: 'CHATBOT', message: text },
      ],
      finish_reason: finishReason,
    };
    if (meta !== null) result.meta = meta;
    return result;
  };
  if (!body.stream) {
    json(response, final(words.join(''), 'COMPLETE'), scenario);
    return;
  }
  const lines = new JsonLinesWriter(
    response,
    scenario.chunkDelayMs,
    scenario.cutStreamAfter,
    'application/stream+json',
  );
  if (!(await lines.send({ is_finished: false, event_type: 'stream-start', generation_id: generationId })))
    return;
  const seen: string[] = [];
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      const end = { is_finished: true, event_type: 'stream-end', finish_reason: 'ERROR' };
      await lines.send({ ...end, response: final(seen.join(''), 'ERROR') });
      lines.end();
      return;
    }
    seen.push(word);
    if (!(await lines.send({ is_finished: false, event_type: 'text-generation', text: word }))) return;
  }
  const end = { is_finished: true, event_type: 'stream-end', finish_reason: 'COMPLETE' };
  await lines.send({ ...end, response: final(words.join(''), 'COMPLETE') });
  lines.end();
}

function embed(response: ServerResponse, body: Body, scenario: Scenario, api: 'v1' | 'v2'): void {
  const texts: unknown[] = Array.isArray(body.texts)
    ? body.texts
    : Array.isArray(body.inputs)
      ? body.inputs
      : [];
  const input = estimateInputTokens(textsOf(texts), 0);
  const meta = usageFor(
    { api_version: { version: api === 'v2' ? '2' : '1' }, billed_units: { input_tokens: input } },
    scenario,
  );
  const vector = [0.0123, -0.0456, 0.0789, 0.0012];
  const byType = api === 'v2' || Array.isArray(body.embedding_types);
  const result: Body = {
    id: nextId('embed-'),
    embeddings: byType ? { float: texts.map(() => vector) } : texts.map(() => vector),
    texts,
    response_type: byType ? 'embeddings_by_type' : 'embeddings_floats',
  };
  if (meta !== null) result.meta = meta;
  json(response, result, scenario);
}
