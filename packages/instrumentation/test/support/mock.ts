export { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';

/** Per-request options that steer the mock: a scenario and/or the exact usage object to return. */
export function mock(options: { scenario?: string; usage?: unknown } = {}): {
  headers: Record<string, string>;
} {
  const headers: Record<string, string> = {};
  if (options.scenario) headers['x-mock-scenario'] = options.scenario;
  if (options.usage !== undefined) headers['x-mock-usage'] = JSON.stringify(options.usage);
  return { headers };
}

/** Strips what differs between two otherwise identical responses (ids, timestamps). */
export function withoutVolatile(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, field) =>
    key === 'id' || key === 'created' || key === 'created_at' || key === 'system_fingerprint'
      ? undefined
      : field,
  );
}
