import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlmServer, startMockLlmServer } from './support/mock.js';

const run = promisify(execFile);
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
let server: MockLlmServer;

beforeAll(async () => {
  server = await startMockLlmServer();
});
afterAll(async () => {
  await server.close();
});

async function node(args: string[], env: Record<string, string> = {}): Promise<any> {
  const { stdout } = await run(process.execPath, args, {
    cwd: fixtures,
    env: { ...process.env, MOCK_URL: server.url, ...env },
    timeout: 20_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('loading the SDK in an app', () => {
  it('instruments an SDK loaded with import (ESM, --import)', async () => {
    const output = await node(['--import', './esm-register.mjs', 'esm-app.mjs']);
    expect(output.total).toBeGreaterThan(0);
    expect(output.spans).toHaveLength(1);
    expect(output.spans[0].name).toBe('chat gpt-4o-mini');
    expect(output.spans[0].attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  });

  it('instruments an SDK loaded with require (CommonJS, -r)', async () => {
    const output = await node(['-r', './telemetry.cjs', 'cjs-app.cjs']);
    expect(output.spans).toHaveLength(1);
    expect(output.spans[0].attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(output.spans[0].attributes['gen_ai.provider.name']).toBe('openai');
  });

  it('keeps an unawaited failing call an unhandled rejection, as without Tokenmeter', async () => {
    const without = await node(['-r', './telemetry.cjs', 'fire-and-forget-error.cjs'], {
      TOKENMETER_TEST_INSTRUMENT: 'off',
    });
    const withTm = await node(['-r', './telemetry.cjs', 'fire-and-forget-error.cjs']);
    expect(without.spans).toBe(0);
    expect(withTm.spans).toBe(1);
    expect(without.events).toEqual(['unhandledRejection:InternalServerError']);
    expect(withTm.events).toEqual(without.events);
  });
});
