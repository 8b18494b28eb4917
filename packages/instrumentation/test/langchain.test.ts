import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { Pricer } from '@tokenmeter/pricing';
import { afterEach, describe, expect, it } from 'vitest';
import { LangChainInstrumentation } from '../src/langchain/instrumentation.js';
import { setupHarness } from './support/instrumentations.js';
import { collect, mockServerForSuite, withoutVolatile } from './support/mock.js';
import { eventually, expectSaneEstimatedUsage } from './support/otel.js';
import { requireSdk } from './support/sdks.js';

// The instrumentations are enabled before LangChain is required, as `@tokenmeter/node/register` does.
const harness = setupHarness();
const { telemetry } = harness;
const langchain = new LangChainInstrumentation({ enabled: false });
langchain.setTracerProvider(telemetry.tracerProvider);
langchain.setMeterProvider(telemetry.meterProvider);
langchain.enable();
const server = mockServerForSuite(telemetry);

/**
 * The oldest LangChain the instrumentation claims (`@langchain/core` 0.3 with `@langchain/openai` 0.6,
 * which brings its own `openai` 5.x) and the current one (core 1.x), each loaded with Node's own
 * require so the require hook sees `@langchain/core` as in an app.
 */
const LANGCHAIN_VERSIONS = [
  { fixture: 'langchain-0', core: 0, load: (name: string) => requireSdk('langchain-0', name) },
  { fixture: 'current', core: 1, load: createRequire(import.meta.url) },
] as const;

type AnyClass = new (...args: any[]) => any;

const sdkPackageJson = (fixture: string) =>
  path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    '../../../test/sdk-versions',
    fixture,
    'package.json',
  );

const tokens = (model: string, token_type: string) =>
  telemetry.counterSum('tokenmeter.tokens', { 'gen_ai.request.model': model, token_type });
const calls = (model: string, outcome = 'ok') =>
  telemetry.counterSum('tokenmeter.calls', { 'gen_ai.request.model': model, outcome });
const settled = () => new Promise((resolve) => setTimeout(resolve, 30));
const dedupCount = () => langchain.recorder.self.counts.deduplicatedCalls;

/** Runs `fn` with the given instrumentations off: what the app sees without Tokenmeter. */
async function without<T>(
  instrumentations: Array<{ enable(): void; disable(): void }>,
  fn: () => Promise<T>,
) {
  for (const instrumentation of instrumentations) instrumentation.disable();
  try {
    return await fn();
  } finally {
    for (const instrumentation of instrumentations) instrumentation.enable();
  }
}

afterEach(() => {
  harness.openai.enable();
  harness.anthropic.enable();
  langchain.enable();
  langchain.setConfig({ processors: [], contextAttributes: undefined, pricer: undefined });
});

const CACHED_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 1000, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 120, audio_tokens: 0 },
};

// --- a chat model that calls no SDK at all: only the LangChain-level hook can meter it ---

const DEFAULT_USAGE = {
  input_tokens: 1300,
  output_tokens: 300,
  total_tokens: 1600,
  input_token_details: { cache_read: 1000, cache_creation: 200 },
  output_token_details: { reasoning: 120 },
};
const PIECES = ['Token', 'meter', ' counts', ' every', ' token', ' so', ' budgets', ' hold', '.'];
const STREAM_USAGE = [
  { input_tokens: 40, output_tokens: 0, total_tokens: 40, input_token_details: { cache_read: 16 } },
  { input_tokens: 0, output_tokens: 8, total_tokens: 8, output_token_details: { reasoning: 3 } },
];

class AcmeError extends Error {
  status = 503;
}

interface Acme {
  model?: string;
  usage?: unknown;
  streamUsage?: unknown[];
  delayMs?: number;
  chunkDelayMs?: number;
  fail?: boolean;
  failAfterChunks?: number;
  /** Calls this model from `_generate` instead of answering (a router). */
  delegate?: any;
}

function pause(ms: number | undefined, signal?: AbortSignal): Promise<void> {
  if (!ms) return Promise.resolve();
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

describe.each(LANGCHAIN_VERSIONS)('LangChain ($fixture)', ({ fixture, core, load }) => {
  const { ChatOpenAI, OpenAI: OpenAILLM } = load('@langchain/openai');
  // Only the current version has @langchain/anthropic: the langchain-0 fixture pins core and openai only.
  const hasAnthropic = fixture === 'current';
  const { ChatAnthropic } = hasAnthropic ? load('@langchain/anthropic') : { ChatAnthropic: undefined };
  const { BaseChatModel } = load('@langchain/core/language_models/chat_models') as {
    BaseChatModel: AnyClass;
  };
  const { LLM } = load('@langchain/core/language_models/llms') as { LLM: AnyClass };
  const { AIMessageChunk, HumanMessage } = load('@langchain/core/messages');
  const { ChatGenerationChunk, GenerationChunk } = load('@langchain/core/outputs');
  const { InMemoryCache } = load('@langchain/core/caches');
  /** `BaseChatModel.streamEvents()` without a version, the content-block event stream: core 1.4+. */
  const contentBlockEvents = core >= 1;

  function chatOpenAI(options: { model?: string; usage?: unknown; scenario?: string; fields?: object } = {}) {
    const headers: Record<string, string> = {};
    if (options.usage !== undefined) headers['x-mock-usage'] = JSON.stringify(options.usage);
    if (options.scenario) headers['x-mock-scenario'] = options.scenario;
    return new ChatOpenAI({
      model: options.model ?? 'gpt-4o-mini',
      apiKey: 'sk-test-key-never-exported',
      maxRetries: 0,
      configuration: { baseURL: `${server.url}/v1`, defaultHeaders: headers },
      ...options.fields,
    });
  }

  function chatAnthropic(options: { usage?: unknown } = {}) {
    const headers: Record<string, string> = {};
    if (options.usage !== undefined) headers['x-mock-usage'] = JSON.stringify(options.usage);
    return new ChatAnthropic({
      model: 'claude-sonnet-4-20250514',
      apiKey: 'sk-ant-test',
      maxRetries: 0,
      anthropicApiUrl: server.url,
      clientOptions: { defaultHeaders: headers },
    });
  }

  describe('LangChain chat models over an instrumented vendor SDK', () => {
    it('counts an invoke once: the SDK span with exact usage, the LangChain call deduplicated', async () => {
      const model = 'gpt-4o-mini';
      const before = { dedup: dedupCount(), calls: await calls(model) };
      const message = await chatOpenAI({ usage: CACHED_USAGE }).invoke('Say hello to the tokenmeter tests.');
      expect(message.usage_metadata.input_tokens).toBe(1200);
      await eventually(() => telemetry.spans().length === 1 && dedupCount() === before.dedup + 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes).toMatchObject({
        'gen_ai.provider.name': 'openai',
        'server.address': '127.0.0.1', // the openai SDK's span, not LangChain's
        'gen_ai.usage.input_tokens': 1200,
        'gen_ai.usage.cache_read.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 300,
        'gen_ai.usage.reasoning.output_tokens': 120,
      });
      expect((await calls(model)) - before.calls).toBe(1);
    });

    it('returns from invoke, stream and batch exactly what they return without Tokenmeter', async () => {
      const all = [langchain, harness.openai];
      const run = async () => {
        const model = chatOpenAI({ usage: CACHED_USAGE });
        const invoked = await model.invoke('Say hello.');
        const streamed = await collect(await model.stream('Say hello.'));
        const batched = await model.batch(['one', 'two']);
        return withoutVolatile({ invoked, streamed, batched });
      };
      const expected = await without(all, run);
      const actual = await run();
      expect(actual).toStrictEqual(expected);
      expect((actual as any).streamed.length).toBeGreaterThan(3);
    });

    it('counts a stream, each call of a batch and an event stream once, from the SDK', async () => {
      const before = dedupCount();
      const chunks = await collect(await chatOpenAI({ usage: CACHED_USAGE }).stream('Stream, please.'));
      expect(chunks.some((chunk) => chunk.usage_metadata?.input_tokens === 1200)).toBe(true);
      await eventually(() => telemetry.spans().length === 1 && dedupCount() === before + 1);
      expect(telemetry.spans()[0]!.attributes).toMatchObject({
        'gen_ai.request.stream': true,
        'gen_ai.usage.input_tokens': 1200,
        'server.address': '127.0.0.1',
      });
      telemetry.reset();
      await chatOpenAI().batch(['a', 'b', 'c']);
      await eventually(() => telemetry.spans().length === 3 && dedupCount() === before + 4);
      await settled();
      expect(telemetry.spans()).toHaveLength(3);
      // The content-block event stream (core 1.4) is consumed in the call's context too.
      if (!contentBlockEvents) return;
      telemetry.reset();
      const message = await chatOpenAI({ usage: CACHED_USAGE }).streamEvents('Events, please.');
      expect(message.usage_metadata.input_tokens).toBe(1200);
      await eventually(() => telemetry.spans().length === 1 && dedupCount() === before + 5);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
    });

    // The langchain-0 fixture pins no @langchain/anthropic (0.3.x is its core-0.3 line).
    it.skipIf(!hasAnthropic)(
      'counts a ChatAnthropic call once over the instrumented Anthropic SDK',
      async () => {
        const before = dedupCount();
        await chatAnthropic().invoke('Hello Claude.');
        await eventually(() => telemetry.spans().length === 1 && dedupCount() === before + 1);
        await settled();
        expect(telemetry.spans()).toHaveLength(1);
        expect(telemetry.spans()[0]!.attributes['server.address']).toBe('127.0.0.1');
      },
    );
  });

  describe('LangChain chat models whose SDK is not instrumented', () => {
    it('meters an invoke once with the exact usage_metadata', async () => {
      harness.openai.disable();
      const model = 'gpt-4o';
      const counted = async () => ({
        input: await tokens(model, 'input'),
        cacheRead: await tokens(model, 'cache_read'),
        output: await tokens(model, 'output'),
        reasoning: await tokens(model, 'reasoning'),
        calls: await calls(model),
      });
      const before = await counted();
      const message = await chatOpenAI({ model, usage: CACHED_USAGE }).invoke(
        'Say hello to the tokenmeter tests.',
      );
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      const [span] = telemetry.spans();
      expect(span!.name).toBe('chat gpt-4o');
      expect(span!.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.request.stream': false,
        'gen_ai.response.model': message.response_metadata.model_name,
        'gen_ai.response.id': message.id,
        'gen_ai.response.finish_reasons': ['stop'],
        // LangChain's input_tokens is all input; OpenAI's prompt_tokens include the cached ones.
        'gen_ai.usage.input_tokens': 1200,
        'gen_ai.usage.cache_read.input_tokens': 1000,
        'gen_ai.usage.cache_write.input_tokens': 0,
        'gen_ai.usage.output_tokens': 300,
        'gen_ai.usage.reasoning.output_tokens': 120,
      });
      expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
      expect(JSON.stringify(span!.attributes)).not.toContain('sk-test-key');
      await eventually(async () => (await tokens(model, 'cache_read')) - before.cacheRead === 1000);
      const after = await counted();
      expect(after.input - before.input).toBe(200);
      expect(after.output - before.output).toBe(180);
      expect(after.reasoning - before.reasoning).toBe(120);
      expect(after.calls - before.calls).toBe(1);
    });

    it('meters a stream once with the usage of its chunks', async () => {
      harness.openai.disable();
      const usage = { prompt_tokens: 40, completion_tokens: 8, total_tokens: 48 };
      const chunks = await collect(await chatOpenAI({ model: 'gpt-4.1', usage }).stream('Stream, please.'));
      expect(chunks.length).toBeGreaterThan(3);
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes).toMatchObject({
        'gen_ai.request.model': 'gpt-4.1',
        'gen_ai.request.stream': true,
        'gen_ai.usage.input_tokens': 40,
        'gen_ai.usage.output_tokens': 8,
        'tokenmeter.stream.outcome': 'completed',
      });
      expect(telemetry.spans()[0]!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    });

    it('rethrows provider errors unchanged and records them once with error.type', async () => {
      harness.openai.disable();
      const call = () =>
        chatOpenAI({ scenario: 'http-error:429' })
          .invoke('Hi')
          .catch((error: unknown) => error);
      const expected: any = await without([langchain], call);
      const actual: any = await call();
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual.message).toBe(expected.message);
      expect(actual.status).toBe(429);
      const streamed: any = await chatOpenAI({ scenario: 'http-error:429' })
        .stream('Hi')
        .then(collect)
        .catch((error: unknown) => error);
      expect(streamed.constructor).toBe(expected.constructor);
      await eventually(() => telemetry.spans().length === 2);
      await settled();
      expect(telemetry.spans()).toHaveLength(2);
      for (const span of telemetry.spans()) {
        expect(span.attributes['error.type']).toBe('429');
        expect(span.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
      }
    });

    // The langchain-0 fixture pins no @langchain/anthropic (0.3.x is its core-0.3 line).
    it.skipIf(!hasAnthropic)(
      'maps ChatAnthropic usage (cache reads and writes added into input_tokens) to the conventions',
      async () => {
        harness.anthropic.disable();
        const usage = {
          input_tokens: 100,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 200,
          output_tokens: 50,
        };
        const message = await chatAnthropic({ usage }).invoke('Hello Claude.');
        expect(message.usage_metadata.input_tokens).toBe(1300);
        await eventually(() => telemetry.spans().length === 1);
        expect(telemetry.spans()[0]!.attributes).toMatchObject({
          'gen_ai.provider.name': 'anthropic',
          'gen_ai.request.model': 'claude-sonnet-4-20250514',
          'gen_ai.usage.input_tokens': 1300,
          'gen_ai.usage.cache_read.input_tokens': 1000,
          'gen_ai.usage.cache_write.input_tokens': 200,
          'gen_ai.usage.output_tokens': 50,
        });
      },
    );

    it('prices the call with the Pricer where the catalog knows the model', async () => {
      harness.openai.disable();
      const pricer = new Pricer();
      langchain.setConfig({ pricer });
      await chatOpenAI({ model: 'gpt-4o-mini', usage: CACHED_USAGE }).invoke('Cost me.');
      await eventually(() => telemetry.spans().length === 1);
      const attributes = telemetry.spans()[0]!.attributes;
      const expected = pricer.price({
        provider: 'openai',
        model: String(attributes['gen_ai.response.model']),
        usage: {
          inputTokens: 1200,
          outputTokens: 300,
          cacheReadInputTokens: 1000,
          cacheWriteInputTokens: 0,
          reasoningOutputTokens: 120,
        },
      });
      if (!expected.priced) throw new Error(expected.reason);
      expect(attributes['gen_ai.usage.cost.amount']).toBeCloseTo(expected.amountUsd, 15);
      expect(attributes['tokenmeter.pricing.model']).toBe(expected.pricingModel);
    });

    it('meters a text-completion LLM from llmOutput.tokenUsage, and dedups it over the SDK', async () => {
      const llm = () =>
        new OpenAILLM({
          model: 'gpt-3.5-turbo-instruct',
          apiKey: 'sk-test',
          maxRetries: 0,
          configuration: { baseURL: `${server.url}/v1` },
        });
      harness.openai.disable();
      const text = await llm().invoke('Once upon a time');
      expect(typeof text).toBe('string');
      await eventually(() => telemetry.spans().length === 1);
      const [span] = telemetry.spans();
      expect(span!.name).toBe('text_completion gpt-3.5-turbo-instruct');
      expect(span!.attributes['gen_ai.provider.name']).toBe('openai');
      expect(span!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(span!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(span!.attributes['tokenmeter.usage.estimated']).toBeUndefined();

      harness.openai.enable();
      telemetry.reset();
      const before = dedupCount();
      await llm().invoke('Once upon a time');
      await eventually(() => telemetry.spans().length === 1 && dedupCount() === before + 1);
      expect(telemetry.spans()[0]!.attributes['server.address']).toBe('127.0.0.1');
    });
  });

  /** A custom chat model that only answers `invoke` (LangChain falls back to it for `stream`). */
  class AcmeChatModel extends BaseChatModel {
    acme: Acme;
    constructor(acme: Acme = {}, fields: Record<string, unknown> = {}) {
      super(fields);
      this.acme = acme;
    }
    static lc_name() {
      return 'AcmeChatModel';
    }
    _llmType() {
      return 'acme';
    }
    getLsParams(options: any) {
      return {
        ls_provider: 'acme',
        ls_model_name: this.acme.model ?? 'acme-large-1',
        ls_model_type: 'chat',
        ls_stop: options?.stop,
      };
    }
    bindTools(tools: unknown[]) {
      return this.withConfig({ tools } as any);
    }
    async _generate(messages: any[], options: any) {
      if (this.acme.delegate) {
        const message = await this.acme.delegate.invoke(messages, { signal: options.signal });
        return { generations: [{ text: String(message.content), message }] };
      }
      await pause(this.acme.delayMs, options.signal);
      if (this.acme.fail) throw new AcmeError('acme is down');
      const tool = options.tools?.[0];
      const text = tool ? '' : PIECES.join('');
      // An AIMessageChunk, as ChatOpenAI returns: withStructuredOutput's parser requires one.
      const message = new AIMessageChunk({
        content: text,
        id: 'acme-msg-1',
        tool_calls: tool
          ? [
              {
                name: tool.function?.name ?? tool.name,
                args: { answer: 42 },
                id: 'call_1',
                type: 'tool_call',
              },
            ]
          : [],
        usage_metadata: 'usage' in this.acme ? this.acme.usage : DEFAULT_USAGE,
        response_metadata: {
          model_name: 'acme-large-1-2025-01',
          finish_reason: tool ? 'tool_calls' : 'stop',
        },
      });
      return { generations: [{ text, message }] };
    }
  }

  /** The same model, streaming natively. */
  class AcmeStreamingChatModel extends AcmeChatModel {
    static override lc_name() {
      return 'AcmeStreamingChatModel';
    }
    async *_streamResponseChunks(_messages: any[], options: any) {
      const usage = this.acme.streamUsage ?? STREAM_USAGE;
      for (let index = 0; index < PIECES.length; index++) {
        await pause(this.acme.chunkDelayMs, options.signal);
        if (this.acme.failAfterChunks === index) throw new AcmeError('stream broke');
        const last = index === PIECES.length - 1;
        yield new ChatGenerationChunk({
          text: PIECES[index],
          message: new AIMessageChunk({
            content: PIECES[index],
            id: 'acme-msg-1',
            usage_metadata: index === 0 ? usage[0] : last ? usage[1] : undefined,
            response_metadata: last ? { model_name: 'acme-large-1-2025-01', finish_reason: 'stop' } : {},
          }),
        });
      }
    }
  }

  describe('a custom chat model (no vendor SDK)', () => {
    it('meters an invoke with its usage_metadata', async () => {
      const model = `acme-invoke-${fixture}`;
      const message = await new AcmeChatModel({ model }).invoke([new HumanMessage('Hello Acme.')]);
      expect(message.content).toBe(PIECES.join(''));
      await eventually(() => telemetry.spans().length === 1);
      const [span] = telemetry.spans();
      expect(span!.name).toBe(`chat ${model}`);
      expect(span!.attributes).toMatchObject({
        'gen_ai.provider.name': 'acme',
        'gen_ai.request.model': model,
        'gen_ai.response.model': 'acme-large-1-2025-01',
        'gen_ai.response.id': 'acme-msg-1',
        'gen_ai.response.finish_reasons': ['stop'],
        'gen_ai.usage.input_tokens': 1300,
        'gen_ai.usage.cache_read.input_tokens': 1000,
        'gen_ai.usage.cache_write.input_tokens': 200,
        'gen_ai.usage.output_tokens': 300,
        'gen_ai.usage.reasoning.output_tokens': 120,
      });
      await eventually(async () => (await calls(model)) === 1);
      expect(await tokens(model, 'input')).toBe(100);
      expect(await tokens(model, 'cache_read')).toBe(1000);
      expect(await tokens(model, 'cache_write')).toBe(200);
      expect(await tokens(model, 'output')).toBe(180);
      expect(await tokens(model, 'reasoning')).toBe(120);
    });

    it('meters a stream with the usage summed over its chunks, yielding the same chunks', async () => {
      const run = async () =>
        collect(await new AcmeStreamingChatModel({ model: 'acme-stream' }).stream('Hi'));
      const expected = await without([langchain], run);
      expect(telemetry.spans()).toHaveLength(0);
      const chunks = await run();
      expect(withoutVolatile(chunks)).toStrictEqual(withoutVolatile(expected));
      expect(chunks).toHaveLength(PIECES.length);
      await eventually(() => telemetry.spans().length === 1);
      expect(telemetry.spans()[0]!.attributes).toMatchObject({
        'gen_ai.request.model': 'acme-stream',
        'gen_ai.request.stream': true,
        'gen_ai.usage.input_tokens': 40,
        'gen_ai.usage.cache_read.input_tokens': 16,
        'gen_ai.usage.output_tokens': 8,
        'gen_ai.usage.reasoning.output_tokens': 3,
        'gen_ai.response.finish_reasons': ['stop'],
        'tokenmeter.stream.outcome': 'completed',
      });
    });

    it('meters streamEvents once, in the content-block protocol and in v2', async () => {
      const model = new AcmeStreamingChatModel({ model: 'acme-events' });
      // Before core 1.4, streamEvents has only the v1/v2 Runnable event streams (a version is required).
      if (contentBlockEvents) {
        const stream = model.streamEvents('Hi');
        const message = await stream;
        expect(message.usage_metadata.output_tokens).toBe(8);
        const events = await collect(stream);
        expect(events.length).toBeGreaterThan(PIECES.length);
        await eventually(() => telemetry.spans().length === 1);
        expect(telemetry.spans()[0]!.attributes).toMatchObject({
          'gen_ai.request.stream': true,
          'gen_ai.usage.output_tokens': 8,
          'tokenmeter.stream.outcome': 'completed',
        });
        telemetry.reset();
      }
      const events = await collect(model.streamEvents('Hi', { version: 'v2' }));
      expect(events.length).toBeGreaterThan(PIECES.length);
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes).toMatchObject({
        'gen_ai.request.stream': true,
        'gen_ai.usage.output_tokens': 8,
        'tokenmeter.stream.outcome': 'completed',
      });
    });

    it('meters a model that cannot stream once when it is streamed (LangChain falls back to invoke)', async () => {
      const chunks = await collect(await new AcmeChatModel({ model: 'acme-fallback' }).stream('Hi'));
      expect(chunks).toHaveLength(1);
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(1300);
    });

    it('does not meter a cache hit: no provider call was made', async () => {
      const name = `acme-cached-${fixture}`;
      const model = new AcmeChatModel({ model: name }, { cache: new InMemoryCache() });
      const first = await model.invoke('Same question');
      const second = await model.invoke('Same question');
      expect(second.content).toBe(first.content);
      await eventually(async () => (await calls(name)) === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(await calls(name)).toBe(1);
    });

    it('meters calls made through bindTools, withStructuredOutput and batch, each once', async () => {
      const name = `acme-tools-${fixture}`;
      const tool = { type: 'function', function: { name: 'answer', description: 'd', parameters: {} } };
      const bound = await new AcmeChatModel({ model: name }).bindTools([tool]).invoke('Use the tool');
      expect(bound.tool_calls[0].name).toBe('answer');
      const structured = await new AcmeChatModel({ model: name })
        .withStructuredOutput({
          name: 'extract',
          description: 'x',
          parameters: { type: 'object', properties: {} },
        })
        .invoke('Extract');
      expect(structured).toEqual({ answer: 42 });
      await new AcmeChatModel({ model: name }).batch(['a', 'b', 'c']);
      await eventually(async () => (await calls(name)) === 5);
      await settled();
      expect(telemetry.spans()).toHaveLength(5);
    });

    it('estimates usage with a tokenizer when the model reports none', async () => {
      await new AcmeChatModel({ usage: undefined }).invoke('Please estimate me, I carry no usage.');
      await eventually(() => telemetry.spans().length === 1);
      const attributes = telemetry.spans()[0]!.attributes;
      expect(attributes['tokenmeter.usage.estimated']).toBe(true);
      expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(5);
      expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    });

    it('rethrows model errors unchanged and ends the span once with error.type', async () => {
      const name = `acme-error-${fixture}`;
      const call = () => new AcmeChatModel({ fail: true, model: name }).invoke('Hi');
      const expected = await without([langchain], () => call().catch((error: unknown) => error));
      const actual = await call().catch((error: unknown) => error);
      expect(actual).toBeInstanceOf(AcmeError);
      expect((actual as Error).message).toBe((expected as Error).message);
      await eventually(() => telemetry.spans().length === 1);
      const [span] = telemetry.spans();
      expect(span!.attributes['error.type']).toBe('503');
      expect(span!.status.code).toBe(SpanStatusCode.ERROR);
      expect(span!.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
      expect(await calls(name, 'error')).toBe(1);
    });

    it('passes an error in the middle of a stream through and records it with estimated usage', async () => {
      const model = new AcmeStreamingChatModel({ failAfterChunks: 3 });
      const received: unknown[] = [];
      const error = await (async () => {
        for await (const chunk of await model.stream('Hi')) received.push(chunk);
      })().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AcmeError);
      expect(received).toHaveLength(3);
      await eventually(() => telemetry.spans().length === 1);
      const attributes = telemetry.spans()[0]!.attributes;
      expect(attributes['error.type']).toBe('503');
      expect(attributes['tokenmeter.stream.outcome']).toBe('error');
      // The first chunk's partial usage is not the call's usage: the record is completed by estimation.
      expect(attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    });

    it('records a stream that fails before its first chunk as an error, without inventing usage', async () => {
      // LangChain starts the generator in `stream()`, which therefore rejects, as without Tokenmeter.
      const error = await new AcmeStreamingChatModel({ failAfterChunks: 0 })
        .stream('Hi')
        .then(collect)
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AcmeError);
      await eventually(() => telemetry.spans().length === 1);
      const attributes = telemetry.spans()[0]!.attributes;
      expect(attributes['error.type']).toBe('503');
      expect(attributes['gen_ai.usage.input_tokens']).toBeUndefined();
    });

    it('rethrows an abort (AbortSignal) unchanged and records the call once as an error', async () => {
      const run = async () => {
        const controller = new AbortController();
        const pending = new AcmeChatModel({ delayMs: 2000 })
          .invoke('Hi', { signal: controller.signal })
          .catch((error: unknown) => error);
        setTimeout(() => controller.abort(), 20);
        return pending;
      };
      const expected: any = await without([langchain], run);
      const actual: any = await run();
      expect(actual.constructor).toBe(expected.constructor);
      expect(actual.name).toBe(expected.name);
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes['error.type']).toBe(expected.constructor.name);
    });

    it('ends the span once when a stream is aborted midway', async () => {
      const controller = new AbortController();
      const model = new AcmeStreamingChatModel({ chunkDelayMs: 10 });
      const received: unknown[] = [];
      const error = await (async () => {
        for await (const chunk of await model.stream('Hi', { signal: controller.signal })) {
          received.push(chunk);
          if (received.length === 2) controller.abort();
        }
      })().catch((caught: unknown) => caught);
      expect(error).toBeDefined();
      expect(received.length).toBeLessThan(PIECES.length);
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes['error.type']).toBeDefined();
    });

    it('ends the span when the app breaks out of a stream early, with estimated usage', async () => {
      let seen = 0;
      for await (const _chunk of await new AcmeStreamingChatModel().stream('Hi')) {
        if (++seen === 3) break;
      }
      await eventually(() => telemetry.spans().length === 1);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      const attributes = telemetry.spans()[0]!.attributes;
      expect(attributes['tokenmeter.stream.outcome']).toBe('cancelled');
      expect(attributes['tokenmeter.usage.estimated']).toBe(true);
      expect(attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    });

    it('gives each of hundreds of concurrent calls its own span under the right parent', async () => {
      const tracer = trace.getTracer('test');
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          tracer.startActiveSpan(`parent-${index}`, async (parent) => {
            const model = `acme-concurrent-${index}`;
            const streaming = index % 2 === 0;
            if (streaming)
              await collect(await new AcmeStreamingChatModel({ model, chunkDelayMs: 1 }).stream('Hi'));
            else await new AcmeChatModel({ model, delayMs: 1 }).invoke('Hi');
            parent.end();
            return { parent: parent.spanContext().spanId, model };
          }),
        ),
      );
      await eventually(() => telemetry.spans().length === 200);
      const byModel = new Map(
        telemetry.spans().map((span) => [span.attributes['gen_ai.request.model'], span]),
      );
      for (const { parent, model } of results) {
        expect(byModel.get(model)!.parentSpanContext?.spanId).toBe(parent);
      }
      expect(byModel.size).toBe(200);
    });

    it('never produces NaN or negative metrics from malformed usage', async () => {
      const before = langchain.recorder.self.counts.invalidUsage;
      const malformed = [
        { input_tokens: -5, output_tokens: 3, total_tokens: -2 },
        { input_tokens: Number.NaN, output_tokens: 3, total_tokens: 3 },
        { input_tokens: '12', output_tokens: 3, total_tokens: 15 },
        { input_tokens: 1e15, output_tokens: 3, total_tokens: 1e15 },
        { input_tokens: 10, output_tokens: 3, total_tokens: 13, input_token_details: { cache_read: 50 } },
        { output_tokens: 3 },
        'not an object',
      ];
      for (const usage of malformed) await new AcmeChatModel({ usage, model: 'acme-malformed' }).invoke('Hi');
      await collect(
        await new AcmeStreamingChatModel({
          model: 'acme-malformed',
          streamUsage: [{ input_tokens: -1 }, { output_tokens: 'x' }],
        }).stream('Hi'),
      );
      await eventually(() => telemetry.spans().length === malformed.length + 1);
      expect(langchain.recorder.self.counts.invalidUsage - before).toBe(malformed.length + 1);
      await expectSaneEstimatedUsage(telemetry);
    });

    it('catches errors thrown inside the instrumentation, counts them, and the app is unaffected', async () => {
      const before = langchain.recorder.self.counts.internalErrors;
      langchain.setConfig({
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
      const message = await new AcmeChatModel().invoke('Hi');
      expect(message.content).toBe(PIECES.join(''));
      const chunks = await collect(await new AcmeStreamingChatModel().stream('Hi'));
      expect(chunks).toHaveLength(PIECES.length);
      await eventually(() => telemetry.spans().length === 2);
      expect(langchain.recorder.self.counts.internalErrors - before).toBe(4);
    });

    it('counts a router model once, whichever model underneath does the metering', async () => {
      // Custom model → ChatOpenAI → instrumented openai SDK: only the SDK's span.
      const before = dedupCount();
      await new AcmeChatModel({ delegate: chatOpenAI() }).invoke('Route me');
      await eventually(() => telemetry.spans().length === 1 && dedupCount() === before + 2);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes['server.address']).toBe('127.0.0.1');
      // Custom model → custom model: the inner one (the real provider call) is the one counted.
      telemetry.reset();
      await new AcmeChatModel({
        model: 'acme-router',
        delegate: new AcmeChatModel({ model: 'acme-inner' }),
      }).invoke('Route me');
      await eventually(() => telemetry.spans().length === 1 && dedupCount() === before + 3);
      await settled();
      expect(telemetry.spans()).toHaveLength(1);
      expect(telemetry.spans()[0]!.attributes['gen_ai.request.model']).toBe('acme-inner');
    });

    it('can be disabled and re-enabled at runtime', async () => {
      langchain.disable();
      await new AcmeChatModel().invoke('Hi');
      await collect(await new AcmeStreamingChatModel().stream('Hi'));
      await settled();
      expect(telemetry.spans()).toHaveLength(0);
      langchain.enable();
      await new AcmeChatModel().invoke('Hi');
      await collect(await new AcmeStreamingChatModel().stream('Hi'));
      await eventually(() => telemetry.spans().length === 2);
    });

    it('meters a custom text-completion LLM, invoked and streamed', async () => {
      class AcmeLLM extends LLM {
        _llmType() {
          return 'acme';
        }
        async _call() {
          return 'Once upon a time there was a token.';
        }
        async *_streamResponseChunks() {
          for (const text of ['Once', ' upon', ' a', ' time']) yield new GenerationChunk({ text });
        }
      }
      expect(await new AcmeLLM({}).invoke('Tell me a story')).toBe('Once upon a time there was a token.');
      const chunks = await collect(await new AcmeLLM({}).stream('Tell me a story'));
      expect(chunks).toEqual(['Once', ' upon', ' a', ' time']);
      await eventually(() => telemetry.spans().length === 2);
      const [invoked, streamed] = telemetry.spans();
      expect(invoked!.attributes).toMatchObject({
        'gen_ai.operation.name': 'text_completion',
        'gen_ai.provider.name': 'acme',
        'tokenmeter.usage.estimated': true,
      });
      expect(streamed!.attributes['gen_ai.request.stream']).toBe(true);
      expect(streamed!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(context.active()).toBe(context.active());
    });
  });

  describe('loading LangChain in an app', () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    async function node(args: string[]): Promise<any> {
      const { stdout } = await promisify(execFile)(process.execPath, args, {
        cwd: path.join(here, 'fixtures'),
        env: {
          ...process.env,
          MOCK_URL: server.url,
          // The fixture's LangChain, or (unset) the one this package depends on.
          LANGCHAIN_FROM: fixture === 'current' ? '' : sdkPackageJson(fixture),
        },
        timeout: 30_000,
      });
      return JSON.parse(stdout.trim().split('\n').at(-1)!);
    }

    const expectMetered = (report: any) => {
      expect(report.coreVersion.split('.')[0]).toBe(String(core));
      // ChatOpenAI: the openai SDK's span only; the custom model: LangChain's spans, invoke and stream.
      expect(report.deduplicated).toBe(1);
      expect(report.spans).toEqual([
        expect.objectContaining({ name: 'chat gpt-4o-mini', provider: 'openai', server: '127.0.0.1' }),
        { name: 'chat', provider: 'acme', server: undefined, stream: false, input: 11, output: 7 },
        { name: 'chat', provider: 'acme', server: undefined, stream: true, input: 5, output: 2 },
      ]);
    };

    it('meters LangChain loaded with require (CommonJS, -r)', async () => {
      expectMetered(await node(['-r', './langchain-telemetry.cjs', 'langchain-cjs-app.cjs']));
    });

    it('meters LangChain loaded with import (ESM, --import)', async () => {
      const report = await node([
        '--experimental-import-meta-resolve',
        '--import',
        './langchain-register.mjs',
        'langchain-esm-app.mjs',
      ]);
      expect(report.cjsLoaded).toBe(false);
      expectMetered(report);
    });
  });
});
