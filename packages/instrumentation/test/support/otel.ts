import { type Attributes, context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { expect } from 'vitest';

class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/**
 * A real OpenTelemetry SDK pipeline with in-memory exporters: what the tests assert on is what a
 * user's exporter would receive.
 */
export interface TestTelemetry {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  /** Tokenmeter's spans. */
  spans(): ReadableSpan[];
  /** Every span, whichever library made it. */
  allSpans(): ReadableSpan[];
  /** Cumulative metrics, by instrument name. */
  metrics(): Promise<Map<string, MetricData>>;
  /** Sum of a counter's data points whose attributes include `match`. */
  counterSum(name: string, match?: Attributes): Promise<number>;
  reset(): void;
}

export function setupTelemetry(): TestTelemetry {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  const reader = new CollectingReader({
    aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meterProvider);

  const collect = async () => {
    const { resourceMetrics } = await reader.collect();
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics)
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    return byName;
  };
  return {
    tracerProvider,
    meterProvider,
    spans: () =>
      spanExporter
        .getFinishedSpans()
        .filter((span) => span.instrumentationScope.name === '@tokenmeter/instrumentation'),
    allSpans: () => spanExporter.getFinishedSpans(),
    metrics: collect,
    async counterSum(name, match = {}) {
      const metric = (await collect()).get(name);
      if (!metric) return 0;
      let sum = 0;
      for (const point of metric.dataPoints as DataPoint<number>[]) {
        if (Object.entries(match).every(([key, value]) => point.attributes[key] === value))
          sum += point.value;
      }
      return sum;
    },
    /** Forgets spans; metrics are cumulative, so tests compare sums before and after instead. */
    reset() {
      spanExporter.reset();
    },
  };
}

/** Waits until `predicate` holds (telemetry of streams and clones finishes asynchronously). */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * After calls with malformed usage: every span's usage was estimated (flagged) and is a sane
 * non-negative integer, and no token counter holds NaN or a negative value.
 */
export async function expectSaneEstimatedUsage(telemetry: TestTelemetry): Promise<void> {
  for (const span of telemetry.spans()) {
    expect(span.attributes['tokenmeter.usage.estimated']).toBe(true);
    for (const key of ['gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens']) {
      const value = span.attributes[key] as number;
      expect(Number.isInteger(value) && value >= 0 && value < 1e6).toBe(true);
    }
  }
  const metrics = await telemetry.metrics();
  for (const point of metrics.get('tokenmeter.tokens')!.dataPoints) {
    expect(Number.isFinite(point.value as number) && (point.value as number) >= 0).toBe(true);
  }
}
