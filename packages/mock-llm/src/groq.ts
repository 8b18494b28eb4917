import type { MockRequest } from './provider.js';

/** Placeholder until the groq wire format is implemented. */
export function groqRoute(_mock: MockRequest): boolean {
  return false;
}
