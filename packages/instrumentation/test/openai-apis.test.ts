import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../src/index.js';
import { setupHarness } from './support/instrumentations.js';
import { collect, mock, mockServerForSuite } from './support/mock.js';
import { eventually } from './support/otel.js';
import { openAIClass, requireSdk } from './support/sdks.js';

const harness = setupHarness();
const { telemetry } = harness;
const server = mockServerForSuite(telemetry);

const RESPONSES_USAGE = {
  input_tokens: 900,
  input_tokens_details: { cached_tokens: 600 },
  output_tokens: 250,
  output_tokens_details: { reasoning_tokens: 200 },
  total_tokens: 1150,
};

describe('openai 7.x APIs beyond chat', () => {
  const OpenAI = openAIClass('openai-7');
  const client = () => new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, maxRetries: 0 });

  it('meters the Responses API, created and streamed', async () => {
    const response = await client().responses.create(
      { model: 'o4-mini', input: 'Plan a trip' },
      mock({ usage: RESPONSES_USAGE }),
    );
    expect(response.output_text).toBeTypeOf('string');
    const events = await collect(
      await client().responses.create(
        { model: 'o4-mini', input: 'Plan a trip', stream: true },
        mock({ usage: RESPONSES_USAGE }),
      ),
    );
    expect(events.at(-1)).toMatchObject({ type: 'response.completed' });
    await eventually(() => telemetry.spans().length === 2);
    for (const span of telemetry.spans()) {
      expect(span.name).toBe('chat o4-mini');
      expect(span.attributes).toMatchObject({
        'gen_ai.usage.input_tokens': 900,
        'gen_ai.usage.cache_read.input_tokens': 600,
        'gen_ai.usage.output_tokens': 250,
        'gen_ai.usage.reasoning.output_tokens': 200,
        'gen_ai.response.id': response.id.startsWith('resp_')
          ? expect.stringMatching(/^resp_/)
          : expect.any(String),
      });
    }
    // Responses streams always carry usage: nothing is injected.
    expect(server.requests.every((request) => request.body.stream_options === undefined)).toBe(true);
  });

  it('meters the responses.stream() helper once', async () => {
    const stream = client().responses.stream(
      { model: 'gpt-4.1', input: 'hello' },
      mock({ usage: RESPONSES_USAGE }),
    );
    const final = await stream.finalResponse();
    expect(final.usage.input_tokens).toBe(900);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.output_tokens']).toBe(250);
  });

  it('meters chat.completions.parse() and the chat stream helper once each, with exact usage', async () => {
    const parsed = await client().chat.completions.parse({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(parsed.choices[0].message).toHaveProperty('parsed');
    const runner = client().chat.completions.stream({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const completion = await runner.finalChatCompletion();
    expect(completion.choices[0].message.content).toBeTypeOf('string');
    await eventually(() => telemetry.spans().length === 2);
    const [parseSpan, streamSpan] = telemetry.spans();
    expect(parseSpan!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(streamSpan!.attributes['gen_ai.request.stream']).toBe(true);
    expect(streamSpan!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
    expect(streamSpan!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('meters image generation with its token usage and image count', async () => {
    await client().images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', n: 2 });
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.operation.name': 'image_generation',
      'gen_ai.request.model': 'gpt-image-1',
    });
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  });

  it('meters text-to-speech without reading the audio the app receives', async () => {
    const response = await client().audio.speech.create({
      model: 'gpt-4o-mini-tts',
      voice: 'alloy',
      input: 'Hello there',
    });
    const audio = Buffer.from(await response.arrayBuffer());
    expect(audio.length).toBeGreaterThan(0);
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.name).toBe('text_to_speech gpt-4o-mini-tts');
  });

  it('recognises Azure OpenAI, injects the usage option there and keeps its filter chunk', async () => {
    const { AzureOpenAI } = requireSdk('openai-7', 'openai');
    const azure = new AzureOpenAI({
      apiKey: 'azure-key',
      endpoint: server.url,
      apiVersion: '2024-10-21',
      deployment: 'prod-gpt4o',
      maxRetries: 0,
    });
    const chunks = await collect(
      await azure.chat.completions.create({
        model: 'prod-gpt4o',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    );
    expect(chunks[0].prompt_filter_results).toBeDefined();
    expect(chunks.every((chunk: any) => !('usage' in chunk))).toBe(true);
    expect(server.requests.at(-1)!.path).toContain('/openai/deployments/prod-gpt4o/chat/completions');
    expect(server.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'azure.ai.openai',
      'gen_ai.request.model': 'prod-gpt4o',
    });
    expect(telemetry.spans()[0]!.attributes['tokenmeter.usage.estimated']).toBeUndefined();
  });

  it('recognises OpenAI-compatible providers from the base URL and never sends them the usage option', async () => {
    // The real SDK builds requests to api.groq.com; a custom fetch delivers them to the mock.
    const toMock: typeof fetch = (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return fetch(`${server.url}${url.pathname.replace('/openai', '')}${url.search}`, init);
    };
    const groq = new OpenAI({
      apiKey: 'gsk-test',
      baseURL: 'https://api.groq.com/openai/v1',
      fetch: toMock,
      maxRetries: 0,
    });
    await collect(
      await groq.chat.completions.create({
        model: 'llama-3.3-70b-versatile',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    );
    expect(server.requests.at(-1)!.body.stream_options).toBeUndefined();
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.provider.name': 'groq',
      'server.address': 'api.groq.com',
      'server.port': 443,
      'tokenmeter.usage.estimated': true,
    });
  });

  it('maps hosts to providers from configuration (a vLLM server)', async () => {
    harness.openai.setConfig({ hostProviders: { [`127.0.0.1:${server.port}`]: 'vllm' } });
    try {
      await client().chat.completions.create({
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        messages: [{ role: 'user', content: 'hi' }],
      });
    } finally {
      harness.openai.setConfig({});
    }
    await eventually(() => telemetry.spans().length === 1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.provider.name']).toBe('vllm');
  });

  it('hands the provider-reported cost (OpenRouter usage.cost) to record processors', async () => {
    const records: CallRecord[] = [];
    harness.openai.setConfig({ processors: [{ onCallEnd: (record) => records.push(record) }] });
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, cost: 0.00042 };
    try {
      const result = await client().chat.completions.create(
        { model: 'anthropic/claude-3.5-sonnet', messages: [{ role: 'user', content: 'hi' }] },
        mock({ usage }),
      );
      expect(result.usage).toMatchObject(usage);
      await eventually(() => records.length === 1);
    } finally {
      harness.openai.setConfig({ processors: [] });
    }
    expect(records[0]).toMatchObject({
      providerCostUsd: 0.00042,
      requestModel: 'anthropic/claude-3.5-sonnet',
    });
    expect(records[0]!.usage).toMatchObject({ inputTokens: 10, outputTokens: 5 });
  });
});
