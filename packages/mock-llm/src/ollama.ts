import type { MockRequest } from './provider.js';

/** Placeholder until the ollama wire format is implemented. */
export function ollamaRoute(_mock: MockRequest): boolean {
  return false;
}
