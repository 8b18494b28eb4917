// One benchmark configuration in its own process (instrumentations patch modules globally).
// Usage: node worker.mjs <config> <mode> [count] [chunks]; prints one JSON line.
import { cpSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countingSpanExporter, ManualReader } from './pipeline.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const [config, mode, countArg, chunksArg] = process.argv.slice(2);
const count = Number(countArg ?? 0);
const chunks = Number(chunksArg ?? 0);
const mockUrl = process.env.MOCK_URL;

// Configurations: which SDK version, which instrumentation, which pipeline.
const CONFIGS = {
  baseline6: { sdk: 6, instrumentation: null, pipeline: 'peer' },
  tokenmeter6: { sdk: 6, instrumentation: 'tokenmeter', pipeline: 'peer' },
  contrib6: { sdk: 6, instrumentation: 'contrib', pipeline: 'peer' },
  traceloop6: { sdk: 6, instrumentation: 'traceloop', pipeline: 'peer' },
  baseline7: { sdk: 7, instrumentation: null, pipeline: 'default' },
  default7: { sdk: 7, instrumentation: 'tokenmeter', pipeline: 'default' },
};
const setup = CONFIGS[config];
if (!setup) throw new Error(`unknown config ${config}`);

// For paired runs, a second copy of the same SDK version, loaded BEFORE any instrumentation exists,
// so it stays uninstrumented while the copy loaded later is instrumented: both run in one process,
// in alternating blocks, without toggling (toggling re-wraps functions and disturbs the JIT).
// pnpm links every install of a version to one store directory, so the copy is made here
// (openai 5+ has no runtime dependencies, so its folder alone is a working copy).
const SDK_PACKAGE = { 6: null, 7: '../../test/sdk-versions/openai-7/package.json' };
const requireFrom = (relative) => (relative ? createRequire(path.resolve(here, relative)) : require);
function uninstrumentedCopy(version) {
  const source = path.dirname(requireFrom(SDK_PACKAGE[version]).resolve('openai'));
  const target = path.join(os.tmpdir(), `tokenmeter-bench-openai-${version}`, 'node_modules', 'openai');
  if (!existsSync(path.join(target, 'package.json')))
    cpSync(source, target, { recursive: true, dereference: true });
  return createRequire(path.join(target, '..', '..', 'index.js'))('openai');
}
const UninstrumentedOpenAI = mode?.startsWith('paired') ? uninstrumentedCopy(setup.sdk) : undefined;

const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { MeterProvider } = require('@opentelemetry/sdk-metrics');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const { exporter: countingExporter, stats: spanStats } = countingSpanExporter();

let tracerProvider;
let reader;
if (setup.pipeline === 'peer') {
  // The peers' pipeline: every span exported in batches, metrics collected in memory.
  tracerProvider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter: countingExporter })],
  });
  api.trace.setGlobalTracerProvider(tracerProvider);
  reader = new ManualReader();
} else {
  // How users run Tokenmeter by default: one require, metrics on a Prometheus endpoint, no trace exporter.
  const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
  reader = new PrometheusExporter({ host: '127.0.0.1', port: 0 });
}
const meterProvider = new MeterProvider({ readers: [reader] });
api.metrics.setGlobalMeterProvider(meterProvider);

let instrumentation;
if (setup.instrumentation === 'tokenmeter') {
  const { OpenAIInstrumentation } = require('@tokenmeter/instrumentation');
  instrumentation = new OpenAIInstrumentation();
} else if (setup.instrumentation === 'contrib') {
  const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
  instrumentation = new OpenAIInstrumentation();
} else if (setup.instrumentation === 'traceloop') {
  const { OpenAIInstrumentation } = require('@traceloop/instrumentation-openai');
  instrumentation = new OpenAIInstrumentation({ traceContent: false, enrichTokens: false });
}
if (instrumentation) {
  if (tracerProvider) instrumentation.setTracerProvider(tracerProvider);
  instrumentation.setMeterProvider(meterProvider);
  instrumentation.enable();
}

const OpenAI = requireFrom(SDK_PACKAGE[setup.sdk])('openai');
if (UninstrumentedOpenAI === OpenAI) throw new Error('paired runs need two copies of the SDK');
if (mode === 'startup') process.exit(0);

// BENCH_FETCH=memory answers from memory instead of the loopback server: the same SDK work minus
// the socket, to attribute the instrumentation's own cost with less noise.
const cannedChat = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, finish_reason: 'stop' },
  ],
  usage: {
    prompt_tokens: 12,
    completion_tokens: 3,
    total_tokens: 15,
    prompt_tokens_details: { cached_tokens: 0 },
  },
});
const memoryFetch = async () =>
  new Response(cannedChat, {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-request-id': 'req_1' },
  });
const clientOptions = {
  apiKey: 'sk-bench',
  baseURL: `${mockUrl ?? 'http://127.0.0.1:9'}/v1`,
  maxRetries: 0,
  ...(process.env.BENCH_FETCH === 'memory' ? { fetch: memoryFetch } : {}),
};
let client = new OpenAI(clientOptions);
const clients = {
  on: client,
  off: UninstrumentedOpenAI ? new UninstrumentedOpenAI(clientOptions) : undefined,
};
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Benchmark me, briefly.' }] };

const call = () => client.chat.completions.create(body);
async function stream() {
  const response = await client.chat.completions.create(
    { ...body, stream: true },
    { headers: { 'x-mock-scenario': `chunks:${chunks}` } },
  );
  for await (const _chunk of response) {
    // consume every chunk, as an app does
  }
}
// User CPU only by default: the instrumentation runs in user space, while the kernel's loopback
// networking time is charged to whichever process happens to be running, which is noise here.
const cpuMicros = (start) => {
  const { user, system } = process.cpuUsage(start);
  return process.env.BENCH_CPU === 'total' ? user + system : user;
};

async function sequential(fn, n) {
  for (let i = 0; i < n; i++) await fn();
}

const result = { config, mode };
if (mode === 'paired-calls' || mode === 'paired-stream') {
  // Alternating blocks with the instrumentation disabled and enabled, in one process: the same JIT
  // state, heap and machine moment on both sides, so small differences stand above the noise.
  const fn = mode === 'paired-calls' ? call : stream;
  const block = Number(process.env.BENCH_BLOCK ?? (mode === 'paired-calls' ? 100 : 20));
  // The SDK keeps getting faster for thousands of calls (JIT): warm both copies up well first.
  const warmup = Number(process.env.BENCH_WARMUP ?? (mode === 'paired-calls' ? 3000 : 300));
  for (const side of ['off', 'on', 'off', 'on']) {
    client = clients[side];
    await sequential(fn, warmup / 4);
  }
  const differences = [];
  const on = [];
  const off = [];
  for (let round = 0; round < count; round++) {
    // Alternate which side goes first, so drift within a round cancels too.
    for (const side of round % 2 ? ['on', 'off'] : ['off', 'on']) {
      client = clients[side];
      const start = process.cpuUsage();
      await sequential(fn, block);
      (side === 'on' ? on : off).push(cpuMicros(start) / block);
    }
    differences.push(on.at(-1) - off.at(-1));
  }
  client = clients.on;
  result.offMicros = off;
  result.onMicros = on;
  result.addedMicros = differences;
} else if (mode === 'calls' || mode === 'stream') {
  const fn = mode === 'calls' ? call : stream;
  await sequential(fn, Math.max(50, Math.ceil(count / 5)));
  const start = process.cpuUsage();
  await sequential(fn, count);
  result.cpuMicrosPerOp = cpuMicros(start) / count;
} else if (mode === 'concurrency') {
  await sequential(call, 200);
  let next = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next++ < count) await call();
    }),
  );
  result.callsPerSecond = count / ((performance.now() - begin) / 1000);
} else if (mode === 'heap') {
  await sequential(call, 2000);
  await tracerProvider?.forceFlush();
  global.gc();
  const before = process.memoryUsage().heapUsed;
  await sequential(call, count);
  await tracerProvider?.forceFlush();
  await reader.collect?.();
  global.gc();
  result.heapGrowthBytes = process.memoryUsage().heapUsed - before;
}
await tracerProvider?.forceFlush();
result.spans = spanStats.spans;
result.spansWithUsage = spanStats.withUsage;
const collected = await reader.collect();
result.metricPoints = collected.resourceMetrics.scopeMetrics.reduce(
  (sum, scope) => sum + scope.metrics.reduce((inner, metric) => inner + metric.dataPoints.length, 0),
  0,
);
console.log(JSON.stringify(result));
process.exit(0);
