import { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';
import { afterAll, beforeAll, beforeEach } from 'vitest';

export { type MockLlmServer, startMockLlmServer };

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

/**
 * A mock server for one test file: started before its tests, stopped after, its recorded requests
 * and the spans cleared before each test. The returned object reads through to the running server.
 */
export function mockServerForSuite(telemetry: {
  reset(): void;
}): Pick<MockLlmServer, 'url' | 'port' | 'requests'> {
  let server: MockLlmServer | undefined;
  beforeAll(async () => {
    server = await startMockLlmServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    telemetry.reset();
    server!.requests.length = 0;
  });
  return {
    get url() {
      return server!.url;
    },
    get port() {
      return server!.port;
    },
    get requests() {
      return server!.requests;
    },
  };
}

/** Reads a whole stream, as an app's `for await` does. */
export async function collect(iterable: AsyncIterable<any>): Promise<any[]> {
  const items: any[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
