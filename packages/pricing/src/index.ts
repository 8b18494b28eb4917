export { catalogProviderId, normalizeModel } from './catalog-ids.js';
export { OverridesError } from './errors.js';
export {
  loadOverridesFile,
  type PriceOverrides,
  validateOverrides,
  watchOverridesFile,
} from './overrides.js';
export {
  CATALOG_VERSION,
  COST_TYPES,
  type CostType,
  convertCurrency,
  type Priced,
  type PriceRequest,
  type PriceResult,
  Pricer,
  type PricerOptions,
  type Unpriced,
} from './pricer.js';
export {
  fromAnthropic,
  fromBedrockConverse,
  fromGemini,
  fromOpenAIChat,
  fromOpenAIResponses,
  type TokenUsage,
  UsageError,
  usageFromProvider,
} from './usage.js';
