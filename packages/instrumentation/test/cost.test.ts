import { Pricer } from '@tokenmeter/pricing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setupHarness } from './support/instrumentations.js';
import { type MockLlmServer, mock, startMockLlmServer } from './support/mock.js';
import { eventually } from './support/otel.js';
import { anthropicClass, openAIClass } from './support/sdks.js';

const harness = setupHarness();
const { telemetry } = harness;
const pricer = new Pricer();
let server: MockLlmServer;

beforeAll(async () => {
  server = await startMockLlmServer();
  harness.openai.setConfig({ pricer });
  harness.anthropic.setConfig({ pricer });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => telemetry.reset());

const COST_TYPES = ['input', 'output', 'cache_read', 'cache_write', 'reasoning', 'other'] as const;

describe('cost on telemetry', () => {
  it('puts the same cost on the span and in tokenmeter_cost_usd_total as the pricing library computes', async () => {
    const OpenAI = openAIClass('openai-7');
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const usage = {
      prompt_tokens: 5000,
      completion_tokens: 700,
      total_tokens: 5700,
      prompt_tokens_details: { cached_tokens: 4096 },
      completion_tokens_details: { reasoning_tokens: 500 },
    };
    await client.chat.completions.create(
      { model: 'o4-mini', messages: [{ role: 'user', content: 'cost me' }] },
      mock({ usage }),
    );
    await eventually(() => telemetry.spans().length === 1);
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
    expect(attributes['gen_ai.usage.cost.currency']).toBe('USD');
    expect(attributes['gen_ai.usage.cost.source']).toBe('local');
    expect(attributes['tokenmeter.pricing.model']).toBe(expected.pricingModel);
    let spanSum = 0;
    for (const type of COST_TYPES) {
      expect(attributes[`tokenmeter.cost.${type}`]).toBeCloseTo(expected.breakdown[type], 15);
      spanSum += attributes[`tokenmeter.cost.${type}`] as number;
      const counter = await telemetry.counterSum('tokenmeter.cost.usd', {
        'gen_ai.request.model': 'o4-mini',
        cost_type: type,
      });
      expect(counter).toBeCloseTo(expected.breakdown[type], 15);
    }
    expect(spanSum).toBeCloseTo(expected.amountUsd, 15);
  });

  it('prices Anthropic cache writes and reads at their own prices', async () => {
    const Anthropic = anthropicClass('anthropic-1');
    const client = new Anthropic({ apiKey: 'sk-ant', baseURL: server.url, maxRetries: 0 });
    const usage = {
      input_tokens: 50,
      cache_creation_input_tokens: 2000,
      cache_read_input_tokens: 8000,
      output_tokens: 400,
    };
    await client.messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
      mock({ usage }),
    );
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    // Claude Sonnet 4: $3 / M input, $3.75 / M cache write, $0.30 / M cache read, $15 / M output.
    expect(attributes['tokenmeter.cost.input']).toBeCloseTo((50 * 3) / 1e6, 15);
    expect(attributes['tokenmeter.cost.cache_write']).toBeCloseTo((2000 * 3.75) / 1e6, 15);
    expect(attributes['tokenmeter.cost.cache_read']).toBeCloseTo((8000 * 0.3) / 1e6, 15);
    expect(attributes['tokenmeter.cost.output']).toBeCloseTo((400 * 15) / 1e6, 15);
    expect(attributes['gen_ai.usage.cost.amount']).toBeCloseTo((150 + 7500 + 2400 + 6000) / 1e6, 15);
  });

  it('counts usage of a model without a price as unpriced, never as $0', async () => {
    const OpenAI = openAIClass('openai-7');
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const model = 'my-private-model-v2';
    await client.chat.completions.create(
      { model, messages: [{ role: 'user', content: 'hi' }] },
      mock({ usage: { prompt_tokens: 40, completion_tokens: 8, total_tokens: 48 } }),
    );
    await eventually(() => telemetry.spans().length === 1);
    const attributes = telemetry.spans()[0]!.attributes;
    expect(attributes['tokenmeter.pricing.status']).toBe('unpriced');
    expect(attributes['gen_ai.usage.cost.amount']).toBeUndefined();
    expect(
      await telemetry.counterSum('tokenmeter.unpriced_tokens', {
        'gen_ai.request.model': model,
        token_type: 'input',
      }),
    ).toBe(40);
    expect(await telemetry.counterSum('tokenmeter.cost.usd', { 'gen_ai.request.model': model })).toBe(0);
  });
});
