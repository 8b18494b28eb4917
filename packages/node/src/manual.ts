import { diag, trace } from '@opentelemetry/api';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  type CallPricer,
  type ContextAttributes,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  Recorder,
  type TokenUsage,
} from '@tokenmeter/instrumentation';

export interface ManualCall {
  /** `gen_ai.provider.name` (openai, anthropic, vllm, an internal name…). */
  provider: string;
  model: string;
  /** Default `chat`. */
  operation?: string;
  /** Usage in the conventions' shape: input includes cached tokens, output includes reasoning. */
  usage: Partial<TokenUsage> & { inputTokens: number };
  /** A cost the provider reported itself, in USD. */
  providerCostUsd?: number;
}

export interface ManualCost {
  /** What the cost is for (image-provider, payment-fee, …); the provider and model labels default to it. */
  category: string;
  amountUsd: number;
  provider?: string;
  model?: string;
}

/**
 * `record` and `recordCost` for work no instrumentation sees. Invalid input throws a clear
 * TypeError in development (`NODE_ENV` other than `production`) and is dropped with a counted
 * warning in production: recording must never crash an app that is serving users.
 */
export class ManualRecording {
  private readonly recorder: Recorder;

  constructor(
    meterProvider: MeterProvider | undefined,
    options: { pricer: CallPricer; contextAttributes: (ctx: any) => ContextAttributes | undefined },
  ) {
    this.recorder = new Recorder(
      () => trace.getTracer(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION),
      options,
    );
    if (meterProvider)
      this.recorder.setMeter(meterProvider.getMeter(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION));
  }

  record(call: ManualCall): void {
    const problem = checkCall(call);
    if (problem) {
      this.reject(`record(): ${problem}`);
      return;
    }
    const usage: TokenUsage = {
      inputTokens: call.usage.inputTokens,
      outputTokens: call.usage.outputTokens ?? 0,
      cacheReadInputTokens: call.usage.cacheReadInputTokens ?? 0,
      cacheWriteInputTokens: call.usage.cacheWriteInputTokens ?? 0,
      reasoningOutputTokens: call.usage.reasoningOutputTokens ?? 0,
    };
    const handle = this.recorder.start({
      operation: call.operation ?? 'chat',
      provider: call.provider,
      requestModel: call.model,
      stream: false,
      serverAddress: undefined,
      serverPort: undefined,
    });
    handle.finish({
      response: { usage, responseModel: call.model, providerCostUsd: call.providerCostUsd },
      billable: true,
    });
  }

  recordCost(cost: ManualCost): void {
    if (typeof cost?.category !== 'string' || cost.category === '') {
      this.reject('recordCost(): category must be a non-empty string');
      return;
    }
    if (typeof cost.amountUsd !== 'number' || !Number.isFinite(cost.amountUsd) || cost.amountUsd < 0) {
      this.reject(`recordCost(): amountUsd must be a non-negative number, got ${String(cost.amountUsd)}`);
      return;
    }
    this.recorder.recordCost(cost);
  }

  private reject(message: string): void {
    if (process.env.NODE_ENV !== 'production') throw new TypeError(`tokenmeter ${message}`);
    this.recorder.self.invalid('manual', message);
    diag.warn(`tokenmeter ${message}`);
  }
}

function checkCall(call: ManualCall): string | undefined {
  if (!call || typeof call !== 'object') return 'expected an object';
  if (typeof call.provider !== 'string' || !call.provider) return 'provider must be a non-empty string';
  if (typeof call.model !== 'string' || !call.model) return 'model must be a non-empty string';
  if (!call.usage || typeof call.usage !== 'object') return 'usage must be an object';
  for (const key of [
    'inputTokens',
    'outputTokens',
    'cacheReadInputTokens',
    'cacheWriteInputTokens',
    'reasoningOutputTokens',
  ] as const) {
    const value = call.usage[key];
    if (value === undefined && key !== 'inputTokens') continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
      return `usage.${key} must be a non-negative integer, got ${String(value)}`;
  }
  return undefined;
}
