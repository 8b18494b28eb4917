import { createRequire } from 'node:module';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Pricer } from '@tokenmeter/pricing';
import { describe, expect, it } from 'vitest';
import { GoogleGenerativeAIInstrumentation } from '../src/google-generative-ai/instrumentation.js';
import { collect, mock, mockServerForSuite } from './support/mock.js';
import { eventually, expectSaneEstimatedUsage, setupTelemetry } from './support/otel.js';

// Enabled before the SDK is required: the require hook patches `@google/generative-ai` as it loads.
const telemetry = setupTelemetry();
const instrumentation = new GoogleGenerativeAIInstrumentation({ enabled: false });
instrumentation.setTracerProvider(telemetry.tracerProvider);
instrumentation.setMeterProvider(telemetry.meterProvider);
instrumentation.enable();
const server = mockServerForSuite(telemetry);

const { GoogleGenerativeAI, GoogleGenerativeAIFetchError } = createRequire(import.meta.url)(
  '@google/generative-ai',
);

const API_KEY = 'AIza-legacy-key-never-exported';

const FULL_USAGE = {
  promptTokenCount: 1200,
  cachedContentTokenCount: 1000,
  candidatesTokenCount: 300,
  thoughtsTokenCount: 120,
  toolUsePromptTokenCount: 50,
  totalTokenCount: 1670,
};

const PROMPT = 'Summarise the tokenmeter test plan.';

function model(name = 'gemini-2.5-flash', extra: Record<string, unknown> = {}): any {
  return new GoogleGenerativeAI(API_KEY).getGenerativeModel(
    { model: name, ...extra },
    { baseUrl: server.url },
  );
}

/** Per-call request options that steer the mock. */
const steer = (options: Parameters<typeof mock>[0] = {}) => ({ customHeaders: mock(options).headers });

async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  instrumentation.disable();
  try {
    return await fn();
  } finally {
    instrumentation.enable();
  }
}

function stable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, field) => (key === 'responseId' ? undefined : field));
}

describe('@google/generative-ai', () => {
  it('records one CLIENT span per generateContent with exact usage, cache and thinking tokens', async () => {
    const { response } = await model('gemini-2.5-flash', {
      generationConfig: { maxOutputTokens: 256, temperature: 0.4 },
    }).generateContent(PROMPT, steer({ usage: FULL_USAGE }));
    expect(response.text()).toBe('Tokenmeter counts every token so budgets hold');
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    // The SDK names models `models/{model}`; that exact string is the request model.
    expect(span!.name).toBe('generate_content models/gemini-2.5-flash');
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'generate_content',
      'gen_ai.provider.name': 'gcp.gemini',
      'gen_ai.request.model': 'models/gemini-2.5-flash',
      'gen_ai.request.max_tokens': 256,
      'gen_ai.request.temperature': 0.4,
      'gen_ai.request.stream': false,
      'gen_ai.response.model': 'gemini-2.5-flash',
      'gen_ai.response.id': response.responseId,
      'gen_ai.response.finish_reasons': ['STOP'],
      'server.address': '127.0.0.1',
      'server.port': server.port,
      'gen_ai.usage.input_tokens': 1250,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 420,
      'gen_ai.usage.reasoning.output_tokens': 120,
    });
    expect(JSON.stringify(span!.attributes)).not.toContain('AIza');
    expect(JSON.stringify(span!.attributes)).not.toContain('Summarise');
  });

  it('partitions Gemini tokens without double counting in tokenmeter_tokens_total', async () => {
    await model('gemini-legacy-partition').generateContent(PROMPT, steer({ usage: FULL_USAGE }));
    const sum = (token_type: string) =>
      telemetry.counterSum('tokenmeter.tokens', {
        'gen_ai.request.model': 'models/gemini-legacy-partition',
        token_type,
      });
    await eventually(async () => (await sum('cache_read')) === 1000);
    expect(await sum('input')).toBe(250);
    expect(await sum('cache_write')).toBe(0);
    expect(await sum('output')).toBe(300);
    expect(await sum('reasoning')).toBe(120);
  });

  it('returns the same value with and without the instrumentation', async () => {
    const call = () => model().generateContent(PROMPT, steer({ usage: FULL_USAGE }));
    const without = await uninstrumented(call);
    const withTm = await call();
    expect(Object.keys(withTm)).toEqual(Object.keys(without));
    expect(stable(withTm.response)).toStrictEqual(stable(without.response));
    expect(withTm.response.text()).toBe(without.response.text());
  });

  it('meters a stream once from its chunks and aggregated response, chunks unchanged', async () => {
    const call = async () => {
      const result = await model().generateContentStream(PROMPT, steer({ usage: FULL_USAGE }));
      const chunks = (await collect(result.stream)).map(stable);
      const response = await result.response;
      return { chunks, response: stable(response), keys: Object.keys(result) };
    };
    const without = await uninstrumented(call);
    const withTm = await call();
    expect(withTm).toStrictEqual(without);
    expect(withTm.chunks).toHaveLength(8);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.response.model': 'gemini-2.5-flash',
      'gen_ai.response.finish_reasons': ['STOP'],
      'gen_ai.usage.input_tokens': 1250,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 420,
      'tokenmeter.stream.outcome': 'completed',
    });
    expect(telemetry.spans()[0]!.attributes['gen_ai.response.id']).toBeDefined();
  });

  it('meters a stream whose app only awaits the aggregated response', async () => {
    const result = await model().generateContentStream(PROMPT, steer({ usage: FULL_USAGE }));
    const response = await result.response;
    expect(response.usageMetadata.totalTokenCount).toBe(1670);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.output_tokens']).toBe(420);
  });

  it('meters a stream whose app only iterates the chunks', async () => {
    const result = await model().generateContentStream(PROMPT, steer({ usage: FULL_USAGE }));
    expect(await collect(result.stream)).toHaveLength(8);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(1250);
  });

  it('counts the whole generation when the app breaks out of the stream (the request goes on)', async () => {
    const result = await model().generateContentStream(PROMPT, steer({ scenario: 'chunks:30' }));
    let seen = 0;
    for await (const _chunk of result.stream) if (++seen === 4) break;
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['gen_ai.usage.output_tokens']).toBe(30);
    expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    expect(attributes['tokenmeter.usage.estimated']).toBeUndefined();
    expect((await result.response).usageMetadata.candidatesTokenCount).toBe(30);
  });

  it('estimates usage when a stream reports none', async () => {
    const result = await model().generateContentStream(PROMPT, steer({ usage: null }));
    await collect(result.stream);
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('rethrows API errors unchanged with error.type', async () => {
    for (const method of ['generateContent', 'generateContentStream'] as const) {
      telemetry.reset();
      const call = () =>
        model()
          [method](PROMPT, steer({ scenario: 'http-error:429' }))
          .catch((e: unknown) => e);
      const expected: any = await uninstrumented(call);
      const actual: any = await call();
      expect(actual).toBeInstanceOf(GoogleGenerativeAIFetchError);
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual.status).toBe(429);
      expect(actual.message).toBe(expected.message);
      await eventually(() => telemetry.spans().length === 1);
      expect(telemetry.spans()[0]!.attributes['error.type']).toBe('429');
      expect(telemetry.spans()[0]!.status.code).toBe(SpanStatusCode.ERROR);
    }
  });

  it('passes an in-stream error chunk through as the SDK does and ends the span once', async () => {
    const call = async () => {
      const result = await model().generateContentStream(PROMPT, steer({ scenario: 'stream-error' }));
      // A slow reader: the aggregated response settles long before the app reaches the error chunk.
      const chunks: unknown[] = [];
      for await (const chunk of result.stream) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        chunks.push(stable(chunk));
      }
      return { chunks, response: stable(await result.response) };
    };
    const without = await uninstrumented(call);
    const withTm = await call();
    expect(withTm).toStrictEqual(without);
    expect(withTm.chunks.at(-1)).toHaveProperty('error');
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe('500');
  });

  it('records an error when the server cuts the stream, rejecting both stream and response as before', async () => {
    const call = async () => {
      const result = await model().generateContentStream(PROMPT, steer({ scenario: 'cut-stream:2' }));
      const response = result.response.then(
        () => 'resolved',
        (error: any) => error.constructor.name,
      );
      const stream = await collect(result.stream).then(
        () => 'completed',
        (error: any) => error.constructor.name,
      );
      return { stream, response: await response };
    };
    const without = await uninstrumented(call);
    const withTm = await call();
    expect(withTm).toStrictEqual(without);
    expect(withTm.response).not.toBe('resolved');
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.stream.outcome']).toBe('error');
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe(withTm.response);
  });

  it('passes an abort in the middle of a stream through and ends the span once', async () => {
    const controller = new AbortController();
    const result = await model().generateContentStream(PROMPT, {
      ...steer({ scenario: 'chunks:20,chunk-delay:5' }),
      signal: controller.signal,
    });
    const response = result.response.catch((error: unknown) => error);
    let seen = 0;
    const error = await (async () => {
      try {
        for await (const _chunk of result.stream) if (++seen === 3) controller.abort();
      } catch (caught) {
        return caught as any;
      }
    })();
    expect(error).toBeDefined();
    expect(await response).toBeInstanceOf(Error);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.stream.outcome']).toBe('error');
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  });

  it('meters ChatSession.sendMessage and sendMessageStream once each, history intact', async () => {
    const conversation = async () => {
      const chat = model().startChat({ history: [] });
      const first = await chat.sendMessage('Hello', steer());
      const streamed = await chat.sendMessageStream('And again', steer());
      const chunks = (await collect(streamed.stream)).map(stable);
      await streamed.response;
      return { text: first.response.text(), chunks, history: await chat.getHistory() };
    };
    const without = await uninstrumented(conversation);
    server.requests.length = 0;
    const withTm = await conversation();
    expect(withTm).toStrictEqual(without);
    expect(withTm.history).toHaveLength(4);
    await eventually(() => telemetry.spans().length === 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(2);
    const [a, b] = telemetry.spans();
    expect([a!.attributes['gen_ai.request.stream'], b!.attributes['gen_ai.request.stream']]).toEqual([
      false,
      true,
    ]);
    expect(b!.name).toBe('generate_content models/gemini-2.5-flash');
    expect(b!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(
      a!.attributes['gen_ai.usage.input_tokens'] as number,
    );
    expect(server.requests).toHaveLength(2);
  });

  it('meters embedContent and batchEmbedContents as embeddings (estimated: the API reports no usage)', async () => {
    const embedder = model('text-embedding-004');
    const single = await embedder.embedContent('alpha beta gamma', steer());
    const batch = await embedder.batchEmbedContents(
      {
        requests: [
          { content: { role: 'user', parts: [{ text: 'alpha' }] } },
          { content: { role: 'user', parts: [{ text: 'beta gamma delta' }] } },
        ],
      },
      steer(),
    );
    expect(single.embedding.values.length).toBeGreaterThan(0);
    expect(batch.embeddings).toHaveLength(2);
    await eventually(() => telemetry.spans().length === 2);
    for (const span of telemetry.spans()) {
      expect(span.name).toBe('embeddings models/text-embedding-004');
      expect(span.attributes).toMatchObject({
        'gen_ai.operation.name': 'embeddings',
        'gen_ai.provider.name': 'gcp.gemini',
        'tokenmeter.usage.estimated': true,
        'gen_ai.usage.output_tokens': 0,
      });
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    }
  });

  it('does not meter countTokens', async () => {
    const result = await model().countTokens(PROMPT, steer());
    expect(result.totalTokens).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(0);
  });

  it('gives each of hundreds of concurrent calls its own span under the right parent', async () => {
    const tracer = trace.getTracer('test');
    const calls = Array.from({ length: 200 }, (_, index) =>
      tracer.startActiveSpan(`parent-${index}`, async (parent) => {
        const name = `gemini-concurrent-${index}`;
        if (index % 2 === 0) await (await model(name).generateContentStream(PROMPT)).response;
        else await model(name).generateContent(PROMPT);
        parent.end();
        return { parent: parent.spanContext().spanId, model: `models/${name}` };
      }),
    );
    const results = await Promise.all(calls);
    await eventually(() => telemetry.spans().length === 200);
    const byModel = new Map(telemetry.spans().map((span) => [span.attributes['gen_ai.request.model'], span]));
    for (const { parent, model: name } of results) {
      const span = byModel.get(name)!;
      expect(span.parentSpanContext?.spanId).toBe(parent);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    }
    expect(trace.getSpan(context.active())).toBeUndefined();
  });

  it('never produces NaN or negative metrics from malformed usage', async () => {
    const before = instrumentation.recorder.self.counts.invalidUsage;
    const malformed = [
      { promptTokenCount: -5, candidatesTokenCount: 3 },
      { promptTokenCount: 'NaN', candidatesTokenCount: 3 },
      { promptTokenCount: 1e15, candidatesTokenCount: 3 },
      { promptTokenCount: 10, candidatesTokenCount: 3, cachedContentTokenCount: 50 },
      { promptTokenCount: 10, candidatesTokenCount: -1, thoughtsTokenCount: 4 },
    ];
    for (const usage of malformed) {
      const { response } = await model('gemini-legacy-malformed').generateContent(PROMPT, steer({ usage }));
      expect(response.usageMetadata).toMatchObject(usage);
    }
    // In a stream too.
    await (
      await model('gemini-legacy-malformed').generateContentStream(PROMPT, steer({ usage: malformed[0] }))
    ).response;
    await eventually(() => telemetry.spans().length === malformed.length + 1);
    expect(instrumentation.recorder.self.counts.invalidUsage - before).toBe(malformed.length + 1);
    await expectSaneEstimatedUsage(telemetry);
  });

  it('catches errors thrown inside the instrumentation, counts them, and the app is unaffected', async () => {
    const before = instrumentation.recorder.self.counts.internalErrors;
    instrumentation.setConfig({
      processors: [
        {
          onCallEnd() {
            throw new Error('boom in a processor');
          },
        },
      ],
    });
    try {
      const { response } = await model().generateContent(PROMPT, steer({ usage: FULL_USAGE }));
      expect(response.usageMetadata.totalTokenCount).toBe(1670);
      const result = await model().generateContentStream(PROMPT, steer({ usage: FULL_USAGE }));
      const chunks = await collect(result.stream);
      expect(chunks).toHaveLength(8);
    } finally {
      instrumentation.setConfig({ processors: [] });
    }
    await eventually(() => telemetry.spans().length === 2);
    expect(instrumentation.recorder.self.counts.internalErrors - before).toBe(2);
  });

  it('can be disabled and re-enabled at runtime', async () => {
    instrumentation.disable();
    await model().generateContent(PROMPT);
    expect(telemetry.spans()).toHaveLength(0);
    instrumentation.enable();
    await model().generateContent(PROMPT);
    await eventually(() => telemetry.spans().length === 1);
  });

  it('prices models/-prefixed Gemini models with the catalog', async () => {
    const pricer = new Pricer();
    instrumentation.setConfig({ pricer });
    try {
      await model().generateContent(PROMPT, steer({ usage: FULL_USAGE }));
    } finally {
      instrumentation.setConfig({ pricer: undefined });
    }
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    const expected = pricer.price({
      provider: 'gcp.gemini',
      model: 'models/gemini-2.5-flash',
      usage: {
        inputTokens: 1250,
        outputTokens: 420,
        cacheReadInputTokens: 1000,
        cacheWriteInputTokens: 0,
        reasoningOutputTokens: 120,
      },
    });
    if (!expected.priced) throw new Error(expected.reason);
    expect(attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
    expect(attributes['tokenmeter.pricing.model']).toBe(expected.pricingModel);
  });
});
