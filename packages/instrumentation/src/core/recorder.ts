import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Histogram,
  INVALID_SPAN_CONTEXT,
  type Meter,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import * as sc from '../semconv.js';
import type {
  CallCost,
  CallPricer,
  CallRecord,
  CallRequest,
  CallResponse,
  TokenUsage,
} from './call-record.js';
import { CounterGroups } from './cumulative-counter.js';
import { countTokens, estimateInputTokens } from './estimate.js';
import { SelfMetrics } from './self-metrics.js';
import { validateUsage } from './usage.js';

/** Which GenAI-convention metrics to emit: the current names, the pre-rename ones, or both. */
export type SemconvMetricsMode = 'current' | 'legacy' | 'both' | 'none';

/** Runs after a call is complete and before its span ends: pricing adds cost here. */
export interface CallRecordProcessor {
  /** `metricAttributes` are the labels of this call's contract counters; read them, do not change them. */
  onCallEnd(record: CallRecord, span: Span, metricAttributes: Readonly<Attributes>): void;
}

export interface ContextAttributes {
  /** Attributes for the span (all attribution keys). */
  span?: Attributes;
  /** Attributes for metrics (only allow-listed keys, cardinality-capped). */
  metric?: Attributes;
  /** A string identifying `metric`'s values (e.g. the values joined); derived when absent. */
  metricKey?: string;
}

export interface RecorderOptions {
  semconvMetrics?: SemconvMetricsMode;
  /** Prices each call with usage (span cost attributes, `tokenmeter_cost_usd_total`). */
  pricer?: CallPricer | undefined;
  /** Attribution for the active context (tenant, feature, …), supplied by `@tokenmeter/node`. */
  contextAttributes?: (ctx: Context) => ContextAttributes | undefined;
  processors?: CallRecordProcessor[];
}

/** What the recorder needs to estimate tokens when the provider reports none. */
export interface EstimationSource {
  /** Texts of the request (messages, prompt, input) and the number of chat messages. */
  input(): { texts: string[]; messageCount: number };
}

export interface FinishArgs {
  response?: CallResponse | undefined;
  error?: unknown;
  /** True when the provider did (or may have) billed the call: a response arrived or a stream started. */
  billable: boolean;
  /** Output text seen so far, for estimation; only read when usage is missing. */
  outputText?: (() => string) | undefined;
  /** How a stream ended, for the span: completed, cancelled, error, abandoned. */
  streamOutcome?: string | undefined;
}

/** Counter groups: the contract's counters keyed by their labels, the conventions' by theirs. */
interface Instruments {
  /**
   * Slots: input, output, cache_read, cache_write, reasoning (token_type), then ok, error
   * (outcome), then the six cost types (USD).
   */
  tokenmeter: CounterGroups;
  /** By provider and model; slots: token types. */
  unpriced: CounterGroups;
  cost?: Histogram;
  current?: {
    /** Slots: input (all), output (all), cache read, cache write, reasoning. */
    usage: CounterGroups;
    duration: Histogram;
    timeToFirstChunk: Histogram;
  };
  legacy?: { tokenUsage: Histogram; duration: Histogram; timeToFirstChunk: Histogram };
}

const sharedInstruments = new WeakMap<Meter, Map<SemconvMetricsMode, Instruments>>();

const TOKEN_TYPES = ['input', 'output', 'cache_read', 'cache_write', 'reasoning'] as const;
const OUTCOMES = ['ok', 'error'] as const;
const COST_TYPES = ['input', 'output', 'cache_read', 'cache_write', 'reasoning', 'other'] as const;
const COST_OFFSET = TOKEN_TYPES.length + OUTCOMES.length;

export function semconvMetricsModeFromEnv(value: string | undefined): SemconvMetricsMode | undefined {
  const mode = value?.trim().toLowerCase();
  return mode === 'current' || mode === 'legacy' || mode === 'both' || mode === 'none' ? mode : undefined;
}

/**
 * Turns normalized call records into one CLIENT span per call and the metrics of the contract.
 * Provider-neutral: adapters hand it `CallRequest`/`CallResponse`, it never sees an SDK object.
 */
export class Recorder {
  readonly self = new SelfMetrics();
  private instruments: Instruments | undefined;
  private options: RecorderOptions;

  constructor(
    private readonly getTracer: () => Tracer,
    options: RecorderOptions = {},
  ) {
    this.options = { ...options };
  }

  configure(options: RecorderOptions): void {
    this.options = { ...this.options, ...options };
  }

  get semconvMetrics(): SemconvMetricsMode {
    return (
      this.options.semconvMetrics ??
      semconvMetricsModeFromEnv(process.env.TOKENMETER_SEMCONV_METRICS) ??
      'current'
    );
  }

  setMeter(meter: Meter): void {
    this.self.setMeter(meter);
    // Every recorder on one meter (the OpenAI and Anthropic instrumentations, manual recording)
    // shares one set of instruments: observable counters registered twice would report twice.
    const mode = this.semconvMetrics;
    const shared = sharedInstruments.get(meter)?.get(mode);
    if (shared) {
      this.instruments = shared;
      return;
    }
    this.instruments = this.createInstruments(meter, mode);
    const byMode = sharedInstruments.get(meter) ?? new Map<SemconvMetricsMode, Instruments>();
    byMode.set(mode, this.instruments);
    sharedInstruments.set(meter, byMode);
  }

  private createInstruments(meter: Meter, mode: SemconvMetricsMode): Instruments {
    const tokenAdvice = { advice: { explicitBucketBoundaries: sc.TOKEN_BUCKETS } };
    const durationAdvice = { advice: { explicitBucketBoundaries: sc.DURATION_BUCKETS } };
    const tokenmeter = new CounterGroups(COST_OFFSET + COST_TYPES.length);
    tokenmeter.observeLabelled(
      meter,
      sc.METRIC_TOKENMETER_TOKENS,
      {
        description:
          'Tokens used by LLM calls, by token_type (input excludes cache; output excludes reasoning)',
      },
      sc.ATTR_TOKEN_TYPE,
      TOKEN_TYPES,
    );
    tokenmeter.observeLabelled(
      meter,
      sc.METRIC_TOKENMETER_CALLS,
      { description: 'LLM calls metered, by outcome' },
      sc.ATTR_OUTCOME,
      OUTCOMES,
      TOKEN_TYPES.length,
    );
    tokenmeter.observeLabelled(
      meter,
      sc.METRIC_TOKENMETER_COST,
      { description: 'Cost of LLM calls in USD, by cost_type (the types add up to the call cost)' },
      sc.ATTR_COST_TYPE,
      COST_TYPES,
      COST_OFFSET,
    );
    const unpriced = new CounterGroups(TOKEN_TYPES.length);
    unpriced.observeLabelled(
      meter,
      sc.METRIC_TOKENMETER_UNPRICED_TOKENS,
      { description: 'Tokens of calls that could not be priced (the model needs a price), by token_type' },
      sc.ATTR_TOKEN_TYPE,
      TOKEN_TYPES,
    );
    const instruments: Instruments = { tokenmeter, unpriced };
    if (mode !== 'none') {
      instruments.cost = meter.createHistogram(sc.METRIC_GEN_AI_CLIENT_OPERATION_COST, {
        unit: '{USD}',
        description: 'Cost of a GenAI operation (semantic-conventions-genai draft PR #443)',
      });
    }
    if (mode === 'current' || mode === 'both') {
      const usage = new CounterGroups(5);
      const counters: Array<[string, string]> = [
        [sc.METRIC_GEN_AI_INFERENCE_USAGE_INPUT_TOKENS, 'Input tokens used, including cached tokens'],
        [sc.METRIC_GEN_AI_INFERENCE_USAGE_OUTPUT_TOKENS, 'Output tokens used, including reasoning'],
        [sc.METRIC_GEN_AI_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS, 'Input tokens read from cache'],
        [sc.METRIC_GEN_AI_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS, 'Input tokens written to cache'],
        [sc.METRIC_GEN_AI_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS, 'Output tokens used for reasoning'],
      ];
      for (const [slot, [name, description]] of counters.entries()) {
        usage.observe(meter, name, { unit: '{token}', description }, slot);
      }
      instruments.current = {
        usage,
        duration: meter.createHistogram(sc.METRIC_GEN_AI_INFERENCE_DURATION, {
          unit: 's',
          description: 'GenAI inference duration',
          ...durationAdvice,
        }),
        timeToFirstChunk: meter.createHistogram(sc.METRIC_GEN_AI_INFERENCE_TIME_TO_FIRST_CHUNK, {
          unit: 's',
          description: 'Time to receive the first chunk of a streamed response',
          ...durationAdvice,
        }),
      };
    }
    if (mode === 'legacy' || mode === 'both') {
      instruments.legacy = {
        tokenUsage: meter.createHistogram(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
          unit: '{token}',
          description: 'Number of input and output tokens used',
          ...tokenAdvice,
        }),
        duration: meter.createHistogram(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
          unit: 's',
          description: 'GenAI operation duration',
          ...durationAdvice,
        }),
        timeToFirstChunk: meter.createHistogram(sc.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, {
          unit: 's',
          description: 'Time to receive the first chunk of a streamed response',
          ...durationAdvice,
        }),
      };
    }
    return instruments;
  }

  /**
   * A ready amount that no instrumented call produced (an image provider, a payment fee), added to
   * `tokenmeter_cost_usd_total` as cost type `other` under its category.
   */
  recordCost(
    cost: { category: string; amountUsd: number; provider?: string; model?: string },
    ctx: Context = context.active(),
  ): void {
    const instruments = this.instruments;
    if (!instruments) return;
    const provider = cost.provider ?? cost.category;
    const model = cost.model ?? cost.category;
    const attribution = this.contextAttributes(ctx);
    const base: Attributes = {
      [sc.ATTR_GEN_AI_PROVIDER_NAME]: provider,
      [sc.ATTR_GEN_AI_REQUEST_MODEL]: model,
      [sc.ATTR_GEN_AI_OPERATION_NAME]: 'other',
      ...attribution?.metric,
    };
    const counts = instruments.tokenmeter.values(
      [provider, model, 'other', attributionKey(attribution)],
      () => ({ ...base }),
    );
    counts[COST_OFFSET + COST_TYPES.indexOf('other')]! += cost.amountUsd;
  }

  /** Starts the span of one call. Never throws: a failure yields a handle that records nothing. */
  start(request: CallRequest, estimation?: EstimationSource, startedAt?: StartTime): CallHandle {
    const parent = startedAt?.parent ?? context.active();
    FrameworkCall.coverEnclosing(parent);
    let span: Span;
    try {
      span = this.getTracer().startSpan(
        spanName(request),
        {
          kind: SpanKind.CLIENT,
          attributes: requestAttributes(request),
          startTime: startedAt?.timeMs,
        },
        parent,
      );
    } catch (error) {
      this.self.internalError('start', error);
      span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    }
    return new CallHandle(this, request, span, parent, estimation, startedAt);
  }

  /**
   * Starts a call seen through a framework that sits above the vendor SDKs (the Vercel AI SDK,
   * LangChain). The framework runs the provider request inside the returned call's `context`; if
   * an instrumented vendor SDK meters that request itself (it knows the exact usage and provider),
   * the framework's call records nothing, so no call is counted twice.
   */
  startFramework(request: CallRequest, estimation?: EstimationSource): FrameworkCall {
    return new FrameworkCall(this, request, estimation);
  }

  /** @internal Called once per call by `CallHandle.finish`. */
  complete(handle: CallHandle, args: FinishArgs): void {
    const { request, span } = handle;
    const response = args.response;
    const errorType = args.error === undefined ? undefined : errorTypeOf(args.error);
    let usage: TokenUsage | undefined;
    let usageEstimated = false;
    if (response?.usage !== undefined || args.billable) {
      const validated = validateUsage(response?.usage);
      usage = validated.usage;
      if (validated.problem && validated.problem !== 'missing')
        this.self.invalid(request.provider, validated.problem);
      if (!usage && args.billable && handle.estimation) {
        usage = this.estimate(handle, args);
        usageEstimated = usage !== undefined;
        if (usageEstimated) this.self.estimated(request.provider, validated.problem ?? 'missing');
      }
    }
    const endTime = performance.now();
    const record: CallRecord = {
      ...request,
      responseModel: response?.responseModel,
      responseId: response?.responseId,
      finishReasons: response?.finishReasons,
      usage,
      usageEstimated,
      providerUsage: response?.providerUsage,
      providerCostUsd: response?.providerCostUsd,
      errorType,
      startTimeMs: handle.startTimeMs,
      durationSeconds: (endTime - handle.startPerf) / 1000,
      timeToFirstChunkSeconds:
        handle.firstChunkPerf === undefined ? undefined : (handle.firstChunkPerf - handle.startPerf) / 1000,
    };

    const tier =
      response?.attributes?.[sc.ATTR_OPENAI_RESPONSE_SERVICE_TIER] ??
      response?.attributes?.[sc.ATTR_ANTHROPIC_RESPONSE_SERVICE_TIER];
    if (typeof tier === 'string') record.serviceTier = tier;
    record.cost = this.priceCall(record);
    const ctxAttributes = this.contextAttributes(handle.parentContext);
    this.annotateSpan(span, record, response, args, ctxAttributes?.span);
    const metricAttributes: Attributes = {
      [sc.ATTR_GEN_AI_PROVIDER_NAME]: request.provider,
      [sc.ATTR_GEN_AI_REQUEST_MODEL]: request.requestModel ?? 'unknown',
      [sc.ATTR_GEN_AI_OPERATION_NAME]: request.operation,
      ...ctxAttributes?.metric,
    };
    for (const processor of this.options.processors ?? []) {
      try {
        processor.onCallEnd(record, span, metricAttributes);
      } catch (error) {
        this.self.internalError('processor', error);
      }
    }
    try {
      this.recordMetrics(record, metricAttributes, attributionKey(ctxAttributes));
    } catch (error) {
      this.self.internalError('metrics', error);
    }
    span.end();
  }

  /** Prices by the response model (the exact snapshot) first, then by the requested one. */
  private priceCall(record: CallRecord): CallCost | undefined {
    const pricer = this.options.pricer;
    if (!pricer || !record.usage) return undefined;
    try {
      const primary = record.responseModel ?? record.requestModel;
      if (primary === undefined) return { priced: false, reason: 'the call reported no model' };
      const request = {
        provider: record.provider,
        model: primary,
        usage: record.usage,
        providerCostUsd: record.providerCostUsd,
        at: record.startTimeMs,
        serviceTier: record.serviceTier,
      };
      let cost = pricer.price(request);
      if (!cost.priced && record.requestModel !== undefined && record.requestModel !== primary) {
        const byRequest = pricer.price({ ...request, model: record.requestModel });
        if (byRequest.priced) cost = byRequest;
      }
      return cost;
    } catch (error) {
      this.self.internalError('pricing', error);
      return undefined;
    }
  }

  private contextAttributes(ctx: Context): ContextAttributes | undefined {
    const provider = this.options.contextAttributes;
    if (!provider) return undefined;
    try {
      return provider(ctx);
    } catch (error) {
      this.self.internalError('context_attributes', error);
      return undefined;
    }
  }

  private estimate(handle: CallHandle, args: FinishArgs): TokenUsage | undefined {
    try {
      const model = handle.request.requestModel;
      const { texts, messageCount } = handle.estimation!.input();
      const outputText = args.outputText?.() ?? '';
      return {
        inputTokens: estimateInputTokens(texts, messageCount, model),
        outputTokens: countTokens(outputText, model),
        cacheReadInputTokens: 0,
        cacheWriteInputTokens: 0,
        reasoningOutputTokens: 0,
      };
    } catch (error) {
      this.self.internalError('estimate', error);
      return undefined;
    }
  }

  private annotateSpan(
    span: Span,
    record: CallRecord,
    response: CallResponse | undefined,
    args: FinishArgs,
    contextSpanAttributes: Attributes | undefined,
  ): void {
    if (!span.isRecording()) return;
    try {
      const attributes: Attributes = {};
      if (record.responseModel !== undefined)
        attributes[sc.ATTR_GEN_AI_RESPONSE_MODEL] = record.responseModel;
      if (record.responseId !== undefined) attributes[sc.ATTR_GEN_AI_RESPONSE_ID] = record.responseId;
      if (record.finishReasons !== undefined)
        attributes[sc.ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = record.finishReasons;
      const usage = record.usage;
      if (usage) {
        attributes[sc.ATTR_GEN_AI_USAGE_INPUT_TOKENS] = usage.inputTokens;
        attributes[sc.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = usage.outputTokens;
        attributes[sc.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cacheReadInputTokens;
        attributes[sc.ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cacheWriteInputTokens;
        attributes[sc.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoningOutputTokens;
      }
      if (record.usageEstimated) attributes[sc.ATTR_TOKENMETER_USAGE_ESTIMATED] = true;
      const cost = record.cost;
      if (cost?.priced) {
        attributes[sc.ATTR_GEN_AI_USAGE_COST_AMOUNT] = cost.amountUsd;
        attributes[sc.ATTR_GEN_AI_USAGE_COST_CURRENCY] = cost.currency;
        attributes[sc.ATTR_GEN_AI_USAGE_COST_SOURCE] = cost.source;
        attributes[sc.ATTR_TOKENMETER_PRICING_MODEL] = cost.pricingModel;
        for (const type of COST_TYPES)
          attributes[`${sc.ATTR_TOKENMETER_COST_PREFIX}${type}`] = cost.breakdown[type];
      } else if (cost) {
        attributes[sc.ATTR_TOKENMETER_PRICING_STATUS] = 'unpriced';
        attributes[sc.ATTR_TOKENMETER_PRICING_REASON] = cost.reason;
      }
      if (args.streamOutcome !== undefined)
        attributes[sc.ATTR_TOKENMETER_STREAM_OUTCOME] = args.streamOutcome;
      if (response?.attributes) Object.assign(attributes, response.attributes);
      if (contextSpanAttributes) Object.assign(attributes, contextSpanAttributes);
      if (record.errorType !== undefined) {
        attributes[sc.ATTR_ERROR_TYPE] = record.errorType;
        // No message: provider error texts can echo request details (a masked API key, say).
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.setAttributes(attributes);
    } catch (error) {
      this.self.internalError('span', error);
    }
  }

  private recordMetrics(record: CallRecord, base: Attributes, attribution: string): void {
    const instruments = this.instruments;
    if (!instruments) return;
    const usage = record.usage;
    const counts = instruments.tokenmeter.values(
      [record.provider, record.requestModel, record.operation, attribution],
      () => ({ ...base }),
    );
    counts[TOKEN_TYPES.length + (record.errorType === undefined ? 0 : 1)]! += 1;
    if (usage) {
      const uncached = usage.inputTokens - usage.cacheReadInputTokens - usage.cacheWriteInputTokens;
      const visible = usage.outputTokens - usage.reasoningOutputTokens;
      counts[0]! += uncached;
      counts[1]! += visible;
      counts[2]! += usage.cacheReadInputTokens;
      counts[3]! += usage.cacheWriteInputTokens;
      counts[4]! += usage.reasoningOutputTokens;
      const cost = record.cost;
      if (cost?.priced) {
        for (let index = 0; index < COST_TYPES.length; index++) {
          counts[COST_OFFSET + index]! += cost.breakdown[COST_TYPES[index]!];
        }
      } else if (cost) {
        // Unpriced usage is counted apart, never as $0, so an alert can name the model to price.
        const unpriced = instruments.unpriced.values([record.provider, record.requestModel], () => ({
          [sc.ATTR_GEN_AI_PROVIDER_NAME]: record.provider,
          [sc.ATTR_GEN_AI_REQUEST_MODEL]: record.requestModel ?? 'unknown',
        }));
        unpriced[0]! += uncached;
        unpriced[1]! += visible;
        unpriced[2]! += usage.cacheReadInputTokens;
        unpriced[3]! += usage.cacheWriteInputTokens;
        unpriced[4]! += usage.reasoningOutputTokens;
      }
    }

    const semconv: Attributes = {
      [sc.ATTR_GEN_AI_OPERATION_NAME]: record.operation,
      [sc.ATTR_GEN_AI_PROVIDER_NAME]: record.provider,
    };
    if (record.requestModel !== undefined) semconv[sc.ATTR_GEN_AI_REQUEST_MODEL] = record.requestModel;
    if (record.responseModel !== undefined) semconv[sc.ATTR_GEN_AI_RESPONSE_MODEL] = record.responseModel;
    if (record.serverAddress !== undefined) semconv[sc.ATTR_SERVER_ADDRESS] = record.serverAddress;
    if (record.serverPort !== undefined) semconv[sc.ATTR_SERVER_PORT] = record.serverPort;
    const timed: Attributes =
      record.errorType === undefined ? semconv : { ...semconv, [sc.ATTR_ERROR_TYPE]: record.errorType };

    if (record.cost?.priced && instruments.cost) instruments.cost.record(record.cost.amountUsd, semconv);
    const current = instruments.current;
    if (current) {
      // The conventions ask for a 0 with modality `unknown` when no usage was received.
      const modality = usage ? 'text' : 'unknown';
      const key = [
        record.provider,
        record.requestModel,
        record.operation,
        record.responseModel,
        record.serverAddress,
        record.serverPort,
        record.errorType,
        modality,
      ];
      const tokens = current.usage.values(key, () => ({
        ...timed,
        [sc.ATTR_GEN_AI_TOKEN_MODALITY]: modality,
      }));
      if (usage) {
        tokens[0]! += usage.inputTokens;
        tokens[1]! += usage.outputTokens;
        tokens[2]! += usage.cacheReadInputTokens;
        tokens[3]! += usage.cacheWriteInputTokens;
        tokens[4]! += usage.reasoningOutputTokens;
      }
      current.duration.record(record.durationSeconds, timed);
      if (record.timeToFirstChunkSeconds !== undefined) {
        current.timeToFirstChunk.record(record.timeToFirstChunkSeconds, semconv);
      }
    }
    const legacy = instruments.legacy;
    if (legacy) {
      if (usage) {
        legacy.tokenUsage.record(usage.inputTokens, { ...semconv, [sc.ATTR_GEN_AI_TOKEN_TYPE]: 'input' });
        legacy.tokenUsage.record(usage.outputTokens, { ...semconv, [sc.ATTR_GEN_AI_TOKEN_TYPE]: 'output' });
      }
      legacy.duration.record(record.durationSeconds, timed);
      if (record.timeToFirstChunkSeconds !== undefined) {
        legacy.timeToFirstChunk.record(record.timeToFirstChunkSeconds, semconv);
      }
    }
  }
}

/** When (and under which parent) a call began, for a span started after the fact. */
export interface StartTime {
  timeMs: number;
  perf: number;
  firstChunkPerf: number | undefined;
  parent: Context;
}

/** What stream observation needs from a call, whichever kind it is. */
export interface MeteredCall {
  readonly finished: boolean;
  firstChunk(): void;
  finish(args: FinishArgs): void;
  internalError(where: string, error: unknown): void;
}

/** One in-flight call. `finish` takes effect once, whichever path (parse, stream end, abort, GC) gets there first. */
export class CallHandle implements MeteredCall {
  readonly context: Context;
  /** False for the no-op span of an app without tracing: there is no context to hand on. */
  readonly propagates: boolean;
  readonly startTimeMs: number;
  readonly startPerf: number;
  firstChunkPerf: number | undefined;
  private done = false;

  constructor(
    private readonly recorder: Recorder,
    readonly request: CallRequest,
    readonly span: Span,
    readonly parentContext: Context,
    readonly estimation: EstimationSource | undefined,
    startedAt?: StartTime,
  ) {
    this.startTimeMs = startedAt?.timeMs ?? Date.now();
    this.startPerf = startedAt?.perf ?? performance.now();
    this.firstChunkPerf = startedAt?.firstChunkPerf;
    this.propagates = trace.isSpanContextValid(span.spanContext());
    this.context = this.propagates ? trace.setSpan(parentContext, span) : parentContext;
  }

  get finished(): boolean {
    return this.done;
  }

  /** The request's details became known after the span started (options passed as a promise). */
  requestDescribed(): void {
    // A non-recording span (no tracer provider, or sampled out) keeps nothing: skip the work.
    if (!this.span.isRecording()) return;
    try {
      this.span.updateName(spanName(this.request));
      this.span.setAttributes(requestAttributes(this.request));
    } catch (error) {
      this.internalError('request_described', error);
    }
  }

  firstChunk(): void {
    if (this.firstChunkPerf === undefined) this.firstChunkPerf = performance.now();
  }

  finish(args: FinishArgs): void {
    if (this.done) return;
    this.done = true;
    try {
      this.recorder.complete(this, args);
    } catch (error) {
      this.recorder.self.internalError('finish', error);
    }
  }

  internalError(where: string, error: unknown): void {
    this.recorder.self.internalError(where, error);
  }
}

const FRAMEWORK_CALL = createContextKey('tokenmeter framework call');

/**
 * A call seen through a framework above the vendor SDKs. Its span is only created when it
 * finishes and nothing underneath metered the same request; it then starts at the call's start.
 */
export class FrameworkCall implements MeteredCall {
  /** Run the provider request in this context: vendor-SDK calls started in it cover this call. */
  readonly context: Context;
  /** Set when an instrumented vendor SDK metered a request of this call. */
  covered = false;
  private readonly startTimeMs = Date.now();
  private readonly startPerf = performance.now();
  private firstChunkPerf: number | undefined;
  private readonly parent: Context;
  private readonly enclosing: FrameworkCall | undefined;
  private done = false;

  constructor(
    private readonly recorder: Recorder,
    readonly request: CallRequest,
    private readonly estimation: EstimationSource | undefined,
  ) {
    this.parent = context.active();
    this.enclosing = this.parent.getValue(FRAMEWORK_CALL) as FrameworkCall | undefined;
    this.context = this.parent.setValue(FRAMEWORK_CALL, this);
  }

  /** A call metered in `ctx` covers every framework call it runs inside. */
  static coverEnclosing(ctx: Context): void {
    let call = ctx.getValue(FRAMEWORK_CALL) as FrameworkCall | undefined;
    while (call && !call.covered) {
      call.covered = true;
      call = call.enclosing;
    }
  }

  get finished(): boolean {
    return this.done;
  }

  firstChunk(): void {
    if (this.firstChunkPerf === undefined) this.firstChunkPerf = performance.now();
  }

  finish(args: FinishArgs): void {
    if (this.done) return;
    this.done = true;
    if (this.covered) {
      this.recorder.self.deduplicated(this.request.provider);
      return;
    }
    try {
      const handle = this.recorder.start(this.request, this.estimation, {
        timeMs: this.startTimeMs,
        perf: this.startPerf,
        firstChunkPerf: this.firstChunkPerf,
        parent: this.parent,
      });
      handle.finish(args);
    } catch (error) {
      this.recorder.self.internalError('finish', error);
    }
  }

  internalError(where: string, error: unknown): void {
    this.recorder.self.internalError(where, error);
  }
}

function attributionKey(attributes: ContextAttributes | undefined): string {
  const metric = attributes?.metric;
  if (!metric) return '';
  if (attributes.metricKey !== undefined) return attributes.metricKey;
  let key = '';
  for (const name in metric) key += `${name}=${String(metric[name])}\u001f`;
  return key;
}

function spanName(request: CallRequest): string {
  return request.requestModel ? `${request.operation} ${request.requestModel}` : request.operation;
}

function requestAttributes(request: CallRequest): Attributes {
  const attributes: Attributes = {
    [sc.ATTR_GEN_AI_OPERATION_NAME]: request.operation,
    [sc.ATTR_GEN_AI_PROVIDER_NAME]: request.provider,
    [sc.ATTR_GEN_AI_REQUEST_STREAM]: request.stream,
  };
  if (request.requestModel !== undefined) attributes[sc.ATTR_GEN_AI_REQUEST_MODEL] = request.requestModel;
  if (request.serverAddress !== undefined) attributes[sc.ATTR_SERVER_ADDRESS] = request.serverAddress;
  if (request.serverPort !== undefined) attributes[sc.ATTR_SERVER_PORT] = request.serverPort;
  if (request.attributes) Object.assign(attributes, request.attributes);
  return attributes;
}

/** Where SDKs keep the HTTP status of an API error: Stainless `status`, Fern `statusCode`, Ollama `status_code`, AWS `$metadata`. */
function httpStatusOf(error: Record<string, any>): unknown {
  return error.status ?? error.statusCode ?? error.status_code ?? error.$metadata?.httpStatusCode;
}

/**
 * `error.type`: the HTTP status for API errors (low cardinality, what dashboards group by),
 * otherwise the error's class name (APIConnectionTimeoutError, APIUserAbortError, SyntaxError…).
 */
export function errorTypeOf(error: unknown): string {
  if (error && typeof error === 'object') {
    const status = httpStatusOf(error as Record<string, any>);
    if (typeof status === 'number' && status >= 400) return String(status);
    const name = (error as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== 'Object') return name;
    // A provider's plain error object, as streams deliver them (`{ type: 'overloaded_error' }`,
    // `{ code: 'server_error' }`, `{ error: { type } }`): named by its type.
    const e = error as Record<string, any>;
    const type = [e.type, e.code, e.error?.type].find(
      (value): value is string => typeof value === 'string' && value.length > 0 && value.length <= 64,
    );
    if (type) return type;
  }
  return '_OTHER';
}
