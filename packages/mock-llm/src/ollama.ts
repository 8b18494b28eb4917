import type { ServerResponse } from 'node:http';
import type { MockRequest } from './provider.js';
import { estimateInputTokens, mergeUsage, pieces, type Scenario, textsOf } from './scenario.js';
import { JsonLinesWriter } from './sse.js';

type Body = Record<string, any>;

/**
 * Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, legacy `/api/embeddings`), as
 * the `ollama` npm package calls it: JSON, or newline-delimited JSON when streaming (Ollama's
 * default when `stream` is absent). The final message (`done: true`) carries the counts and
 * durations (nanoseconds); Go's `omitempty` leaves zero counts out, and so does the mock for any
 * count the scenario sets to null. Errors are `{"error": "..."}` with the HTTP status, or a line of
 * that shape in the middle of a stream.
 */
export function ollamaRoute(mock: MockRequest): boolean | Promise<boolean> {
  const { request, response, url, body, scenario } = mock;
  if (request.method !== 'POST') return false;
  const path = url.pathname;
  if (!['/api/chat', '/api/generate', '/api/embed', '/api/embeddings'].includes(path)) return false;
  if (scenario.httpError) {
    ollamaError(response, scenario.httpError, typeof body?.model === 'string' ? body.model : 'unknown');
    return true;
  }
  switch (path) {
    case '/api/embed':
      embed(response, body, scenario);
      return true;
    case '/api/embeddings':
      json(response, { embedding: vector() }, scenario);
      return true;
    default:
      return generate(response, body, scenario, path === '/api/chat').then(() => true);
  }
}

function ollamaError(response: ServerResponse, status: number, model: string): void {
  const messages: Record<number, string> = {
    400: 'invalid request: mock error 400',
    404: `model "${model}" not found, try pulling it first`,
    500: 'llama runner process has terminated: mock error 500',
  };
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify({ error: messages[status] ?? `mock error ${status}` }));
}

function json(response: ServerResponse, result: unknown, scenario: Scenario): void {
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  if (scenario.invalidJson) response.end('{"model":"broken","message":{');
  else response.end(JSON.stringify(result));
}

function vector(): number[] {
  return Array.from({ length: 8 }, (_, index) => (index + 1) / 10);
}

/** Counts and durations of the final message, with the scenario's override merged in. */
function metrics(promptTokens: number, outputTokens: number, scenario: Scenario): Body | null {
  const merged = mergeUsage(
    {
      total_duration: 5_043_500_667,
      load_duration: 5_025_959,
      prompt_eval_count: promptTokens,
      prompt_eval_duration: 325_953_000,
      eval_count: outputTokens,
      eval_duration: 4_709_213_000,
    },
    scenario.usage,
  );
  if (merged === null || typeof merged !== 'object') return null;
  const result: Body = {};
  for (const [key, value] of Object.entries(merged as Body))
    if (value !== null && value !== 0) result[key] = value;
  return result;
}

function embed(response: ServerResponse, body: Body, scenario: Scenario): void {
  const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input];
  const counts = metrics(estimateInputTokens(textsOf(inputs), 0), 0, scenario);
  const result: Body = { model: body.model, embeddings: inputs.map(() => vector()) };
  if (counts) {
    // /api/embed reports no output count and no eval durations.
    const { eval_count: _count, eval_duration: _duration, prompt_eval_duration: _prompt, ...rest } = counts;
    Object.assign(result, rest);
  }
  json(response, result, scenario);
}

async function generate(
  response: ServerResponse,
  body: Body,
  scenario: Scenario,
  chat: boolean,
): Promise<void> {
  const model = typeof body.model === 'string' ? body.model : 'llama3.2';
  const words = pieces(scenario.chunks);
  const texts = chat ? textsOf(body.messages) : textsOf([body.system, body.prompt]);
  const messages = chat && Array.isArray(body.messages) ? body.messages.length : 1;
  const counts = metrics(estimateInputTokens(texts, messages), words.length, scenario);
  const createdAt = () => new Date().toISOString();
  const piece = (content: string): Body =>
    chat ? { message: { role: 'assistant', content } } : { response: content };
  const final = (content: string): Body => ({
    model,
    created_at: createdAt(),
    ...piece(content),
    done: true,
    done_reason: 'stop',
    ...(chat ? {} : { context: [1, 2, 3] }),
    ...counts,
  });

  if (body.stream === false) {
    json(response, final(words.join('')), scenario);
    return;
  }

  const lines = new JsonLinesWriter(
    response,
    scenario.chunkDelayMs,
    scenario.cutStreamAfter,
    'application/x-ndjson',
  );
  const send = (line: Body) => lines.send(line);
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      await send({ error: 'an error was encountered while running the model: mock stream failure' });
      lines.end();
      return;
    }
    if (!(await send({ model, created_at: createdAt(), ...piece(word), done: false }))) return;
  }
  if (!(await send(final('')))) return;
  lines.end();
}
