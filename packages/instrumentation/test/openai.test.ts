import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { setupHarness } from './support/instrumentations.js';
import { collect, mock, mockServerForSuite, withoutVolatile } from './support/mock.js';
import { eventually, expectSaneEstimatedUsage } from './support/otel.js';
import { OPENAI_VERSIONS, openAIClass } from './support/sdks.js';

const harness = setupHarness();
const { telemetry } = harness;
const server = mockServerForSuite(telemetry);

const CACHED_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 1000, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 120, audio_tokens: 0 },
};

const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content: 'Say hello to the tokenmeter tests.' }],
  ...extra,
});

/** Runs `fn` with the instrumentation off, to get what the app sees without Tokenmeter. */
async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  harness.openai.disable();
  try {
    return await fn();
  } finally {
    harness.openai.enable();
  }
}

describe.each(OPENAI_VERSIONS)('openai SDK (%s)', (fixture) => {
  const OpenAI = openAIClass(fixture);
  const client = () =>
    new OpenAI({ apiKey: 'sk-test-key-never-exported', baseURL: `${server.url}/v1`, maxRetries: 0 });

  it('records one CLIENT span per chat call with the contract attributes and exact usage', async () => {
    const result = await client().chat.completions.create(
      chatBody({ max_tokens: 50 }),
      mock({ usage: CACHED_USAGE }),
    );
    expect(result.usage.prompt_tokens).toBe(1200);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.name).toBe('chat gpt-4o-mini');
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': result.model,
      'gen_ai.response.id': result.id,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.request.stream': false,
      'gen_ai.request.max_tokens': 50,
      'server.address': '127.0.0.1',
      'server.port': server.port,
      // OpenAI's prompt_tokens already include the cached ones.
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.cache_write.input_tokens': 0,
      'gen_ai.usage.output_tokens': 300,
      'gen_ai.usage.reasoning.output_tokens': 120,
    });
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    expect(JSON.stringify(span!.attributes)).not.toContain('sk-test-key');
  });

  it('partitions tokens without double counting in tokenmeter_tokens_total', async () => {
    const model = `gpt-4o-partition-${fixture}`;
    await client().chat.completions.create(chatBody({ model }), mock({ usage: CACHED_USAGE }));
    const sum = (token_type: string) =>
      telemetry.counterSum('tokenmeter.tokens', { 'gen_ai.request.model': model, token_type });
    await eventually(async () => (await sum('cache_read')) === 1000);
    expect(await sum('input')).toBe(200);
    expect(await sum('output')).toBe(180);
    expect(await sum('reasoning')).toBe(120);
    expect(await sum('cache_write')).toBe(0);
    expect(
      await telemetry.counterSum('tokenmeter.calls', { 'gen_ai.request.model': model, outcome: 'ok' }),
    ).toBe(1);
    expect(
      await telemetry.counterSum('gen_ai.client.inference.usage.input_tokens', {
        'gen_ai.request.model': model,
      }),
    ).toBe(1200);
  });

  it('returns the same value with and without the instrumentation', async () => {
    const body = chatBody();
    const without = await uninstrumented(() =>
      client().chat.completions.create(body, mock({ usage: CACHED_USAGE })),
    );
    const withTm = await client().chat.completions.create(body, mock({ usage: CACHED_USAGE }));
    expect(withoutVolatile(withTm)).toEqual(withoutVolatile(without));
    expect(Object.getPrototypeOf(withTm)).toBe(Object.getPrototypeOf(without));
  });

  it('requests the usage event for streams and hides it: the app sees the same chunks', async () => {
    const body = chatBody({ stream: true });
    const usage = { prompt_tokens: 40, completion_tokens: 8, total_tokens: 48 };
    const without = await uninstrumented(async () =>
      collect(await client().chat.completions.create(body, mock({ usage }))),
    );
    expect(server.requests.at(-1)!.body.stream_options).toBeUndefined();
    const withTm = await collect(await client().chat.completions.create(body, mock({ usage })));
    expect(server.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
    expect(withoutVolatile(withTm)).toStrictEqual(withoutVolatile(without));
    expect(body).not.toHaveProperty('stream_options');

    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 40,
      'gen_ai.usage.output_tokens': 8,
      'tokenmeter.stream.outcome': 'completed',
    });
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
  });

  it('leaves an app-requested usage chunk visible', async () => {
    const chunks = await collect(
      await client().chat.completions.create(
        chatBody({ stream: true, stream_options: { include_usage: true } }),
      ),
    );
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: expect.any(Number) });
  });

  it('estimates usage with a tokenizer when the stream usage option is switched off', async () => {
    harness.openai.setConfig({ requestStreamUsage: false });
    try {
      await collect(await client().chat.completions.create(chatBody({ stream: true })));
    } finally {
      harness.openai.setConfig({});
    }
    expect(server.requests.at(-1)!.body.stream_options).toBeUndefined();
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(5);
    expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('rethrows HTTP errors unchanged and ends the span once with error.type', async () => {
    const call = () => client().chat.completions.create(chatBody(), mock({ scenario: 'http-error:429' }));
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual).toBeInstanceOf(OpenAI.RateLimitError);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.status).toBe(429);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.attributes['error.type']).toBe('429');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
  });

  it('rethrows invalid JSON errors unchanged', async () => {
    const call = () => client().chat.completions.create(chatBody(), mock({ scenario: 'invalid-json' }));
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe(expected.constructor.name);
  });

  it('rethrows timeouts and aborts unchanged', async () => {
    const timeout = await client()
      .chat.completions.create(chatBody(), { ...mock({ scenario: 'delay:2000' }), timeout: 50 })
      .catch((error: any) => error);
    expect(timeout).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);

    const controller = new AbortController();
    const pending = client()
      .chat.completions.create(chatBody(), { ...mock({ scenario: 'delay:2000' }), signal: controller.signal })
      .catch((error: any) => error);
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);

    await eventually(() => telemetry.spans().length === 2);
    expect(telemetry.spans().map((span) => span.attributes['error.type'])).toEqual([
      'APIConnectionTimeoutError',
      'APIUserAbortError',
    ]);
  });

  it('does not prevent usage of tee and finalizes telemetry once', async () => {
    const stream = await client().chat.completions.create(
      chatBody({ stream: true }),
      mock({ usage: CACHED_USAGE }),
    );
    const [left, right] = stream.tee();
    const [a, b] = await Promise.all([collect(left), collect(right)]);
    expect(a.length).toBeGreaterThan(2);
    expect(b).toEqual(a);
    expect(a.every((chunk: any) => !('usage' in chunk))).toBe(true);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(1200);
  });

  it('ends the span when the app breaks out of a stream early, with estimated usage', async () => {
    const stream = await client().chat.completions.create(
      chatBody({ stream: true }),
      mock({ scenario: 'chunks:20' }),
    );
    let seen = 0;
    for await (const _chunk of stream) {
      if (++seen === 3) break;
    }
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('fails a second iteration exactly as the SDK does, without finalizing twice', async () => {
    const iterateTwice = async () => {
      const stream = await client().chat.completions.create(chatBody({ stream: true }));
      await collect(stream);
      return collect(stream).catch((error: any) => error);
    };
    const expected = await uninstrumented(iterateTwice);
    const actual = await iterateTwice();
    expect(actual).toBeInstanceOf(Error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['error.type']).toBeUndefined();
  });

  it('passes an abort in the middle of a stream through and ends the span once', async () => {
    const stream = await client().chat.completions.create(
      chatBody({ stream: true }),
      mock({ scenario: 'chunks:50,chunk-delay:10' }),
    );
    const received: unknown[] = [];
    const error = await (async () => {
      for await (const chunk of stream) {
        received.push(chunk);
        if (received.length === 2) stream.controller.abort();
      }
    })().catch((caught: any) => caught);
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.length).toBeLessThan(50);
    void error;
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.usage.estimated']).toBe(true);
  });

  it('records an error when the server cuts the stream', async () => {
    const stream = await client().chat.completions.create(
      chatBody({ stream: true }),
      mock({ scenario: 'cut-stream:2' }),
    );
    const error = await collect(stream).catch((caught: any) => caught);
    expect(error).toBeInstanceOf(Error);
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['error.type']).toBeDefined();
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
  });

  it('keeps .withResponse() working and meters the call', async () => {
    const { data, response } = await client()
      .chat.completions.create(chatBody(), mock({ usage: CACHED_USAGE }))
      .withResponse();
    expect(data.usage.total_tokens).toBe(1500);
    expect(response.status).toBe(200);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.output_tokens']).toBe(300);
  });

  it('leaves the body of .asResponse() to the app and still meters the call', async () => {
    const response = await client()
      .chat.completions.create(chatBody(), mock({ usage: CACHED_USAGE }))
      .asResponse();
    const body = await response.json();
    expect(body.usage.prompt_tokens).toBe(1200);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(1200);
  });

  it('finalizes fire-and-forget requests once', async () => {
    void client().chat.completions.create(chatBody(), mock({ usage: CACHED_USAGE }));
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(1200);
  });

  it('gives each of hundreds of concurrent calls its own span under the right parent', async () => {
    const tracer = trace.getTracer('test');
    const calls = Array.from({ length: 200 }, (_, index) =>
      tracer.startActiveSpan(`parent-${index}`, async (parent) => {
        const result = await client().chat.completions.create(chatBody({ model: `gpt-4o-mini-${index}` }));
        parent.end();
        return { parent: parent.spanContext().spanId, model: `gpt-4o-mini-${index}`, result };
      }),
    );
    const results = await Promise.all(calls);
    await eventually(() => telemetry.spans().length === 200);
    const byModel = new Map(telemetry.spans().map((span) => [span.attributes['gen_ai.request.model'], span]));
    for (const { parent, model } of results) {
      expect(byModel.get(model)!.parentSpanContext?.spanId).toBe(parent);
    }
    expect(context.active()).toBe(context.active());
  });

  it('never produces NaN or negative metrics from malformed usage', async () => {
    const model = `gpt-4o-malformed-${fixture}`;
    const before = harness.openai.recorder.self.counts.invalidUsage;
    const malformed = [
      { prompt_tokens: -5, completion_tokens: 3, total_tokens: -2 },
      { prompt_tokens: 'NaN', completion_tokens: 3, total_tokens: 3 },
      { prompt_tokens: '12', completion_tokens: 3, total_tokens: 15 },
      { prompt_tokens: 1e15, completion_tokens: 3, total_tokens: 1e15 },
      { prompt_tokens: 10, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 50 } },
    ];
    for (const usage of malformed) {
      const result = await client().chat.completions.create(chatBody({ model }), mock({ usage }));
      expect(result.usage).toMatchObject(usage);
    }
    await eventually(() => telemetry.spans().length === malformed.length);
    expect(harness.openai.recorder.self.counts.invalidUsage - before).toBe(malformed.length);
    await expectSaneEstimatedUsage(telemetry);
  });

  it('catches errors thrown inside the instrumentation, counts them, and the app is unaffected', async () => {
    const before = harness.openai.recorder.self.counts.internalErrors;
    harness.openai.setConfig({
      processors: [
        {
          onCallEnd() {
            throw new Error('boom in a processor');
          },
        },
      ],
      contextAttributes: () => {
        throw new Error('boom in attribution');
      },
    });
    try {
      const result = await client().chat.completions.create(chatBody(), mock({ usage: CACHED_USAGE }));
      expect(result.usage.total_tokens).toBe(1500);
    } finally {
      harness.openai.setConfig({ processors: [], contextAttributes: undefined });
    }
    await eventually(() => telemetry.spans().length === 1);
    expect(harness.openai.recorder.self.counts.internalErrors - before).toBe(2);
  });

  it('can be disabled and re-enabled at runtime', async () => {
    harness.openai.disable();
    await client().chat.completions.create(chatBody());
    expect(telemetry.spans()).toHaveLength(0);
    harness.openai.enable();
    await client().chat.completions.create(chatBody());
    await eventually(() => telemetry.spans().length === 1);
  });

  it('meters legacy completions and embeddings', async () => {
    await client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time' });
    await client().embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
    await eventually(() => telemetry.spans().length === 2);
    const [completion, embedding] = telemetry.spans();
    expect(completion!.name).toBe('text_completion gpt-3.5-turbo-instruct');
    expect(completion!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(embedding!.name).toBe('embeddings text-embedding-3-small');
    expect(embedding!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(embedding!.attributes['gen_ai.usage.output_tokens']).toBe(0);
  });
});
