// What both benchmark workers export to: spans counted and dropped, metrics collected on demand.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { MetricReader } = require('@opentelemetry/sdk-metrics');

/** A span exporter that counts spans, and how many carry output token usage, then drops them. */
export function countingSpanExporter() {
  const stats = { spans: 0, withUsage: 0 };
  const exporter = {
    export(spans, done) {
      for (const span of spans) {
        stats.spans++;
        if (typeof span.attributes['gen_ai.usage.output_tokens'] === 'number') stats.withUsage++;
      }
      done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  return { exporter, stats };
}

/** A metric reader that only collects when asked (no export interval). */
export class ManualReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}
