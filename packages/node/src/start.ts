import { context, diag, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type Instrumentation, registerInstrumentations } from '@opentelemetry/instrumentation';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createInstrumentations } from '@tokenmeter/instrumentation';
import { loadOverridesFile, Pricer, watchOverridesFile } from '@tokenmeter/pricing';
import { Attribution } from './attribution.js';
import { findConfigFile, loadConfig, type TokenmeterConfig } from './config.js';
import { type ExportSetup, setUpExport } from './exporters.js';
import { type ManualCall, type ManualCost, ManualRecording } from './manual.js';
import { bridgeToPromClient } from './prom-client.js';

export interface Tokenmeter {
  pricer: Pricer;
  /** Records a call no instrumentation sees, priced like an instrumented one. */
  record(call: ManualCall): void;
  /** Records a ready amount (a non-LLM cost) under a category. */
  recordCost(cost: ManualCost): void;
  /**
   * Serves the contract counters from the app's prom-client registry (pass the `prom-client`
   * module, and optionally a registry); set `OTEL_METRICS_EXPORTER=none` to drop the own endpoint.
   */
  bridgeToPromClient(promClient: Parameters<typeof bridgeToPromClient>[0], registry?: unknown): void;
  instrumentations: Instrumentation[];
  meterProvider: MeterProvider | undefined;
  /** Where metrics are served, when the embedded endpoint runs. */
  metricsUrl: string | undefined;
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Serve Prometheus metrics (default true; `OTEL_METRICS_EXPORTER=none` turns it off). */
  prometheus?: boolean;
  host?: string;
  port?: number;
  /** A YAML or JSON price overrides file (`TOKENMETER_PRICE_OVERRIDES`), reloaded when it changes. */
  priceOverrides?: string;
  /** `tokenmeter.config.yaml` to read (`TOKENMETER_CONFIG`; default `./tokenmeter.config.yaml` if present). */
  configFile?: string;
  /** Attribution keys that become metric labels (`TOKENMETER_ATTRIBUTION_LABELS`, default tenant,feature). */
  attributionLabels?: string[];
  /** Distinct values per attribution label before `__other__` (`TOKENMETER_MAX_VALUES_PER_LABEL`, 100). */
  maxValuesPerLabel?: number;
}

const GLOBAL_KEY = Symbol.for('tokenmeter.node.started');

/**
 * Everything the one require does: instrument the installed LLM client libraries, price every
 * call, and serve the metrics on a Prometheus endpoint. Idempotent: a second call (both `-r` and
 * `--import` given, say) returns the first instance.
 */
export function start(options: StartOptions = {}): Tokenmeter {
  const existing = (globalThis as Record<symbol, Tokenmeter | undefined>)[GLOBAL_KEY];
  if (existing) return existing;

  // Apps that run their own OpenTelemetry SDK keep it: a context manager or provider already
  // registered is not replaced (the API's set* calls refuse a second registration anyway).
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

  // A malformed config file stops the app at start with the file, path and problem named: better
  // than running with settings the user did not mean.
  const configFile = options.configFile ?? findConfigFile();
  const fileConfig: TokenmeterConfig | undefined = configFile ? loadConfig(configFile) : undefined;
  const overridesFile =
    options.priceOverrides ?? process.env.TOKENMETER_PRICE_OVERRIDES ?? fileConfig?.pricing.overrides;
  const pricer = new Pricer({ overrides: overridesFile ? loadOverridesFile(overridesFile) : undefined });
  const stopWatching = overridesFile
    ? watchOverridesFile(
        overridesFile,
        (overrides) => pricer.setOverrides(overrides),
        (error) => diag.error(`tokenmeter: price overrides not reloaded: ${error.message}`),
      )
    : () => {};

  const exporting = setUpExport(options);
  const { meterProvider, metricsUrl } = exporting;
  flushOnExit(exporting);

  const attribution = new Attribution({
    labels:
      options.attributionLabels ??
      (process.env.TOKENMETER_ATTRIBUTION_LABELS?.split(',')
        .map((label) => label.trim())
        .filter(Boolean) ||
        fileConfig?.attribution.labels || ['tenant', 'feature']),
    maxValuesPerLabel:
      options.maxValuesPerLabel ??
      (Number(process.env.TOKENMETER_MAX_VALUES_PER_LABEL) ||
        fileConfig?.attribution.max_values_per_label ||
        100),
  });
  const config = { pricer, contextAttributes: attribution.resolve };
  const instrumentations: Instrumentation[] = createInstrumentations(config);
  registerInstrumentations({
    instrumentations,
    tracerProvider: exporting.tracerProvider ?? trace.getTracerProvider(),
    meterProvider: meterProvider ?? metrics.getMeterProvider(),
  });

  const manual = new ManualRecording(meterProvider, config);
  const tokenmeter: Tokenmeter = {
    pricer,
    record: (call) => manual.record(call),
    recordCost: (cost) => manual.recordCost(cost),
    bridgeToPromClient: (promClient, registry) =>
      bridgeToPromClient(
        promClient,
        exporting.pull,
        attribution.labels,
        registry,
        exporting.resource.attributes,
      ),
    instrumentations,
    meterProvider,
    metricsUrl,
    async shutdown() {
      stopWatching();
      for (const instrumentation of instrumentations) instrumentation.disable();
      await exporting.shutdown();
    },
  };
  (globalThis as Record<symbol, Tokenmeter | undefined>)[GLOBAL_KEY] = tokenmeter;
  return tokenmeter;
}

const FLUSH_TIMEOUT_MS = Number(process.env.TOKENMETER_FLUSH_TIMEOUT_MS ?? 2000);

/**
 * Pushes pending OTLP telemetry when the app ends, within a bounded time, without changing how the
 * app exits: on a natural exit (`beforeExit`), and on SIGTERM/SIGINT — where, if Tokenmeter's is the
 * only handler, the signal is raised again after the flush so the process still ends by it.
 */
function flushOnExit(exporting: ExportSetup): void {
  if (!exporting.tracerProvider && !exporting.pushes) return;
  let flushed = false;
  process.once('beforeExit', () => {
    if (flushed) return;
    flushed = true;
    void exporting.flush(FLUSH_TIMEOUT_MS);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      const alone = process.listenerCount(signal) === 1;
      process.removeListener(signal, onSignal);
      void exporting.flush(FLUSH_TIMEOUT_MS).finally(() => {
        if (alone) process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
}

/** Records a call no instrumentation sees (a custom HTTP client, a local model). Starts Tokenmeter if needed. */
export function record(call: ManualCall): void {
  start().record(call);
}

/** Records a ready amount (an image provider, a payment fee) under a category. */
export function recordCost(cost: ManualCost): void {
  start().recordCost(cost);
}

/**
 * For apps that run their own OpenTelemetry SDK: Tokenmeter's instrumentations, configured with
 * pricing and attribution, to pass to the app's `NodeSDK({ instrumentations })` or
 * `registerInstrumentations`. Metrics and spans then go through the app's providers.
 */
export function tokenmeterInstrumentations(
  options: Pick<StartOptions, 'priceOverrides' | 'attributionLabels' | 'maxValuesPerLabel'> = {},
): Instrumentation[] {
  const overridesFile = options.priceOverrides ?? process.env.TOKENMETER_PRICE_OVERRIDES;
  const pricer = new Pricer({ overrides: overridesFile ? loadOverridesFile(overridesFile) : undefined });
  const attribution = new Attribution({
    labels: options.attributionLabels ?? ['tenant', 'feature'],
    maxValuesPerLabel: options.maxValuesPerLabel ?? 100,
  });
  const config = { pricer, contextAttributes: attribution.resolve };
  return createInstrumentations(config);
}
