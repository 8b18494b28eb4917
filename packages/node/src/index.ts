export {
  type AttributionValues,
  currentAttributes,
  expressAttribution,
  fastifyAttribution,
  OTHER_VALUE,
  setAttributes,
  withAttributes,
} from './attribution.js';
export { ConfigError, configSchema, loadConfig, parseConfig, type TokenmeterConfig } from './config.js';
export type { ManualCall, ManualCost } from './manual.js';
export {
  record,
  recordCost,
  type StartOptions,
  start,
  type Tokenmeter,
  tokenmeterInstrumentations,
} from './start.js';
