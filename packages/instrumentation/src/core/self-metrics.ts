import { type Counter, diag, type Meter } from '@opentelemetry/api';
import {
  METRIC_TOKENMETER_DEDUPLICATED_CALLS,
  METRIC_TOKENMETER_ESTIMATED_USAGE,
  METRIC_TOKENMETER_INTERNAL_ERRORS,
  METRIC_TOKENMETER_INVALID_USAGE,
} from '../semconv.js';

/**
 * Tokenmeter's observations of itself. A failure inside the instrumentation is caught, counted
 * here and logged through the OpenTelemetry diag logger; it never reaches the app.
 */
export class SelfMetrics {
  private internalErrors: Counter | undefined;
  private invalidUsage: Counter | undefined;
  private estimatedUsage: Counter | undefined;
  private deduplicatedCalls: Counter | undefined;
  /** Plain counters too, so tests and the demo can read them without a metrics pipeline. */
  readonly counts = { internalErrors: 0, invalidUsage: 0, estimatedUsage: 0, deduplicatedCalls: 0 };

  setMeter(meter: Meter): void {
    this.internalErrors = meter.createCounter(METRIC_TOKENMETER_INTERNAL_ERRORS, {
      description: 'Errors caught inside Tokenmeter instrumentation (never propagated to the app)',
    });
    this.invalidUsage = meter.createCounter(METRIC_TOKENMETER_INVALID_USAGE, {
      description: 'Calls whose provider-reported usage was missing or malformed and was dropped',
    });
    this.estimatedUsage = meter.createCounter(METRIC_TOKENMETER_ESTIMATED_USAGE, {
      description: 'Calls whose token usage was estimated with a tokenizer instead of reported',
    });
    this.deduplicatedCalls = meter.createCounter(METRIC_TOKENMETER_DEDUPLICATED_CALLS, {
      description:
        'Calls seen through a framework (Vercel AI SDK, LangChain) left to the vendor SDK instrumentation that metered them',
    });
  }

  internalError(where: string, error: unknown): void {
    this.counts.internalErrors++;
    try {
      this.internalErrors?.add(1, { where });
      diag.warn(`tokenmeter: internal error in ${where}`, error);
    } catch {
      // Reporting must not fail either.
    }
  }

  invalid(provider: string, reason: string): void {
    this.counts.invalidUsage++;
    this.invalidUsage?.add(1, { 'gen_ai.provider.name': provider, reason });
  }

  estimated(provider: string, reason: string): void {
    this.counts.estimatedUsage++;
    this.estimatedUsage?.add(1, { 'gen_ai.provider.name': provider, reason });
  }

  deduplicated(provider: string): void {
    this.counts.deduplicatedCalls++;
    this.deduplicatedCalls?.add(1, { 'gen_ai.provider.name': provider });
  }
}
