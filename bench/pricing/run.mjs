// Pricing benchmark: prices per second on one core (warm: memoized lookups; cold: every call a
// model the Pricer has not seen), the heap of the loaded catalog, and what loading the package adds
// to process start. Ratios are against baselines measured in the same run.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, '../package.json'));
const mode = process.argv[2];

if (mode === 'load') {
  // Child process: load the package, report the heap it holds.
  global.gc();
  const before = process.memoryUsage().heapUsed;
  const { Pricer } = require('@tokenmeter/pricing');
  // The catalog loads on the first price: include it.
  new Pricer().price({
    provider: 'openai',
    model: 'gpt-4o',
    usage: {
      inputTokens: 1,
      outputTokens: 1,
      cacheReadInputTokens: 0,
      cacheWriteInputTokens: 0,
      reasoningOutputTokens: 0,
    },
  });
  global.gc();
  console.log(JSON.stringify({ heapBytes: process.memoryUsage().heapUsed - before }));
  process.exit(0);
}

const { Pricer } = require('@tokenmeter/pricing');
const { calcPrice } = require('@pydantic/genai-prices');
const REPS = Number(process.env.BENCH_REPS ?? 7);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const usage = {
  inputTokens: 12_000,
  outputTokens: 800,
  cacheReadInputTokens: 9000,
  cacheWriteInputTokens: 0,
  reasoningOutputTokens: 300,
};
const calls = [
  { provider: 'openai', model: 'gpt-4o-mini-2024-07-18', usage },
  { provider: 'anthropic', model: 'claude-sonnet-4-20250514', usage },
  { provider: 'gcp.gemini', model: 'gemini-2.5-pro', usage },
  { provider: 'aws.bedrock', model: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0', usage },
];

function warm(n) {
  const pricer = new Pricer();
  const at = Date.now();
  for (const call of calls) pricer.price({ ...call, at });
  let sink = 0;
  const begin = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const result = pricer.price({ ...calls[i & 3], at });
    if (result.priced) sink += result.amountUsd;
  }
  const { user, system } = process.cpuUsage(begin);
  if (!(sink > 0)) throw new Error('nothing priced');
  return n / ((user + system) / 1e6);
}

function cold(n) {
  // A fresh Pricer per call: every price goes through the catalog's model matching.
  let sink = 0;
  const begin = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const result = new Pricer().price({ ...calls[i & 3], at: Date.now() });
    if (result.priced) sink += result.amountUsd;
  }
  const { user, system } = process.cpuUsage(begin);
  if (!(sink > 0)) throw new Error('nothing priced');
  return n / ((user + system) / 1e6);
}

function catalogDirect(n) {
  // The catalog's own calcPrice per call, for comparison.
  let sink = 0;
  const begin = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = calcPrice(
      { input_tokens: 12_000, cache_read_tokens: 9000, output_tokens: 800 },
      'gpt-4o-mini-2024-07-18',
      { providerId: 'openai' },
    );
    sink += r.total_price;
  }
  const { user, system } = process.cpuUsage(begin);
  if (!(sink > 0)) throw new Error('nothing priced');
  return n / ((user + system) / 1e6);
}

function startupMs(script) {
  const times = [];
  for (let i = 0; i < 10; i++) {
    const begin = performance.now();
    execFileSync(process.execPath, ['-e', script], { cwd: path.resolve(here, '..') });
    times.push(performance.now() - begin);
  }
  return median(times);
}

const results = { warm: [], cold: [], catalog: [] };
for (let rep = 0; rep < REPS; rep++) {
  results.warm.push(warm(2_000_000));
  results.cold.push(cold(2_000));
  results.catalog.push(catalogDirect(20_000));
}
const baseline = startupMs('0');
const withPricing = startupMs("require('@tokenmeter/pricing')");
const firstPrice = startupMs(
  "const { Pricer } = require('@tokenmeter/pricing'); new Pricer().price({ provider: 'openai', model: 'gpt-4o', usage: { inputTokens: 1, outputTokens: 1, cacheReadInputTokens: 0, cacheWriteInputTokens: 0, reasoningOutputTokens: 0 } })",
);
const heap = JSON.parse(
  execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), 'load']).toString(),
);

const fmt = (value) => Math.round(value).toLocaleString('en-US');
const range = (values) => `${fmt(Math.min(...values))}…${fmt(Math.max(...values))}`;
console.log(`prices per second, one core, median of ${REPS} [range]:`);
console.log(`  warm (memoized lookups):           ${fmt(median(results.warm))} [${range(results.warm)}]`);
console.log(`  cold (catalog matching every call): ${fmt(median(results.cold))} [${range(results.cold)}]`);
console.log(
  `  catalog calcPrice per call:         ${fmt(median(results.catalog))} [${range(results.catalog)}]`,
);
console.log(
  `  warm / catalog:                     ×${(median(results.warm) / median(results.catalog)).toFixed(0)}`,
);
console.log(`heap of the loaded catalog: ${(heap.heapBytes / 1024 / 1024).toFixed(1)} MiB`);
console.log(
  `process start: ${baseline.toFixed(0)} ms bare, ${withPricing.toFixed(0)} ms with require('@tokenmeter/pricing') (+${(withPricing - baseline).toFixed(0)} ms)`,
);
console.log(
  `  + first price (loads the catalog): ${firstPrice.toFixed(0)} ms (+${(firstPrice - baseline).toFixed(0)} ms over bare)`,
);
const goals = [
  ['>= 1,000,000 warm prices per second', median(results.warm) >= 1e6],
  ['loading adds < 100 ms to process start', withPricing - baseline < 100],
];
for (const [goal, met] of goals) console.log(`  ${met ? 'PASS' : 'MISS'}  ${goal}`);
