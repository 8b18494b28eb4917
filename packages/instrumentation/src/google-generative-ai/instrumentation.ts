import { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import type { StreamObserver } from '../core/adapter.js';
import type { CallResponse } from '../core/call-record.js';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { collectText } from '../core/estimate.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { type DescribedCall, finishWithResponse, meteredMethod, observeStream } from '../core/meter-call.js';
import type { CallHandle, Recorder } from '../core/recorder.js';
import { finishWhenAbandoned } from '../core/stream.js';
import type { GenerateContentStreamObserver } from '../google-genai/usage.js';
import { readGenerateContentResponse } from '../google-genai/usage.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import {
  describeChatCall,
  describeModelCall,
  readEmbedResult,
  readGenerateContentResult,
  streamObserver,
} from './adapter.js';

export type GoogleGenerativeAIInstrumentationConfig = TokenmeterInstrumentationConfig;

type Method = (this: any, ...args: any[]) => any;

const MODEL_METHODS = [
  'generateContent',
  'generateContentStream',
  'embedContent',
  'batchEmbedContents',
] as const;
const CHAT_METHODS = ['sendMessage', 'sendMessageStream'] as const;

/**
 * Meters `@google/generative-ai` 0.x (deprecated in favour of `@google/genai`, still widely used):
 * `GenerativeModel.generateContent`, `generateContentStream`, `embedContent`, `batchEmbedContents`,
 * and `ChatSession.sendMessage` / `sendMessageStream`, which call the API directly rather than
 * through the model's methods, so each call is metered exactly once. `countTokens` is not metered.
 * Every version from 0.1 has these prototype methods.
 *
 * A streamed call returns `{ stream, response }`; the SDK tees the HTTP body, and `response` reads
 * its branch to the end whether or not the app iterates `stream` (breaking out of `stream` does not
 * stop the request). So the call is finished when `response` settles, with the aggregated usage,
 * whichever of the two the app consumes; the chunks of `stream` add the response id and model
 * version when the app reads them.
 */
export class GoogleGenerativeAIInstrumentation extends LlmInstrumentation<GoogleGenerativeAIInstrumentationConfig> {
  constructor(config: GoogleGenerativeAIInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      '@google/generative-ai',
      ['>=0.1.0 <1'],
      (moduleExports) => {
        const { model, chat } = prototypes(moduleExports);
        const recorder = () => this.activeRecorder();
        this.wrapMethods(model, {
          generateContent: (original) =>
            meter(original, recorder, (self, args) => describeModelCall(self, args, 'generate'), 'generate'),
          generateContentStream: (original) =>
            meter(
              original,
              recorder,
              (self, args) => describeModelCall(self, args, 'stream'),
              'model_stream',
            ),
          embedContent: (original) =>
            meter(original, recorder, (self, args) => describeModelCall(self, args, 'embed'), 'embed'),
          batchEmbedContents: (original) =>
            meter(original, recorder, (self, args) => describeModelCall(self, args, 'batch_embed'), 'embed'),
        });
        this.wrapMethods(chat, {
          sendMessage: (original) =>
            meter(original, recorder, (self, args) => describeChatCall(self, args, false), 'generate'),
          sendMessageStream: (original) =>
            meter(original, recorder, (self, args) => describeChatCall(self, args, true), 'chat_stream'),
        });
        return moduleExports;
      },
      (moduleExports) => {
        const { model, chat } = prototypes(moduleExports);
        this.unwrapMethods(model, MODEL_METHODS);
        this.unwrapMethods(chat, CHAT_METHODS);
      },
    );
  }
}

function prototypes(moduleExports: any): {
  model: Record<string, any> | undefined;
  chat: Record<string, any> | undefined;
} {
  const GenerativeModel = moduleExports?.GenerativeModel ?? moduleExports?.default?.GenerativeModel;
  const ChatSession = moduleExports?.ChatSession ?? moduleExports?.default?.ChatSession;
  return {
    model: typeof GenerativeModel === 'function' ? GenerativeModel.prototype : undefined,
    chat: typeof ChatSession === 'function' ? ChatSession.prototype : undefined,
  };
}

/** A wrapper of one model or chat method, reading its outcome the way `kind` says. */
function meter(
  original: Method,
  recorder: () => Recorder | undefined,
  describe: (self: any, args: any[]) => DescribedCall,
  kind: 'generate' | 'model_stream' | 'chat_stream' | 'embed',
): Method {
  return meteredMethod(original, {
    recorder,
    describe,
    onValue(value, call) {
      if (kind === 'generate') finishWithResponse(call, () => readGenerateContentResult(value));
      else if (kind === 'embed') finishWithResponse(call, () => readEmbedResult(value));
      else observeStreamResult(value, call, streamObserver(), kind === 'model_stream');
    },
  });
}

/**
 * `{ stream, response }` of a streamed call. `response` aggregates the whole body (usage included)
 * and settles when the body has been read, whether or not the app iterates `stream`; the chunks of
 * `stream` add what the aggregate drops (response id, model version, an error object sent in the
 * stream). The call is finished once `response` has settled and the app is not in the middle of
 * iterating `stream` (it finished, broke out, failed, or never started); a stream the app stops
 * reading without closing it is finished when it is garbage-collected.
 *
 * `GenerativeModel.generateContentStream`: nobody but the app handles `response`, and an app that
 * ignores it gets an unhandled rejection when the stream fails. So `response` is replaced by the
 * promise of the very same outcome, observed on the way: it stays unhandled exactly when the app
 * leaves it so. `ChatSession.sendMessageStream` handles `response` itself (to update the history),
 * so it is left in place and merely observed.
 */
function observeStreamResult(
  result: any,
  call: CallHandle,
  observer: GenerateContentStreamObserver,
  replaceResponse: boolean,
): void {
  const response = result?.response;
  if (!result || typeof result !== 'object' || typeof response?.then !== 'function') {
    observeStream(result?.stream, call, observer);
    return;
  }
  const state = new StreamState(call, observer);
  tapStream(result.stream, state);
  if (replaceResponse) {
    result.response = (response as Promise<unknown>).then(
      (aggregated) => {
        state.settled(aggregated, undefined);
        return aggregated;
      },
      (error: unknown) => {
        state.settled(undefined, error);
        throw error;
      },
    );
  } else {
    (response as Promise<unknown>).then(
      (aggregated) => state.settled(aggregated, undefined),
      (error: unknown) => state.settled(undefined, error),
    );
  }
}

/**
 * What is known of one streamed call, and when to finish it. Holds no reference to the stream
 * object, so that it can be the held value of the stream's finalization registration.
 */
class StreamState implements StreamObserver {
  private aggregated: CallResponse | undefined;
  private aggregatedText = '';
  private error: unknown;
  private responseSettled = false;
  private iterating = false;
  private iterationEnded = false;
  private outcome = 'completed';
  private cancelAbandoned: (() => void) | undefined;

  constructor(
    readonly call: CallHandle,
    readonly observer: GenerateContentStreamObserver,
  ) {}

  /** The app asked for a chunk. */
  started(stream: object): void {
    if (this.iterating) return;
    this.iterating = true;
    if (!this.responseSettled) this.cancelAbandoned = finishWhenAbandoned(stream, this.call, this);
  }

  /** The app's iteration is over: completed, failed, or closed early. */
  ended(outcome: 'completed' | 'cancelled' | 'error'): void {
    if (this.iterationEnded) return;
    this.iterationEnded = true;
    if (outcome !== 'completed' && this.outcome === 'completed') this.outcome = outcome;
    this.maybeFinish();
  }

  settled(aggregated: unknown, error: unknown): void {
    this.responseSettled = true;
    if (error !== undefined) {
      this.error = error;
      this.outcome = 'error';
    } else {
      try {
        this.aggregated = readGenerateContentResponse(aggregated);
        const texts: string[] = [];
        collectText((aggregated as any)?.candidates, texts);
        this.aggregatedText = texts.join('');
      } catch (caught) {
        this.call.internalError('read_response', caught);
      }
    }
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (!this.responseSettled || (this.iterating && !this.iterationEnded) || this.call.finished) return;
    this.cancelAbandoned?.();
    this.call.finish({
      response: this.result(),
      error: this.error ?? this.observer.streamError(),
      billable: true,
      outputText: () => this.outputText(),
      streamOutcome: this.outcome,
    });
  }

  onEvent(): boolean {
    return false;
  }

  result(): CallResponse {
    return this.aggregated ? this.observer.merge(this.aggregated) : this.observer.result();
  }

  outputText(): string {
    return this.observer.outputText() || this.aggregatedText;
  }
}

/**
 * Sees each chunk the app reads from `stream` and the end of its iteration, leaving values, errors
 * and the object itself (an async generator) as they are.
 */
function tapStream(stream: any, state: StreamState): void {
  if (!stream || typeof stream.next !== 'function') return;
  const { call, observer } = state;
  const wrap = (name: 'next' | 'return' | 'throw') => {
    const original: Method | undefined = typeof stream[name] === 'function' ? stream[name] : undefined;
    if (!original) return;
    const see = (item: IteratorResult<unknown>) => {
      if (item?.done) state.ended(name === 'next' ? 'completed' : 'cancelled');
      else if (item) {
        call.firstChunk();
        try {
          observer.onEvent(item.value);
        } catch (error) {
          call.internalError('stream_event', error);
        }
        if (name !== 'next') state.ended('cancelled');
      }
      return item;
    };
    const failed = (error: unknown) => {
      state.ended('error');
      throw error;
    };
    stream[name] = function observed(this: unknown, ...args: unknown[]) {
      state.started(stream);
      const result = original.apply(this, args);
      return result instanceof Promise ? result.then(see, failed) : result;
    };
  };
  wrap('next');
  wrap('return');
  wrap('throw');
}
