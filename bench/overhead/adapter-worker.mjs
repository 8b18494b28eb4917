// One adapter's paired benchmark in its own process:
// `node adapter-worker.mjs <adapter> <paired|control> <rounds> <block>`.
// The instrumentation is installed once; blocks of calls alternate between metering on and off
// (the wrappers stay in place and call the SDK straight through when off, as a disabled
// instrumentation's would), so both sides share the JIT state, heap and machine moment. `control`
// runs both sides off: the method's own bias and noise (A/A). Prints one JSON line.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { countingSpanExporter, ManualReader } from './pipeline.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// The SDKs are dev dependencies of the instrumentation package: resolve them from there.
const sdkRequire = createRequire(path.resolve(here, '../../packages/instrumentation/package.json'));
const [name, mode, roundsArg, blockArg] = process.argv.slice(2);
const rounds = Number(roundsArg);
const block = Number(blockArg);
const adapter = (await import(pathToFileURL(path.join(here, 'adapters', `${name}.mjs`)).href)).default;

const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { MeterProvider } = require('@opentelemetry/sdk-metrics');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

// Both sides run the same pipeline; only the instrumentation differs. Spans are exported in
// batches to an exporter that counts and drops them, as an app exporting traces would.
const { exporter, stats: recorded } = countingSpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
api.trace.setGlobalTracerProvider(tracerProvider);
const reader = new ManualReader();
api.metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

const instrumentation = adapter.create(require('@tokenmeter/instrumentation'));
instrumentation.setTracerProvider(tracerProvider);
instrumentation.setMeterProvider(api.metrics.getMeterProvider());
instrumentation.enable();
// Every wrapper asks `activeRecorder()` whether to meter; switching it is the on/off of a block.
const activeRecorder = instrumentation.activeRecorder.bind(instrumentation);
let metering = true;
instrumentation.activeRecorder = () => (metering ? activeRecorder() : undefined);
const client = await adapter.client(process.env.MOCK_URL, sdkRequire);

async function sequential(fn, n) {
  for (let i = 0; i < n; i++) await fn();
}
async function paired(fn, blockSize) {
  for (const side of [false, true, false, true]) {
    metering = side;
    await sequential(fn, blockSize * 2);
  }
  const on = [];
  const off = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so drift within a round cancels too.
    for (const side of round % 2 ? [true, false] : [false, true]) {
      metering = side && mode === 'paired';
      const start = process.cpuUsage();
      await sequential(fn, blockSize);
      (side ? on : off).push(process.cpuUsage(start).user / blockSize);
    }
  }
  metering = true;
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const ratios = on.map((value, i) => value / off[i]);
  const added = on.map((value, i) => value - off[i]);
  return { offMicros: median(off), onMicros: median(on), addedMicros: median(added), ratio: median(ratios) };
}
const result = { adapter: name, mode };
result.call = await paired(client.call, block);
result.stream = client.stream ? await paired(client.stream, Math.max(5, Math.round(block / 4))) : undefined;
await tracerProvider.forceFlush();
const { resourceMetrics } = await reader.collect();
result.metricPoints = resourceMetrics.scopeMetrics.reduce(
  (sum, scope) => sum + scope.metrics.reduce((n, metric) => n + metric.dataPoints.length, 0),
  0,
);
result.spans = recorded.spans;
result.spansWithUsage = recorded.withUsage;
console.log(JSON.stringify(result));
process.exit(0);
