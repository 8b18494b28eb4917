import { createRequire } from 'node:module';
import path from 'node:path';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Pricer } from '@tokenmeter/pricing';
import { describe, expect, it } from 'vitest';
import { OllamaInstrumentation } from '../src/ollama/instrumentation.js';
import { collect, mock, mockServerForSuite } from './support/mock.js';
import { eventually, expectSaneEstimatedUsage, setupTelemetry } from './support/otel.js';

// The instrumentation is enabled before the SDK is required, as `@tokenmeter/node/register` does.
const telemetry = setupTelemetry();
const pricer = new Pricer();
const ollama = new OllamaInstrumentation({ enabled: false, pricer });
ollama.setTracerProvider(telemetry.tracerProvider);
ollama.setMeterProvider(telemetry.meterProvider);
ollama.enable();
const server = mockServerForSuite(telemetry);

/**
 * The oldest version the instrumentation claims (0.5.0), the newest 0.5.x (a fixture package pinning
 * each), and the current one.
 */
const OLLAMA_VERSIONS = ['ollama-0-5-0', 'ollama-05', 'current'] as const;
const versionsDir = path.resolve(import.meta.dirname, '../../../test/sdk-versions');

/** Node's own `require` from where the version is installed (so the require hook patches the SDK). */
function requireFor(version: (typeof OLLAMA_VERSIONS)[number]): NodeJS.Require {
  return version === 'current'
    ? createRequire(import.meta.url)
    : createRequire(path.join(versionsDir, version, 'package.json'));
}

async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  ollama.disable();
  try {
    return await fn();
  } finally {
    ollama.enable();
  }
}

/** `created_at` differs between two otherwise identical answers. */
function withoutTimestamps(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, field) => (key === 'created_at' ? undefined : field));
}

/** Counts of a final message: the whole prompt, the part of it read from the KV cache, the output. */
const COUNTS = { prompt_eval_count: 1200, prompt_eval_cached_count: 1000, eval_count: 300 };

const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: 'llama3.2',
  messages: [{ role: 'user', content: 'Say hello to the tokenmeter tests.' }],
  ...extra,
});

describe.each(OLLAMA_VERSIONS)('ollama (%s)', (version) => {
  const requireHere = requireFor(version);
  const sdk = requireHere('ollama');
  const { Ollama } = sdk;
  /**
   * 0.5.0 predates the `headers` client option (and `embed`, and streams' own `abort()`: its
   * streams are plain async generators, aborted through the client).
   */
  const first = version === 'ollama-0-5-0';
  /**
   * Ollama's methods take no request options: the mock's steering headers go on the client, or
   * (0.5.0) through the client's `fetch` option.
   */
  const client = (steer: Parameters<typeof mock>[0] = {}) => {
    const { headers } = mock(steer);
    if (!first) return new Ollama({ host: server.url, headers });
    return new Ollama({
      host: server.url,
      fetch: (url: string, init: RequestInit) =>
        fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } }),
    });
  };

  it('records one CLIENT span per chat call with exact counts and server timings', async () => {
    await client().chat({ ...chatBody(), options: { num_predict: 64, temperature: 0.2 } });
    const response = await client().chat(chatBody());
    expect(response.prompt_eval_count).toBeGreaterThan(0);
    await eventually(() => telemetry.spans().length === 2);
    const [withOptions, span] = telemetry.spans();
    expect(withOptions!.attributes).toMatchObject({
      'gen_ai.request.max_tokens': 64,
      'gen_ai.request.temperature': 0.2,
    });
    expect(span!.name).toBe('chat llama3.2');
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'ollama',
      'gen_ai.request.model': 'llama3.2',
      'gen_ai.response.model': 'llama3.2',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.request.stream': false,
      'server.address': '127.0.0.1',
      'server.port': server.port,
      'gen_ai.usage.input_tokens': response.prompt_eval_count,
      'gen_ai.usage.output_tokens': response.eval_count,
      'gen_ai.usage.cache_read.input_tokens': 0,
      'ollama.response.total_duration': response.total_duration / 1e9,
      'ollama.response.eval_duration': response.eval_duration / 1e9,
    });
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
  });

  it('counts prompt_eval_cached_count as cache reads within the input, priced at $0 as self-hosted', async () => {
    const model = `llama3.2-cached-${version}`;
    const sum = (token_type: string) =>
      telemetry.counterSum('tokenmeter.tokens', { 'gen_ai.request.model': model, token_type });
    const unpriced = (token_type: string) =>
      telemetry.counterSum('tokenmeter.unpriced_tokens', { 'gen_ai.request.model': model, token_type });
    const cost = () => telemetry.counterSum('tokenmeter.cost.usd', { 'gen_ai.request.model': model });
    await client({ usage: COUNTS }).chat(chatBody({ model }));
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 300,
      'gen_ai.usage.cost.amount': 0,
      'tokenmeter.pricing.model': `self-hosted:ollama/${model}`,
    });
    expect(await sum('input')).toBe(200);
    expect(await sum('cache_read')).toBe(1000);
    expect(await sum('output')).toBe(300);
    expect(await sum('reasoning')).toBe(0);
    expect(await unpriced('input')).toBe(0);
    expect(await cost()).toBe(0);
  });

  it('returns the same value with and without the instrumentation', async () => {
    const without = await uninstrumented(() => client().chat(chatBody()));
    const withTm = await client().chat(chatBody());
    expect(withoutTimestamps(withTm)).toEqual(withoutTimestamps(without));
    const generated = await client().generate({ model: 'llama3.2', prompt: 'Once upon a time' });
    const generatedWithout = await uninstrumented(() =>
      client().generate({ model: 'llama3.2', prompt: 'Once upon a time' }),
    );
    expect(withoutTimestamps(generated)).toEqual(withoutTimestamps(generatedWithout));
  });

  it('reads the counts from the done message of a chat stream, messages unchanged', async () => {
    const body = () => chatBody({ stream: true });
    const without = await uninstrumented(async () => collect(await client().chat(body())));
    const stream = await client().chat(body());
    // The SDK's own class, handed back unchanged (0.5.0's is an async generator).
    if (first) expect(Object.prototype.toString.call(stream)).toBe('[object AsyncGenerator]');
    else expect(stream.constructor.name).toBe('AbortableAsyncIterator');
    const messages = await collect(stream);
    expect(withoutTimestamps(messages)).toStrictEqual(withoutTimestamps(without));
    const final = messages.at(-1);
    expect(final.done).toBe(true);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': final.prompt_eval_count,
      'gen_ai.usage.output_tokens': final.eval_count,
      'tokenmeter.stream.outcome': 'completed',
    });
    expect(telemetry.spans()[0]!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
  });

  it('meters generate as text_completion, streamed and not', async () => {
    await client({ usage: COUNTS }).generate({ model: 'qwen3:8b', prompt: 'Once upon a time' });
    const pieces = await collect(
      await client({ usage: COUNTS }).generate({
        model: 'qwen3:8b',
        prompt: 'Once upon a time',
        stream: true,
      }),
    );
    expect(pieces.map((piece: any) => piece.response).join('')).toBe(
      'Tokenmeter counts every token so budgets hold',
    );
    await eventually(() => telemetry.spans().length === 2);
    for (const span of telemetry.spans()) {
      expect(span.name).toBe('text_completion qwen3:8b');
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(1200);
      expect(span.attributes['gen_ai.usage.output_tokens']).toBe(300);
    }
  });

  // 0.5.0's streams have no `abort()`: the client's, in the next test, is how an app stops them.
  it.skipIf(first)('ends the span once, at once, when the app aborts a stream in the middle', async () => {
    const consume = async () => {
      const stream = await client({ scenario: 'chunks:50,chunk-delay:10' }).chat(chatBody({ stream: true }));
      const received: unknown[] = [];
      const error = await (async () => {
        for await (const message of stream) {
          received.push(message);
          if (received.length === 2) stream.abort();
        }
      })().catch((caught: any) => caught);
      return { count: received.length, error: error?.name, message: error?.message };
    };
    const without = await uninstrumented(consume);
    telemetry.reset();
    const withTm = await consume();
    expect(withTm).toEqual(without);
    expect(withTm.count).toBeLessThan(50);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(telemetry.spans()).toHaveLength(1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('ends the span of a stream aborted through the client, without another iteration', async () => {
    const instance = client({ scenario: 'chunks:50,chunk-delay:10' });
    const stream = await instance.chat(chatBody({ stream: true }));
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    instance.abort();
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    const next = await iterator.next().catch((error: any) => error);
    expect(next).toBeInstanceOf(Error);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
  });

  it('ends the span once with estimated usage when the app breaks out of a stream', async () => {
    const stream = await client({ scenario: 'chunks:20' }).chat(chatBody({ stream: true }));
    let seen = 0;
    for await (const _message of stream) if (++seen === 3) break;
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(5);
  });

  it('rethrows Ollama errors unchanged, with the HTTP status as error.type', async () => {
    const call = () => client({ scenario: 'http-error:404' }).chat(chatBody({ model: 'missing-model' }));
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.name).toBe('ResponseError');
    expect(actual.status_code).toBe(404);
    expect(actual.message).toBe(expected.message);
    expect(actual.message).toContain('not found');
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.attributes['error.type']).toBe('404');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
  });

  it('rethrows invalid JSON errors unchanged', async () => {
    const call = () => client({ scenario: 'invalid-json' }).chat(chatBody());
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    // 0.5.0 skips a line it cannot parse, then fails reading the missing message.
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe(first ? 'TypeError' : 'SyntaxError');
  });

  it('passes in-stream errors through and ends the span once', async () => {
    const call = async () =>
      collect(await client({ scenario: 'stream-error' }).chat(chatBody({ stream: true })));
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual).toBeInstanceOf(Error);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.stream.outcome']).toBe('error');
    expect(telemetry.spans()[0]!.attributes['tokenmeter.usage.estimated']).toBe(true);
  });

  it('records an error when the server cuts the stream', async () => {
    const call = async () =>
      collect(await client({ scenario: 'cut-stream:2' }).chat(chatBody({ stream: true })));
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual).toBeInstanceOf(Error);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['error.type']).toBeDefined();
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
  });

  it('treats an absent prompt_eval_count as unknown, never as zero input', async () => {
    // Servers before ollama/ollama#5371 left it out when the prompt came from their cache.
    const response = await client({ usage: { prompt_eval_count: null } }).chat(chatBody());
    expect(response).not.toHaveProperty('prompt_eval_count');
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(5);
  });

  it('never produces NaN or negative metrics from malformed counts', async () => {
    const model = 'llama3.2-malformed';
    const before = ollama.recorder.self.counts.invalidUsage;
    const malformed = [
      { prompt_eval_count: -5, eval_count: 3 },
      { prompt_eval_count: 'NaN', eval_count: 3 },
      { prompt_eval_count: 1e15, eval_count: 3 },
      { prompt_eval_count: 10, eval_count: 3, prompt_eval_cached_count: 50 },
      { prompt_eval_count: 10, eval_count: 2.5 },
    ];
    for (const usage of malformed) await client({ usage }).chat(chatBody({ model }));
    await eventually(() => telemetry.spans().length === malformed.length);
    expect(ollama.recorder.self.counts.invalidUsage - before).toBe(malformed.length);
    await expectSaneEstimatedUsage(telemetry);
  });

  it('gives each of hundreds of concurrent calls its own span under the right parent', async () => {
    const tracer = trace.getTracer('test');
    const instance = client();
    const calls = Array.from({ length: 200 }, (_, index) =>
      tracer.startActiveSpan(`parent-${index}`, async (parent) => {
        const model = `llama3.2-${index}`;
        if (index % 2) await collect(await instance.chat(chatBody({ model, stream: true })));
        else await instance.chat(chatBody({ model }));
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

  it('catches errors thrown inside the instrumentation, counts them, and the app is unaffected', async () => {
    const before = ollama.recorder.self.counts.internalErrors;
    ollama.setConfig({
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
      const response = await client({ usage: COUNTS }).chat(chatBody());
      expect(response.eval_count).toBe(300);
    } finally {
      ollama.setConfig({ pricer, processors: [], contextAttributes: undefined });
    }
    await eventually(() => telemetry.spans().length === 1);
    expect(ollama.recorder.self.counts.internalErrors - before).toBe(2);
  });

  // 0.5.0 has only the legacy `embeddings`: `embed` came in a later 0.5.x.
  it.skipIf(first)('meters embed with its prompt count', async () => {
    const embedded = await client().embed({ model: 'nomic-embed-text', input: ['alpha', 'beta'] });
    await eventually(() => telemetry.spans().length === 1);
    const [embed] = telemetry.spans();
    expect(embed!.name).toBe('embeddings nomic-embed-text');
    expect(embed!.attributes['gen_ai.usage.input_tokens']).toBe(embedded.prompt_eval_count);
    expect(embed!.attributes['gen_ai.usage.output_tokens']).toBe(0);
    expect(embed!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
  });

  it('estimates the legacy embeddings, which report no counts', async () => {
    const legacy = await client().embeddings({ model: 'nomic-embed-text', prompt: 'alpha beta gamma' });
    expect(legacy.embedding.length).toBeGreaterThan(0);
    await eventually(() => telemetry.spans().length === 1);
    const [embeddings] = telemetry.spans();
    expect(embeddings!.name).toBe('embeddings nomic-embed-text');
    expect(embeddings!.attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(embeddings!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(embeddings!.attributes['gen_ai.usage.output_tokens']).toBe(0);
  });

  it('meters the default instance and the ollama/browser entry, one span per call', async () => {
    const instance = sdk.default;
    const host = instance.config.host;
    instance.config.host = server.url;
    try {
      await instance.chat(chatBody({ model: 'default-instance' }));
    } finally {
      instance.config.host = host;
    }
    const browser = requireHere('ollama/browser');
    await new browser.Ollama({ host: server.url }).chat(chatBody({ model: 'browser-entry' }));
    await eventually(() => telemetry.spans().length === 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans().map((span) => span.attributes['gen_ai.request.model'])).toEqual([
      'default-instance',
      'browser-entry',
    ]);
  });

  it('can be disabled and re-enabled at runtime', async () => {
    ollama.disable();
    await client().chat(chatBody());
    expect(telemetry.spans()).toHaveLength(0);
    ollama.enable();
    await client().chat(chatBody());
    await eventually(() => telemetry.spans().length === 1);
  });
});
