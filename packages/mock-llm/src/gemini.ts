import type { MockRequest } from './provider.js';

/** Placeholder until the gemini wire format is implemented. */
export function geminiRoute(_mock: MockRequest): boolean {
  return false;
}
