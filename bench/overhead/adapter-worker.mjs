// One adapter's benchmark side in its own process: `node adapter-worker.mjs <adapter> <off|on> <calls> <streams>`.
// Prints one JSON line: user CPU per call and per stream, and what the instrumentation recorded.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// The SDKs are dev dependencies of the instrumentation package: resolve them from there.
const sdkRequire = createRequire(path.resolve(here, '../../packages/instrumentation/package.json'));
const [name, side, callsArg, streamsArg] = process.argv.slice(2);
const calls = Number(callsArg);
const streams = Number(streamsArg);
const adapter = (await import(pathToFileURL(path.join(here, 'adapters', `${name}.mjs`)).href)).default;

const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

// Both sides run the same pipeline; only the instrumentation differs. Spans are exported in
// batches to an exporter that counts and drops them, as an app exporting traces would.
const recorded = { spans: 0, withUsage: 0 };
const exporter = {
  export(spans, done) {
    for (const span of spans) {
      recorded.spans++;
      if (typeof span.attributes['gen_ai.usage.output_tokens'] === 'number') recorded.withUsage++;
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};
class ManualReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}
const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
api.trace.setGlobalTracerProvider(tracerProvider);
const reader = new ManualReader();
api.metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

if (side === 'on') {
  const instrumentation = adapter.create(require('@tokenmeter/instrumentation'));
  instrumentation.setTracerProvider(tracerProvider);
  instrumentation.setMeterProvider(api.metrics.getMeterProvider());
  instrumentation.enable();
}
const client = await adapter.client(process.env.MOCK_URL, sdkRequire);

const userMicros = (start) => process.cpuUsage(start).user;
async function measure(fn, n) {
  // Warm up first: the SDKs keep getting faster for a few hundred calls (JIT).
  for (let i = 0; i < Math.max(20, n); i++) await fn();
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  return userMicros(start) / n;
}
const result = { adapter: name, side };
result.callMicros = await measure(client.call, calls);
result.streamMicros = client.stream ? await measure(client.stream, streams) : undefined;
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
