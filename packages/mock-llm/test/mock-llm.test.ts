import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlmServer, startMockLlmServer } from '../src/index.js';

let server: MockLlmServer;
beforeAll(async () => {
  server = await startMockLlmServer();
});
afterAll(async () => {
  await server.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

function dataEvents(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice(6));
}

describe('mock LLM server wire formats', () => {
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }], stream: true };

  it('sends no usage key on chat chunks unless include_usage is asked for', async () => {
    const plain = dataEvents(await (await post('/v1/chat/completions', chat)).text());
    expect(plain.at(-1)).toBe('[DONE]');
    expect(plain.slice(0, -1).every((event) => !('usage' in JSON.parse(event)))).toBe(true);

    const withUsage = dataEvents(
      await (await post('/v1/chat/completions', { ...chat, stream_options: { include_usage: true } })).text(),
    );
    const chunks = withUsage.slice(0, -1).map((event) => JSON.parse(event));
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number) } });
    expect(chunks.length).toBe(plain.length);
  });

  it('sends Anthropic stream events in the API order with usage split across start and delta', async () => {
    const text = await (
      await post('/v1/messages', {
        model: 'claude-sonnet-4-20250514',
        max_tokens: 10,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      })
    ).text();
    const types = text
      .split('\n')
      .filter((line) => line.startsWith('event: '))
      .map((line) => line.slice(7));
    expect(types[0]).toBe('message_start');
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    const events = dataEvents(text).map((event) => JSON.parse(event));
    expect(events[0].message.usage.output_tokens).toBe(1);
    expect(events.find((event) => event.type === 'message_delta').usage.output_tokens).toBe(8);
  });

  it('returns exactly the usage a test asks for, and no usage for null', async () => {
    const usage = { prompt_tokens: 7, completion_tokens: -1 };
    const body = await (
      await post(
        '/v1/chat/completions',
        { ...chat, stream: false },
        { 'x-mock-usage': JSON.stringify(usage) },
      )
    ).json();
    expect(body.usage).toMatchObject(usage);
    const none = await (
      await post('/v1/chat/completions', { ...chat, stream: false }, { 'x-mock-usage': 'null' })
    ).json();
    expect(none).not.toHaveProperty('usage');
  });

  it('answers errors with the provider error body', async () => {
    const openai = await post('/v1/chat/completions', chat, { 'x-mock-scenario': 'http-error:429' });
    expect(openai.status).toBe(429);
    expect((await openai.json()).error.type).toBe('requests');
    const anthropic = await post(
      '/v1/messages',
      { model: 'claude', messages: [] },
      { 'x-mock-scenario': 'http-error:529' },
    );
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
  });

  it('reports Anthropic cache writes first and cache reads after for a cache_control prefix', async () => {
    const body = {
      model: 'claude-sonnet-4-20250514',
      max_tokens: 10,
      system: [{ type: 'text', text: 'policy '.repeat(400), cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'question' }],
    };
    const first = (await (await post('/v1/messages', body)).json()).usage;
    const second = (await (await post('/v1/messages', body)).json()).usage;
    expect(first.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(first.cache_read_input_tokens).toBe(0);
    expect(second.cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
    expect(second.input_tokens).toBe(first.input_tokens);
  });
});
