// Overhead benchmark: what Tokenmeter's instrumentation adds to real `openai` SDK calls against a
// loopback mock server (its own process), next to the peers, all in one run.
// Env: BENCH_REPS (default 7), BENCH_SCALE (default 1; 0.2 for a quick look).
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const REPS = Number(process.env.BENCH_REPS ?? 7);
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const scaled = (value) => Math.max(4, Math.round(value * SCALE));
const ROUNDS = scaled(20);
const CONCURRENT = scaled(5000);
const HEAP_CALLS = scaled(100_000);
const STARTUPS = 10;

const INSTRUMENTED = ['tokenmeter6', 'contrib6', 'traceloop6', 'default7'];
const ALL = ['baseline6', 'tokenmeter6', 'contrib6', 'traceloop6', 'baseline7', 'default7'];
const BASELINE_OF = {
  tokenmeter6: 'baseline6',
  contrib6: 'baseline6',
  traceloop6: 'baseline6',
  default7: 'baseline7',
};
const LABELS = {
  baseline6: 'openai 6.49, no instrumentation',
  tokenmeter6: 'openai 6.49 + Tokenmeter (peer pipeline: every span exported)',
  contrib6: 'openai 6.49 + @opentelemetry/instrumentation-openai 0.22',
  traceloop6: 'openai 6.49 + @traceloop/instrumentation-openai 0.27',
  baseline7: 'openai 7.57, no instrumentation',
  default7: 'openai 7.57 + Tokenmeter as users run it (metrics on a Prometheus endpoint)',
};

async function startMock() {
  const cli = path.resolve(here, '../../packages/mock-llm/dist/cli.js');
  const child = spawn(process.execPath, [cli, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (data) => resolve(JSON.parse(String(data))));
    child.once('exit', (code) => reject(new Error(`mock exited with ${code}`)));
  });
}

async function worker(config, mode, args = [], env = {}) {
  const flags = mode === 'heap' ? ['--expose-gc'] : [];
  const { stdout } = await run(
    process.execPath,
    [...flags, path.join(here, 'worker.mjs'), config, mode, ...args.map(String)],
    {
      env: { ...process.env, MOCK_URL: mock.url, ...env },
      maxBuffer: 1 << 22,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

async function startupMs(config) {
  const begin = performance.now();
  await run(process.execPath, [path.join(here, 'worker.mjs'), config, 'startup'], {
    env: { ...process.env, MOCK_URL: mock.url },
  });
  return performance.now() - begin;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const stats = (values) => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  samples: values,
});
const rotate = (list, by) => list.map((_, index) => list[(index + by) % list.length]);

const mock = await startMock();
const samples = Object.fromEntries(
  ALL.map((config) => [
    config,
    { addedCall: [], addedCallMemory: [], addedChunk: [], sdkCall: [], concurrency: [], startup: [] },
  ]),
);
const recorded = {};
try {
  console.log(
    `mock server pid ${mock.pid} at ${mock.url}; ${REPS} repetitions, ${ROUNDS} paired rounds each`,
  );
  for (let rep = 0; rep < REPS; rep++) {
    // Baselines go through the same paired measurement (uninstrumented against uninstrumented):
    // their "added" figure is the method's own bias and noise floor.
    for (const config of rotate(ALL, rep)) {
      const s = samples[config];
      const loopback = await worker(config, 'paired-calls', [ROUNDS]);
      const memory = await worker(config, 'paired-calls', [ROUNDS], {
        BENCH_FETCH: 'memory',
        BENCH_BLOCK: '500',
      });
      const short = await worker(config, 'paired-stream', [ROUNDS, 10]);
      const long = await worker(config, 'paired-stream', [ROUNDS, 100]);
      s.addedCall.push(median(loopback.addedMicros));
      s.sdkCall.push(median(loopback.offMicros));
      s.addedCallMemory.push(median(memory.addedMicros));
      s.addedChunk.push((median(long.addedMicros) - median(short.addedMicros)) / 90);
      recorded[config] = {
        spans: loopback.spans,
        streamSpansWithUsage: long.spansWithUsage,
        streamSpans: long.spans,
        metricPoints: loopback.metricPoints,
      };
      if (INSTRUMENTED.includes(config) && loopback.spans === 0 && loopback.metricPoints === 0)
        throw new Error(`${config} recorded nothing: the comparison would be meaningless`);
    }
    for (const config of rotate(ALL, rep)) {
      samples[config].concurrency.push((await worker(config, 'concurrency', [CONCURRENT])).callsPerSecond);
      samples[config].startup.push(await startupMs(config));
    }
    process.stdout.write(`  repetition ${rep + 1}/${REPS} done\n`);
  }
  for (const config of ALL) {
    const heap = await worker(config, 'heap', [HEAP_CALLS], { BENCH_FETCH: 'memory' });
    recorded[config] = { ...recorded[config], heapGrowthBytes: heap.heapGrowthBytes };
  }
} finally {
  process.kill(mock.pid, 'SIGTERM');
}

const summary = {};
for (const config of ALL) {
  const s = samples[config];
  const baseline = BASELINE_OF[config];
  summary[config] = {
    label: LABELS[config],
    sdkMicrosPerCall: stats(s.sdkCall),
    addedMicrosPerCall: stats(s.addedCall),
    addedMicrosPerCallInMemory: stats(s.addedCallMemory),
    addedMicrosPerChunk: stats(s.addedChunk),
    ...(baseline && {
      addedStartupMs: median(s.startup) - median(samples[baseline].startup),
      callsPerSecondRatio: median(s.concurrency) / median(samples[baseline].concurrency),
    }),
    callsPerSecondAt64: stats(s.concurrency),
    startupMs: stats(s.startup),
    heapGrowthBytes: recorded[config].heapGrowthBytes,
    recorded: recorded[config],
  };
}

const f = (value, digits = 1) => (value === undefined ? '—' : value.toFixed(digits));
const cell = (stat, digits = 1) =>
  stat ? `${f(stat.median, digits)} [${f(stat.min, digits)}…${f(stat.max, digits)}]` : '—';
const rows = [
  [
    'configuration',
    'added µs/call (loopback)',
    'added µs/call (in-memory fetch)',
    'added µs/chunk',
    'calls/s @64',
    'startup ms',
    'heap Δ after calls',
    'stream spans with usage',
  ],
];
for (const [config, r] of Object.entries(summary)) {
  rows.push([
    config,
    cell(r.addedMicrosPerCall),
    cell(r.addedMicrosPerCallInMemory),
    cell(r.addedMicrosPerChunk, 2),
    `${f(r.callsPerSecondAt64.median, 0)}${r.callsPerSecondRatio ? ` (×${f(r.callsPerSecondRatio, 3)})` : ''}`,
    `${f(r.startupMs.median, 0)}${r.addedStartupMs !== undefined ? ` (+${f(r.addedStartupMs, 0)})` : ''}`,
    `${f(r.heapGrowthBytes / 1024, 0)} KiB`,
    r.recorded?.streamSpans ? `${r.recorded.streamSpansWithUsage}/${r.recorded.streamSpans}` : '—',
  ]);
}
console.log(
  '\nmedian of repetitions [min…max]; "added" = instrumented minus uninstrumented, paired in one process\n',
);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);

const cheapest = Math.min(
  summary.contrib6.addedMicrosPerCall.median,
  summary.traceloop6.addedMicrosPerCall.median,
);
const cheapestMemory = Math.min(
  summary.contrib6.addedMicrosPerCallInMemory.median,
  summary.traceloop6.addedMicrosPerCallInMemory.median,
);
const goals = [
  [
    'same pipeline as peers: overhead <= 1/2 of the cheapest peer (loopback)',
    summary.tokenmeter6.addedMicrosPerCall.median <= cheapest / 2,
    `${f(summary.tokenmeter6.addedMicrosPerCall.median)} µs vs ${f(cheapest)} µs, ratio ${f(summary.tokenmeter6.addedMicrosPerCall.median / cheapest, 2)}`,
  ],
  [
    'same pipeline as peers: overhead <= 1/2 of the cheapest peer (in-memory fetch)',
    summary.tokenmeter6.addedMicrosPerCallInMemory.median <= cheapestMemory / 2,
    `${f(summary.tokenmeter6.addedMicrosPerCallInMemory.median)} µs vs ${f(cheapestMemory)} µs, ratio ${f(summary.tokenmeter6.addedMicrosPerCallInMemory.median / cheapestMemory, 2)}`,
  ],
  [
    'default: <= 30 µs CPU added per non-streaming call',
    summary.default7.addedMicrosPerCall.median <= 30,
    `${f(summary.default7.addedMicrosPerCall.median)} µs (in-memory fetch: ${f(summary.default7.addedMicrosPerCallInMemory.median)} µs)`,
  ],
  [
    'default: <= 1 µs CPU added per stream chunk',
    summary.default7.addedMicrosPerChunk.median <= 1,
    `${f(summary.default7.addedMicrosPerChunk.median, 2)} µs`,
  ],
  [
    'default: startup <= +120 ms',
    summary.default7.addedStartupMs <= 120,
    `+${f(summary.default7.addedStartupMs, 0)} ms`,
  ],
  [
    'heap flat after calls',
    Math.abs(summary.default7.heapGrowthBytes - summary.baseline7.heapGrowthBytes) < 2 * 1024 * 1024,
    `${f(summary.default7.heapGrowthBytes / 1024, 0)} KiB vs baseline ${f(summary.baseline7.heapGrowthBytes / 1024, 0)} KiB`,
  ],
];
console.log('\ngoals');
for (const [goal, met, figure] of goals) console.log(`  ${met ? 'PASS' : 'MISS'}  ${goal}: ${figure}`);

mkdirSync(path.join(here, '../results'), { recursive: true });
writeFileSync(
  path.join(here, '../results/latest.json'),
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, reps: REPS, scale: SCALE, rounds: ROUNDS, concurrent: CONCURRENT, heapCalls: HEAP_CALLS, startups: STARTUPS, summary, goals }, null, 2)}\n`,
);
