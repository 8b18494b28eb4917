import { context } from '@opentelemetry/api';
import {
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
} from '@opentelemetry/instrumentation';
import type { StreamObserver } from '../core/adapter.js';
import type { CallResponse } from '../core/call-record.js';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { observeStream, runMetered } from '../core/meter-call.js';
import type { EstimationSource, FrameworkCall, MeteredCall, Recorder } from '../core/recorder.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import {
  ChatModelEventObserver,
  ChunkStreamObserver,
  chatEstimation,
  describeModel,
  generatedText,
  type ModelKind,
  promptEstimation,
  readGenerateResult,
} from './adapter.js';

export type LangChainInstrumentationConfig = TokenmeterInstrumentationConfig;

/** Versions of `@langchain/core` whose base classes have the methods wrapped here (checked on 1.4). */
const SUPPORTED = ['>=0.3.0 <2'];
const CHAT_FILES = ['dist/language_models/chat_models.cjs', 'dist/language_models/chat_models.js'];
const LLM_FILES = ['dist/language_models/llms.cjs', 'dist/language_models/llms.js'];

type AnyFunction = (...args: any[]) => any;
type Wrapper = (original: AnyFunction, base: AnyFunction) => AnyFunction;

/**
 * Meters LangChain.js chat models (`BaseChatModel`) and text LLMs (`BaseLLM`) from `@langchain/core`
 * 0.3–1.x, for the calls no vendor-SDK instrumentation meters: custom models, fetch-based community
 * integrations, integrations whose SDK Tokenmeter does not instrument (or whose instrumentation is off).
 *
 * The hooks sit on the base classes, which every model inherits and no integration overrides, at
 * the points where LangChain is about to ask the provider:
 * - `_generateUncached`: `invoke`, `batch`, `generate`, `withStructuredOutput`, `bindTools` and
 *   agents all end up here, and only for prompts the model cache did not answer (a cache hit never
 *   gets here, so it is never metered as a call);
 * - `_streamIterator`: `stream()` (and `streamEvents` v1/v2, `streamLog`) of a model that streams;
 *   one that cannot stream falls back to `invoke`, metered above, so this hook then stands aside;
 * - `BaseChatModel.streamEvents()` without a version (core 1.4+): the content-block event stream.
 *
 * Each call is a framework call (`Recorder.startFramework`): the model runs in its context, and if
 * an instrumented vendor SDK (openai, @anthropic-ai/sdk, …) meters a request inside it — with the
 * exact usage and the provider it really talked to — this call records nothing (counted in
 * `tokenmeter_deduplicated_calls`). Otherwise it records one call with LangChain's `usage_metadata`.
 */
export class LangChainInstrumentation extends LlmInstrumentation<LangChainInstrumentationConfig> {
  constructor(config: LangChainInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    const recorder = () => this.activeRecorder();
    const chatWrappers: Record<string, Wrapper> = {
      _generateUncached: (original, base) => wrapGenerate(original, base, 'chat', recorder),
      _streamIterator: (original, base) => wrapStreamIterator(original, base, 'chat', recorder),
      streamEvents: (original, base) => wrapStreamEvents(original, base, recorder),
    };
    const llmWrappers: Record<string, Wrapper> = {
      _generateUncached: (original, base) => wrapGenerate(original, base, 'llm', recorder),
      _streamIterator: (original, base) => wrapStreamIterator(original, base, 'llm', recorder),
    };
    const file = (name: string, exportName: string, wrappers: Record<string, Wrapper>) =>
      new InstrumentationNodeModuleFile(
        `@langchain/core/${name}`,
        SUPPORTED,
        (moduleExports) => {
          this.patchClass(moduleExports?.[exportName], wrappers);
          return moduleExports;
        },
        (moduleExports) => this.unpatchClass(moduleExports?.[exportName], wrappers),
      );
    return new InstrumentationNodeModuleDefinition('@langchain/core', SUPPORTED, undefined, undefined, [
      ...CHAT_FILES.map((name) => file(name, 'BaseChatModel', chatWrappers)),
      ...LLM_FILES.map((name) => file(name, 'BaseLLM', llmWrappers)),
    ]);
  }

  private patchClass(base: unknown, wrappers: Record<string, Wrapper>): void {
    if (typeof base !== 'function') return;
    const prototype = base.prototype as Record<string, unknown>;
    for (const [method, wrapper] of Object.entries(wrappers)) {
      // Only methods the base class defines itself (streamEvents is inherited before core 1.4).
      const current = Object.hasOwn(prototype, method) ? prototype[method] : undefined;
      if (typeof current !== 'function' || isWrapped(current)) continue;
      this._wrap(prototype, method, (original: unknown) =>
        wrapper(original as AnyFunction, base as AnyFunction),
      );
    }
  }

  private unpatchClass(base: unknown, wrappers: Record<string, Wrapper>): void {
    if (typeof base !== 'function') return;
    const prototype = base.prototype as Record<string, unknown>;
    for (const method of Object.keys(wrappers)) {
      if (isWrapped(prototype[method])) this._unwrap(prototype, method);
    }
  }
}

type GetRecorder = () => Recorder | undefined;

/** Starts a framework call; a failure is counted and the model then runs unmetered. */
function startCall(
  recorder: Recorder,
  model: any,
  base: AnyFunction,
  options: unknown,
  kind: ModelKind,
  stream: boolean,
  estimation: EstimationSource,
): FrameworkCall | undefined {
  try {
    return recorder.startFramework(describeModel(model, options, kind, stream, base), estimation);
  } catch (error) {
    recorder.self.internalError('langchain_start', error);
    return undefined;
  }
}

/** `_generateUncached(messages | prompts, parsedOptions, handledOptions, startedRunManagers?)`. */
function wrapGenerate(
  original: AnyFunction,
  base: AnyFunction,
  kind: ModelKind,
  getRecorder: GetRecorder,
): AnyFunction {
  return function generateUncached(this: any, ...args: any[]) {
    const recorder = getRecorder();
    if (!recorder) return original.apply(this, args);
    const inputs = args[0];
    const estimation = kind === 'chat' ? chatEstimation(() => inputs) : promptEstimation(() => inputs);
    const call = startCall(recorder, this, base, args[1], kind, false, estimation);
    if (!call) return original.apply(this, args);
    return runMetered(
      call,
      () => original.apply(this, args),
      (result) => {
        let response: CallResponse | undefined;
        try {
          response = readGenerateResult(result);
        } catch (error) {
          call.internalError('read_response', error);
        }
        // Without usage the recorder estimates from the prompts and this text.
        call.finish({ response, billable: true, outputText: () => generatedText(result) });
      },
    );
  };
}

/** `_streamIterator(input, options)`: an async generator of message chunks (text for LLMs). */
function wrapStreamIterator(
  original: AnyFunction,
  base: AnyFunction,
  kind: ModelKind,
  getRecorder: GetRecorder,
): AnyFunction {
  return function streamIterator(this: any, ...args: any[]) {
    const recorder = getRecorder();
    // A model that cannot stream answers through `invoke`, which the generate hook meters.
    if (!recorder || !streams(this, base, kind)) return original.apply(this, args);
    const [input, options] = args;
    const estimation =
      kind === 'chat'
        ? chatEstimation(() => chatMessages(base, input))
        : promptEstimation(() => promptOf(base, input));
    const call = startCall(recorder, this, base, options, kind, true, estimation);
    if (!call) return original.apply(this, args);
    return runMetered(
      call,
      () => original.apply(this, args),
      (generator) => {
        // The generator's body runs on each `next()`, in the caller's context: run it in the call's,
        // so that a vendor SDK request it makes is seen as covering this call.
        bindToContext(generator, call.context);
        observeStream(generator, unbilledBeforeFirstChunk(call), new ChunkStreamObserver());
      },
    );
  };
}

/**
 * `BaseChatModel.streamEvents(input, options)` without a v1/v2 version: a `ChatModelStream` that
 * consumes the model's event generator eagerly from its constructor (so the provider request is
 * made in this call's context) and replays the events to every reader. Tokenmeter reads its own
 * replay, leaving the app's untouched.
 */
function wrapStreamEvents(original: AnyFunction, base: AnyFunction, getRecorder: GetRecorder): AnyFunction {
  return function streamEvents(this: any, ...args: any[]) {
    const recorder = getRecorder();
    const [input, options] = args;
    // v1/v2 are the Runnable event streams, built on `_streamIterator` (metered there).
    if (!recorder || options?.version === 'v1' || options?.version === 'v2')
      return original.apply(this, args);
    const call = startCall(
      recorder,
      this,
      base,
      options,
      'chat',
      true,
      chatEstimation(() => chatMessages(base, input)),
    );
    if (!call) return original.apply(this, args);
    return runMetered(
      call,
      () => original.apply(this, args),
      (stream) => observeEventStream(stream, call),
    );
  };
}

function observeEventStream(stream: any, call: FrameworkCall): void {
  const observer: StreamObserver = new ChatModelEventObserver();
  const factory = stream?.[Symbol.asyncIterator];
  if (typeof factory !== 'function') {
    observeStream(stream, call, observer);
    return;
  }
  let seen = false;
  const settle = (error?: unknown) =>
    call.finish({
      response: observer.result(),
      error,
      // An error before the first event: nothing was generated (as for a failed `invoke`).
      billable: error === undefined || seen,
      outputText: () => observer.outputText(),
      streamOutcome: error === undefined ? 'completed' : 'error',
    });
  void (async () => {
    // The stream's replay buffer gives this reader its own cursor; the app's readers are unaffected.
    let iterator: AsyncIterator<unknown>;
    try {
      iterator = factory.call(stream);
    } catch (error) {
      call.internalError('stream_events', error);
      return settle();
    }
    for (;;) {
      let result: IteratorResult<unknown>;
      try {
        result = await iterator.next();
      } catch (error) {
        return settle(error);
      }
      if (result.done) return settle();
      seen = true;
      call.firstChunk();
      try {
        observer.onEvent(result.value);
      } catch (error) {
        call.internalError('stream_event', error);
      }
    }
  })();
}

/**
 * LangChain's generators start the provider request on the first `next()`: one that fails before
 * any chunk (a rejected request, a validation error) generated nothing, as a failed `invoke`.
 */
function unbilledBeforeFirstChunk(call: FrameworkCall): MeteredCall {
  let chunks = false;
  return {
    get finished() {
      return call.finished;
    },
    firstChunk() {
      chunks = true;
      call.firstChunk();
    },
    finish(args) {
      call.finish(args.error !== undefined && !chunks ? { ...args, billable: false } : args);
    },
    internalError: (where, error) => call.internalError(where, error),
  };
}

/** Whether `_streamIterator` streams from the provider rather than falling back to `invoke`. */
function streams(model: any, base: AnyFunction, kind: ModelKind): boolean {
  try {
    if (model._streamResponseChunks === base.prototype._streamResponseChunks) return false;
    return !(kind === 'chat' && model.disableStreaming);
  } catch {
    return false;
  }
}

function chatMessages(base: any, input: unknown): unknown {
  return base?._convertInputToPromptValue?.(input)?.toChatMessages?.() ?? input;
}

function promptOf(base: any, input: unknown): unknown {
  return base?._convertInputToPromptValue?.(input)?.toString?.() ?? input;
}

/** Makes `next`/`return`/`throw` of an async generator run in `ctx`. */
function bindToContext(generator: any, ctx: ReturnType<typeof context.active>): void {
  if (!generator || typeof generator !== 'object') return;
  for (const method of ['next', 'return', 'throw'] as const) {
    const fn = generator[method];
    if (typeof fn !== 'function') continue;
    generator[method] = (...args: unknown[]) => context.with(ctx, () => fn.apply(generator, args));
  }
}
