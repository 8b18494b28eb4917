import { context } from '@opentelemetry/api';
import { InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { finishWithResponse } from '../core/meter-call.js';
import type { FrameworkCall, Recorder } from '../core/recorder.js';
import { finishWhenAbandoned } from '../core/stream.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import {
  completeRequest,
  describeEmbeddingCall,
  describeLanguageModelCall,
  embeddingEstimation,
  promptEstimation,
  readEmbedResult,
  readGenerateResult,
  SpecStreamObserver,
} from './adapter.js';

export type VercelAIInstrumentationConfig = TokenmeterInstrumentationConfig;

type AnyRecord = Record<PropertyKey, any>;
type ModelKind = 'language' | 'embedding';
type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/**
 * The `ai` functions that take a `model` (or a `prepareStep` that may return one). Each resolves the
 * model and calls its `doGenerate` / `doStream` / `doEmbed` once per provider request.
 */
const ENTRY_POINTS: ReadonlyArray<readonly [string, ModelKind]> = [
  ['generateText', 'language'],
  ['streamText', 'language'],
  ['generateObject', 'language'],
  ['streamObject', 'language'],
  ['experimental_streamTextLowMemory', 'language'],
  ['experimental_streamLanguageModelCall', 'language'],
  ['embed', 'embedding'],
  ['embedMany', 'embedding'],
];

/**
 * Agent classes whose methods call the internal `generateText` / `streamText`, not the exports:
 * ai 6/7's `ToolLoopAgent` (also exported as `Experimental_Agent`) builds their arguments in
 * `prepareCall`; ai 5's `Experimental_Agent` has no `prepareCall`, its `generate` / `stream` pass
 * `{ ...this.settings, ...options }` straight on.
 */
const AGENT_CLASSES = ['ToolLoopAgent', 'Experimental_Agent'];
const AI5_AGENT_METHODS = ['generate', 'stream'];

/**
 * Meters the Vercel AI SDK (`ai` 5.x–7.x) with any provider package (`@ai-sdk/openai`,
 * `@ai-sdk/anthropic`, `@ai-sdk/google`, the AI Gateway, community providers). The providers call
 * their APIs with `fetch`, so the vendor SDK instrumentations do not see them; what every provider
 * does share is the model specification: `ai` calls the model's `doGenerate` / `doStream` /
 * `doEmbed` once per provider request (a tool loop of three steps is three calls, a retry is one
 * more) and gets back provider-neutral usage.
 *
 * Hook: the `ai` entry points (`generateText`, `streamText`, `generateObject`, `streamObject`,
 * `embed`, `embedMany`, …) and the agents (`ToolLoopAgent`'s argument preparation, ai 5's
 * `Experimental_Agent#generate` / `#stream`) get the app's `model` replaced
 * by a transparent Proxy whose `do*` methods are metered (model ids given as strings are resolved
 * first, as `ai` does, through the global provider / AI Gateway); a `prepareStep` that returns
 * another model has that model proxied too. Under `import` the namespace is patched
 * (import-in-the-middle); under `require` the exports are read-only (ai 7 is ESM-only and loads
 * through Node's require(esm); ai 5/6's CommonJS build exports getters), so the app receives a copy
 * of them with the entry points wrapped.
 *
 * Each request is a framework call (`Recorder.startFramework`): if an instrumented vendor SDK
 * meters the same request underneath (a community provider built on the `openai` SDK), this call
 * records nothing, so nothing is counted twice.
 *
 * The SDK's own telemetry is left alone: it is off unless the app asks for it (`ai` 5/6:
 * `experimental_telemetry: { isEnabled: true }` → spans `ai.generateText.doGenerate` /
 * `ai.streamText.doStream` with `gen_ai.usage.input_tokens` / `output_tokens`, scope `ai`; `ai` 7:
 * an integration such as `@ai-sdk/otel`). Tokenmeter's span then nests under the SDK's model-call
 * span. Tokenmeter's counters never read spans, so they count each request once either way; a
 * Collector that derives usage or cost from spans must take only Tokenmeter's
 * (scope `@tokenmeter/instrumentation`), or it counts the SDK's span for the same request as well.
 *
 * Not metered: image, speech, transcription, reranking and video models (not token-priced LLM
 * calls), `experimental_decide` / `experimental_extract` (their own model specifications), and
 * requests a model object makes outside `doGenerate` / `doStream` / `doEmbed`. A middleware that
 * answers from a cache inside a wrapped model still looks like a provider request.
 */
export class VercelAIInstrumentation extends LlmInstrumentation<VercelAIInstrumentationConfig> {
  /** Namespace → what the app was handed instead (require(esm) namespaces cannot be patched). */
  private readonly patchedExports = new WeakMap<object, AnyRecord>();
  /** Model → its metering proxy, and the proxies themselves (never proxied twice). */
  private readonly proxies = new WeakMap<object, object>();
  private readonly proxyTargets = new WeakMap<object, object>();
  private readonly prepareSteps = new WeakSet<object>();

  constructor(config: VercelAIInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      'ai',
      ['>=5.0.0 <8'],
      (moduleExports) => this.patch(moduleExports),
      (moduleExports) => this.unpatch(moduleExports),
    );
  }

  private patch(moduleExports: AnyRecord): AnyRecord {
    try {
      const target = this.patchableExports(moduleExports);
      for (const [name, kind] of ENTRY_POINTS) {
        if (typeof target[name] === 'function' && !isWrapped(target[name])) {
          this._wrap(target, name, (original: AnyFunction) =>
            this.wrapEntryPoint(original, kind, moduleExports),
          );
        }
      }
      for (const name of AGENT_CLASSES) {
        const prototype = moduleExports[name]?.prototype;
        if (!prototype) continue;
        if (typeof prototype.prepareCall === 'function') {
          if (!isWrapped(prototype.prepareCall)) {
            this._wrap(prototype, 'prepareCall', (original: AnyFunction) =>
              this.wrapPrepareCall(original, moduleExports),
            );
          }
          continue;
        }
        for (const method of AI5_AGENT_METHODS) {
          if (typeof prototype[method] === 'function' && !isWrapped(prototype[method])) {
            this._wrap(prototype, method, (original: AnyFunction) =>
              this.wrapAgentCall(original, moduleExports),
            );
          }
        }
      }
      return target;
    } catch (error) {
      this.recorder.self.internalError('vercel_ai_patch', error);
      return moduleExports;
    }
  }

  private unpatch(moduleExports: AnyRecord): void {
    const target = this.patchedExports.get(moduleExports) ?? moduleExports;
    for (const [name] of ENTRY_POINTS) if (isWrapped(target[name])) this._unwrap(target, name);
    for (const name of AGENT_CLASSES) {
      const prototype = moduleExports[name]?.prototype;
      if (!prototype) continue;
      for (const method of ['prepareCall', ...AI5_AGENT_METHODS])
        if (isWrapped(prototype[method])) this._unwrap(prototype, method);
    }
  }

  /**
   * The object whose properties can be replaced: the namespace itself under import-in-the-middle (or
   * a CommonJS exports object with plain properties), otherwise — a real module namespace from
   * require(esm), or ai 5/6's CommonJS exports (non-configurable getters), both read-only — one copy
   * of it, which `require('ai')` then returns.
   */
  private patchableExports(moduleExports: AnyRecord): AnyRecord {
    const known = this.patchedExports.get(moduleExports);
    if (known) return known;
    const descriptor = Object.getOwnPropertyDescriptor(moduleExports, 'generateText');
    if (!descriptor || descriptor.configurable) return moduleExports;
    const copy: AnyRecord = Object.create(null);
    for (const key of Reflect.ownKeys(moduleExports)) {
      const own = Object.getOwnPropertyDescriptor(moduleExports, key);
      if (!own) continue;
      Object.defineProperty(copy, key, {
        value: moduleExports[key],
        writable: own.writable ?? false,
        enumerable: own.enumerable ?? false,
        configurable: true,
      });
    }
    this.patchedExports.set(moduleExports, copy);
    return copy;
  }

  private wrapEntryPoint(original: AnyFunction, kind: ModelKind, moduleExports: AnyRecord): AnyFunction {
    const instrumentation = this;
    return function meteredEntryPoint(this: unknown, ...args: unknown[]) {
      const recorder = instrumentation.activeRecorder();
      if (!recorder || args.length === 0) return original.apply(this, args);
      let options: unknown;
      try {
        options = instrumentation.meteredOptions(args[0], kind, moduleExports);
      } catch (error) {
        recorder.self.internalError('vercel_ai_options', error);
      }
      if (options === undefined) return original.apply(this, args);
      const replaced = args.slice();
      replaced[0] = options;
      return original.apply(this, replaced);
    };
  }

  /** `ToolLoopAgent#prepareCall` builds the arguments of the internal generateText/streamText. */
  private wrapPrepareCall(original: AnyFunction, moduleExports: AnyRecord): AnyFunction {
    const instrumentation = this;
    return function meteredPrepareCall(this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args);
      const recorder = instrumentation.activeRecorder();
      if (!recorder) return result;
      return mapResult(result, (callArgs) => {
        try {
          return instrumentation.meteredOptions(callArgs, 'language', moduleExports) ?? callArgs;
        } catch (error) {
          recorder.self.internalError('vercel_ai_options', error);
          return callArgs;
        }
      });
    };
  }

  /**
   * ai 5's `Experimental_Agent#generate` / `#stream`: the agent's settings (its `model`,
   * `prepareStep`) are spread under the call's options, so metered ones are passed as options.
   */
  private wrapAgentCall(original: AnyFunction, moduleExports: AnyRecord): AnyFunction {
    const instrumentation = this;
    return function meteredAgentCall(this: unknown, ...args: unknown[]) {
      const recorder = instrumentation.activeRecorder();
      if (!recorder) return original.apply(this, args);
      let replaced: unknown[] | undefined;
      try {
        const settings = (this as AnyRecord | undefined)?.settings;
        const options = args[0] && typeof args[0] === 'object' ? (args[0] as AnyRecord) : {};
        const merged: AnyRecord = { ...settings, ...options };
        const metered = instrumentation.meteredOptions(merged, 'language', moduleExports);
        if (metered) {
          const overrides: AnyRecord = { ...options };
          for (const key of ['model', 'prepareStep'])
            if (metered[key] !== merged[key]) overrides[key] = metered[key];
          replaced = [overrides, ...args.slice(1)];
        }
      } catch (error) {
        recorder.self.internalError('vercel_ai_options', error);
      }
      return original.apply(this, replaced ?? args);
    };
  }

  /** A copy of the app's options with the model metered, or undefined when nothing changes. */
  private meteredOptions(options: unknown, kind: ModelKind, moduleExports: AnyRecord): AnyRecord | undefined {
    if (!options || typeof options !== 'object') return undefined;
    const opts = options as AnyRecord;
    const model = this.meteredModel(opts.model, kind, moduleExports);
    const prepareStep =
      kind === 'language' &&
      typeof opts.prepareStep === 'function' &&
      !this.prepareSteps.has(opts.prepareStep)
        ? this.wrapPrepareStep(opts.prepareStep, moduleExports)
        : undefined;
    if (model === undefined && prepareStep === undefined) return undefined;
    const copy: AnyRecord = { ...opts };
    if (model !== undefined) copy.model = model;
    if (prepareStep !== undefined) copy.prepareStep = prepareStep;
    return copy;
  }

  /**
   * `prepareStep` may return another model for a step. The app's callback sees its own model (not
   * the proxy), and the model it returns is metered.
   */
  private wrapPrepareStep(prepareStep: AnyFunction, moduleExports: AnyRecord): AnyFunction {
    const instrumentation = this;
    const wrapped = function meteredPrepareStep(this: unknown, ...args: unknown[]) {
      const arg = args[0] as AnyRecord | undefined;
      const own = arg && typeof arg === 'object' ? instrumentation.proxyTargets.get(arg.model) : undefined;
      if (own) args = [{ ...arg, model: own }, ...args.slice(1)];
      return mapResult(prepareStep.apply(this, args), (result) => {
        if (!result || typeof result !== 'object' || (result as AnyRecord).model == null) return result;
        try {
          const model = instrumentation.meteredModel((result as AnyRecord).model, 'language', moduleExports);
          return model === undefined ? result : { ...(result as AnyRecord), model };
        } catch (error) {
          instrumentation.recorder.self.internalError('vercel_ai_prepare_step', error);
          return result;
        }
      });
    };
    this.prepareSteps.add(wrapped);
    return wrapped;
  }

  /** The metering proxy of a model (a spec object or a model id string), or undefined. */
  private meteredModel(model: unknown, kind: ModelKind, moduleExports: AnyRecord): object | undefined {
    let resolved = model;
    if (typeof model === 'string') resolved = resolveModelId(model, kind, moduleExports);
    if (!resolved || typeof resolved !== 'object') return undefined;
    if (this.proxyTargets.has(resolved)) return resolved;
    const methods = kind === 'language' ? ['doGenerate', 'doStream'] : ['doEmbed'];
    if (!methods.some((name) => typeof (resolved as AnyRecord)[name] === 'function')) return undefined;
    let proxy = this.proxies.get(resolved);
    if (!proxy) {
      proxy = this.createProxy(resolved as AnyRecord, kind);
      this.proxies.set(resolved, proxy);
      this.proxyTargets.set(proxy, resolved);
    }
    return proxy;
  }

  /**
   * A transparent Proxy of a model: properties are read from the model itself (getters and methods
   * run with the model as `this`, so private fields keep working); only `do*` are metered.
   */
  private createProxy(model: AnyRecord, kind: ModelKind): object {
    const instrumentation = this;
    const methods = new Map<PropertyKey, { original: unknown; bound: unknown }>();
    let proxy: object;
    const handler: ProxyHandler<AnyRecord> = {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function' || property === 'constructor') return value;
        const cached = methods.get(property);
        if (cached && cached.original === value) return cached.bound;
        let bound: unknown;
        if (kind === 'language' && (property === 'doGenerate' || property === 'doStream')) {
          bound = instrumentation.meteredLanguageCall(target, value as AnyFunction, property === 'doStream');
        } else if (kind === 'embedding' && property === 'doEmbed') {
          bound = instrumentation.meteredEmbedCall(target, value as AnyFunction);
        } else {
          bound = function (this: unknown, ...args: unknown[]) {
            return (value as AnyFunction).apply(this === proxy ? target : this, args);
          };
        }
        methods.set(property, { original: value, bound });
        return bound;
      },
    };
    proxy = new Proxy(model, handler);
    return proxy;
  }

  private meteredLanguageCall(model: AnyRecord, original: AnyFunction, stream: boolean): AnyFunction {
    const instrumentation = this;
    return function meteredModelCall(this: unknown, ...args: unknown[]) {
      const recorder = instrumentation.activeRecorder();
      if (!recorder) return original.apply(model, args);
      let call: FrameworkCall;
      let provider: string;
      try {
        const request = describeLanguageModelCall(model, args[0], stream);
        provider = request.provider;
        call = recorder.startFramework(request, promptEstimation(args[0]));
      } catch (error) {
        recorder.self.internalError('vercel_ai_start', error);
        return original.apply(model, args);
      }
      return runFrameworkCall(
        call,
        () => original.apply(model, args),
        (value) => {
          completeRequest(call.request, value);
          if (!stream) {
            finishWithResponse(call, () => readGenerateResult(value, provider));
            return value;
          }
          return observeStreamResult(value, call, new SpecStreamObserver(provider), recorder);
        },
      );
    };
  }

  private meteredEmbedCall(model: AnyRecord, original: AnyFunction): AnyFunction {
    const instrumentation = this;
    return function meteredEmbed(this: unknown, ...args: unknown[]) {
      const recorder = instrumentation.activeRecorder();
      if (!recorder) return original.apply(model, args);
      let call: FrameworkCall;
      try {
        call = recorder.startFramework(describeEmbeddingCall(model), embeddingEstimation(args[0]));
      } catch (error) {
        recorder.self.internalError('vercel_ai_start', error);
        return original.apply(model, args);
      }
      return runFrameworkCall(
        call,
        () => original.apply(model, args),
        (value) => {
          completeRequest(call.request, value);
          finishWithResponse(call, () => readEmbedResult(value));
          return value;
        },
      );
    };
  }
}

/**
 * Resolves a model id the way `ai` does (`globalThis.AI_SDK_DEFAULT_PROVIDER`, else the AI Gateway
 * exported as `gateway`). Creating a model object sends nothing; if the provider throws (an unknown
 * id), undefined is returned and `ai` resolves the string itself and throws the same error.
 */
function resolveModelId(id: string, kind: ModelKind, moduleExports: AnyRecord): unknown {
  const provider = (globalThis as AnyRecord).AI_SDK_DEFAULT_PROVIDER ?? moduleExports.gateway;
  if (!provider) return undefined;
  const factory =
    kind === 'language' ? provider.languageModel : (provider.embeddingModel ?? provider.textEmbeddingModel);
  if (typeof factory !== 'function') return undefined;
  try {
    return factory.call(provider, id);
  } catch {
    return undefined;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as AnyRecord).then === 'function'
  );
}

/** Applies `map` to a value or to what a promise resolves to (rejections pass through). */
function mapResult(value: unknown, map: (value: unknown) => unknown): unknown {
  return isThenable(value) ? Promise.resolve(value).then(map) : map(value);
}

/**
 * Runs one provider request as a framework call, like `runMetered`, and hands `ai` the value
 * `onValue` returns (the same result, or for streams the same result with an observed stream).
 * The request runs in the call's context, so a vendor SDK metering it underneath covers this call.
 * Errors reach `ai` unchanged; `APICallError`'s `statusCode` becomes `error.type`.
 */
function runFrameworkCall(
  call: FrameworkCall,
  invoke: () => unknown,
  onValue: (value: any) => unknown,
): unknown {
  let result: unknown;
  try {
    result = context.with(call.context, invoke);
  } catch (error) {
    call.finish({ error, billable: false });
    throw error;
  }
  const observe = (value: unknown) => {
    try {
      return onValue(value);
    } catch (error) {
      call.internalError('vercel_ai_result', error);
      if (!call.finished) call.finish({ billable: true });
      return value;
    }
  };
  if (!isThenable(result)) return observe(result);
  return Promise.resolve(result).then(observe, (error: unknown) => {
    call.finish({ error, billable: false });
    throw error;
  });
}

/**
 * `doStream` resolves to `{ stream, … }`, a ReadableStream of spec parts that `ai` itself reads.
 * The same result goes back with a stream that yields exactly the same parts, read on demand
 * (no buffering ahead of `ai`), and finishes the call once: at the end (the `finish` part carries
 * usage), on error, on cancel, or — never read — when the stream is garbage-collected.
 */
function observeStreamResult(
  value: unknown,
  call: FrameworkCall,
  observer: SpecStreamObserver,
  recorder: Recorder,
): unknown {
  const source = (value as AnyRecord | undefined)?.stream;
  if (!source || typeof source.getReader !== 'function') {
    recorder.self.internalError('vercel_ai_stream', new Error('doStream returned no ReadableStream'));
    call.finish({ billable: true });
    return value;
  }
  const reader = source.getReader() as ReadableStreamDefaultReader<unknown>;
  const settle = (streamOutcome: string, error?: unknown) => {
    if (call.finished) return;
    const failure = error ?? observer.error;
    call.finish({
      response: safeResult(observer, call),
      error: failure,
      billable: true,
      outputText: () => observer.outputText(),
      streamOutcome,
    });
  };
  let cancelAbandoned: (() => void) | undefined;
  const stream = new ReadableStream<unknown>(
    {
      async pull(controller) {
        if (cancelAbandoned) {
          cancelAbandoned();
          cancelAbandoned = undefined;
        }
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          // `ai` sees the end first; the call's bookkeeping (an estimate, pricing) comes after.
          controller.error(error);
          settle('error', error);
          return;
        }
        if (next.done) {
          controller.close();
          settle('completed');
          return;
        }
        try {
          if ((next.value as AnyRecord | undefined)?.type !== 'stream-start') call.firstChunk();
          observer.onEvent(next.value);
        } catch (error) {
          call.internalError('stream_event', error);
        }
        controller.enqueue(next.value);
      },
      cancel(reason) {
        settle('cancelled');
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  cancelAbandoned = finishWhenAbandoned(stream, call, observer);
  return { ...(value as AnyRecord), stream };
}

function safeResult(observer: SpecStreamObserver, call: FrameworkCall) {
  try {
    return observer.result();
  } catch (error) {
    call.internalError('read_response', error);
    return undefined;
  }
}
