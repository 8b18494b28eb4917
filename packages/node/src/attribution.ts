import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  diag,
  propagation,
} from '@opentelemetry/api';
import type { ContextAttributes } from '@tokenmeter/instrumentation';

/** Attribution values for the calls made in a context: tenant, feature, … */
export type AttributionValues = Record<string, string | number | boolean | undefined>;

/** A mutable holder per `withAttributes` scope, so `setAttributes` can add to the current scope. */
interface Scope {
  values: Record<string, string>;
}

const SCOPE = createContextKey('tokenmeter.attribution');
export const OTHER_VALUE = '__other__';
const MAX_VALUE_LENGTH = 128;

function sanitize(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  // Printable text only, bounded: a label value must never carry a prompt or a multi-KB id.
  let text = '';
  for (const char of String(value)) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code !== 0x7f) text += char;
    if (text.length >= MAX_VALUE_LENGTH) break;
  }
  text = text.trim();
  return text === '' ? undefined : text;
}

function merge(base: Record<string, string> | undefined, values: AttributionValues): Record<string, string> {
  const merged: Record<string, string> = { ...base };
  for (const [key, value] of Object.entries(values)) {
    const clean = sanitize(value);
    if (clean === undefined) delete merged[key];
    else merged[key] = clean;
  }
  return merged;
}

/**
 * Runs `fn` with attribution attached to every LLM call made inside it, across `await`s, timers and
 * streams (the OpenTelemetry context follows the async flow). Nested calls add to or override the
 * outer values.
 */
export function withAttributes<T>(values: AttributionValues, fn: () => T): T {
  const active = context.active();
  const outer = active.getValue(SCOPE) as Scope | undefined;
  const scope: Scope = { values: merge(outer?.values, values) };
  return context.with(active.setValue(SCOPE, scope), fn);
}

/**
 * Adds attribution to the current `withAttributes` scope (or middleware scope) from inside it, for
 * values known only later (the tenant after authentication, say). Outside any scope it does nothing
 * and says so once through the OpenTelemetry diag logger.
 */
export function setAttributes(values: AttributionValues): void {
  const scope = context.active().getValue(SCOPE) as Scope | undefined;
  if (!scope) {
    diag.warn(
      'tokenmeter: setAttributes() outside withAttributes() or an attribution middleware has no effect',
    );
    return;
  }
  scope.values = merge(scope.values, values);
}

/** The attribution of a context: its scope's values, with W3C baggage for keys the scope lacks. */
export function currentAttributes(ctx: Context = context.active()): Record<string, string> {
  const scope = ctx.getValue(SCOPE) as Scope | undefined;
  const baggage = propagation.getBaggage(ctx);
  if (!baggage) return scope?.values ?? {};
  const fromBaggage: Record<string, string> = {};
  for (const [key, entry] of baggage.getAllEntries()) {
    const clean = sanitize(entry.value);
    if (clean !== undefined) fromBaggage[key] = clean;
  }
  return { ...fromBaggage, ...scope?.values };
}

export interface AttributionOptions {
  /** Keys that become metric labels (default tenant, feature). All keys go on spans. */
  labels: string[];
  /** Distinct values kept per label; further values are reported as `__other__`. */
  maxValuesPerLabel: number;
}

/**
 * Turns the attribution of a call's context into span attributes (all keys) and metric labels
 * (allow-listed keys only, each capped in distinct values), so a bug cannot explode Prometheus
 * cardinality.
 */
export class Attribution {
  private readonly seen = new Map<string, Set<string>>();

  get labels(): string[] {
    return this.options.labels;
  }

  constructor(private readonly options: AttributionOptions) {
    for (const label of options.labels) this.seen.set(label, new Set());
  }

  resolve = (ctx: Context): ContextAttributes | undefined => {
    const values = currentAttributes(ctx);
    let any = false;
    for (const _ in values) {
      any = true;
      break;
    }
    if (!any) return undefined;
    const metric: Attributes = {};
    let metricKey = '';
    for (const label of this.options.labels) {
      const value = values[label];
      if (value === undefined) continue;
      const capped = this.cap(label, value);
      metric[label] = capped;
      metricKey += `${label}=${capped}\u001f`;
    }
    return { span: values, metric, metricKey };
  };

  private cap(label: string, value: string): string {
    const values = this.seen.get(label)!;
    if (values.has(value)) return value;
    if (values.size >= this.options.maxValuesPerLabel) return OTHER_VALUE;
    values.add(value);
    return value;
  }
}

/** Express / Connect middleware: attribution per request, from headers or a function. */
export function expressAttribution(resolve: (request: any) => AttributionValues) {
  return (request: any, _response: unknown, next: (error?: unknown) => void) => {
    let values: AttributionValues;
    try {
      values = resolve(request);
    } catch (error) {
      diag.warn('tokenmeter: attribution resolver failed', error);
      next();
      return;
    }
    withAttributes(values, () => next());
  };
}

/** Fastify `onRequest` hook: `app.addHook('onRequest', fastifyAttribution(req => ({ tenant: … })))`. */
export function fastifyAttribution(resolve: (request: any) => AttributionValues) {
  return (request: any, _reply: unknown, done: (error?: Error) => void) => {
    let values: AttributionValues;
    try {
      values = resolve(request);
    } catch (error) {
      diag.warn('tokenmeter: attribution resolver failed', error);
      done();
      return;
    }
    withAttributes(values, () => done());
  };
}
