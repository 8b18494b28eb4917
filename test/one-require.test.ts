import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeteredApp } from './support/processes.js';

const appDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'one-require');
let mock: MockLlmServer;
beforeAll(async () => {
  mock = await startMockLlmServer();
});
afterAll(async () => {
  await mock.close();
});

const runApp = (args: string[]) => runMeteredApp(appDir, args, mock.url);

/** The value of the one sample whose labels include all of `labels`. */
function sample(metrics: string, name: string, labels: Record<string, string>): number {
  const lines = metrics
    .split('\n')
    .filter(
      (line) =>
        line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)),
    );
  if (lines.length !== 1) throw new Error(`${lines.length} samples of ${name} ${JSON.stringify(labels)}`);
  return Number(lines[0]!.split(' ').at(-1));
}

describe.each([
  ['an ESM app with --import', ['--import', '@tokenmeter/node/register', 'app.mjs']],
  ['a CommonJS app with -r', ['-r', '@tokenmeter/node/register', 'app.cjs']],
])('the one require in %s', (_name, args) => {
  it('serves the contract metrics with values that match the calls made', async () => {
    const { metrics, stop } = await runApp(args);
    try {
      const openai = {
        gen_ai_provider_name: 'openai',
        gen_ai_request_model: 'gpt-4o-mini',
        gen_ai_operation_name: 'chat',
      };
      // 4 calls × (1200 input of which 1000 cached; 300 output of which 100 reasoning).
      expect(sample(metrics, 'tokenmeter_calls_total', { ...openai, outcome: 'ok' })).toBe(4);
      expect(sample(metrics, 'tokenmeter_tokens_total', { ...openai, token_type: 'input' })).toBe(800);
      expect(sample(metrics, 'tokenmeter_tokens_total', { ...openai, token_type: 'cache_read' })).toBe(4000);
      expect(sample(metrics, 'tokenmeter_tokens_total', { ...openai, token_type: 'output' })).toBe(800);
      expect(sample(metrics, 'tokenmeter_tokens_total', { ...openai, token_type: 'reasoning' })).toBe(400);
      // gpt-4o-mini: $0.15/M input, $0.075/M cached, $0.60/M output.
      expect(sample(metrics, 'tokenmeter_cost_usd_total', { ...openai, cost_type: 'input' })).toBeCloseTo(
        (800 * 0.15) / 1e6,
        12,
      );
      expect(
        sample(metrics, 'tokenmeter_cost_usd_total', { ...openai, cost_type: 'cache_read' }),
      ).toBeCloseTo((4000 * 0.075) / 1e6, 12);
      expect(sample(metrics, 'tokenmeter_cost_usd_total', { ...openai, cost_type: 'reasoning' })).toBeCloseTo(
        (400 * 0.6) / 1e6,
        12,
      );
      const anthropic = {
        gen_ai_provider_name: 'anthropic',
        gen_ai_request_model: 'claude-sonnet-4-20250514',
        gen_ai_operation_name: 'chat',
      };
      expect(sample(metrics, 'tokenmeter_tokens_total', { ...anthropic, token_type: 'cache_write' })).toBe(
        4000,
      );
      expect(
        sample(metrics, 'tokenmeter_cost_usd_total', { ...anthropic, cost_type: 'cache_write' }),
      ).toBeCloseTo((4000 * 3.75) / 1e6, 12);
      expect(metrics).not.toContain('sk-app-secret');
      expect(metrics).not.toContain('otel_scope_name');
    } finally {
      stop();
    }
  });
});
