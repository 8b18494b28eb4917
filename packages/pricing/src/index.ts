export { normalizeModel, catalogProviderId } from './catalog-ids.js';
export {
  loadOverridesFile,
  OverridesError,
  type PriceOverrides,
  validateOverrides,
} from './overrides.js';
export {
  CATALOG_VERSION,
  COST_TYPES,
  convertCurrency,
  type CostType,
  type Priced,
  Pricer,
  type PricerOptions,
  type PriceRequest,
  type PriceResult,
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
