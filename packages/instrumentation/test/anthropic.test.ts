import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { setupHarness } from './support/instrumentations.js';
import { collect, mock, mockServerForSuite, withoutVolatile } from './support/mock.js';
import { eventually } from './support/otel.js';
import { ANTHROPIC_VERSIONS, anthropicClass, requireSdk } from './support/sdks.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const harness = setupHarness();
const { telemetry } = harness;
const server = mockServerForSuite(telemetry);

async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  harness.anthropic.disable();
  try {
    return await fn();
  } finally {
    harness.anthropic.enable();
  }
}

/** Anthropic reports cache reads and writes on top of input_tokens. */
const CACHE_USAGE = {
  input_tokens: 50,
  cache_creation_input_tokens: 2000,
  cache_read_input_tokens: 8000,
  cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 0 },
  output_tokens: 400,
  service_tier: 'standard',
};

const messageBody = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-20250514',
  max_tokens: 1024,
  messages: [{ role: 'user' as const, content: 'Summarise the tokenmeter test plan.' }],
  ...extra,
});

describe.each(ANTHROPIC_VERSIONS)('@anthropic-ai/sdk (%s)', (fixture) => {
  const Anthropic = anthropicClass(fixture);
  const client = () =>
    new Anthropic({ apiKey: 'sk-ant-test-never-exported', baseURL: server.url, maxRetries: 0 });

  it('counts cache reads and writes into the input total, once each', async () => {
    const message = await client().messages.create(messageBody(), mock({ usage: CACHE_USAGE }));
    expect(message.usage.input_tokens).toBe(50);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.name).toBe('chat claude-sonnet-4-20250514');
    expect(span!.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.operation.name': 'chat',
      'gen_ai.response.id': message.id,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.input_tokens': 10050,
      'gen_ai.usage.cache_read.input_tokens': 8000,
      'gen_ai.usage.cache_write.input_tokens': 2000,
      'gen_ai.usage.output_tokens': 400,
      'anthropic.response.service_tier': 'standard',
    });
    expect(JSON.stringify(span!.attributes)).not.toContain('sk-ant');
  });

  it('partitions Anthropic tokens without double counting in tokenmeter_tokens_total', async () => {
    const model = `claude-partition-${fixture}`;
    await client().messages.create(messageBody({ model }), mock({ usage: CACHE_USAGE }));
    const sum = (token_type: string) =>
      telemetry.counterSum('tokenmeter.tokens', { 'gen_ai.request.model': model, token_type });
    await eventually(async () => (await sum('cache_read')) === 8000);
    expect(await sum('input')).toBe(50);
    expect(await sum('cache_write')).toBe(2000);
    expect(await sum('output')).toBe(400);
    expect(await sum('reasoning')).toBe(0);
  });

  it('reads stream usage from message_start and message_delta, chunks unchanged', async () => {
    const body = messageBody({ stream: true });
    const without = await uninstrumented(async () =>
      collect(await client().messages.create(body, mock({ usage: CACHE_USAGE }))),
    );
    const events = await collect(await client().messages.create(body, mock({ usage: CACHE_USAGE })));
    expect(withoutVolatile(events)).toStrictEqual(withoutVolatile(without));
    expect(server.requests.at(-1)!.body).not.toHaveProperty('stream_options');
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 10050,
      'gen_ai.usage.output_tokens': 400,
      'tokenmeter.stream.outcome': 'completed',
    });
  });

  it('meters the messages.stream() helper once', async () => {
    const final = await client()
      .messages.stream(messageBody(), mock({ usage: CACHE_USAGE }))
      .finalMessage();
    expect(final.usage.output_tokens).toBe(400);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(8000);
  });

  it('rethrows API errors unchanged with error.type', async () => {
    const call = () => client().messages.create(messageBody(), mock({ scenario: 'http-error:529' }));
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.status).toBe(529);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe('529');
    expect(telemetry.spans()[0]!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('passes in-stream errors through and ends the span once', async () => {
    const call = async () =>
      collect(
        await client().messages.create(messageBody({ stream: true }), mock({ scenario: 'stream-error' })),
      );
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['tokenmeter.stream.outcome']).toBe('error');
  });

  it('does not prevent usage of tee', async () => {
    const stream = await client().messages.create(
      messageBody({ stream: true }),
      mock({ usage: CACHE_USAGE }),
    );
    const [left, right] = stream.tee();
    const [a, b] = await Promise.all([collect(left), collect(right)]);
    expect(b).toEqual(a);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.output_tokens']).toBe(400);
  });

  it('estimates usage when the app abandons a stream early', async () => {
    const stream = await client().messages.create(
      messageBody({ stream: true }),
      mock({ scenario: 'chunks:30' }),
    );
    let seen = 0;
    for await (const _event of stream) if (++seen === 4) break;
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    // message_start already told the input tokens; output is counted from what was seen.
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  });
});

describe('@anthropic-ai/sdk 1.x built-in tracing', () => {
  const Anthropic = anthropicClass('anthropic-1');

  it('yields exactly one span per call while Tokenmeter is on, and gives the SDK its spans back when off', async () => {
    // A global tracer provider is registered (setupTelemetry), so the SDK would trace itself
    // (scope com.anthropic.sdk.typescript).
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: server.url, maxRetries: 0 });
    await client.messages.create(messageBody(), mock({ usage: CACHE_USAGE }));
    await collect(await client.messages.create(messageBody({ stream: true }), mock({ usage: CACHE_USAGE })));
    await eventually(() => telemetry.spans().length === 2);
    const sdkSpans = telemetry
      .allSpans()
      .filter((span) => span.instrumentationScope.name.startsWith('com.anthropic.sdk'));
    expect(sdkSpans).toHaveLength(0);

    harness.anthropic.disable();
    try {
      await client.messages.create(messageBody(), mock({ usage: CACHE_USAGE }));
    } finally {
      harness.anthropic.enable();
    }
    await eventually(() =>
      telemetry.allSpans().some((span) => span.instrumentationScope.name.startsWith('com.anthropic.sdk')),
    );
    expect(telemetry.spans()).toHaveLength(2);
  });

  it('meters the Bedrock client as aws.bedrock, keeping the model id exact', async () => {
    const { AnthropicBedrock } = requireSdk('anthropic-1', '@anthropic-ai/bedrock-sdk');
    const bedrock = new AnthropicBedrock({
      awsAccessKey: 'AKIDEXAMPLE',
      awsSecretKey: 'secret',
      awsRegion: 'us-east-1',
      baseURL: server.url,
      maxRetries: 0,
    });
    const model = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';
    await bedrock.messages.create({ ...messageBody(), model }, mock({ usage: CACHE_USAGE }));
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'aws.bedrock',
      'gen_ai.request.model': model,
      'gen_ai.usage.input_tokens': 10050,
    });
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

describe('@anthropic-ai/bedrock-sdk loaded alone', () => {
  it('meters an app that never loads the main @anthropic-ai/sdk module (only its client file)', async () => {
    // A fresh process: in this one the main module is already loaded, which would hide the gap.
    const fixture = path.resolve(here, '../../../test/sdk-versions/anthropic-1');
    const script = `
      const { OpenAIInstrumentation, AnthropicInstrumentation } = require(${JSON.stringify(path.resolve(here, '../dist/index.cjs'))});
      const api = require('@opentelemetry/api');
      const { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
      const exporter = new InMemorySpanExporter();
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      const instrumentation = new AnthropicInstrumentation();
      instrumentation.setTracerProvider(provider);
      const { AnthropicBedrock } = require('@anthropic-ai/bedrock-sdk');
      const mainLoaded = Object.keys(require.cache).some((file) => /@anthropic-ai[\\/]sdk[\\/]index.js$/.test(file));
      new AnthropicBedrock({ awsAccessKey: 'AKIDEXAMPLE', awsSecretKey: 'secret', awsRegion: 'us-east-1', baseURL: process.env.MOCK_URL, maxRetries: 0 })
        .messages.create({ model: 'anthropic.claude-3-5-haiku-20241022-v1:0', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
        .then(() => console.log(JSON.stringify({ mainLoaded, spans: exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === '@tokenmeter/instrumentation').map((s) => s.attributes['gen_ai.provider.name']) })));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
      cwd: fixture,
      env: {
        ...process.env,
        MOCK_URL: server.url,
        NODE_PATH: path.resolve(here, '../node_modules'),
      },
      timeout: 20_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report.mainLoaded).toBe(false);
    expect(report.spans).toEqual(['aws.bedrock']);
  });
});
