import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { Pricer } from '@tokenmeter/pricing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorTypeOf } from '../src/core/recorder.js';
import { providerName, specUsage } from '../src/vercel-ai/adapter.js';
import { VercelAIInstrumentation } from '../src/vercel-ai/instrumentation.js';
import { setupHarness } from './support/instrumentations.js';
import { collect, mock, mockServerForSuite } from './support/mock.js';
import { eventually } from './support/otel.js';
import { openAIClass, requireSdk } from './support/sdks.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const harness = setupHarness();
const { telemetry } = harness;
const vercel = new VercelAIInstrumentation({ enabled: false });
vercel.setTracerProvider(telemetry.tracerProvider);
vercel.setMeterProvider(telemetry.meterProvider);
vercel.enable();
const pricer = new Pricer();
vercel.setConfig({ pricer });

// Loaded with Node's own require after the instrumentation is enabled, as `-r` registration does;
// `ai` and the providers are ESM-only, so this is Node's require(esm).
const requireFromPackage = createRequire(path.join(here, '..', 'package.json'));
const ai = requireFromPackage('ai');
const { createOpenAI } = requireFromPackage('@ai-sdk/openai');
const { createAnthropic } = requireFromPackage('@ai-sdk/anthropic');
const { createGoogleGenerativeAI } = requireFromPackage('@ai-sdk/google');

/**
 * The `ai` majors the behaviour suites run on, each with the `@ai-sdk/openai` of its time and the
 * model specification version its providers implement: ai 5 (spec v2: flat usage, string finish
 * reason), ai 6 (spec v3: nested usage) from the version fixtures, ai 7 (spec v4) as installed.
 * ai 5 and 6 (and their providers) ship CommonJS as well, so there `require` gets that build.
 */
const AI_VERSIONS = [
  { label: 'ai 5', fixture: 'ai-5', spec: 'v2' },
  { label: 'ai 6', fixture: 'ai-6', spec: 'v3' },
  { label: 'ai 7', fixture: undefined, spec: 'v4' },
] as const;
type AIVersion = (typeof AI_VERSIONS)[number];

function loadAI(version: AIVersion): { ai: any; createOpenAI: any } {
  const load = (name: string) =>
    version.fixture ? requireSdk(version.fixture, name) : requireFromPackage(name);
  return { ai: load('ai'), createOpenAI: load('@ai-sdk/openai').createOpenAI };
}

const server = mockServerForSuite(telemetry);
const tracer = trace.getTracer('app');

const openai = () => createOpenAI({ apiKey: 'sk-test-never-exported', baseURL: `${server.url}/v1` });
const anthropic = () =>
  createAnthropic({ apiKey: 'sk-ant-test-never-exported', baseURL: `${server.url}/v1` });
const google = () => createGoogleGenerativeAI({ apiKey: 'gm-test', baseURL: `${server.url}/v1beta` });

async function uninstrumented(fn: () => Promise<any>): Promise<any> {
  vercel.disable();
  try {
    return await fn();
  } finally {
    vercel.enable();
  }
}

/** Drops what differs between two identical calls: ids, timestamps, timings, response headers. */
const VOLATILE = new Set(['id', 'timestamp', 'headers', 'toolCallId', 'responseId', 'performance']);
function stable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, field) => (VOLATILE.has(key) ? undefined : field));
}

const OPENAI_USAGE = {
  prompt_tokens: 5000,
  completion_tokens: 700,
  total_tokens: 5700,
  prompt_tokens_details: { cached_tokens: 4096 },
  completion_tokens_details: { reasoning_tokens: 500 },
};

/** Anthropic reports cache reads and writes on top of input_tokens. */
const ANTHROPIC_CACHE_USAGE = {
  input_tokens: 50,
  cache_creation_input_tokens: 2000,
  cache_read_input_tokens: 8000,
  output_tokens: 400,
};

const lookupToolOf = (sdk: any) =>
  sdk.tool({
    description: 'Looks something up',
    inputSchema: sdk.jsonSchema({ type: 'object', properties: { q: { type: 'string' } } }),
    execute: async () => 'looked up',
  });

/** A model object of the given specification version, as community providers write them. */
function customModel(
  doGenerate: (options: any) => Promise<any>,
  provider = 'custom.chat',
  spec: AIVersion['spec'] = 'v4',
): any {
  return {
    specificationVersion: spec,
    provider,
    modelId: 'custom-model-1',
    supportedUrls: {},
    doGenerate,
    doStream: async () => {
      throw new Error('not streamed');
    },
  };
}

/** A `doGenerate` result in the shape of a specification version (v2: flat usage, string reason). */
function specResult(spec: AIVersion['spec'], tokens: { input: number; output: number }) {
  const base = { content: [{ type: 'text', text: 'custom answer' }], warnings: [] };
  if (spec === 'v2') {
    return {
      ...base,
      finishReason: 'stop',
      usage: {
        inputTokens: tokens.input,
        outputTokens: tokens.output,
        totalTokens: tokens.input + tokens.output,
      },
    };
  }
  return {
    ...base,
    finishReason: { unified: 'stop', raw: 'stop' },
    usage: {
      inputTokens: { total: tokens.input, noCache: tokens.input, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: tokens.output, text: tokens.output, reasoning: 0 },
    },
  };
}

describe.each(AI_VERSIONS)('Vercel AI SDK ($label) with @ai-sdk/openai', (version) => {
  const { ai, createOpenAI } = loadAI(version);
  const openai = () => createOpenAI({ apiKey: 'sk-test-never-exported', baseURL: `${server.url}/v1` });
  const lookupTool = () => lookupToolOf(ai);

  it('meters generateText with exact usage: cache reads and reasoning, one span per provider request', async () => {
    const result = await ai.generateText({
      model: openai().chat('o4-mini'),
      prompt: 'Count my tokens.',
      ...mock({ usage: OPENAI_USAGE }),
    });
    expect(result.usage.inputTokens).toBe(5000);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.name).toBe('chat o4-mini');
    expect(span!.attributes).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'o4-mini',
      'gen_ai.request.stream': false,
      'gen_ai.response.id': result.response.id,
      'gen_ai.response.model': result.response.modelId,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 5000,
      'gen_ai.usage.cache_read.input_tokens': 4096,
      'gen_ai.usage.cache_write.input_tokens': 0,
      'gen_ai.usage.output_tokens': 700,
      'gen_ai.usage.reasoning.output_tokens': 500,
    });
    // The endpoint comes from the result's `request.url`, which spec v4 added (ai 7); the v2/v3
    // results of ai 5/6 carry only the request body, so there is no server to name.
    expect([span!.attributes['server.address'], span!.attributes['server.port']]).toEqual(
      version.spec === 'v4' ? ['127.0.0.1', server.port] : [undefined, undefined],
    );
    expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    expect(JSON.stringify(span!.attributes)).not.toContain('sk-test');
    expect(JSON.stringify(span!.attributes)).not.toContain('Count my tokens');
  });

  it('partitions tokens without double counting in tokenmeter_tokens_total and prices them', async () => {
    const model = 'o4-mini';
    const sum = (token_type: string) =>
      telemetry.counterSum('tokenmeter.tokens', {
        'gen_ai.request.model': model,
        'gen_ai.provider.name': 'openai',
        token_type,
      });
    const before = {
      input: await sum('input'),
      cache_read: await sum('cache_read'),
      output: await sum('output'),
      reasoning: await sum('reasoning'),
    };
    await ai.generateText({
      model: openai().chat(model),
      prompt: 'partition',
      ...mock({ usage: OPENAI_USAGE }),
    });
    await eventually(async () => (await sum('cache_read')) - before.cache_read === 4096);
    expect((await sum('input')) - before.input).toBe(904);
    expect((await sum('output')) - before.output).toBe(200);
    expect((await sum('reasoning')) - before.reasoning).toBe(500);
    const attributes = telemetry.spans()[0]!.attributes;
    const expected = pricer.price({
      provider: 'openai',
      model: String(attributes['gen_ai.response.model']),
      usage: {
        inputTokens: 5000,
        outputTokens: 700,
        cacheReadInputTokens: 4096,
        cacheWriteInputTokens: 0,
        reasoningOutputTokens: 500,
      },
    });
    if (!expected.priced) throw new Error(expected.reason);
    expect(attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
    expect(attributes['gen_ai.usage.cost.source']).toBe('local');
  });

  it('returns the same generateText result with and without Tokenmeter', async () => {
    const call = () => ai.generateText({ model: openai().chat('gpt-4o-mini'), prompt: 'same?' });
    const without = await uninstrumented(call);
    const withTm = await call();
    const view = (r: any) =>
      stable({ text: r.text, usage: r.usage, finishReason: r.finishReason, content: r.content });
    expect(view(withTm)).toStrictEqual(view(without));
    expect(withTm.response.modelId).toBe(without.response.modelId);
    await eventually(() => telemetry.spans().length === 1);
  });

  it('streams exactly the same parts and reads usage from the finish part', async () => {
    const call = async () => {
      const result = ai.streamText({
        model: openai().chat('o4-mini'),
        prompt: 'Stream please.',
        ...mock({ usage: OPENAI_USAGE }),
      });
      return collect(result.fullStream);
    };
    const without = await uninstrumented(call);
    expect(telemetry.spans()).toHaveLength(0);
    const parts = await call();
    expect(stable(parts)).toStrictEqual(stable(without));
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 5000,
      'gen_ai.usage.cache_read.input_tokens': 4096,
      'gen_ai.usage.output_tokens': 700,
      'gen_ai.usage.reasoning.output_tokens': 500,
      'gen_ai.response.finish_reasons': ['stop'],
      'tokenmeter.stream.outcome': 'completed',
    });
    expect(attributes['gen_ai.response.id']).toMatch(/^chatcmpl-/);
  });

  it('meters each step of a tool loop as its own call, under the app span', async () => {
    const result = await tracer.startActiveSpan('app request', async (appSpan) => {
      try {
        return await ai.generateText({
          model: openai().chat('gpt-4o-mini'),
          prompt: 'Use the tool.',
          tools: { lookup: lookupTool() },
          stopWhen: ai.stepCountIs(2),
        });
      } finally {
        appSpan.end();
      }
    });
    expect(result.steps).toHaveLength(2);
    await eventually(() => telemetry.spans().length === 2);
    const appSpan = telemetry.allSpans().find((span) => span.name === 'app request')!;
    const spans = telemetry
      .spans()
      .sort((a, b) => a.startTime[1] - b.startTime[1] || a.startTime[0] - b.startTime[0]);
    for (const span of spans) expect(span.parentSpanContext?.spanId).toBe(appSpan.spanContext().spanId);
    const byId = new Map(spans.map((span) => [span.attributes['gen_ai.response.id'], span]));
    for (const step of result.steps) {
      const span = byId.get(step.response.id)!;
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(step.usage.inputTokens);
      expect(span.attributes['gen_ai.usage.output_tokens']).toBe(step.usage.outputTokens);
    }
  });

  it('meters the model a prepareStep returns, and shows prepareStep the app its own model', async () => {
    const first = openai().chat('gpt-4o-mini');
    // The step switches provider; no @ai-sdk/anthropic of ai 5/6's time is installed, so with those
    // it switches to another openai model (the Responses API) instead.
    const second = version.fixture
      ? openai().responses('gpt-5-mini')
      : anthropic()('claude-sonnet-4-20250514');
    const seen: unknown[] = [];
    await ai.generateText({
      model: first,
      prompt: 'Switch models.',
      tools: { lookup: lookupTool() },
      stopWhen: ai.stepCountIs(2),
      prepareStep: ({ model, stepNumber }: any) => {
        seen.push(model);
        return stepNumber === 1 ? { model: second } : undefined;
      },
    });
    expect(seen[0]).toBe(first);
    await eventually(() => telemetry.spans().length === 2);
    const models = telemetry
      .spans()
      .map((span) => `${span.attributes['gen_ai.provider.name']} ${span.attributes['gen_ai.request.model']}`);
    expect(models.sort()).toEqual(
      version.fixture
        ? ['openai gpt-4o-mini', 'openai gpt-5-mini']
        : ['anthropic claude-sonnet-4-20250514', 'openai gpt-4o-mini'],
    );
  });

  it('meters ToolLoopAgent.generate and .stream, which call the internal generateText/streamText', async () => {
    // ai 5 had `Experimental_Agent`, whose settings said `system` (ai 6 renamed it `instructions`).
    const agent = ai.ToolLoopAgent
      ? new ai.ToolLoopAgent({ model: openai().chat('gpt-4o-mini'), instructions: 'Be brief.' })
      : new ai.Experimental_Agent({ model: openai().chat('gpt-4o-mini'), system: 'Be brief.' });
    await agent.generate({ prompt: 'hi' });
    const streamed = await agent.stream({ prompt: 'hi again' });
    await collect(streamed.fullStream);
    await eventually(() => telemetry.spans().length === 2);
    expect(
      telemetry
        .spans()
        .map((span) => span.attributes['gen_ai.request.stream'])
        .sort(),
    ).toEqual([false, true]);
  });

  it('meters once, under the model-call span, when the app turned the AI SDK telemetry on', async () => {
    // ai 5/6 trace themselves (`experimental_telemetry: { isEnabled: true }`, the model-call span is
    // `ai.generateText.doGenerate`); ai 7 traces through telemetry integrations (@ai-sdk/otel), and
    // one that opens a span around each model call stands in for it. The SDK's spans are the app's
    // choice and stay; Tokenmeter's span nests in.
    const integration = {
      executeLanguageModelCall: ({ execute }: any) =>
        tracer.startActiveSpan('ai sdk model call', async (span) => {
          try {
            return await execute();
          } finally {
            span.end();
          }
        }),
    };
    await ai.generateText({
      model: openai().chat('gpt-4o-mini'),
      prompt: 'traced by the SDK too',
      experimental_telemetry: version.fixture
        ? { isEnabled: true, tracer: trace.getTracer('ai') }
        : { isEnabled: true, integrations: [integration] },
    });
    await eventually(() => telemetry.spans().length === 1);
    const modelCallSpan = version.fixture ? 'ai.generateText.doGenerate' : 'ai sdk model call';
    const sdkSpan = telemetry.allSpans().find((span) => span.name === modelCallSpan)!;
    expect(sdkSpan).toBeDefined();
    expect(telemetry.spans()[0]!.parentSpanContext?.spanId).toBe(sdkSpan.spanContext().spanId);
  });

  it('meters the Responses API (the default openai model) with reasoning tokens', async () => {
    const usage = {
      input_tokens: 3000,
      input_tokens_details: { cached_tokens: 1024 },
      output_tokens: 900,
      output_tokens_details: { reasoning_tokens: 640 },
      total_tokens: 3900,
    };
    await ai.generateText({ model: openai()('gpt-5-mini'), prompt: 'Think.', ...mock({ usage }) });
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'gen_ai.usage.input_tokens': 3000,
      'gen_ai.usage.cache_read.input_tokens': 1024,
      'gen_ai.usage.output_tokens': 900,
      'gen_ai.usage.reasoning.output_tokens': 640,
    });
    expect(telemetry.spans()[0]!.attributes['gen_ai.response.id']).toMatch(/^resp_/);
  });

  it('meters embed and embedMany as embeddings calls', async () => {
    const model = openai().embedding('text-embedding-3-small');
    const one = await ai.embed({ model, value: 'embed me' });
    const many = await ai.embedMany({ model, values: ['a', 'b c', 'd e f'] });
    await eventually(() => telemetry.spans().length === 2);
    const spans = telemetry.spans();
    expect(spans.map((span) => span.name)).toEqual([
      'embeddings text-embedding-3-small',
      'embeddings text-embedding-3-small',
    ]);
    expect(spans.map((span) => span.attributes['gen_ai.usage.input_tokens'])).toEqual([
      one.usage.tokens,
      many.usage.tokens,
    ]);
    expect(spans[0]!.attributes['gen_ai.usage.output_tokens']).toBe(0);
  });

  it('meters generateObject even when the object then fails validation (the provider billed it)', async () => {
    const call = () =>
      ai.generateObject({
        model: openai().chat('gpt-4o-mini'),
        schema: ai.jsonSchema({ type: 'object', properties: { a: { type: 'number' } }, required: ['a'] }),
        prompt: 'An object please.',
      });
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(actual.usage.inputTokens);
  });

  it('rethrows API errors unchanged and records the HTTP status as error.type', async () => {
    const call = () =>
      ai.generateText({
        model: openai().chat('gpt-4o-mini'),
        prompt: 'fail',
        maxRetries: 0,
        ...mock({ scenario: 'http-error:429' }),
      });
    const calls = () =>
      telemetry.counterSum('tokenmeter.calls', { 'gen_ai.request.model': 'gpt-4o-mini', outcome: 'error' });
    const before = await calls();
    const expected = await uninstrumented(() => call().catch((error: any) => error));
    const actual = await call().catch((error: any) => error);
    expect(actual.constructor).toBe(expected.constructor);
    expect(actual.message).toBe(expected.message);
    expect(actual.statusCode).toBe(429);
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.attributes['error.type']).toBe('429');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
    expect((await calls()) - before).toBe(1);
  });

  it('passes an in-stream provider error through and ends the span once, as an error', async () => {
    const call = async () => {
      const result = ai.streamText({
        model: openai().chat('gpt-4o-mini'),
        prompt: 'stream then fail',
        ...mock({ scenario: 'stream-error' }),
        onError: () => {},
      });
      return collect(result.fullStream);
    };
    const without = await uninstrumented(call);
    const parts = await call();
    expect(stable(parts)).toStrictEqual(stable(without));
    expect(parts.some((part: any) => part.type === 'error')).toBe(true);
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    const attributes = telemetry.spans()[0]!.attributes;
    // @ai-sdk/openai 4 (ai 7) reports the in-stream error with the status the API would have used;
    // earlier versions pass the API's plain error object on, named by its type.
    expect(attributes['error.type']).toBe(version.spec === 'v4' ? '500' : 'server_error');
    expect(attributes['tokenmeter.stream.outcome']).toBe('completed');
    // No usage arrived: the call is estimated from the prompt and the text seen, never counted as 0.
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  });

  it('ends the span once with estimated usage when the app aborts a stream midway', async () => {
    const controller = new AbortController();
    const result = ai.streamText({
      model: openai().chat('gpt-4o-mini'),
      prompt: 'A long answer, please.',
      abortSignal: controller.signal,
      ...mock({ scenario: 'chunks:40,chunk-delay:10' }),
    });
    let deltas = 0;
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta' && ++deltas === 3) controller.abort();
    }
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(telemetry.spans()).toHaveLength(1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(['error', 'cancelled']).toContain(attributes['tokenmeter.stream.outcome']);
    expect(attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('gives each of hundreds of concurrent calls its own span under its own parent', async () => {
    const count = 200;
    const results = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        tracer.startActiveSpan(`parent-${index}`, async (parent) => {
          try {
            const result = await ai.generateText({
              model: openai().chat('gpt-4o-mini'),
              prompt: `request ${index} ${'x'.repeat(index)}`,
            });
            return { result, parent: parent.spanContext().spanId };
          } finally {
            parent.end();
          }
        }),
      ),
    );
    await eventually(() => telemetry.spans().length === count);
    const byResponse = new Map(
      telemetry.spans().map((span) => [span.attributes['gen_ai.response.id'], span]),
    );
    expect(byResponse.size).toBe(count);
    for (const { result, parent } of results) {
      const span = byResponse.get(result.response.id)!;
      expect(span.parentSpanContext?.spanId).toBe(parent);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(result.usage.inputTokens);
    }
  });

  it('never records negative or NaN usage: malformed counts are replaced by an estimate', async () => {
    const model = 'gpt-4o-mini-malformed';
    const self = vercel.recorder.self.counts;
    const invalidBefore = self.invalidUsage;
    await ai.generateText({
      model: openai().chat(model),
      prompt: 'malformed usage',
      ...mock({ usage: { prompt_tokens: -5, completion_tokens: 3 } }),
    });
    await ai.generateText({
      model: openai().chat(model),
      prompt: 'no usage at all',
      ...mock({ usage: null }),
    });
    await eventually(() => telemetry.spans().length === 2);
    expect(self.invalidUsage - invalidBefore).toBe(1);
    for (const span of telemetry.spans()) {
      expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    }
    for (const token_type of ['input', 'output', 'cache_read', 'cache_write', 'reasoning']) {
      const value = await telemetry.counterSum('tokenmeter.tokens', {
        'gen_ai.request.model': model,
        token_type,
      });
      expect(Number.isFinite(value) && value >= 0).toBe(true);
    }
  });
});

describe('Vercel AI SDK with other providers', () => {
  it('counts Anthropic cache reads and writes into the input total and prices them', async () => {
    await ai.generateText({
      model: anthropic()('claude-sonnet-4-20250514'),
      prompt: 'Cache me.',
      ...mock({ usage: ANTHROPIC_CACHE_USAGE }),
    });
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.operation.name': 'chat',
      'gen_ai.usage.input_tokens': 10050,
      'gen_ai.usage.cache_read.input_tokens': 8000,
      'gen_ai.usage.cache_write.input_tokens': 2000,
      'gen_ai.usage.output_tokens': 400,
    });
    const expected = pricer.price({
      provider: 'anthropic',
      model: 'claude-sonnet-4-20250514',
      usage: {
        inputTokens: 10050,
        outputTokens: 400,
        cacheReadInputTokens: 8000,
        cacheWriteInputTokens: 2000,
        reasoningOutputTokens: 0,
      },
    });
    if (!expected.priced) throw new Error(expected.reason);
    expect(attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
    expect(attributes['tokenmeter.cost.cache_write']).toBeCloseTo(expected.breakdown.cache_write, 15);
  });

  it('streams Anthropic through the AI SDK with usage from message_start and message_delta', async () => {
    const result = ai.streamText({
      model: anthropic()('claude-sonnet-4-20250514'),
      prompt: 'Stream and cache.',
      ...mock({ usage: ANTHROPIC_CACHE_USAGE }),
    });
    await collect(result.fullStream);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 10050,
      'gen_ai.usage.cache_write.input_tokens': 2000,
      'gen_ai.usage.output_tokens': 400,
    });
  });

  it('meters @ai-sdk/google as gcp.gemini generate_content, thoughts counted as output', async () => {
    const usage = {
      promptTokenCount: 1200,
      cachedContentTokenCount: 1000,
      candidatesTokenCount: 300,
      thoughtsTokenCount: 200,
      totalTokenCount: 1700,
    };
    await ai.generateText({ model: google()('gemini-2.5-flash'), prompt: 'Gemini?', ...mock({ usage }) });
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'gcp.gemini',
      'gen_ai.operation.name': 'generate_content',
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'gen_ai.usage.reasoning.output_tokens': 200,
    });
  });
});

describe('AI Gateway and model id strings', () => {
  let gateway: Server;
  let gatewayUrl = '';
  const gatewayRequests: string[] = [];
  beforeAll(async () => {
    // The AI Gateway's own protocol: the provider posts spec call options and gets the spec result.
    gateway = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        gatewayRequests.push(String(request.headers['ai-language-model-id']));
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            content: [{ type: 'text', text: 'via gateway' }],
            finishReason: { unified: 'stop', raw: 'end_turn' },
            usage: {
              inputTokens: { total: 1200, noCache: 200, cacheRead: 1000, cacheWrite: 0 },
              outputTokens: { total: 80, text: 80, reasoning: 0 },
            },
            providerMetadata: { gateway: { cost: '0.00042', routing: { finalProvider: 'anthropic' } } },
            response: { id: 'gen_123', modelId: String(request.headers['ai-language-model-id']) },
            warnings: [],
          }),
        );
      });
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/v1/ai`;
  });
  afterAll(async () => {
    await new Promise((resolve) => gateway.close(resolve));
  });

  it('names the upstream provider of a gateway model and keeps the cost the gateway reported', async () => {
    const gw = ai.createGateway({ baseURL: gatewayUrl, apiKey: 'gw-test-key' });
    await ai.generateText({ model: gw('anthropic/claude-sonnet-4'), prompt: 'gateway' });
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'anthropic/claude-sonnet-4',
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.cache_read.input_tokens': 1000,
      'gen_ai.usage.cost.amount': 0.00042,
      'gen_ai.usage.cost.source': 'provider',
    });
    expect(JSON.stringify(telemetry.spans()[0]!.attributes)).not.toContain('gw-test-key');
  });

  it('meters model id strings resolved through the global provider, as ai resolves them', async () => {
    const global = globalThis as any;
    global.AI_SDK_DEFAULT_PROVIDER = ai.createGateway({ baseURL: gatewayUrl, apiKey: 'gw-test-key' });
    try {
      const result = await ai.generateText({ model: 'openai/gpt-5', prompt: 'string id' });
      expect(result.text).toBe('via gateway');
      global.AI_SDK_DEFAULT_PROVIDER = openai();
      await ai.generateText({ model: 'gpt-4o-mini', prompt: 'string id, openai provider' });
    } finally {
      delete global.AI_SDK_DEFAULT_PROVIDER;
    }
    expect(gatewayRequests.at(-1)).toBe('openai/gpt-5');
    await eventually(() => telemetry.spans().length === 2);
    expect(telemetry.spans().map((span) => [span.attributes['gen_ai.provider.name'], span.name])).toEqual([
      ['openai', 'chat openai/gpt-5'],
      ['openai', 'chat gpt-4o-mini'],
    ]);
  });
});

describe.each(AI_VERSIONS)('custom models and vendor SDKs underneath ($label)', (version) => {
  const { ai } = loadAI(version);
  const { spec } = version;
  it('counts a call once when the model calls an instrumented vendor SDK (the SDK meters it)', async () => {
    const OpenAI = openAIClass('openai-7');
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const model = customModel(
      async (options) => {
        const completion = await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: JSON.stringify(options.prompt) }],
        });
        return specResult(spec, {
          input: completion.usage.prompt_tokens,
          output: completion.usage.completion_tokens,
        });
      },
      'openai-sdk-wrapper.chat',
      spec,
    );
    const calls = (provider: string) =>
      telemetry.counterSum('tokenmeter.calls', { 'gen_ai.provider.name': provider });
    const before = { openai: await calls('openai'), wrapper: await calls('openai-sdk-wrapper') };
    const dedupBefore = vercel.recorder.self.counts.deduplicatedCalls;
    await ai.generateText({ model, prompt: 'wrapped SDK' });
    await eventually(() => telemetry.spans().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.provider.name']).toBe('openai');
    expect(vercel.recorder.self.counts.deduplicatedCalls - dedupBefore).toBe(1);
    expect((await calls('openai')) - before.openai).toBe(1);
    expect((await calls('openai-sdk-wrapper')) - before.wrapper).toBe(0);
  });

  it('keeps private fields of class-based models working through the proxy', async () => {
    class PrivateModel {
      readonly specificationVersion = spec;
      readonly provider = 'private.chat';
      readonly modelId = 'private-1';
      #calls = 0;
      get supportedUrls() {
        return this.#calls >= 0 ? {} : {};
      }
      count() {
        return this.#calls;
      }
      async doGenerate() {
        this.#calls++;
        return specResult(spec, { input: 12, output: 3 });
      }
      async doStream(): Promise<never> {
        throw new Error('no');
      }
    }
    const model = new PrivateModel();
    const result = await ai.generateText({ model, prompt: 'private' });
    expect(result.text).toBe('custom answer');
    expect(model.count()).toBe(1);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'private',
      'gen_ai.usage.input_tokens': 12,
    });
  });

  it('catches and counts its own errors: the app still gets the result', async () => {
    let reads = 0;
    const result: any = specResult(spec, { input: 5, output: 2 });
    // The first reader of providerMetadata is Tokenmeter (it sees the result before `ai` does).
    Object.defineProperty(result, 'providerMetadata', {
      enumerable: true,
      get() {
        if (reads++ === 0) throw new Error('boom inside Tokenmeter');
        return undefined;
      },
    });
    const before = vercel.recorder.self.counts.internalErrors;
    const output = await ai.generateText({
      model: customModel(async () => result, 'custom.chat', spec),
      prompt: 'internal error',
    });
    expect(output.text).toBe('custom answer');
    expect(vercel.recorder.self.counts.internalErrors - before).toBe(1);
    await eventually(() => telemetry.spans().length === 1);
  });

  it('records nothing and changes nothing while disabled', async () => {
    let receivedThis: unknown;
    const model = customModel(
      async function (this: unknown) {
        receivedThis = this;
        return specResult(spec, { input: 1, output: 1 });
      },
      'custom.chat',
      spec,
    );
    await uninstrumented(() => ai.generateText({ model, prompt: 'off' }));
    expect(receivedThis).toBe(model);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(telemetry.spans()).toHaveLength(0);
  });
});

describe('usage and provider mapping of older spec versions', () => {
  it('reads spec v2 (ai 5) flat usage, taking Anthropic and Gemini raw usage where the flat counts differ', () => {
    expect(
      specUsage(
        { inputTokens: 100, outputTokens: 20, cachedInputTokens: 40, reasoningTokens: 5 },
        {},
        'openai',
      ),
    ).toEqual({
      inputTokens: 100,
      outputTokens: 20,
      cacheReadInputTokens: 40,
      cacheWriteInputTokens: 0,
      reasoningOutputTokens: 5,
    });
    // ai 5's Anthropic provider: inputTokens excluded cache; the raw usage is in providerMetadata.
    expect(
      specUsage(
        { inputTokens: 50, outputTokens: 400, cachedInputTokens: 8000 },
        { anthropic: { usage: ANTHROPIC_CACHE_USAGE, cacheCreationInputTokens: 2000 } },
        'anthropic',
      ),
    ).toMatchObject({ inputTokens: 10050, cacheReadInputTokens: 8000, cacheWriteInputTokens: 2000 });
    expect(
      specUsage(
        { inputTokens: 50, outputTokens: 400, cachedInputTokens: 8000 },
        { anthropic: { cacheCreationInputTokens: 2000 } },
        'anthropic',
      ),
    ).toMatchObject({ inputTokens: 10050, cacheWriteInputTokens: 2000 });
    // ai 5's Google provider: outputTokens excluded thoughts.
    expect(
      specUsage(
        { inputTokens: 1200, outputTokens: 300, reasoningTokens: 200 },
        {
          google: {
            usageMetadata: { promptTokenCount: 1200, candidatesTokenCount: 300, thoughtsTokenCount: 200 },
          },
        },
        'gcp.gemini',
      ),
    ).toMatchObject({ outputTokens: 500, reasoningOutputTokens: 200 });
    expect(
      specUsage({ inputTokens: undefined, outputTokens: undefined }, undefined, 'openai'),
    ).toBeUndefined();
  });

  it('names errors by HTTP status, or by the provider error type of an in-stream error part', () => {
    expect(errorTypeOf({ statusCode: 429, message: 'slow down' })).toBe('429');
    expect(errorTypeOf({ type: 'overloaded_error', message: 'Overloaded' })).toBe('overloaded_error');
    expect(errorTypeOf(new TypeError('x'))).toBe('TypeError');
    expect(errorTypeOf('just a string')).toBe('_OTHER');
  });

  it('names providers from the model provider string', () => {
    expect(
      [
        ['openai.chat', 'gpt-4o'],
        ['openai.responses', 'gpt-5'],
        ['anthropic.messages', 'claude'],
        ['google.generative-ai', 'gemini'],
        ['google.vertex.chat', 'gemini'],
        ['vertex.anthropic.messages', 'claude'],
        ['amazon-bedrock', 'anthropic.claude'],
        ['azure.chat', 'gpt-4o'],
        ['mistral.chat', 'mistral-large'],
        ['groq.chat', 'llama'],
        ['cohere.chat', 'command-r'],
        ['xai.chat', 'grok-4'],
        ['deepseek.chat', 'deepseek-chat'],
        ['gateway', 'google/gemini-2.5-pro'],
        ['gateway', 'xai/grok-4'],
        ['togetherai.chat', 'llama'],
        ['lmstudio.chat', 'local'],
      ].map(([provider, model]) => providerName(provider, model)),
    ).toEqual([
      'openai',
      'openai',
      'anthropic',
      'gcp.gemini',
      'gcp.vertex_ai',
      'gcp.vertex_ai',
      'aws.bedrock',
      'azure.ai.openai',
      'mistral_ai',
      'groq',
      'cohere',
      'x_ai',
      'deepseek',
      'gcp.gemini',
      'x_ai',
      'together_ai',
      'lmstudio',
    ]);
  });
});

/** A temporary copy of the ESM app whose `ai` and `@ai-sdk/openai` are a version fixture's. */
function appWithFixture(fixture: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `tokenmeter-${fixture}-esm-`));
  const fixtureModules = path.resolve(here, '../../../test/sdk-versions', fixture, 'node_modules');
  mkdirSync(path.join(dir, 'node_modules', '@ai-sdk'), { recursive: true });
  for (const name of ['ai', '@ai-sdk/openai'])
    symlinkSync(realpathSync(path.join(fixtureModules, name)), path.join(dir, 'node_modules', name), 'dir');
  copyFileSync(path.join(here, 'fixtures', 'vercel-ai-esm-app.mjs'), path.join(dir, 'vercel-ai-esm-app.mjs'));
  return dir;
}

describe.each(AI_VERSIONS)('loading ai with import (ESM, $label)', (version) => {
  it('meters generateText and streamText imported from the ai namespace (import-in-the-middle)', async () => {
    let output: any;
    const run = promisify(execFile);
    const fixtures = path.join(here, 'fixtures');
    // The app imports `ai` by its bare name (import-in-the-middle hooks packages imported so); for
    // an older version it runs from a directory whose node_modules links that fixture's packages.
    const appDir = version.fixture ? appWithFixture(version.fixture) : fixtures;
    try {
      const { stdout } = await run(
        process.execPath,
        ['--import', path.join(fixtures, 'vercel-ai-esm-register.mjs'), 'vercel-ai-esm-app.mjs'],
        { cwd: appDir, env: { ...process.env, MOCK_URL: server.url }, timeout: 30_000 },
      );
      output = JSON.parse(stdout.trim().split('\n').at(-1)!);
    } finally {
      if (appDir !== fixtures) rmSync(appDir, { recursive: true, force: true });
    }
    expect(output.text).toBeTruthy();
    expect(output.spans).toHaveLength(2);
    expect(output.spans.map((span: any) => span.attributes['gen_ai.request.stream']).sort()).toEqual([
      false,
      true,
    ]);
    for (const span of output.spans) {
      expect(span.attributes['gen_ai.provider.name']).toBe('openai');
      expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    }
  });
});
