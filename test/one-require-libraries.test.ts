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

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Every sample of `name` in a Prometheus text exposition. */
function samples(metrics: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    for (const match of line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g))
      labels[match[1]!] = match[2]!;
    found.push({ labels, value: Number(line.split(' ').at(-1)) });
  }
  return found;
}

const sum = (list: Sample[], match: Record<string, string>) =>
  list
    .filter((sample) => Object.entries(match).every(([key, value]) => sample.labels[key] === value))
    .reduce((total, sample) => total + sample.value, 0);

async function runApp(args: string[]): Promise<string> {
  const { metrics, stop } = await runMeteredApp(appDir, args, mock.url);
  stop();
  return metrics;
}

/** provider, model, operation of each call the app makes, once each. */
const EXPECTED_CALLS = [
  ['groq', 'llama-3.3-70b-versatile', 'chat'],
  ['ollama', 'llama3.2', 'chat'],
  ['openai', 'gpt-4.1-mini', 'chat'],
  ['openai', 'gpt-4.1-nano', 'chat'],
  ['gcp.gemini', 'gemini-2.5-flash', 'generate_content'],
  ['aws.bedrock', 'us.anthropic.claude-3-7-sonnet-20250219-v1:0', 'chat'],
  ['mistral_ai', 'mistral-small-latest', 'chat'],
  ['cohere', 'command-a-03-2025', 'chat'],
  ['in_house', 'house-model-1', 'chat'],
] as const;

describe('the one require in an app using every supported library', () => {
  it('meters each call exactly once, under its provider, with tokens and cost', async () => {
    const metrics = await runApp(['--import', '@tokenmeter/node/register', 'libraries.mjs']);
    const calls = samples(metrics, 'tokenmeter_calls_total');
    const tokens = samples(metrics, 'tokenmeter_tokens_total');
    const cost = samples(metrics, 'tokenmeter_cost_usd_total');
    const unpriced = samples(metrics, 'tokenmeter_unpriced_tokens_total');
    for (const [provider, model, operation] of EXPECTED_CALLS) {
      const call = {
        gen_ai_provider_name: provider,
        gen_ai_request_model: model,
        gen_ai_operation_name: operation,
      };
      expect(sum(calls, { ...call, outcome: 'ok' }), `${provider} ${model}`).toBe(1);
      expect(sum(tokens, { ...call, token_type: 'input' }), `${provider} ${model} input`).toBeGreaterThan(0);
      expect(sum(tokens, { ...call, token_type: 'output' }), `${provider} ${model} output`).toBeGreaterThan(
        0,
      );
      // Ollama runs on the user's machine: priced at $0 (self-hosted); the in-house model has no
      // price (its tokens are counted as unpriced); every other one costs more than $0.
      if (provider === 'ollama') expect(sum(cost, call)).toBe(0);
      else if (provider === 'in_house') expect(sum(unpriced, { gen_ai_provider_name: provider })).toBe(15);
      else expect(sum(cost, call), `${provider} ${model} cost`).toBeGreaterThan(0);
    }
    expect(cost.some((s) => s.labels.gen_ai_provider_name === 'ollama')).toBe(true);
    // Nothing else was counted: no second count of a framework call, no other unpriced model.
    expect(sum(calls, {})).toBe(EXPECTED_CALLS.length);
    expect(unpriced.filter((s) => s.value > 0 && s.labels.gen_ai_provider_name !== 'in_house')).toEqual([]);
    expect(metrics).not.toMatch(/app[-_]secret|AKIDAPPSECRET/);
  });
});
