import { type Attributes, diag } from '@opentelemetry/api';
import type { DataPoint } from '@opentelemetry/sdk-metrics';
import type { PullReader } from './exporters.js';

/** The contract's counters, as Prometheus names them. */
const BRIDGED: Record<string, { name: string; help: string }> = {
  'tokenmeter.tokens': { name: 'tokenmeter_tokens_total', help: 'Tokens used by LLM calls, by token_type' },
  'tokenmeter.calls': { name: 'tokenmeter_calls_total', help: 'LLM calls metered, by outcome' },
  'tokenmeter.cost.usd': {
    name: 'tokenmeter_cost_usd_total',
    help: 'Cost of LLM calls in USD, by cost_type',
  },
  'tokenmeter.unpriced_tokens': {
    name: 'tokenmeter_unpriced_tokens_total',
    help: 'Tokens of calls that could not be priced',
  },
};

const toLabel = (key: string) => key.replace(/[^a-zA-Z0-9_]/g, '_');

interface PromClientLike {
  Counter: new (config: any) => { reset(): void; inc(labels: Record<string, string>, value: number): void };
  Gauge?: new (config: any) => { set(labels: Record<string, string>, value: number): void };
  register: unknown;
}

/**
 * Serves Tokenmeter's contract counters from an app's existing prom-client registry and endpoint,
 * instead of a second port. Values are read from Tokenmeter at each scrape. `labels` are the
 * attribution labels in use (config `attribution.labels`). `resource` is served as `target_info`,
 * as Tokenmeter's own endpoint does: the budget rules tell a restarted process by it.
 */
export function bridgeToPromClient(
  promClient: PromClientLike,
  pull: PullReader,
  labels: string[],
  registry?: unknown,
  resource?: Attributes,
): void {
  if (resource) serveTargetInfo(promClient, resource, registry);
  const labelNames = [
    'gen_ai_provider_name',
    'gen_ai_request_model',
    'gen_ai_operation_name',
    'token_type',
    'cost_type',
    'outcome',
    ...labels.map(toLabel),
  ];
  let latest: Promise<Map<string, DataPoint<number>[]>> | undefined;
  // One collection per scrape, shared by the four counters.
  const points = () => {
    latest ??= pull.collect().then(({ resourceMetrics }) => {
      const byName = new Map<string, DataPoint<number>[]>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (BRIDGED[metric.descriptor.name])
            byName.set(metric.descriptor.name, metric.dataPoints as DataPoint<number>[]);
        }
      }
      setImmediate(() => {
        latest = undefined;
      });
      return byName;
    });
    return latest;
  };
  for (const [otelName, { name, help }] of Object.entries(BRIDGED)) {
    new promClient.Counter({
      name,
      help,
      labelNames,
      registers: [registry ?? promClient.register],
      async collect(this: { reset(): void; inc(labels: Record<string, string>, value: number): void }) {
        this.reset();
        for (const point of (await points()).get(otelName) ?? []) {
          const pointLabels: Record<string, string> = {};
          for (const [key, value] of Object.entries(point.attributes))
            pointLabels[toLabel(key)] = String(value);
          if (point.value > 0) this.inc(pointLabels, point.value);
        }
      },
    });
  }
}

function serveTargetInfo(promClient: PromClientLike, resource: Attributes, registry?: unknown): void {
  if (!promClient.Gauge) return;
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (value !== undefined) labels[toLabel(key)] = Array.isArray(value) ? value.join(',') : String(value);
  }
  try {
    new promClient.Gauge({
      name: 'target_info',
      help: 'Target metadata',
      labelNames: Object.keys(labels),
      registers: [registry ?? promClient.register],
    }).set(labels, 1);
  } catch (error) {
    // The app serves a target_info of its own: keep it (the rules then read that one).
    diag.warn(`tokenmeter: target_info not added to the prom-client registry: ${String(error)}`);
  }
}
