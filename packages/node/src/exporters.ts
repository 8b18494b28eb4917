import { randomUUID } from 'node:crypto';
import { diag, metrics, trace } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  type Resource,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { MeterProvider, MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export interface ExportSetup {
  meterProvider: MeterProvider;
  /** The process's resource (with its own service.instance.id), as target_info shows it. */
  resource: Resource;
  /** Collects Tokenmeter's metrics on demand. */
  pull: PullReader;
  tracerProvider: TracerProvider | undefined;
  metricsUrl: string | undefined;
  /** True when telemetry is pushed (OTLP), so there is something to flush at exit. */
  pushes: boolean;
  /** Pushes what is pending (OTLP) within `timeoutMs`; never throws. */
  flush(timeoutMs: number): Promise<void>;
  shutdown(): Promise<void>;
}

export interface ExportOptions {
  prometheus?: boolean | undefined;
  host?: string | undefined;
  port?: number | undefined;
}

function exportersFromEnv(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((value) => value.trim().toLowerCase())
    .filter(Boolean);
}

/** A tracer provider the app registered itself (its own SDK) is kept and used. */
function appHasTracerProvider(): boolean {
  const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const delegate = provider.getDelegate?.();
  return delegate !== undefined && delegate?.constructor?.name !== 'NoopTracerProvider';
}

/**
 * The standard `OTEL_*` variables decide where telemetry goes: `OTEL_METRICS_EXPORTER`
 * (`prometheus` — the default, an embedded endpoint —, `otlp`, both, or `none`) and
 * `OTEL_TRACES_EXPORTER` (`otlp`; default none: spans are only recorded for an app's own SDK).
 * OTLP/HTTP endpoints, headers, protocol and intervals come from the usual `OTEL_EXPORTER_OTLP_*`
 * and `OTEL_METRIC_EXPORT_*` variables, read by the exporters themselves.
 */
export function setUpExport(options: ExportOptions): ExportSetup {
  // service.instance.id (random per process, unless OTEL_RESOURCE_ATTRIBUTES sets one) makes an app
  // restart visible in target_info, so the budget rules count a restarted process's counters in
  // full even when they come back higher than before.
  const resource: Resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.instance.id': randomUUID() }))
    .merge(detectResources({ detectors: [envDetector] }));
  const metricExporters = exportersFromEnv('OTEL_METRICS_EXPORTER', 'prometheus');
  // Always one pull reader of Tokenmeter's own, for bridges (prom-client) and tests: it collects
  // only when asked, so it costs nothing otherwise.
  const pull = new PullReader();
  const readers: MetricReader[] = [pull];
  let metricsUrl: string | undefined;
  if ((options.prometheus ?? true) && metricExporters.includes('prometheus')) {
    const host = options.host ?? process.env.OTEL_EXPORTER_PROMETHEUS_HOST ?? 'localhost';
    const port = options.port ?? Number(process.env.OTEL_EXPORTER_PROMETHEUS_PORT ?? 9464);
    readers.push(
      new PrometheusExporter({ host, port, withoutScopeInfo: true }, (error) => {
        if (error)
          diag.error(`tokenmeter: Prometheus endpoint did not start on ${host}:${port}: ${String(error)}`);
      }),
    );
    metricsUrl = `http://${host}:${port}/metrics`;
  }
  let periodic: PeriodicExportingMetricReader | undefined;
  if (metricExporters.includes('otlp')) {
    const interval = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL) || 60_000;
    // The SDK refuses a timeout longer than the interval: clamp rather than fail the app's start.
    const timeout = Math.min(Number(process.env.OTEL_METRIC_EXPORT_TIMEOUT) || 30_000, interval);
    periodic = new PeriodicExportingMetricReader({
      exporter: countFailures(new OTLPMetricExporter(), 'metrics'),
      exportIntervalMillis: interval,
      exportTimeoutMillis: timeout,
    });
    readers.push(periodic);
  }
  const meterProvider = new MeterProvider({ resource, readers });
  exportFailures = meterProvider.getMeter('@tokenmeter/node').createCounter('tokenmeter.export_failures', {
    description: 'Telemetry exports that failed (Collector down or refusing); the app is unaffected',
  });
  if (meterProvider && !metrics.setGlobalMeterProvider(meterProvider)) {
    diag.debug(
      'tokenmeter: the app registered its own meter provider; Tokenmeter uses its own for its metrics',
    );
  }

  let tracerProvider: TracerProvider | undefined;
  if (exportersFromEnv('OTEL_TRACES_EXPORTER', 'none').includes('otlp') && !appHasTracerProvider()) {
    // Bounded queue: if the Collector is down, spans are dropped, memory stays flat.
    tracerProvider = new TracerProvider({
      resource,
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: countFailures(new OTLPTraceExporter(), 'traces'),
          maxQueueSize: 2048,
        }),
      ],
    });
    trace.setGlobalTracerProvider(tracerProvider);
  }

  const withTimeout = async (work: Promise<unknown>, timeoutMs: number) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        work.catch((error: unknown) => diag.warn('tokenmeter: telemetry flush failed', error)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
          timer.unref();
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    meterProvider,
    resource,
    pull,
    tracerProvider,
    metricsUrl,
    pushes: periodic !== undefined || tracerProvider !== undefined,
    flush: (timeoutMs) =>
      withTimeout(Promise.all([periodic?.forceFlush(), tracerProvider?.forceFlush()]), timeoutMs),
    shutdown: async () => {
      await withTimeout(Promise.all([meterProvider.shutdown(), tracerProvider?.shutdown()]), 5000);
    },
  };
}

/** A reader that collects only when asked. */
export class PullReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

let exportFailures: { add(value: number, attributes: Record<string, string>): void } | undefined;
/** Export failures are counted (and logged once per minute at most), never thrown. */
export const exportFailureCounts = { metrics: 0, traces: 0 };
let lastWarning = 0;

function countFailures<
  T extends { export(items: any, done: (result: { code: number; error?: Error }) => void): void },
>(exporter: T, signal: 'metrics' | 'traces'): T {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, done) =>
    original(items, (result) => {
      if (result.code !== 0) {
        exportFailureCounts[signal]++;
        exportFailures?.add(1, { signal });
        if (Date.now() - lastWarning > 60_000) {
          lastWarning = Date.now();
          diag.warn(`tokenmeter: ${signal} export failed: ${result.error?.message ?? 'unknown error'}`);
        }
      }
      done(result);
    });
  return exporter;
}
