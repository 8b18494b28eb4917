import { startMockLlmServer } from '@tokenmeter/mock-llm';
import { runWorkload } from './app.mjs';
import { metricsUrl, spans } from './telemetry.mjs';

const keepServing = process.argv.includes('--serve');
const mock = await startMockLlmServer();
console.log(`mock OpenAI + Anthropic APIs on ${mock.url} (loopback)`);

let calls = 0;
const rounds = 3;
const total = rounds * 21;
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
process.stdout.write('\n\n');

// Summary of what Tokenmeter recorded, from its spans.
const rows = new Map();
for (const span of spans.getFinishedSpans()) {
  const a = span.attributes;
  if (a['gen_ai.provider.name'] === undefined) continue;
  const key = `${a['gen_ai.provider.name']} ${a['gen_ai.request.model']} (${a['gen_ai.operation.name']})`;
  const row = rows.get(key) ?? {
    calls: 0,
    input: 0,
    cacheRead: 0,
    cacheWrite: 0,
    output: 0,
    reasoning: 0,
    estimated: 0,
    usd: 0,
  };
  row.calls++;
  row.input += a['gen_ai.usage.input_tokens'] ?? 0;
  row.cacheRead += a['gen_ai.usage.cache_read.input_tokens'] ?? 0;
  row.cacheWrite += a['gen_ai.usage.cache_write.input_tokens'] ?? 0;
  row.output += a['gen_ai.usage.output_tokens'] ?? 0;
  row.reasoning += a['gen_ai.usage.reasoning.output_tokens'] ?? 0;
  if (a['tokenmeter.usage.estimated']) row.estimated++;
  row.usd += a['gen_ai.usage.cost.amount'] ?? 0;
  rows.set(key, row);
}
console.log('Tokens and cost metered per provider and model:');
console.table(
  [...rows].map(([model, r]) => ({
    'provider model (operation)': model,
    calls: r.calls,
    'input (all)': r.input,
    'cache read': r.cacheRead,
    'cache write': r.cacheWrite,
    output: r.output,
    reasoning: r.reasoning,
    estimated: r.estimated,
    'cost USD': r.usd.toFixed(6),
  })),
);

const exposition = await (await fetch(metricsUrl)).text();
const lines = exposition.split('\n').filter((line) => line.includes('gen_ai_request_model="gpt-4o-mini"'));
const sample = [
  ...lines.filter((line) => line.startsWith('tokenmeter_tokens_total{')).slice(0, 3),
  ...lines.filter((line) => line.startsWith('tokenmeter_cost_usd_total{')).slice(0, 3),
];
console.log(`\nPrometheus metrics at ${metricsUrl} — for example:`);
for (const line of sample) console.log(`  ${line}`);

if (keepServing) {
  console.log('\nServing /metrics until Ctrl-C (scrape it with Prometheus: see README).');
} else {
  await mock.close();
  process.exit(0);
}
