import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { Pricer } from '@tokenmeter/pricing';
import { describe, expect, it, vi } from 'vitest';
import { commandKind } from '../src/bedrock-runtime/adapter.js';
import { BedrockRuntimeInstrumentation } from '../src/bedrock-runtime/instrumentation.js';
import { AnthropicInstrumentation } from '../src/index.js';
import { collect, mockServerForSuite } from './support/mock.js';
import { eventually, setupTelemetry } from './support/otel.js';
import { requireSdk } from './support/sdks.js';

// One telemetry pipeline, the instrumentation enabled before the SDK is required (the require hook
// patches it as it loads), as `@tokenmeter/node/register` does in an app.
const telemetry = setupTelemetry();
const pricer = new Pricer();
const bedrock = new BedrockRuntimeInstrumentation({ enabled: false, pricer });
const anthropic = new AnthropicInstrumentation({ enabled: false });
for (const instrumentation of [bedrock, anthropic]) {
  instrumentation.setTracerProvider(telemetry.tracerProvider);
  instrumentation.setMeterProvider(telemetry.meterProvider);
  instrumentation.enable();
}
const server = mockServerForSuite(telemetry);

/**
 * The oldest version the instrumentation claims (3.422.0, the first release, before Converse), the
 * first 3.6xx with Converse (a fixture package pinning each), and the current one.
 */
const BEDROCK_VERSIONS = ['bedrock-3422', 'bedrock-3600', 'current'] as const;
const here = path.dirname(fileURLToPath(import.meta.url));
const versionsDir = path.resolve(here, '../../../test/sdk-versions');

/**
 * Loads the SDK through Node's own `require` (so the require hook patches it), as an app does, with
 * the `@smithy/node-http-handler` that copy of the SDK resolves: the SDK's default handler speaks
 * HTTP/2; the loopback mock speaks HTTP/1.1, like a proxy would.
 */
function loadSdk(version: (typeof BEDROCK_VERSIONS)[number]): { sdk: any; NodeHttpHandler: any } {
  const requireFromPackage = createRequire(
    version === 'current'
      ? path.resolve(here, '../package.json')
      : path.join(versionsDir, version, 'package.json'),
  );
  const sdk = requireFromPackage('@aws-sdk/client-bedrock-runtime');
  const { NodeHttpHandler } = createRequire(requireFromPackage.resolve('@aws-sdk/client-bedrock-runtime'))(
    '@smithy/node-http-handler',
  );
  return { sdk, NodeHttpHandler };
}

/** Fake credentials: they must never reach telemetry. */
const ACCESS_KEY = 'AKIDTOKENMETERFAKE01';
const SECRET_KEY = 'tokenmeter-fake-secret-never-exported';

interface Steering {
  scenario?: string;
  usage?: unknown;
}

async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  bedrock.disable();
  try {
    return await fn();
  } finally {
    bedrock.enable();
  }
}

/** What differs between two otherwise identical responses: request ids, generated ids. */
function stable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, field) =>
    key === 'requestId' || key === 'id' || key === 'response_id' || key === 'generation_id'
      ? undefined
      : field,
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

const CLAUDE = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';
const converseInput = (extra: Record<string, unknown> = {}) => ({
  modelId: CLAUDE,
  system: [{ text: 'You are terse.' }],
  messages: [{ role: 'user', content: [{ text: 'Summarise the tokenmeter test plan.' }] }],
  inferenceConfig: { maxTokens: 512, temperature: 0.2 },
  ...extra,
});

/** Converse reports cache reads and writes apart from (not inside) `inputTokens`. */
const CONVERSE_CACHE_USAGE = {
  inputTokens: 50,
  outputTokens: 400,
  totalTokens: 10450,
  cacheReadInputTokens: 8000,
  cacheWriteInputTokens: 2000,
};

const ANTHROPIC_CACHE_USAGE = {
  input_tokens: 50,
  cache_creation_input_tokens: 2000,
  cache_read_input_tokens: 8000,
  cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 0 },
  output_tokens: 400,
};

const anthropicBody = (extra: Record<string, unknown> = {}) => ({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 256,
  messages: [{ role: 'user', content: 'Summarise the tokenmeter test plan.' }],
  ...extra,
});

const oneSpan = async () => {
  await eventually(() => telemetry.spans().length === 1);
  return telemetry.spans()[0]!;
};

function expectNoSecrets(value: unknown): void {
  const text = JSON.stringify(value);
  expect(text).not.toContain(ACCESS_KEY);
  expect(text).not.toContain(SECRET_KEY);
}

describe.each(BEDROCK_VERSIONS)('@aws-sdk/client-bedrock-runtime (%s)', (version) => {
  const { sdk, NodeHttpHandler } = loadSdk(version);
  /** Converse and ConverseStream came with 3.587.0: 3.422 has InvokeModel[WithResponseStream] only. */
  const hasConverse = typeof sdk.ConverseCommand === 'function';

  /** A client pointed at the mock; `steer` adds the mock's scenario/usage headers to every request. */
  function client(steer: Steering = {}, Client: any = sdk.BedrockRuntimeClient): any {
    const instance = new Client({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
    });
    instance.middlewareStack.add(
      (next: any) => (args: any) => {
        if (steer.scenario) args.request.headers['x-mock-scenario'] = steer.scenario;
        if (steer.usage !== undefined) args.request.headers['x-mock-usage'] = JSON.stringify(steer.usage);
        return next(args);
      },
      { step: 'build', name: 'mockSteering' },
    );
    return instance;
  }

  // 3.422 predates the Converse API (3.587.0): its calls are checked through InvokeModel below.
  describe.skipIf(!hasConverse)('Converse', () => {
    it('counts cache reads and writes into the input total and keeps the model id exact', async () => {
      const call = () =>
        client({ usage: CONVERSE_CACHE_USAGE }).send(new sdk.ConverseCommand(converseInput()));
      const without = await uninstrumented(call);
      const result = await call();
      expect(stable(result)).toStrictEqual(stable(without));
      expect(result.usage.inputTokens).toBe(50);
      const span = await oneSpan();
      expect(span.name).toBe(`chat ${CLAUDE}`);
      expect(span.attributes).toMatchObject({
        'gen_ai.provider.name': 'aws.bedrock',
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': CLAUDE,
        'gen_ai.request.stream': false,
        'gen_ai.request.max_tokens': 512,
        'gen_ai.request.temperature': 0.2,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.usage.input_tokens': 10050,
        'gen_ai.usage.cache_read.input_tokens': 8000,
        'gen_ai.usage.cache_write.input_tokens': 2000,
        'gen_ai.usage.output_tokens': 400,
        'server.address': '127.0.0.1',
        'server.port': server.port,
      });
      expect(span.attributes['tokenmeter.usage.estimated']).toBeUndefined();
      expectNoSecrets(span.attributes);
      expectNoSecrets([...(await telemetry.metrics()).values()].map((metric) => metric.dataPoints));
    });

    it('partitions Converse tokens without double counting in tokenmeter_tokens_total', async () => {
      const model = `us.anthropic.claude-partition-${version}-v1:0`;
      await client({ usage: CONVERSE_CACHE_USAGE }).send(
        new sdk.ConverseCommand(converseInput({ modelId: model })),
      );
      const sum = (token_type: string) =>
        telemetry.counterSum('tokenmeter.tokens', { 'gen_ai.request.model': model, token_type });
      await eventually(async () => (await sum('cache_read')) === 8000);
      expect(await sum('input')).toBe(50);
      expect(await sum('cache_write')).toBe(2000);
      expect(await sum('output')).toBe(400);
      expect(await sum('reasoning')).toBe(0);
    });

    it('prices a cross-region profile through the Pricer, cache at its own prices', async () => {
      await client({ usage: CONVERSE_CACHE_USAGE }).send(new sdk.ConverseCommand(converseInput()));
      const span = await oneSpan();
      const expected = pricer.price({
        provider: 'aws.bedrock',
        model: CLAUDE,
        usage: {
          inputTokens: 10050,
          outputTokens: 400,
          cacheReadInputTokens: 8000,
          cacheWriteInputTokens: 2000,
          reasoningOutputTokens: 0,
        },
      });
      if (!expected.priced) throw new Error(expected.reason);
      expect(span.attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
      expect(span.attributes['tokenmeter.pricing.model']).toBe(expected.pricingModel);
      // Claude 3.7 Sonnet: $3 / M input, $3.75 / M cache write, $0.30 / M cache read, $15 / M output.
      expect(span.attributes['tokenmeter.cost.cache_read']).toBeCloseTo((8000 * 0.3) / 1e6, 15);
      expect(span.attributes['tokenmeter.cost.cache_write']).toBeCloseTo((2000 * 3.75) / 1e6, 15);
      expect(span.attributes['tokenmeter.cost.input']).toBeCloseTo((50 * 3) / 1e6, 15);
    });

    it('keeps 1-hour cache writes from cacheDetails for pricing', async () => {
      const usage = {
        ...CONVERSE_CACHE_USAGE,
        cacheDetails: [
          { ttl: '1h', inputTokens: 1500 },
          { ttl: '5m', inputTokens: 500 },
        ],
      };
      const model = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';
      await client({ usage }).send(new sdk.ConverseCommand(converseInput({ modelId: model })));
      const span = await oneSpan();
      const expected = pricer.price({
        provider: 'aws.bedrock',
        model,
        usage: {
          inputTokens: 10050,
          outputTokens: 400,
          cacheReadInputTokens: 8000,
          cacheWriteInputTokens: 2000,
          reasoningOutputTokens: 0,
          units: { cache_write_1h_input_tokens: 1500 },
        },
      });
      if (!expected.priced) throw new Error(expected.reason);
      expect(span.attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
    });

    it('meters the aggregated BedrockRuntime class and the callback form once each', async () => {
      const runtime = client({ usage: CONVERSE_CACHE_USAGE }, sdk.BedrockRuntime);
      const viaMethod = await runtime.converse(converseInput());
      const viaCallback = await new Promise<any>((resolve, reject) =>
        client({ usage: CONVERSE_CACHE_USAGE }).send(
          new sdk.ConverseCommand(converseInput()),
          (error: any, data: any) => (error ? reject(error) : resolve(data)),
        ),
      );
      expect(viaMethod.usage.outputTokens).toBe(400);
      expect(viaCallback.usage.outputTokens).toBe(400);
      await eventually(() => telemetry.spans().length === 2);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(telemetry.spans()).toHaveLength(2);
      for (const span of telemetry.spans()) expect(span.attributes['gen_ai.usage.input_tokens']).toBe(10050);
    });

    it('rethrows service errors unchanged with error.type, and counts the failed call', async () => {
      const model = `us.anthropic.claude-throttled-${version}-v1:0`;
      const call = () =>
        client({ scenario: 'http-error:429' }).send(
          new sdk.ConverseCommand(converseInput({ modelId: model })),
        );
      const expected = await uninstrumented(() => call().catch((error: any) => error));
      const actual = await call().catch((error: any) => error);
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual).toBeInstanceOf(sdk.ThrottlingException);
      expect(actual.message).toBe(expected.message);
      expect(actual.$metadata.httpStatusCode).toBe(429);
      const span = await oneSpan();
      // The HTTP status, as for every provider's API errors (the SDK keeps it in $metadata).
      expect(span.attributes['error.type']).toBe('429');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
      expect(
        await telemetry.counterSum('tokenmeter.calls', { 'gen_ai.request.model': model, outcome: 'error' }),
      ).toBe(1);
    });

    it('estimates usage when the response carries none, never substituting zeros', async () => {
      await client({ usage: null }).send(new sdk.ConverseCommand(converseInput()));
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(span.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    });

    it('never produces NaN or negative metrics from malformed usage', async () => {
      const model = 'us.anthropic.claude-malformed-v1:0';
      const before = bedrock.recorder.self.counts.invalidUsage;
      const malformed = [
        { inputTokens: -5, outputTokens: 3 },
        { inputTokens: 'NaN', outputTokens: 3 },
        { inputTokens: 12.5, outputTokens: 3 },
        { inputTokens: 1e15, outputTokens: 3 },
        { inputTokens: 10, outputTokens: -1 },
      ];
      for (const usage of malformed) {
        const result = await client({ usage }).send(
          new sdk.ConverseCommand(converseInput({ modelId: model })),
        );
        expect(result.usage).toBeDefined();
      }
      await eventually(() => telemetry.spans().length === malformed.length);
      expect(bedrock.recorder.self.counts.invalidUsage - before).toBe(malformed.length);
      for (const span of telemetry.spans()) {
        expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
        for (const key of ['gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens']) {
          const value = span.attributes[key] as number;
          expect(Number.isInteger(value) && value >= 0 && value < 1e6).toBe(true);
        }
      }
      for (const point of (await telemetry.metrics()).get('tokenmeter.tokens')!.dataPoints) {
        expect(Number.isFinite(point.value as number) && (point.value as number) >= 0).toBe(true);
      }
    });

    it('gives each of hundreds of concurrent calls its own span under the right parent', async () => {
      const tracer = trace.getTracer('test');
      const shared = client();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          tracer.startActiveSpan(`parent-${index}`, async (parent) => {
            const modelId = `us.anthropic.claude-concurrent-${index}`;
            await shared.send(new sdk.ConverseCommand(converseInput({ modelId })));
            parent.end();
            return { parent: parent.spanContext().spanId, modelId };
          }),
        ),
      );
      await eventually(() => telemetry.spans().length === 200);
      const byModel = new Map(
        telemetry.spans().map((span) => [span.attributes['gen_ai.request.model'], span]),
      );
      for (const { parent, modelId } of results)
        expect(byModel.get(modelId)!.parentSpanContext?.spanId).toBe(parent);
      expect(trace.getSpan(context.active())).toBeUndefined();
    });

    // 3.600 has no command besides the four metered ones (ApplyGuardrail and the rest came later).
    it.skipIf(version === 'bedrock-3600')('passes other commands through untouched', async () => {
      const call = () =>
        client()
          .send(
            new sdk.ApplyGuardrailCommand({
              guardrailIdentifier: 'g',
              guardrailVersion: '1',
              source: 'INPUT',
              content: [],
            }),
          )
          .then(
            (value: any) => ({ value }),
            (error: any) => ({ error: error.name }),
          );
      const expected = await uninstrumented(call);
      expect(await call()).toStrictEqual(expected);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(telemetry.spans()).toHaveLength(0);
    });

    it('catches errors thrown inside the instrumentation, counts them, and the app is unaffected', async () => {
      const before = bedrock.recorder.self.counts.internalErrors;
      const adapter = (bedrock as any).adapter;
      const spy = vi.spyOn(adapter, 'describe').mockImplementationOnce(() => {
        throw new Error('boom in describe');
      });
      bedrock.setConfig({
        pricer,
        processors: [
          {
            onCallEnd() {
              throw new Error('boom in a processor');
            },
          },
        ],
      });
      try {
        const first = await client({ usage: CONVERSE_CACHE_USAGE }).send(
          new sdk.ConverseCommand(converseInput()),
        );
        expect(first.usage.inputTokens).toBe(50);
        const second = await client({ usage: CONVERSE_CACHE_USAGE }).send(
          new sdk.ConverseCommand(converseInput()),
        );
        expect(second.usage.inputTokens).toBe(50);
      } finally {
        spy.mockRestore();
        bedrock.setConfig({ pricer, processors: [] });
      }
      // The first call went through unmetered; the second was metered and its processor failed.
      await eventually(() => telemetry.spans().length === 1);
      expect(bedrock.recorder.self.counts.internalErrors - before).toBe(2);
    });

    it('can be disabled and re-enabled at runtime', async () => {
      bedrock.disable();
      await client().send(new sdk.ConverseCommand(converseInput()));
      expect(telemetry.spans()).toHaveLength(0);
      bedrock.enable();
      await client().send(new sdk.ConverseCommand(converseInput()));
      await oneSpan();
    });

    it('recognises commands by their class or operation schema, not by class name', async () => {
      class Renamed extends sdk.ConverseCommand {}
      Object.defineProperty(Renamed, 'name', { value: 'e' });
      await client({ usage: CONVERSE_CACHE_USAGE }).send(new (Renamed as any)(converseInput()));
      const span = await oneSpan();
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(10050);
      // A schema-based command from a bundled copy of the SDK whose class Tokenmeter never saw.
      const schema = [9, 'com.amazonaws.bedrockruntime', 'InvokeModelWithResponseStream', {}];
      expect(commandKind({ schema, input: {} })).toBe('InvokeModelWithResponseStream');
      expect(commandKind({ schema: [9, 'com.amazonaws.bedrockruntime', 'CountTokens', {}] })).toBeUndefined();
      expect(commandKind({ schema: [9, 'com.amazonaws.s3', 'Converse', {}] })).toBeUndefined();
    });
  });

  // 3.422 predates ConverseStream (3.587.0): its streams are InvokeModelWithResponseStream's below.
  describe.skipIf(!hasConverse)('ConverseStream', () => {
    const stream = async (steer: Steering = {}, input = converseInput()) =>
      (await client(steer).send(new sdk.ConverseStreamCommand(input))).stream;

    it('reads usage from the metadata event and the stop reason from messageStop, events unchanged', async () => {
      const without = await uninstrumented(async () =>
        collect(await stream({ usage: CONVERSE_CACHE_USAGE })),
      );
      const events = await collect(await stream({ usage: CONVERSE_CACHE_USAGE }));
      expect(events).toStrictEqual(without);
      const span = await oneSpan();
      expect(span.attributes).toMatchObject({
        'gen_ai.request.stream': true,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.usage.input_tokens': 10050,
        'gen_ai.usage.cache_read.input_tokens': 8000,
        'gen_ai.usage.output_tokens': 400,
        'tokenmeter.stream.outcome': 'completed',
      });
    });

    it('estimates usage once when the app breaks out of the stream early', async () => {
      let seen = 0;
      for await (const _event of await stream({ scenario: 'chunks:30' })) if (++seen === 4) break;
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.stream.outcome']).toBe('cancelled');
      expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(telemetry.spans()).toHaveLength(1);
    });

    it('ends the span once when the app aborts mid-stream', async () => {
      const controller = new AbortController();
      const output = await client({ scenario: 'chunks:30,chunk-delay:5' }).send(
        new sdk.ConverseStreamCommand(converseInput()),
        { abortSignal: controller.signal },
      );
      const error = await (async () => {
        let seen = 0;
        for await (const _event of output.stream) if (++seen === 3) controller.abort();
      })().catch((caught: unknown) => caught);
      expect(error).toBeDefined();
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.stream.outcome']).toBe('error');
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(telemetry.spans()).toHaveLength(1);
    });

    it('passes in-stream exceptions through and ends the span once', async () => {
      const call = async () => collect(await stream({ scenario: 'stream-error' }));
      const expected = await uninstrumented(() => call().catch((error: any) => error));
      const actual = await call().catch((error: any) => error);
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual.name).toBe('ModelStreamErrorException');
      expect(actual.message).toBe(expected.message);
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.stream.outcome']).toBe('error');
      expect(span.attributes['error.type']).toBe('ModelStreamErrorException');
    });

    it('passes a dropped connection through and ends the span once', async () => {
      const call = async () => collect(await stream({ scenario: 'cut-stream:3' }));
      const expected = await uninstrumented(() => call().catch((error: any) => error));
      const actual = await call().catch((error: any) => error);
      expect(actual?.constructor).toBe(expected?.constructor);
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.stream.outcome']).toBe('error');
      expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
    });
  });

  describe('InvokeModel', () => {
    const invoke = (modelId: string, body: unknown, steer: Steering = {}) =>
      client(steer).send(
        new sdk.InvokeModelCommand({
          modelId,
          contentType: 'application/json',
          accept: 'application/json',
          body: json(body),
        }),
      );

    it('reads Anthropic usage from the body and leaves the body readable by the app', async () => {
      const model = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
      const without = await uninstrumented(() =>
        invoke(model, anthropicBody(), { usage: ANTHROPIC_CACHE_USAGE }),
      );
      const result = await invoke(model, anthropicBody(), { usage: ANTHROPIC_CACHE_USAGE });
      expect(result.body).toBeInstanceOf(without.body.constructor);
      const text = result.body.transformToString();
      expect(stable(JSON.parse(text))).toStrictEqual(stable(JSON.parse(without.body.transformToString())));
      expect(result.body.transformToString()).toBe(text);
      const span = await oneSpan();
      expect(span.name).toBe(`chat ${model}`);
      expect(span.attributes).toMatchObject({
        'gen_ai.request.model': model,
        'gen_ai.request.max_tokens': 256,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.response.id': JSON.parse(text).id,
        'gen_ai.usage.input_tokens': 10050,
        'gen_ai.usage.cache_read.input_tokens': 8000,
        'gen_ai.usage.cache_write.input_tokens': 2000,
        'gen_ai.usage.output_tokens': 400,
      });
      // The body's own model name is not the Bedrock id the call is billed under.
      expect(span.attributes['gen_ai.response.model']).toBeUndefined();
      expect(span.attributes['tokenmeter.pricing.model']).toBe(
        'aws/regional.anthropic.claude-3-5-sonnet-20240620-v1:0',
      );
      expectNoSecrets(span.attributes);
    });

    it('rethrows service errors unchanged with error.type, through send and the aggregated client', async () => {
      const model = `anthropic.claude-throttled-${version}-v1:0`;
      const call = () => invoke(model, anthropicBody(), { scenario: 'http-error:429' });
      const expected = await uninstrumented(() => call().catch((error: any) => error));
      const actual = await call().catch((error: any) => error);
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual).toBeInstanceOf(sdk.ThrottlingException);
      expect(actual.message).toBe(expected.message);
      expect(actual.$metadata.httpStatusCode).toBe(429);
      const viaMethod = await client({ scenario: 'http-error:429' }, sdk.BedrockRuntime)
        .invokeModel({ modelId: model, contentType: 'application/json', body: json(anthropicBody()) })
        .catch((error: any) => error);
      expect(viaMethod.constructor).toBe(expected.constructor);
      await eventually(() => telemetry.spans().length === 2);
      for (const span of telemetry.spans()) {
        expect(span.attributes['error.type']).toBe('429');
        expect(span.status.code).toBe(SpanStatusCode.ERROR);
        expect(span.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
      }
      expect(
        await telemetry.counterSum('tokenmeter.calls', { 'gen_ai.request.model': model, outcome: 'error' }),
      ).toBe(2);
    });

    it('reads Meta Llama counts as a text completion', async () => {
      const model = 'meta.llama3-8b-instruct-v1:0';
      const result = await invoke(model, { prompt: 'Once upon a time', max_gen_len: 64 });
      const body = JSON.parse(decoder.decode(result.body));
      const span = await oneSpan();
      expect(span.name).toBe(`text_completion ${model}`);
      expect(span.attributes).toMatchObject({
        'gen_ai.operation.name': 'text_completion',
        'gen_ai.request.max_tokens': 64,
        'gen_ai.usage.input_tokens': body.prompt_token_count,
        'gen_ai.usage.output_tokens': body.generation_token_count,
        'gen_ai.response.finish_reasons': ['stop'],
        'tokenmeter.pricing.model': 'aws/meta.llama3-8b-instruct-v1:0',
      });
      expect(span.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    });

    it('reads Amazon Titan text and Titan embedding counts', async () => {
      await invoke(
        'amazon.titan-text-express-v1',
        { inputText: 'Write a haiku', textGenerationConfig: { maxTokenCount: 100 } },
        { usage: { inputTextTokenCount: 5, tokenCount: 17 } },
      );
      await invoke(
        'amazon.titan-embed-text-v2:0',
        { inputText: 'embed me', dimensions: 256 },
        {
          usage: { inputTextTokenCount: 3 },
        },
      );
      await eventually(() => telemetry.spans().length === 2);
      const [text, embedding] = telemetry.spans();
      expect(text!.attributes).toMatchObject({
        'gen_ai.operation.name': 'text_completion',
        'gen_ai.usage.input_tokens': 5,
        'gen_ai.usage.output_tokens': 17,
        'gen_ai.response.finish_reasons': ['FINISH'],
      });
      expect(embedding!.name).toBe('embeddings amazon.titan-embed-text-v2:0');
      expect(embedding!.attributes).toMatchObject({
        'gen_ai.usage.input_tokens': 3,
        'gen_ai.usage.output_tokens': 0,
      });
    });

    it('reads Amazon Nova usage with its cache counts on top of inputTokens', async () => {
      const model = 'us.amazon.nova-pro-v1:0';
      await invoke(
        model,
        { schemaVersion: 'messages-v1', messages: [{ role: 'user', content: [{ text: 'hello' }] }] },
        {
          usage: {
            inputTokens: 100,
            outputTokens: 20,
            cacheReadInputTokenCount: 900,
            cacheWriteInputTokenCount: 0,
          },
        },
      );
      const span = await oneSpan();
      expect(span.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.cache_read.input_tokens': 900,
        'gen_ai.usage.output_tokens': 20,
        'tokenmeter.pricing.model': 'aws/amazon.nova-pro-v1:0',
      });
    });

    it('uses the token-count headers for families whose bodies carry no counts', async () => {
      await invoke(
        'mistral.mistral-7b-instruct-v0:2',
        { prompt: '<s>[INST] hi [/INST]', max_tokens: 50 },
        {
          usage: { inputTokenCount: 11, outputTokenCount: 8 },
        },
      );
      await invoke(
        'cohere.embed-english-v3',
        { texts: ['alpha', 'beta'], input_type: 'search_document' },
        {
          usage: { inputTokenCount: 4, outputTokenCount: 0 },
        },
      );
      await invoke(
        'mistral.mistral-large-2407-v1:0',
        { messages: [{ role: 'user', content: 'hi' }] },
        {
          usage: { inputTokenCount: 9, outputTokenCount: 8, cacheReadInputTokenCount: 0 },
        },
      );
      await eventually(() => telemetry.spans().length === 3);
      const [mistral, cohere, mistralChat] = telemetry.spans();
      expect(mistral!.attributes).toMatchObject({
        'gen_ai.operation.name': 'text_completion',
        'gen_ai.usage.input_tokens': 11,
        'gen_ai.usage.output_tokens': 8,
        'gen_ai.response.finish_reasons': ['stop'],
      });
      expect(cohere!.attributes).toMatchObject({
        'gen_ai.operation.name': 'embeddings',
        'gen_ai.usage.input_tokens': 4,
        'gen_ai.usage.output_tokens': 0,
      });
      expect(mistralChat!.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.usage.input_tokens': 9,
      });
      for (const span of telemetry.spans())
        expect(span.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    });

    it('falls back to the headers when the body is not JSON, and hands the app the same bytes', async () => {
      const model = 'anthropic.claude-3-haiku-20240307-v1:0';
      const without = await uninstrumented(() =>
        invoke(model, anthropicBody(), { scenario: 'invalid-json' }),
      );
      const result = await invoke(model, anthropicBody(), { scenario: 'invalid-json' });
      expect(result.body.transformToString()).toBe(without.body.transformToString());
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.usage.estimated']).toBeUndefined();
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    });

    it('reports the body model only for an application inference profile ARN', async () => {
      const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4';
      await invoke(arn, anthropicBody(), { usage: ANTHROPIC_CACHE_USAGE });
      const span = await oneSpan();
      expect(span.attributes['gen_ai.request.model']).toBe(arn);
      expect(span.attributes['gen_ai.response.model']).toBe(arn);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(10050);
    });

    it('counts malformed token-count headers as invalid, never as NaN', async () => {
      const before = bedrock.recorder.self.counts.invalidUsage;
      await invoke('mistral.mistral-7b-instruct-v0:2', { prompt: 'hi' }, { usage: { inputTokenCount: -4 } });
      const span = await oneSpan();
      expect(bedrock.recorder.self.counts.invalidUsage - before).toBe(1);
      expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
      expect(Number.isInteger(span.attributes['gen_ai.usage.input_tokens'])).toBe(true);
    });
  });

  describe('InvokeModelWithResponseStream', () => {
    const invokeStream = async (modelId: string, body: unknown, steer: Steering = {}) =>
      (
        await client(steer).send(
          new sdk.InvokeModelWithResponseStreamCommand({
            modelId,
            contentType: 'application/json',
            body: json(body),
          }),
        )
      ).body;

    it('hands the app the same chunks and reads the invocation metrics of the last one', async () => {
      const model = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
      const decode = (events: any[]) =>
        events.map((event) => stable(JSON.parse(decoder.decode(event.chunk.bytes))));
      const without = await uninstrumented(async () =>
        collect(await invokeStream(model, anthropicBody(), { usage: ANTHROPIC_CACHE_USAGE })),
      );
      const events = await collect(
        await invokeStream(model, anthropicBody(), { usage: ANTHROPIC_CACHE_USAGE }),
      );
      expect(events.map((event) => Object.keys(event))).toStrictEqual(
        without.map((event: any) => Object.keys(event)),
      );
      expect(decode(events)).toStrictEqual(decode(without));
      expect(events.every((event) => event.chunk.bytes instanceof Uint8Array)).toBe(true);
      const last = JSON.parse(decoder.decode(events.at(-1).chunk.bytes));
      expect(last['amazon-bedrock-invocationMetrics']).toMatchObject({ inputTokenCount: 50 });
      const span = await oneSpan();
      expect(span.attributes).toMatchObject({
        'gen_ai.request.stream': true,
        'gen_ai.usage.input_tokens': 10050,
        'gen_ai.usage.cache_read.input_tokens': 8000,
        'gen_ai.usage.cache_write.input_tokens': 2000,
        'gen_ai.usage.output_tokens': 400,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'tokenmeter.stream.outcome': 'completed',
      });
    });

    it('keeps the partial counts a Llama stream told when the app stops early', async () => {
      const model = 'meta.llama3-70b-instruct-v1:0';
      let seen = 0;
      for await (const _event of await invokeStream(
        model,
        { prompt: 'Count to thirty' },
        { scenario: 'chunks:30' },
      ))
        if (++seen === 5) break;
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.stream.outcome']).toBe('cancelled');
      expect(span.attributes['tokenmeter.usage.estimated']).toBeUndefined();
      expect(span.attributes['gen_ai.usage.output_tokens']).toBe(5);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    });

    it('reads Titan, Nova and Mistral streams', async () => {
      await collect(await invokeStream('amazon.titan-text-lite-v1', { inputText: 'Write a haiku' }));
      await collect(
        await invokeStream('amazon.nova-lite-v1:0', {
          schemaVersion: 'messages-v1',
          messages: [{ role: 'user', content: [{ text: 'hello' }] }],
        }),
      );
      await collect(
        await invokeStream('mistral.mixtral-8x7b-instruct-v0:1', { prompt: '<s>[INST] hi [/INST]' }),
      );
      await eventually(() => telemetry.spans().length === 3);
      for (const span of telemetry.spans()) {
        expect(span.attributes['tokenmeter.usage.estimated']).toBeUndefined();
        expect(span.attributes['gen_ai.usage.output_tokens']).toBe(8);
        expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
        expect(span.attributes['tokenmeter.stream.outcome']).toBe('completed');
      }
    });

    it('passes in-stream exceptions through and ends the span once', async () => {
      const model = 'anthropic.claude-3-haiku-20240307-v1:0';
      const call = async () =>
        collect(await invokeStream(model, anthropicBody(), { scenario: 'stream-error' }));
      const expected = await uninstrumented(() => call().catch((error: any) => error));
      const actual = await call().catch((error: any) => error);
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual.message).toBe(expected.message);
      const span = await oneSpan();
      expect(span.attributes['tokenmeter.stream.outcome']).toBe('error');
      // message_start told the input tokens before the failure.
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    });
  });
});

describe("Anthropic's own Bedrock client", () => {
  it('is metered once, by the Anthropic instrumentation, although it loads the AWS SDK too', async () => {
    // bedrock-sdk 1.x loads `@anthropic-ai/sdk/client`, never the package's main module, which is
    // where the Anthropic instrumentation hooks: the app here imports both, as most do.
    requireSdk('anthropic-1', '@anthropic-ai/sdk');
    const { AnthropicBedrock } = requireSdk('anthropic-1', '@anthropic-ai/bedrock-sdk');
    const bedrockStart = vi.spyOn(bedrock.recorder, 'start');
    const client = new AnthropicBedrock({
      awsAccessKey: ACCESS_KEY,
      awsSecretKey: SECRET_KEY,
      awsRegion: 'us-east-1',
      baseURL: server.url,
      maxRetries: 0,
    });
    await client.messages.create({
      model: CLAUDE,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const stream = await client.messages.create({
      model: CLAUDE,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    const events = await collect(stream);
    expect(events.at(-1).type).toBe('message_stop');
    await eventually(() => telemetry.spans().length === 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(2);
    for (const span of telemetry.spans()) {
      expect(span.attributes['gen_ai.provider.name']).toBe('aws.bedrock');
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    }
    expect(bedrockStart).not.toHaveBeenCalled();
    bedrockStart.mockRestore();
  });
});
