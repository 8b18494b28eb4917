export {
  type AttributionValues,
  currentAttributes,
  expressAttribution,
  fastifyAttribution,
  OTHER_VALUE,
  setAttributes,
  withAttributes,
} from './attribution.js';
export { type StartOptions, start, type Tokenmeter } from './start.js';
