import type { MockRequest } from './provider.js';

/** Placeholder until the bedrock wire format is implemented. */
export function bedrockRoute(_mock: MockRequest): boolean {
  return false;
}
