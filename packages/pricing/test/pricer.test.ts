import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import {
  COST_TYPES,
  convertCurrency,
  fromAnthropic,
  fromGemini,
  fromOpenAIChat,
  loadOverridesFile,
  OverridesError,
  Pricer,
  type TokenUsage,
  usageFromProvider,
} from '../src/index.js';

const AT = Date.parse('2026-06-01T12:00:00Z');
const usage = (input: number, output: number, extra: Partial<TokenUsage> = {}): TokenUsage => ({
  inputTokens: input,
  outputTokens: output,
  cacheReadInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningOutputTokens: 0,
  ...extra,
});
const sum = (breakdown: Record<string, number>) =>
  COST_TYPES.reduce((total, type) => total + breakdown[type]!, 0);

describe('Pricer', () => {
  it('prices OpenAI cached input at the cache price and the rest at the input price', () => {
    // gpt-4o-mini: $0.15 / M input, $0.075 / M cached input, $0.60 / M output.
    const result = new Pricer().price({
      provider: 'openai',
      model: 'gpt-4o-mini-2024-07-18',
      usage: usage(1200, 300, { cacheReadInputTokens: 1000, reasoningOutputTokens: 0 }),
      at: AT,
    });
    expect(result.priced).toBe(true);
    if (!result.priced) return;
    expect(result.breakdown.input).toBeCloseTo((200 * 0.15) / 1e6, 15);
    expect(result.breakdown.cache_read).toBeCloseTo((1000 * 0.075) / 1e6, 15);
    expect(result.breakdown.output).toBeCloseTo((300 * 0.6) / 1e6, 15);
    expect(result.amountUsd).toBeCloseTo(sum(result.breakdown), 15);
    expect(result.pricingModel).toBe('openai/gpt-4o-mini');
    expect(result.source).toBe('local');
  });

  it('bills reasoning at the output price, separately from visible output', () => {
    // o4-mini: $4.40 / M output.
    const result = new Pricer().price({
      provider: 'openai',
      model: 'o4-mini',
      usage: usage(100, 1000, { reasoningOutputTokens: 800 }),
      at: AT,
    });
    if (!result.priced) throw new Error(result.reason);
    expect(result.breakdown.reasoning / result.breakdown.output).toBeCloseTo(4, 10);
  });

  it('applies long-context tiers to the whole request once the input crosses the threshold', () => {
    const pricer = new Pricer();
    const small = pricer.price({
      provider: 'gcp.gemini',
      model: 'gemini-2.5-pro',
      usage: usage(200_000, 1000),
      at: AT,
    });
    const large = pricer.price({
      provider: 'gcp.gemini',
      model: 'gemini-2.5-pro',
      usage: usage(200_001, 1000),
      at: AT,
    });
    if (!small.priced || !large.priced) throw new Error('unpriced');
    expect(small.breakdown.input).toBeCloseTo((200_000 * 1.25) / 1e6, 12);
    expect(large.breakdown.input).toBeCloseTo((200_001 * 2.5) / 1e6, 12);
    expect(large.breakdown.output).toBeCloseTo((1000 * 15) / 1e6, 12);
  });

  it('agrees with the catalog on the total for every model of the main providers', () => {
    const pricer = new Pricer();
    const shapes = [
      usage(1000, 500),
      usage(12_000, 800, { cacheReadInputTokens: 9000, reasoningOutputTokens: 300 }),
      usage(300_000, 2000, { cacheWriteInputTokens: 50_000 }),
    ];
    let compared = 0;
    const providers: Array<[string, string]> = [
      ['openai', 'openai'],
      ['anthropic', 'anthropic'],
      ['gcp.gemini', 'google'],
      ['aws.bedrock', 'aws'],
      ['azure.ai.openai', 'azure'],
      ['mistral_ai', 'mistral'],
      ['groq', 'groq'],
      ['deepseek', 'deepseek'],
      ['x_ai', 'x-ai'],
    ];
    for (const [provider, catalogId] of providers) {
      for (const model of findProvider({ providerId: catalogId })!.models) {
        for (const shape of shapes) {
          const ours = pricer.price({ provider, model: model.id, usage: shape, at: AT });
          let theirs: ReturnType<typeof calcPrice> = null;
          try {
            theirs = calcPrice(
              {
                input_tokens: shape.inputTokens,
                output_tokens: shape.outputTokens,
                cache_read_tokens: shape.cacheReadInputTokens,
                cache_write_tokens: shape.cacheWriteInputTokens,
              },
              model.id,
              { providerId: catalogId, timestamp: new Date(AT) },
            );
          } catch {
            theirs = null;
          }
          if (!theirs || !ours.priced) continue;
          expect(ours.amountUsd, `${provider}/${model.id}`).toBeCloseTo(theirs.total_price, 9);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('reports an unknown model as unpriced with the reason, never as $0', () => {
    const result = new Pricer().price({
      provider: 'openai',
      model: 'gpt-nonexistent-9',
      usage: usage(10, 10),
      at: AT,
    });
    expect(result).toEqual({ priced: false, reason: expect.stringContaining('not in the price catalog') });
    const local = new Pricer().price({
      provider: 'vllm',
      model: 'meta-llama/Llama-3.1-8B',
      usage: usage(10, 10),
      at: AT,
    });
    expect(local.priced).toBe(false);
  });

  it('prices Ollama (models on your own machine) at $0, says so, and lets an override set a price', () => {
    const local = new Pricer().price({
      provider: 'ollama',
      model: 'llama3.2',
      usage: usage(100, 50),
      at: AT,
    });
    expect(local).toMatchObject({ priced: true, amountUsd: 0, pricingModel: 'self-hosted:ollama/llama3.2' });
    const overridden = new Pricer({
      overrides: {
        models: [{ provider: 'ollama', model: '*', prices: { input_mtok: 0.5, output_mtok: 1 } }],
      },
    }).price({ provider: 'ollama', model: 'llama3.2', usage: usage(1_000_000, 1_000_000), at: AT });
    expect(overridden).toMatchObject({
      priced: true,
      amountUsd: 1.5,
      pricingModel: 'override:ollama/llama3.2',
    });
  });

  it('prices gateway ids prefixed with their own provider (openai/gpt-5) as the provider model, and no other prefix', () => {
    const pricer = new Pricer();
    for (const [provider, model, plain] of [
      ['openai', 'openai/gpt-4o-mini', 'gpt-4o-mini'],
      ['anthropic', 'anthropic/claude-sonnet-4', 'claude-sonnet-4'],
      ['gcp.gemini', 'google/gemini-2.5-pro', 'gemini-2.5-pro'],
      ['x_ai', 'xai/grok-4', 'grok-4'],
    ] as const) {
      const prefixed = pricer.price({ provider, model, usage: usage(1000, 100), at: AT });
      const direct = pricer.price({ provider, model: plain, usage: usage(1000, 100), at: AT });
      expect(direct.priced).toBe(true);
      expect(prefixed).toEqual(direct);
    }
    expect(
      pricer.price({ provider: 'openai', model: 'acme/gpt-4o-mini', usage: usage(10, 10), at: AT }).priced,
    ).toBe(false);
  });

  it('never prices a fine-tuned model as its base model', () => {
    const result = new Pricer().price({
      provider: 'openai',
      model: 'ft:gpt-4o-mini-2024-07-18:acme::abc123',
      usage: usage(10, 10),
      at: AT,
    });
    expect(result.priced).toBe(false);
  });

  it('normalizes the model names SDKs report', () => {
    const pricer = new Pricer();
    const priced = (provider: string, model: string) => {
      const result = pricer.price({ provider, model, usage: usage(1000, 100), at: AT });
      return result.priced ? result.pricingModel : result.reason;
    };
    expect(priced('gcp.gemini', 'models/gemini-2.5-pro')).toBe('google/gemini-2.5-pro');
    expect(priced('anthropic', 'claude-sonnet-4-20250514')).toBe('anthropic/claude-sonnet-4-0');
    expect(priced('aws.bedrock', 'us.anthropic.claude-3-7-sonnet-20250219-v1:0')).toMatch(/^aws\//);
    expect(
      priced(
        'aws.bedrock',
        'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0',
      ),
    ).toBe(priced('aws.bedrock', 'us.anthropic.claude-3-7-sonnet-20250219-v1:0'));
    expect(priced('gcp.vertex_ai', 'claude-3-5-sonnet-v2@20241022')).toMatch(/claude-3-5-sonnet/);
    expect(priced('gcp.vertex_ai', 'publishers/google/models/gemini-2.5-flash')).toBe(
      priced('gcp.vertex_ai', 'gemini-2.5-flash'),
    );
    expect(
      priced('gcp.vertex_ai', 'projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash'),
    ).toBe('google/gemini-2.5-flash');
    expect(priced('openrouter', 'anthropic/claude-3.5-sonnet')).toMatch(/^openrouter\//);
  });

  it('uses the provider-reported cost when the response carries one', () => {
    const result = new Pricer().price({
      provider: 'openrouter',
      model: 'anthropic/claude-3.5-sonnet',
      usage: usage(10, 5),
      providerCostUsd: 0.00042,
    });
    expect(result).toMatchObject({ priced: true, amountUsd: 0.00042, source: 'provider' });
  });

  it('applies overrides: custom models, aliases, discounts and dated prices', () => {
    const pricer = new Pricer({
      overrides: {
        models: [
          { provider: 'vllm', model: 'meta-llama/*', prices: { input_mtok: 0.1, output_mtok: 0.2 } },
          {
            provider: 'openai',
            model: 'ft:gpt-4o-mini-2024-07-18:acme::abc123',
            prices: { input_mtok: 0.3, output_mtok: 1.2, cache_read_mtok: 0.15 },
          },
          {
            provider: 'openai',
            model: 'gpt-4o-mini',
            prices: { input_mtok: 1, output_mtok: 1 },
            from: '2027-01-01',
          },
        ],
        aliases: [{ provider: 'azure.ai.openai', alias: 'prod-gpt4o', model: 'gpt-4o' }],
        discounts: [{ provider: 'anthropic', percent: 20 }],
      },
    });
    const llama = pricer.price({
      provider: 'vllm',
      model: 'meta-llama/Llama-3.1-8B',
      usage: usage(1_000_000, 1_000_000),
      at: AT,
    });
    expect(llama).toMatchObject({ priced: true, pricingModel: 'override:vllm/meta-llama/Llama-3.1-8B' });
    if (llama.priced) expect(llama.amountUsd).toBeCloseTo(0.3, 12);
    const ft = pricer.price({
      provider: 'openai',
      model: 'ft:gpt-4o-mini-2024-07-18:acme::abc123',
      usage: usage(1_000_000, 0),
      at: AT,
    });
    if (ft.priced) expect(ft.amountUsd).toBeCloseTo(0.3, 12);
    else throw new Error(ft.reason);
    const azure = pricer.price({
      provider: 'azure.ai.openai',
      model: 'prod-gpt4o',
      usage: usage(1000, 100),
      at: AT,
    });
    expect(azure).toMatchObject({ priced: true, pricingModel: 'azure/gpt-4o' });
    const base = new Pricer().price({
      provider: 'anthropic',
      model: 'claude-sonnet-4-20250514',
      usage: usage(1000, 100),
      at: AT,
    });
    const discounted = pricer.price({
      provider: 'anthropic',
      model: 'claude-sonnet-4-20250514',
      usage: usage(1000, 100),
      at: AT,
    });
    if (!base.priced || !discounted.priced) throw new Error('unpriced');
    expect(discounted.amountUsd).toBeCloseTo(base.amountUsd * 0.8, 15);
    expect(sum(discounted.breakdown)).toBeCloseTo(discounted.amountUsd, 15);
    const before = pricer.price({
      provider: 'openai',
      model: 'gpt-4o-mini',
      usage: usage(1_000_000, 0),
      at: AT,
    });
    const after = pricer.price({
      provider: 'openai',
      model: 'gpt-4o-mini',
      usage: usage(1_000_000, 0),
      at: Date.parse('2027-02-01'),
    });
    if (!before.priced || !after.priced) throw new Error('unpriced');
    expect(before.amountUsd).toBeCloseTo(0.15, 12);
    expect(after.amountUsd).toBeCloseTo(1, 12);
  });

  it('reloads overrides at runtime', () => {
    const pricer = new Pricer();
    const call = { provider: 'vllm', model: 'llama3.2', usage: usage(1000, 1000), at: AT };
    expect(pricer.price(call).priced).toBe(false);
    pricer.setOverrides({
      models: [{ provider: 'vllm', model: 'llama3.2', prices: { input_mtok: 0, output_mtok: 0 } }],
    });
    expect(pricer.price(call)).toMatchObject({ priced: true, amountUsd: 0 });
  });

  it('rejects malformed overrides files naming the file and the path', () => {
    const file = path.join(os.tmpdir(), `tokenmeter-prices-${process.pid}.yaml`);
    writeFileSync(
      file,
      'models:\n  - provider: openai\n    model: x\n    prices: { input_mtok: -1, output_mtok: 2 }\n    colour: red\n',
    );
    expect(() => loadOverridesFile(file)).toThrow(OverridesError);
    try {
      loadOverridesFile(file);
    } catch (error) {
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toContain('models.0.prices.input_mtok');
      expect((error as Error).message).toMatch(/colour/);
    }
  });

  it('converts display currencies with configured rates only', () => {
    expect(convertCurrency(10, 'EUR', { EUR: 0.92 })).toBeCloseTo(9.2, 12);
    expect(convertCurrency(10, 'JPY', { EUR: 0.92 })).toBeUndefined();
  });
});

describe('provider usage wire formats', () => {
  it('reads OpenAI, Anthropic and Gemini usage into the conventions shape', () => {
    expect(
      fromOpenAIChat({
        prompt_tokens: 1200,
        completion_tokens: 300,
        prompt_tokens_details: { cached_tokens: 1000 },
        completion_tokens_details: { reasoning_tokens: 100 },
      }),
    ).toMatchObject({
      inputTokens: 1200,
      cacheReadInputTokens: 1000,
      outputTokens: 300,
      reasoningOutputTokens: 100,
    });
    expect(
      fromAnthropic({
        input_tokens: 50,
        cache_read_input_tokens: 8000,
        cache_creation_input_tokens: 2000,
        output_tokens: 400,
      }),
    ).toMatchObject({
      inputTokens: 10050,
      cacheReadInputTokens: 8000,
      cacheWriteInputTokens: 2000,
    });
    expect(
      fromGemini({
        promptTokenCount: 5000,
        cachedContentTokenCount: 4000,
        candidatesTokenCount: 200,
        thoughtsTokenCount: 300,
        totalTokenCount: 5500,
      }),
    ).toMatchObject({
      inputTokens: 5000,
      cacheReadInputTokens: 4000,
      outputTokens: 500,
      reasoningOutputTokens: 300,
    });
    expect(
      usageFromProvider('aws.bedrock', { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 90 }),
    ).toMatchObject({ inputTokens: 100 });
  });

  it('rejects negative, NaN, string and inconsistent counts with a message', () => {
    expect(() => fromOpenAIChat({ prompt_tokens: -1 })).toThrow(/prompt_tokens/);
    expect(() => fromOpenAIChat({ prompt_tokens: '12' })).toThrow(/non-negative integer/);
    expect(() => fromOpenAIChat({ prompt_tokens: 10, prompt_tokens_details: { cached_tokens: 50 } })).toThrow(
      /exceed/,
    );
    expect(() => usageFromProvider('openai', null)).toThrow(/object/);
  });
});

describe('service tiers and reloading', () => {
  it('prices batch and flex at half the standard price and leaves priority unpriced', () => {
    const pricer = new Pricer();
    const call = { provider: 'openai', model: 'gpt-4o', usage: usage(10_000, 1000), at: AT };
    const standard = pricer.price({ ...call, serviceTier: 'default' });
    const flex = pricer.price({ ...call, serviceTier: 'flex' });
    if (!standard.priced || !flex.priced) throw new Error('unpriced');
    expect(flex.amountUsd).toBeCloseTo(standard.amountUsd / 2, 15);
    expect(pricer.price({ ...call, serviceTier: 'priority' }).priced).toBe(false);
  });

  it('reloads prices when the overrides file changes', async () => {
    const { watchOverridesFile } = await import('../src/index.js');
    const file = path.join(os.tmpdir(), `tokenmeter-watch-${process.pid}.yaml`);
    writeFileSync(file, 'models: []\n');
    const pricer = new Pricer();
    const call = { provider: 'vllm', model: 'llama3.2', usage: usage(1_000_000, 0), at: AT };
    const errors: Error[] = [];
    const stop = watchOverridesFile(
      file,
      (overrides) => pricer.setOverrides(overrides),
      (error) => errors.push(error),
    );
    try {
      expect(pricer.price(call).priced).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 50));
      writeFileSync(
        file,
        'models:\n  - { provider: vllm, model: llama3.2, prices: { input_mtok: 0.05, output_mtok: 0.05 } }\n',
      );
      const deadline = Date.now() + 5000;
      while (!pricer.price(call).priced && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(pricer.price(call)).toMatchObject({ priced: true, amountUsd: expect.closeTo(0.05, 12) });
      writeFileSync(file, 'models: [{ provider: vllm }]\n');
      const errorDeadline = Date.now() + 5000;
      while (errors.length === 0 && Date.now() < errorDeadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(errors[0]?.message).toContain(file);
      expect(pricer.price(call).priced).toBe(true);
    } finally {
      stop();
    }
  });
});

describe('units beyond text tokens', () => {
  it('prices image and audio tokens through the catalog, with a breakdown that adds up', () => {
    const pricer = new Pricer();
    const image = pricer.price({
      provider: 'openai',
      model: 'gpt-image-1',
      usage: usage(50, 4160, { units: { input_image_tokens: 0, output_image_tokens: 4160, images: 1 } }),
      at: AT,
    });
    if (!image.priced) throw new Error(image.reason);
    const expected = calcPrice(
      { input_tokens: 50, output_tokens: 4160, input_image_tokens: 0, output_image_tokens: 4160 },
      'gpt-image-1',
      { providerId: 'openai', timestamp: new Date(AT) },
    );
    expect(image.amountUsd).toBeCloseTo(expected!.total_price, 12);
    expect(sum(image.breakdown)).toBeCloseTo(image.amountUsd, 12);

    const audio = pricer.price({
      provider: 'gcp.gemini',
      model: 'gemini-2.5-flash',
      usage: usage(10_000, 500, { units: { input_audio_tokens: 8000 } }),
      at: AT,
    });
    if (!audio.priced) throw new Error(audio.reason);
    const audioExpected = calcPrice(
      { input_tokens: 10_000, output_tokens: 500, input_audio_tokens: 8000 },
      'gemini-2.5-flash',
      { providerId: 'google', timestamp: new Date(AT) },
    );
    expect(audio.amountUsd).toBeCloseTo(audioExpected!.total_price, 12);
    expect(sum(audio.breakdown)).toBeCloseTo(audio.amountUsd, 12);
  });
});

describe('calls billed in units the catalog does not price', () => {
  it('reports per-image and per-character billing as unpriced, not $0', () => {
    const pricer = new Pricer();
    const dalle = pricer.price({
      provider: 'openai',
      model: 'dall-e-3',
      usage: usage(0, 0, { units: { images: 2 } }),
      at: AT,
    });
    expect(dalle).toMatchObject({ priced: false, reason: expect.stringContaining('images') });
    const speech = pricer.price({
      provider: 'openai',
      model: 'gpt-4o-mini-tts',
      usage: usage(0, 0, { units: { input_characters: 40 } }),
      at: AT,
    });
    expect(speech).toMatchObject({ priced: false, reason: expect.stringContaining('input_characters') });
  });
});
