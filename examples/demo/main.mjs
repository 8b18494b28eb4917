// The demo app. Nothing in it knows about Tokenmeter except the summary at the end, which reads the
// Prometheus endpoint the one require serves — exactly what Prometheus would scrape.
import { startMockLlmServer } from '@tokenmeter/mock-llm';
import { CALLS_PER_ROUND, runWorkload } from './app.mjs';

const keepServing = process.argv.includes('--serve');
const metricsUrl = `http://${process.env.OTEL_EXPORTER_PROMETHEUS_HOST}:${process.env.OTEL_EXPORTER_PROMETHEUS_PORT}/metrics`;
// MOCK_LLM_URL: use a mock that outlives the app (as a provider does), for restart tests.
const mock = process.env.MOCK_LLM_URL
  ? { url: process.env.MOCK_LLM_URL, close: async () => {} }
  : await startMockLlmServer();
console.log(
  `mock LLM APIs (OpenAI, Anthropic, Gemini, Bedrock) on ${mock.url} (loopback); metrics on ${metricsUrl}`,
);

let calls = 0;
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
const total = rounds * CALLS_PER_ROUND;
const progress = () => {
  calls++;
  const width = 30;
  const done = Math.round((calls / total) * width);
  const bar = `  [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${calls}/${total} calls`;
  // Redraw in place on a terminal; in a log, one line per quarter.
  if (process.stdout.isTTY) process.stdout.write(`\r${bar}`);
  else if (calls % Math.ceil(total / 4) === 0 || calls === total) process.stdout.write(`${bar}\n`);
};
await runWorkload({ openaiBaseURL: `${mock.url}/v1`, anthropicBaseURL: mock.url, rounds, onCall: progress });
process.stdout.write('\n');

// Summary from the exposition format: tokens by type and spend per provider and model.
const exposition = await (await fetch(metricsUrl)).text();
const rows = new Map();
for (const line of exposition.split('\n')) {
  const match = /^(tokenmeter_tokens_total|tokenmeter_cost_usd_total)\{(.*)\} (\S+)$/.exec(line);
  if (!match) continue;
  const labels = Object.fromEntries([...match[2].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const key = `${labels.gen_ai_provider_name} ${labels.gen_ai_request_model}`;
  const row = rows.get(key) ?? { input: 0, cache_read: 0, cache_write: 0, output: 0, reasoning: 0, usd: 0 };
  if (match[1] === 'tokenmeter_tokens_total') row[labels.token_type] += Number(match[3]);
  else row.usd += Number(match[3]);
  rows.set(key, row);
}
console.log('\nSpend and tokens per provider and model (from the /metrics endpoint):');
console.table(
  [...rows].map(([model, r]) => ({
    'provider model': model,
    'input (uncached)': r.input,
    'cache read': r.cache_read,
    'cache write': r.cache_write,
    output: r.output,
    reasoning: r.reasoning,
    'cost USD': r.usd.toFixed(6),
  })),
);
const totalUsd = [...rows.values()].reduce((sum, r) => sum + r.usd, 0);
console.log(`total: $${totalUsd.toFixed(6)}`);

// Spend by tenant and feature: the attribution labels on tokenmeter_cost_usd_total.
const byTenant = new Map();
for (const line of exposition.split('\n')) {
  const match = /^tokenmeter_cost_usd_total\{(.*)\} (\S+)$/.exec(line);
  if (!match) continue;
  const tenant = /tenant="([^"]*)"/.exec(match[1])?.[1] ?? '(none)';
  const feature = /feature="([^"]*)"/.exec(match[1])?.[1] ?? '(none)';
  const row = byTenant.get(tenant) ?? {};
  row[feature] = (row[feature] ?? 0) + Number(match[2]);
  byTenant.set(tenant, row);
}
console.log('\nSpend (USD) by tenant and feature:');
console.table(
  Object.fromEntries(
    [...byTenant].map(([tenant, features]) => [
      tenant,
      Object.fromEntries(Object.entries(features).map(([feature, usd]) => [feature, usd.toFixed(6)])),
    ]),
  ),
);
console.log(`\nPrometheus can scrape ${metricsUrl}; for example:`);
for (const line of exposition
  .split('\n')
  .filter((l) => l.startsWith('tokenmeter_cost_usd_total{'))
  .slice(0, 3)) {
  console.log(`  ${line}`);
}

if (keepServing) {
  console.log('\nServing /metrics until Ctrl-C (see README: point a Prometheus scrape job at it).');
} else {
  await mock.close();
  process.exit(0);
}
