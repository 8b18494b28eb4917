import { createRequire } from 'node:module';
import type { calcPrice as CalcPrice, ModelPrice, TieredPrices } from '@pydantic/genai-prices';
import { catalogProviderId, isFineTuned, isSelfHosted, normalizeModel } from './catalog-ids.js';
import {
  type ModelPrices,
  type PriceOverrides,
  type ValidOverrides,
  validateOverrides,
} from './overrides.js';
import type { TokenUsage } from './usage.js';

export type CostType = 'input' | 'output' | 'cache_read' | 'cache_write' | 'reasoning' | 'other';
export const COST_TYPES: readonly CostType[] = [
  'input',
  'output',
  'cache_read',
  'cache_write',
  'reasoning',
  'other',
];

export interface PriceRequest {
  /** `gen_ai.provider.name`. */
  provider: string;
  /** The model as the SDK reported it (request model; the response model is often a dated snapshot). */
  model: string;
  usage: TokenUsage;
  /** Cost the provider reported itself (OpenRouter `usage.cost`): used as is when present. */
  providerCostUsd?: number | undefined;
  /** When the call happened (prices change over time); default now. */
  at?: Date | number | undefined;
  /**
   * The service tier the provider says it served (`default`, `flex`, `batch`, `priority`, …).
   * Batch and flex cost half the standard price at OpenAI and Anthropic; priority is not in the
   * catalog, so it is reported unpriced rather than at a wrong (standard) price.
   */
  serviceTier?: string | undefined;
}

/** Service tiers priced as a fraction of the standard price; tiers not listed are standard. */
const TIER_FACTORS: Record<string, number> = { flex: 0.5, batch: 0.5 };
const UNPRICED_TIERS = new Set(['priority', 'scale']);

export interface Priced {
  priced: true;
  amountUsd: number;
  currency: 'USD';
  source: 'local' | 'provider';
  /** By cost type; sums to `amountUsd`. */
  breakdown: Record<CostType, number>;
  /** The catalog entry (or override) that priced it, `provider/model`. */
  pricingModel: string;
  /** Where the prices came from: the catalog package version, or `override`. */
  priceVersion: string;
}

export interface Unpriced {
  priced: false;
  reason: string;
}

export type PriceResult = Priced | Unpriced;

export interface PricerOptions {
  overrides?: PriceOverrides | undefined;
}

// The catalog (~7 MiB of prices) loads on the first price, not at import.
const requireHere = createRequire(import.meta.url);
let catalogCalcPrice: typeof CalcPrice | undefined;
function calcPrice(...args: Parameters<typeof CalcPrice>): ReturnType<typeof CalcPrice> {
  catalogCalcPrice ??= (requireHere('@pydantic/genai-prices') as { calcPrice: typeof CalcPrice }).calcPrice;
  return catalogCalcPrice(...args);
}

/** The catalog's package version, reported as the price version. */
export const CATALOG_VERSION = 'genai-prices@0.1.8';

interface Resolution {
  /** Per-million (and per-thousand for counts) prices, possibly tiered. */
  prices: ModelPrice;
  pricingModel: string;
  priceVersion: string;
  /** Multiplier from a negotiated discount (1 = none). */
  factor: number;
  /** Prices keyed differently than the fast path knows: priced through the catalog every time. */
  slowPath: boolean;
  catalogProvider: string | undefined;
  catalogModel: string;
}

type Resolved = Resolution | { unpriced: string };

/** The price keys the fast path computes; any other key with usage goes through the catalog. */
const FAST_KEYS = new Set([
  'input_mtok',
  'output_mtok',
  'cache_read_mtok',
  'cache_write_mtok',
  'cache_write_1h_mtok',
  'web_searches_kcount',
  'storage_searches_kcount',
]);

/**
 * Prices calls. Lookups of a (provider, model) pair are memoized per minute of call time (the
 * catalog has date- and time-of-day-dependent prices), so pricing a call is a few Map reads and
 * some arithmetic; the catalog's matching runs once per pair per minute.
 */
export class Pricer {
  private overrides: ValidOverrides;
  private readonly memo = new Map<string, Map<string, { minute: number; resolved: Resolved }>>();

  constructor(options: PricerOptions = {}) {
    this.overrides = validateOverrides(options.overrides);
  }

  /** Replaces the overrides (runtime reload); takes effect for the next call priced. */
  setOverrides(overrides: PriceOverrides): void {
    this.overrides = validateOverrides(overrides);
    this.memo.clear();
  }

  price(request: PriceRequest): PriceResult {
    const { usage } = request;
    if (request.providerCostUsd !== undefined) {
      if (!(Number.isFinite(request.providerCostUsd) && request.providerCostUsd >= 0)) {
        return {
          priced: false,
          reason: `provider-reported cost is not a non-negative number: ${request.providerCostUsd}`,
        };
      }
      return {
        priced: true,
        amountUsd: request.providerCostUsd,
        currency: 'USD',
        source: 'provider',
        breakdown: {
          input: 0,
          output: 0,
          cache_read: 0,
          cache_write: 0,
          reasoning: 0,
          other: request.providerCostUsd,
        },
        pricingModel: `${request.provider}/${request.model}`,
        priceVersion: 'provider',
      };
    }
    const unpricedUnit = unitWithoutPrice(usage);
    if (unpricedUnit) {
      return {
        priced: false,
        reason: `billed in ${unpricedUnit}, which the catalog does not price: add a price override`,
      };
    }
    const tier = request.serviceTier;
    if (tier !== undefined && UNPRICED_TIERS.has(tier)) {
      return { priced: false, reason: `the ${tier} service tier has no catalog price: add a price override` };
    }
    const tierFactor = tier === undefined ? 1 : (TIER_FACTORS[tier] ?? 1);
    const at =
      request.at === undefined
        ? Date.now()
        : typeof request.at === 'number'
          ? request.at
          : request.at.getTime();
    const resolved = this.resolve(request.provider, request.model, at);
    if ('unpriced' in resolved) return { priced: false, reason: resolved.unpriced };
    const breakdown = resolved.slowPath
      ? catalogBreakdown(resolved, usage, at)
      : fastBreakdown(resolved.prices, usage);
    if (!breakdown)
      return { priced: false, reason: `the catalog cannot price this usage for ${resolved.pricingModel}` };
    let amount = 0;
    for (const type of COST_TYPES) {
      breakdown[type] *= resolved.factor * tierFactor;
      amount += breakdown[type];
    }
    return {
      priced: true,
      amountUsd: amount,
      currency: 'USD',
      source: 'local',
      breakdown,
      pricingModel: resolved.pricingModel,
      priceVersion: resolved.priceVersion,
    };
  }

  private resolve(provider: string, model: string, at: number): Resolved {
    const minute = Math.floor(at / 60_000);
    let byModel = this.memo.get(provider);
    if (!byModel) {
      byModel = new Map();
      this.memo.set(provider, byModel);
    }
    const cached = byModel.get(model);
    if (cached && cached.minute === minute) return cached.resolved;
    const resolved = this.resolveUncached(provider, model, at);
    if (byModel.size > 10_000) byModel.clear();
    byModel.set(model, { minute, resolved });
    return resolved;
  }

  private resolveUncached(provider: string, reportedModel: string, at: number): Resolved {
    const alias = this.overrides.aliases.find(
      (entry) => entry.provider === provider && entry.alias === reportedModel,
    );
    const model = normalizeModel(alias?.model ?? reportedModel);
    const factor = this.discountFactor(provider, model, at);
    const override = this.modelOverride(provider, model, at);
    if (override) {
      return {
        prices: override as unknown as ModelPrice,
        pricingModel: `override:${provider}/${model}`,
        priceVersion: 'override',
        factor,
        slowPath: false,
        catalogProvider: undefined,
        catalogModel: model,
      };
    }
    if (isFineTuned(model)) {
      return { unpriced: `fine-tuned model ${model} costs more than its base model: add a price override` };
    }
    if (isSelfHosted(provider)) {
      // Models served on the user's own hardware have no per-token price: $0, said so on the span
      // (`self-hosted:…`), and an override still sets a price (GPU hours spread over tokens, say).
      return {
        prices: { input_mtok: 0, output_mtok: 0 } as ModelPrice,
        pricingModel: `self-hosted:${provider}/${model}`,
        priceVersion: 'self-hosted',
        factor: 1,
        slowPath: false,
        catalogProvider: undefined,
        catalogModel: model,
      };
    }
    const catalogProvider = catalogProviderId(provider);
    if (!catalogProvider) {
      return {
        unpriced: `provider ${provider} is not in the price catalog: add a price override for ${model}`,
      };
    }
    let found: ReturnType<typeof calcPrice>;
    try {
      const lookup = (id: string) =>
        calcPrice({ input_tokens: 1, output_tokens: 1 }, id, {
          providerId: catalogProvider,
          timestamp: new Date(at),
        });
      found = lookup(model);
      // Gateways name models `<provider>/<model>` (Vercel AI Gateway: `openai/gpt-5`); when the
      // prefix is the provider itself, the rest is the provider's own id.
      const unprefixed = withoutOwnPrefix(model, catalogProvider);
      if (!found && unprefixed) found = lookup(unprefixed);
    } catch (error) {
      return { unpriced: `price catalog error for ${provider}/${model}: ${(error as Error).message}` };
    }
    if (!found) return { unpriced: `model ${model} of provider ${provider} is not in the price catalog` };
    const prices = found.model_price;
    return {
      prices,
      pricingModel: `${found.provider.id}/${found.model.id}`,
      priceVersion: CATALOG_VERSION,
      factor,
      slowPath: Object.keys(prices).some((key) => prices[key] !== undefined && !FAST_KEYS.has(key)),
      catalogProvider,
      catalogModel: model,
    };
  }

  private modelOverride(provider: string, model: string, at: number): ModelPrices | undefined {
    let best: { from: number; prices: ModelPrices } | undefined;
    for (const entry of this.overrides.models) {
      if (entry.provider !== provider) continue;
      const matches = entry.model.endsWith('*')
        ? model.startsWith(entry.model.slice(0, -1))
        : entry.model === model;
      if (!matches) continue;
      const from = entry.from ? Date.parse(entry.from) : Number.NEGATIVE_INFINITY;
      if (from <= at && (!best || from >= best.from)) best = { from, prices: entry.prices };
    }
    return best?.prices;
  }

  private discountFactor(provider: string, model: string, at: number): number {
    let factor = 1;
    for (const discount of this.overrides.discounts) {
      if (discount.provider !== provider) continue;
      if (discount.model !== undefined && discount.model !== model) continue;
      if (discount.from !== undefined && Date.parse(discount.from) > at) continue;
      factor *= 1 - discount.percent / 100;
    }
    return factor;
  }
}

function tieredPrice(price: number | TieredPrices | undefined, inputTokens: number): number | undefined {
  if (price === undefined || typeof price === 'number') return price;
  // Tiers apply to the whole request once its input crosses the threshold (as the catalog computes).
  let value = price.base;
  for (const tier of price.tiers) if (inputTokens > tier.start) value = tier.price;
  return value;
}

/**
 * The breakdown computed directly from the resolved prices, the way the catalog does: input is
 * uncached input, cache reads/writes fall back to the input price when the model has no separate
 * one, reasoning is billed at the output price.
 */
/** `openai/gpt-5` under provider `openai` → `gpt-5`; `xai/grok-4` under `x-ai` → `grok-4`; otherwise undefined. */
function withoutOwnPrefix(model: string, catalogProvider: string): string | undefined {
  const slash = model.indexOf('/');
  if (slash <= 0) return undefined;
  const squash = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return squash(model.slice(0, slash)) === squash(catalogProvider) ? model.slice(slash + 1) : undefined;
}

function fastBreakdown(prices: ModelPrice, usage: TokenUsage): Record<CostType, number> {
  const total = usage.inputTokens;
  const input = tieredPrice(prices.input_mtok, total) ?? 0;
  const output = tieredPrice(prices.output_mtok, total) ?? 0;
  const cacheRead = tieredPrice(prices.cache_read_mtok, total) ?? input;
  const cacheWrite = tieredPrice(prices.cache_write_mtok, total) ?? input;
  const cacheWrite1h = tieredPrice(prices.cache_write_1h_mtok, total) ?? cacheWrite;
  const oneHourWrites = Math.min(usage.units?.cache_write_1h_input_tokens ?? 0, usage.cacheWriteInputTokens);
  const uncached = usage.inputTokens - usage.cacheReadInputTokens - usage.cacheWriteInputTokens;
  const searches = usage.units?.web_search_requests ?? 0;
  const searchPrice = tieredPrice(prices.web_searches_kcount, total) ?? 0;
  return {
    input: (uncached * input) / 1e6,
    output: ((usage.outputTokens - usage.reasoningOutputTokens) * output) / 1e6,
    cache_read: (usage.cacheReadInputTokens * cacheRead) / 1e6,
    cache_write:
      ((usage.cacheWriteInputTokens - oneHourWrites) * cacheWrite + oneHourWrites * cacheWrite1h) / 1e6,
    reasoning: (usage.reasoningOutputTokens * output) / 1e6,
    other: (searches * searchPrice) / 1e3,
  };
}

/**
 * For models with price keys beyond the fast path (audio, images, per-request fees): the catalog
 * prices the whole call; the token parts are computed as above and the rest is `other`.
 */
function catalogBreakdown(
  resolved: Resolution,
  usage: TokenUsage,
  at: number,
): Record<CostType, number> | undefined {
  const catalogUsage: Record<string, number> = {
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_read_tokens: usage.cacheReadInputTokens,
    cache_write_tokens: usage.cacheWriteInputTokens,
  };
  for (const key of CATALOG_UNIT_KEYS) {
    const value = usage.units?.[key];
    if (value !== undefined) catalogUsage[key] = value;
  }
  let result: ReturnType<typeof calcPrice>;
  try {
    result = calcPrice(catalogUsage, resolved.catalogModel, {
      providerId: resolved.catalogProvider,
      timestamp: new Date(at),
    });
  } catch {
    return undefined;
  }
  if (!result) return undefined;
  // The total is the catalog's; the split by type is the token arithmetic, scaled down when the
  // catalog prices some of those tokens lower (audio, images) so the parts still add up exactly.
  const parts = fastBreakdown(resolved.prices, usage);
  const tokens = parts.input + parts.cache_read + parts.cache_write + parts.output + parts.reasoning;
  if (tokens > result.total_price && tokens > 0) {
    const scale = result.total_price / tokens;
    for (const type of ['input', 'output', 'cache_read', 'cache_write', 'reasoning'] as const)
      parts[type] *= scale;
    parts.other = 0;
  } else {
    parts.other = result.total_price - tokens;
  }
  return parts;
}

/**
 * A call billed only in units the catalog has no price for (images counted per image, speech per
 * character) would otherwise come out at $0 from its zero tokens: report it unpriced instead.
 */
function unitWithoutPrice(usage: TokenUsage): string | undefined {
  if (!usage.units || usage.inputTokens + usage.outputTokens > 0) return undefined;
  for (const [unit, value] of Object.entries(usage.units)) {
    if (value > 0 && !(CATALOG_UNIT_KEYS as readonly string[]).includes(unit)) return unit;
  }
  return undefined;
}

/** Usage units the catalog prices besides text tokens (its own usage key names). */
const CATALOG_UNIT_KEYS = [
  'input_audio_tokens',
  'output_audio_tokens',
  'cache_audio_read_tokens',
  'input_image_tokens',
  'output_image_tokens',
  'audio_seconds',
] as const;

/** Converts a USD amount for display with configured rates (USD → currency); no network. */
export function convertCurrency(
  amountUsd: number,
  currency: string,
  rates: Record<string, number>,
): number | undefined {
  if (currency === 'USD') return amountUsd;
  const rate = rates[currency];
  return rate !== undefined && Number.isFinite(rate) && rate > 0 ? amountUsd * rate : undefined;
}
