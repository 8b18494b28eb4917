import { createRequire } from 'node:module';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Pricer } from '@tokenmeter/pricing';
import { describe, expect, it } from 'vitest';
import { GroqInstrumentation } from '../src/groq/instrumentation.js';
import { collect, mock, mockServerForSuite, withoutVolatile } from './support/mock.js';
import { eventually, expectSaneEstimatedUsage, setupTelemetry } from './support/otel.js';
import { requireSdk } from './support/sdks.js';

// The instrumentation is enabled before the SDK is required, as `@tokenmeter/node/register` does.
const telemetry = setupTelemetry();
const pricer = new Pricer();
const groq = new GroqInstrumentation({ enabled: false, pricer });
groq.setTracerProvider(telemetry.tracerProvider);
groq.setMeterProvider(telemetry.meterProvider);
groq.enable();
const server = mockServerForSuite(telemetry);

/**
 * The oldest version the instrumentation claims (0.2.0), the newest of the oldest major (0.37; a
 * fixture package pinning each), and the current one.
 */
const GROQ_VERSIONS = ['groq-0-2', 'groq-0', 'current'] as const;

/** The client class, loaded through Node's own `require` (so the require hook patches it). */
function groqClass(version: (typeof GROQ_VERSIONS)[number]): any {
  const sdk =
    version === 'current' ? createRequire(import.meta.url)('groq-sdk') : requireSdk(version, 'groq-sdk');
  return sdk.Groq ?? sdk.default;
}

async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  groq.disable();
  try {
    return await fn();
  } finally {
    groq.enable();
  }
}

/** Groq's usage: OpenAI's fields (cached and reasoning tokens within the totals) plus timings. */
const GROQ_USAGE = {
  queue_time: 0.05,
  prompt_tokens: 3000,
  prompt_time: 0.004,
  completion_tokens: 400,
  completion_time: 0.2,
  total_tokens: 3400,
  total_time: 0.204,
  prompt_tokens_details: { cached_tokens: 2048 },
  completion_tokens_details: { reasoning_tokens: 150 },
};

const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: 'openai/gpt-oss-120b',
  messages: [{ role: 'user' as const, content: 'Say hello to the tokenmeter tests.' }],
  ...extra,
});

describe.each(GROQ_VERSIONS)('groq-sdk (%s)', (version) => {
  const Groq = groqClass(version);
  const client = () =>
    new Groq({ apiKey: 'gsk_test-key-never-exported', baseURL: server.url, maxRetries: 0 });

  it('records one CLIENT span per chat call with exact usage, cached and reasoning tokens included', async () => {
    const result = await client().chat.completions.create(
      chatBody({ max_completion_tokens: 512 }),
      mock({ usage: GROQ_USAGE }),
    );
    expect(result.usage.prompt_tokens).toBe(3000);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.name).toBe('chat openai/gpt-oss-120b');
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'groq',
      'gen_ai.request.model': 'openai/gpt-oss-120b',
      'gen_ai.response.model': 'openai/gpt-oss-120b',
      'gen_ai.response.id': result.id,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.request.stream': false,
      'gen_ai.request.max_tokens': 512,
      'server.address': '127.0.0.1',
      'server.port': server.port,
      'gen_ai.usage.input_tokens': 3000,
      'gen_ai.usage.cache_read.input_tokens': 2048,
      'gen_ai.usage.cache_write.input_tokens': 0,
      'gen_ai.usage.output_tokens': 400,
      'gen_ai.usage.reasoning.output_tokens': 150,
      'groq.request_id': result.x_groq.id,
      'groq.response.service_tier': 'on_demand',
      'groq.usage.queue_time': 0.05,
      'groq.usage.total_time': 0.204,
    });
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    expect(JSON.stringify(span!.attributes)).not.toContain('gsk_');
  });

  it('partitions Groq tokens without double counting in tokenmeter_tokens_total', async () => {
    const model = 'llama-3.3-70b-versatile';
    const sum = (token_type: string) =>
      telemetry.counterSum('tokenmeter.tokens', { 'gen_ai.request.model': model, token_type });
    const before = {
      input: await sum('input'),
      cache_read: await sum('cache_read'),
      output: await sum('output'),
      reasoning: await sum('reasoning'),
    };
    await client().chat.completions.create(chatBody({ model }), mock({ usage: GROQ_USAGE }));
    await eventually(async () => (await sum('cache_read')) - before.cache_read === 2048);
    expect((await sum('input')) - before.input).toBe(952);
    expect((await sum('output')) - before.output).toBe(250);
    expect((await sum('reasoning')) - before.reasoning).toBe(150);
    expect(await sum('cache_write')).toBe(0);
  });

  it('prices the call with the catalog, cache reads at their own price', async () => {
    await client().chat.completions.create(chatBody(), mock({ usage: GROQ_USAGE }));
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    const expected = pricer.price({
      provider: 'groq',
      model: 'openai/gpt-oss-120b',
      usage: {
        inputTokens: 3000,
        outputTokens: 400,
        cacheReadInputTokens: 2048,
        cacheWriteInputTokens: 0,
        reasoningOutputTokens: 150,
      },
    });
    if (!expected.priced) throw new Error(expected.reason);
    expect(expected.breakdown.cache_read).toBeGreaterThan(0);
    expect(attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
    expect(attributes['gen_ai.usage.cost.source']).toBe('local');
    expect(attributes['tokenmeter.pricing.model']).toBe(expected.pricingModel);
    expect(attributes['tokenmeter.cost.cache_read']).toBeCloseTo(expected.breakdown.cache_read, 15);
  });

  it('returns the same value with and without the instrumentation', async () => {
    const body = chatBody();
    const without = await uninstrumented(() =>
      client().chat.completions.create(body, mock({ usage: GROQ_USAGE })),
    );
    const withTm = await client().chat.completions.create(body, mock({ usage: GROQ_USAGE }));
    expect(withoutVolatile(withTm)).toEqual(withoutVolatile(without));
    expect(Object.getPrototypeOf(withTm)).toBe(Object.getPrototypeOf(without));
  });

  it('reads stream usage from x_groq.usage without changing the request or the chunks', async () => {
    const body = chatBody({ stream: true });
    const without = await uninstrumented(async () =>
      collect(await client().chat.completions.create(body, mock({ usage: GROQ_USAGE }))),
    );
    const withTm = await collect(await client().chat.completions.create(body, mock({ usage: GROQ_USAGE })));
    expect(server.requests.at(-1)!.body).not.toHaveProperty('stream_options');
    expect(withoutVolatile(withTm)).toStrictEqual(withoutVolatile(without));
    expect(withTm.at(-1).x_groq.usage.prompt_tokens).toBe(3000);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 3000,
      'gen_ai.usage.cache_read.input_tokens': 2048,
      'gen_ai.usage.output_tokens': 400,
      'gen_ai.usage.reasoning.output_tokens': 150,
      'gen_ai.response.finish_reasons': ['stop'],
      'groq.usage.queue_time': 0.05,
      'tokenmeter.stream.outcome': 'completed',
    });
    expect(span!.attributes['groq.request_id']).toBe(withTm[0].x_groq.id);
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
  });

  it('reads the OpenAI-style usage an app asked for with include_usage, once', async () => {
    const chunks = await collect(
      await client().chat.completions.create(
        chatBody({ stream: true, stream_options: { include_usage: true } }),
        mock({ usage: GROQ_USAGE }),
      ),
    );
    expect(chunks.at(-1)!.usage.prompt_tokens).toBe(3000);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(3000);
  });

  it('estimates a stream whose final chunk carries no usage', async () => {
    await collect(await client().chat.completions.create(chatBody({ stream: true }), mock({ usage: null })));
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
    expect(actual).toBeInstanceOf(Groq.RateLimitError);
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

  it('passes in-stream errors through and ends the span once', async () => {
    const call = async () =>
      collect(
        await client().chat.completions.create(
          chatBody({ stream: true }),
          mock({ scenario: 'stream-error' }),
        ),
      );
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual).toBeInstanceOf(Error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.stream.outcome']).toBe('error');
    expect(telemetry.spans()[0]!.attributes['tokenmeter.usage.estimated']).toBe(true);
  });

  it('ends the span once with estimated usage when the app breaks out of a stream', async () => {
    const stream = await client().chat.completions.create(
      chatBody({ stream: true }),
      mock({ scenario: 'chunks:20' }),
    );
    let seen = 0;
    for await (const _chunk of stream) if (++seen === 3) break;
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('passes an abort in the middle of a stream through and ends the span once', async () => {
    const consume = async () => {
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
      return { count: received.length, error: error?.constructor?.name };
    };
    const without = await uninstrumented(consume);
    telemetry.reset();
    const withTm = await consume();
    expect(withTm).toEqual(without);
    expect(withTm.count).toBeLessThan(50);
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

  it('does not prevent usage of tee and finalizes telemetry once', async () => {
    const stream = await client().chat.completions.create(
      chatBody({ stream: true }),
      mock({ usage: GROQ_USAGE }),
    );
    const [left, right] = stream.tee();
    const [a, b] = await Promise.all([collect(left), collect(right)]);
    expect(b).toEqual(a);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.output_tokens']).toBe(400);
  });

  it('keeps .withResponse() and .asResponse() working and meters both calls', async () => {
    const { data, response } = await client()
      .chat.completions.create(chatBody(), mock({ usage: GROQ_USAGE }))
      .withResponse();
    expect(data.usage.total_tokens).toBe(3400);
    expect(response.status).toBe(200);
    const raw = await client()
      .chat.completions.create(chatBody(), mock({ usage: GROQ_USAGE }))
      .asResponse();
    expect((await raw.json()).usage.prompt_tokens).toBe(3000);
    await eventually(() => telemetry.spans().length === 2);
    for (const span of telemetry.spans()) expect(span.attributes['gen_ai.usage.input_tokens']).toBe(3000);
  });

  it('gives each of hundreds of concurrent calls its own span under the right parent', async () => {
    const tracer = trace.getTracer('test');
    const calls = Array.from({ length: 200 }, (_, index) =>
      tracer.startActiveSpan(`parent-${index}`, async (parent) => {
        const model = `llama-3.1-8b-instant-${index}`;
        await client().chat.completions.create(chatBody({ model }));
        parent.end();
        return { parent: parent.spanContext().spanId, model };
      }),
    );
    const results = await Promise.all(calls);
    await eventually(() => telemetry.spans().length === 200);
    const byModel = new Map(telemetry.spans().map((span) => [span.attributes['gen_ai.request.model'], span]));
    for (const { parent, model } of results) {
      expect(byModel.get(model)!.parentSpanContext?.spanId).toBe(parent);
    }
    expect(trace.getSpan(context.active())).toBeUndefined();
  });

  it('never produces NaN or negative metrics from malformed usage', async () => {
    const model = 'llama-3.3-70b-malformed';
    const before = groq.recorder.self.counts.invalidUsage;
    const malformed = [
      { prompt_tokens: -5, completion_tokens: 3, total_tokens: -2 },
      { prompt_tokens: 'NaN', completion_tokens: 3, total_tokens: 3 },
      { prompt_tokens: 1e15, completion_tokens: 3, total_tokens: 1e15 },
      { prompt_tokens: 10, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 50 } },
      { prompt_tokens: 10, completion_tokens: 3.5 },
    ];
    for (const usage of malformed) {
      const result = await client().chat.completions.create(chatBody({ model }), mock({ usage }));
      expect(result.usage).toMatchObject(usage);
    }
    await eventually(() => telemetry.spans().length === malformed.length);
    expect(groq.recorder.self.counts.invalidUsage - before).toBe(malformed.length);
    await expectSaneEstimatedUsage(telemetry);
  });

  it('catches errors thrown inside the instrumentation, counts them, and the app is unaffected', async () => {
    const before = groq.recorder.self.counts.internalErrors;
    groq.setConfig({
      pricer,
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
      const result = await client().chat.completions.create(chatBody(), mock({ usage: GROQ_USAGE }));
      expect(result.usage.total_tokens).toBe(3400);
    } finally {
      groq.setConfig({ pricer, processors: [], contextAttributes: undefined });
    }
    await eventually(() => telemetry.spans().length === 1);
    expect(groq.recorder.self.counts.internalErrors - before).toBe(2);
  });

  // 0.2.0 has chat completions and models only: `embeddings` came later in 0.x.
  it.skipIf(version === 'groq-0-2')('meters embeddings with their input tokens', async () => {
    const result = await client().embeddings.create({
      model: 'nomic-embed-text-v1_5',
      input: ['alpha', 'beta'],
    });
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.name).toBe('embeddings nomic-embed-text-v1_5');
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBe(result.usage.prompt_tokens);
    expect(span!.attributes['gen_ai.usage.output_tokens']).toBe(0);
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    // Not in the price catalog: counted as unpriced, never as $0.
    expect(span!.attributes['tokenmeter.pricing.status']).toBe('unpriced');
  });

  it('leaves calls it does not meter untouched and can be disabled at runtime', async () => {
    groq.disable();
    await client().chat.completions.create(chatBody());
    expect(telemetry.spans()).toHaveLength(0);
    groq.enable();
    await client().chat.completions.create(chatBody());
    await eventually(() => telemetry.spans().length === 1);
  });
});
