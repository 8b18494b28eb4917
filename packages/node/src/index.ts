export { type StartOptions, start, type Tokenmeter } from './start.js';
