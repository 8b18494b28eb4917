// Overhead of each client-library adapter: user CPU per call (and per streamed call) of the real
// SDK against the loopback mock, uninstrumented vs instrumented, in alternating processes.
// `node bench/overhead/adapters.mjs [name…]` after a build; env BENCH_REPS (default 5),
// BENCH_CALLS (default 300), BENCH_STREAMS (default 100). Writes bench/results/adapters.json.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const CALLS = Number(process.env.BENCH_CALLS ?? 300);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 100);
const wanted = process.argv.slice(2);
const names = readdirSync(path.join(here, 'adapters'))
  .filter((file) => file.endsWith('.mjs'))
  .map((file) => file.slice(0, -'.mjs'.length))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();

async function startMock() {
  const cli = path.resolve(here, '../../packages/mock-llm/dist/cli.js');
  const child = spawn(process.execPath, [cli, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (data) => resolve(JSON.parse(String(data))));
    child.once('exit', (code) => reject(new Error(`mock exited with ${code}`)));
  });
}
async function worker(name, side) {
  const { stdout } = await run(
    process.execPath,
    [path.join(here, 'adapter-worker.mjs'), name, side, CALLS, STREAMS],
    { env: { ...process.env, MOCK_URL: mock.url }, maxBuffer: 1 << 22 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1));
}
const median = (values) => {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const mock = await startMock();
const results = {};
try {
  console.log(
    `mock server pid ${mock.pid}; ${REPS} repetitions of ${CALLS} calls and ${STREAMS} streams per side`,
  );
  for (const name of names) {
    const sides = { off: [], on: [], control: [] };
    for (let rep = 0; rep < REPS; rep++) {
      // Alternate which side goes first; a second uninstrumented run is the A/A control.
      const order = rep % 2 ? ['on', 'off'] : ['off', 'on'];
      for (const side of order) sides[side].push(await worker(name, side));
      sides.control.push(await worker(name, 'off'));
    }
    const on = sides.on.at(-1);
    if (on.spans === 0 || on.metricPoints === 0)
      throw new Error(`${name}: the instrumentation recorded nothing`);
    const ratio = (key, a, b) => median(sides[a].map((run, i) => run[key] / sides[b][i][key]));
    results[name] = {
      callMicros: {
        off: median(sides.off.map((r) => r.callMicros)),
        on: median(sides.on.map((r) => r.callMicros)),
      },
      streamMicros: {
        off: median(sides.off.map((r) => r.streamMicros)),
        on: median(sides.on.map((r) => r.streamMicros)),
      },
      callRatio: ratio('callMicros', 'on', 'off'),
      streamRatio: ratio('streamMicros', 'on', 'off'),
      controlCallRatio: ratio('callMicros', 'control', 'off'),
      controlStreamRatio: ratio('streamMicros', 'control', 'off'),
      spans: on.spans,
      spansWithUsage: on.spansWithUsage,
    };
    const r = results[name];
    const fmt = (value) => (value === undefined ? '—' : value.toFixed(3));
    console.log(
      `${name.padEnd(22)} call ${fmt(r.callMicros.off)}→${fmt(r.callMicros.on)} µs ×${fmt(r.callRatio)} (A/A ×${fmt(r.controlCallRatio)})` +
        `  stream ×${fmt(r.streamRatio)} (A/A ×${fmt(r.controlStreamRatio)})  spans ${r.spans}, with usage ${r.spansWithUsage}`,
    );
  }
} finally {
  process.kill(mock.pid);
}
const out = path.resolve(here, '../results/adapters.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, reps: REPS, calls: CALLS, streams: STREAMS, results }, null, 2)}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
