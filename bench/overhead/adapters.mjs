// Overhead of each client-library adapter: user CPU per call (and per streamed call) of the real
// SDK against the loopback mock (its own process), metering on vs off in alternating blocks within
// one process (adapter-worker.mjs), next to an A/A control run the same way with metering off on
// both sides. `node bench/overhead/adapters.mjs [name…]` after a build; env BENCH_REPS (processes
// per adapter and mode, default 3), BENCH_ROUNDS (default 15), BENCH_BLOCK (calls per block,
// default 40). Writes bench/results/adapters.json (all adapters) when run without names.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 40);
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
async function worker(name, mode) {
  const { stdout } = await run(
    process.execPath,
    [path.join(here, 'adapter-worker.mjs'), name, mode, ROUNDS, BLOCK],
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
const fmt = (value, digits = 3) => (value === undefined ? '—' : value.toFixed(digits));

const mock = await startMock();
const results = {};
try {
  console.log(
    `mock server pid ${mock.pid}; per adapter ${REPS} processes × ${ROUNDS} paired rounds of ${BLOCK} calls`,
  );
  for (const name of names) {
    const runs = { paired: [], control: [] };
    for (let rep = 0; rep < REPS; rep++)
      for (const mode of ['paired', 'control']) runs[mode].push(await worker(name, mode));
    const last = runs.paired.at(-1);
    if (last.spans === 0 || last.metricPoints === 0)
      throw new Error(`${name}: the instrumentation recorded nothing`);
    const pick = (mode, kind, key) => median(runs[mode].map((run) => run[kind]?.[key]));
    const summary = (kind) => ({
      sdkMicros: pick('paired', kind, 'offMicros'),
      addedMicros: pick('paired', kind, 'addedMicros'),
      ratio: pick('paired', kind, 'ratio'),
      controlAddedMicros: pick('control', kind, 'addedMicros'),
      controlRatio: pick('control', kind, 'ratio'),
    });
    const r = {
      call: summary('call'),
      stream: summary('stream'),
      spans: last.spans,
      spansWithUsage: last.spansWithUsage,
    };
    results[name] = r;
    console.log(
      `${name.padEnd(16)} call ${fmt(r.call.sdkMicros, 0)} µs +${fmt(r.call.addedMicros, 0)} ×${fmt(r.call.ratio)} (A/A +${fmt(r.call.controlAddedMicros, 0)} ×${fmt(r.call.controlRatio)})` +
        `   stream ${fmt(r.stream.sdkMicros, 0)} µs +${fmt(r.stream.addedMicros, 0)} ×${fmt(r.stream.ratio)} (A/A +${fmt(r.stream.controlAddedMicros, 0)} ×${fmt(r.stream.controlRatio)})`,
    );
  }
} finally {
  process.kill(mock.pid);
}
if (wanted.length === 0) {
  const out = path.resolve(here, '../results/adapters.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, reps: REPS, rounds: ROUNDS, block: BLOCK, results }, null, 2)}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}
