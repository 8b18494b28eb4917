import { context } from '@opentelemetry/api';
import type { StreamObserver } from './adapter.js';
import type { CallResponse } from './call-record.js';
import { CallHandle, type FrameworkCall, type MeteredCall } from './recorder.js';
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
