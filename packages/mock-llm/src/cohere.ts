import type { MockRequest } from './provider.js';

/** Placeholder until the cohere wire format is implemented. */
export function cohereRoute(_mock: MockRequest): boolean {
  return false;
}
