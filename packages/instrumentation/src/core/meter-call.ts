import { context } from '@opentelemetry/api';
import type { StreamObserver } from './adapter.js';
import type { CallRequest, CallResponse } from './call-record.js';
import {
  CallHandle,
  type EstimationSource,
  type FrameworkCall,
  type MeteredCall,
  type Recorder,
} from './recorder.js';
import { observeStreamObject } from './stream.js';

/**
 * Runs one wrapped SDK method as a metered call and returns what the method returned, so the app
 * sees the same value, the same error and the same timing of rejections:
 * - the method runs in the call's context (HTTP spans nest under the call's span; vendor SDK calls
 *   made inside a framework call are seen as covering it);
 * - a synchronous throw finishes the call and is rethrown;
 * - a native promise is replaced by the promise of the very same outcome, observed on the way
 *   (an unawaited failing call stays an unhandled rejection, a late handler still catches it);
 * - any other value is passed to `onValue` at once.
 * `onValue` must finish the call (`finishWithResponse`) or hand it to a stream observer
 * (`observeStream`); whatever it throws is counted as an internal error, never seen by the app.
 */
export function runMetered<T>(
  call: CallHandle | FrameworkCall,
  invoke: () => T,
  onValue: (value: Awaited<T>) => void,
): T {
  const ctx = call instanceof CallHandle ? (call.propagates ? call.context : undefined) : call.context;
  let result: T;
  try {
    result = ctx ? context.with(ctx, invoke) : invoke();
  } catch (error) {
    call.finish({ error, billable: false });
    throw error;
  }
  const observe = (value: Awaited<T>) => {
    try {
      onValue(value);
    } catch (error) {
      call.internalError('read_result', error);
      if (!call.finished) call.finish({ billable: true });
    }
  };
  if (result instanceof Promise && Object.getPrototypeOf(result) === Promise.prototype) {
    return result.then(
      (value: Awaited<T>) => {
        observe(value);
        return value;
      },
      (error: unknown) => {
        call.finish({ error, billable: false });
        throw error;
      },
    ) as T;
  }
  observe(result as Awaited<T>);
  return result;
}

/** Finishes a call from a whole (non-streamed) response, read by the adapter. */
export function finishWithResponse(call: MeteredCall, read: () => CallResponse | undefined): void {
  if (call.finished) return;
  let response: CallResponse | undefined;
  try {
    response = read();
  } catch (error) {
    call.internalError('read_response', error);
  }
  call.finish({ response, billable: true });
}

/**
 * Observes a stream object the SDK returned (see `observeStreamObject`); a value that is not an
 * async iterable finishes the call without usage, counted as an internal error.
 */
export function observeStream(stream: unknown, call: MeteredCall, observer: StreamObserver): void {
  if (observeStreamObject(stream, call, observer)) return;
  call.internalError('unknown_stream', new Error('the SDK returned no async iterable for a stream'));
  call.finish({ billable: true, response: observer.result(), outputText: () => observer.outputText() });
}

/** What a wrapper knows of one call before it is sent: the request, and its texts for estimation. */
export interface DescribedCall extends EstimationSource {
  request: CallRequest;
}

type Method = (this: any, ...args: any[]) => any;

export interface MeteredMethodOptions<Described extends DescribedCall> {
  /** The recorder while metering is on (`instrumentation.activeRecorder()`); off, the method runs untouched. */
  recorder(): Recorder | undefined;
  /** The call's description, or undefined when it is not metered; a throw is counted and the call left alone. */
  describe(self: any, args: any[]): Described | undefined;
  /** Reads the outcome (see `runMetered`): `finishWithResponse`, or `observeStream` for a stream. */
  onValue(value: any, call: CallHandle, described: Described, self: any): void;
  /** Runs the method; by default as it is (Mistral marks the context for the SDK's own tracing). */
  invoke?(run: () => unknown, described: Described): unknown;
}

/**
 * Wraps one SDK method so that each call the adapter describes is one metered call: span started,
 * method run in its context by `runMetered`, outcome read by `onValue`. The shape every vendor-SDK
 * wrapper outside the Stainless hook shares.
 */
export function meteredMethod<Described extends DescribedCall>(
  original: Method,
  options: MeteredMethodOptions<Described>,
): Method {
  return function metered(this: any, ...args: any[]) {
    const recorder = options.recorder();
    if (!recorder) return original.apply(this, args);
    let described: Described | undefined;
    try {
      described = options.describe(this, args);
    } catch (error) {
      recorder.self.internalError('describe', error);
    }
    if (!described) return original.apply(this, args);
    const call = recorder.start(described.request, described);
    const known = described;
    const run = () => original.apply(this, args);
    return runMetered(call, options.invoke ? () => options.invoke!(run, known) : run, (value) =>
      options.onValue(value, call, known, this),
    );
  };
}
