import type { MockRequest } from './provider.js';

/** Placeholder until the mistral wire format is implemented. */
export function mistralRoute(_mock: MockRequest): boolean {
  return false;
}
