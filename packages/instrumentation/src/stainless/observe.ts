import type { MeteredRequest } from '../core/adapter.js';
import type { CallResponse } from '../core/call-record.js';
import type { CallHandle } from '../core/recorder.js';
import { finishStream, finishWhenAbandoned, observeIterator } from '../core/stream.js';

/**
 * Observes the result of one call made through a Stainless-generated SDK (openai, @anthropic-ai/sdk,
 * and others built the same way) without changing what the app sees.
 *
 * Those SDKs return an `APIPromise`: a lazy promise whose body is parsed only when the app awaits it
 * (directly, or through any `_thenUnwrap` layer the resource adds), or handed over raw by
 * `asResponse()`. The app keeps the very same instance; Tokenmeter
 *  - wraps that instance's `parseResponse`, which every parse path ends in, so it sees the parsed
 *    body (and wraps a stream's iterator) before the app does;
 *  - watches the raw response promise without reading the body: errors end the call, and a response
 *    nobody asked to parse (`asResponse()` users, fire-and-forget calls) is read from a `clone()`,
 *    so its usage is still metered while the app's body stays unread.
 */
export function observeApiPromise(apiPromise: any, call: CallHandle, metered: MeteredRequest): boolean {
  const responsePromise = apiPromise?.responsePromise as
    | Promise<{ response?: unknown } | undefined>
    | undefined;
  if (typeof apiPromise?.parseResponse !== 'function' || typeof responsePromise?.then !== 'function')
    return false;
  const state: ObservedCall = {
    call,
    metered,
    consumed: false,
    parseStarted: false,
    responseArrived: false,
    streamObserved: false,
  };
  observeParsing(apiPromise, state);

  responsePromise.then(
    (props) => {
      state.responseArrived = true;
      // An app that awaits the call starts parsing in a reaction queued right after this one;
      // decide one microtask later, still before an `asResponse()` caller can touch the body.
      queueMicrotask(() => {
        if (state.parseStarted || call.finished) return;
        try {
          readClonedResponse(props?.response, call, metered);
        } catch (error) {
          call.internalError('clone', error);
        }
      });
    },
    (error: unknown) => {
      call.finish({ error, billable: false });
      if (!state.consumed) reraiseUnobserved(error);
    },
  );
  return true;
}

interface ObservedCall {
  call: CallHandle;
  metered: MeteredRequest;
  /** The app (or an SDK helper) asked for the result: `then`, `parse`, `asResponse`, `withResponse`. */
  consumed: boolean;
  /** The SDK started parsing the body. */
  parseStarted: boolean;
  responseArrived: boolean;
  streamObserved: boolean;
}

/**
 * Wraps `parseResponse` of the promise and of every promise derived from it by `_thenUnwrap` (the
 * SDKs' resources and helpers add such layers, and openai 7.x builds them with their own parser),
 * so whichever layer the app awaits, its parsed body is seen once.
 */
function observeParsing(promise: any, state: ObservedCall): void {
  // `then`/`catch`/`finally`/`withResponse` all go through `parse` or `asResponse`.
  for (const method of ['parse', 'asResponse'] as const) {
    const original = promise[method] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    // Plain assignment: an own property on this one promise, much cheaper than defineProperty.
    promise[method] = function consumedMethod(this: unknown, ...args: unknown[]) {
      state.consumed = true;
      return original.apply(this, args);
    };
  }
  const parseResponse = promise.parseResponse as (...args: unknown[]) => unknown;
  if (typeof parseResponse === 'function') {
    promise.parseResponse = function observedParseResponse(this: unknown, ...args: unknown[]) {
      state.parseStarted = true;
      const parsed = parseResponse.apply(this, args);
      Promise.resolve(parsed).then(
        (data) => onParsed(data, state),
        // A body that arrived but cannot be parsed (invalid JSON) was still billed.
        (error) => state.call.finish({ error, billable: state.responseArrived }),
      );
      return parsed;
    };
  }
  const thenUnwrap = promise._thenUnwrap as ((...args: unknown[]) => unknown) | undefined;
  if (typeof thenUnwrap === 'function') {
    promise._thenUnwrap = function observedThenUnwrap(this: unknown, ...args: unknown[]) {
      const derived = thenUnwrap.apply(this, args);
      try {
        observeParsing(derived, state);
      } catch (error) {
        state.call.internalError('then_unwrap', error);
      }
      return derived;
    };
  }
}

function onParsed(data: unknown, state: ObservedCall): void {
  if (isStainlessStream(data)) {
    if (!state.streamObserved) {
      state.streamObserved = true;
      observeStream(data, state.call, state.metered);
    }
    return;
  }
  finishWithBody(data, state.call, state.metered);
}

/**
 * Our handler on the response promise must not swallow a rejection the app never handles: without
 * Tokenmeter, an unawaited failing call is an unhandled rejection, so it stays one.
 */
function reraiseUnobserved(error: unknown): void {
  void Promise.reject(error);
}

function finishWithBody(data: unknown, call: CallHandle, metered: MeteredRequest): void {
  if (call.finished) return;
  let response: CallResponse | undefined;
  try {
    response = metered.readResponse(data);
  } catch (error) {
    call.internalError('read_response', error);
  }
  call.finish({ response, billable: true });
}

function isStainlessStream(
  value: unknown,
): value is { iterator: (...args: unknown[]) => AsyncIterator<unknown> } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { iterator?: unknown }).iterator === 'function' &&
    typeof (value as { tee?: unknown }).tee === 'function'
  );
}

/**
 * Replaces the stream's `iterator` factory, which every consumer goes through (`for await`,
 * `tee()`, `toReadableStream()`), with one that observes the events of the first iteration.
 * Later iterations are passed through untouched so they fail exactly as the SDK makes them fail.
 */
function observeStream(
  stream: { iterator: (...args: unknown[]) => AsyncIterator<unknown> },
  call: CallHandle,
  metered: MeteredRequest,
): void {
  const observer = metered.observeStream();
  const original = stream.iterator;
  let iterated = false;
  const cancelAbandoned = finishWhenAbandoned(stream, call, observer);
  stream.iterator = function iterator(this: unknown, ...args: unknown[]) {
    const inner = original.apply(this, args);
    if (iterated) return inner;
    iterated = true;
    cancelAbandoned();
    return observeIterator(inner, call, observer);
  };
}

/** Reads a copy of a response the app did not (yet) ask the SDK to parse: JSON or server-sent events. */
function readClonedResponse(response: any, call: CallHandle, metered: MeteredRequest): void {
  if (!response || typeof response.clone !== 'function') return;
  const copy = response.clone();
  if (metered.request.stream) {
    void readEventStream(copy, call, metered);
    return;
  }
  copy.json().then(
    (body: unknown) => finishWithBody(body, call, metered),
    (error: unknown) => call.finish({ error, billable: true }),
  );
}

async function readEventStream(response: any, call: CallHandle, metered: MeteredRequest): Promise<void> {
  const observer = metered.observeStream();
  let streamOutcome = 'completed';
  let error: unknown;
  try {
    const decoder = new TextDecoder();
    let buffer = '';
    const body = response.body as AsyncIterable<Uint8Array> | null;
    if (body) {
      for await (const bytes of body) {
        if (call.finished) return;
        call.firstChunk();
        buffer += typeof bytes === 'string' ? bytes : decoder.decode(bytes, { stream: true });
        let boundary = buffer.indexOf('\n');
        while (boundary !== -1) {
          const line = buffer.slice(0, boundary).replace(/\r$/, '');
          buffer = buffer.slice(boundary + 1);
          if (line.startsWith('data:')) {
            const data = line.slice(5).trim();
            if (data && data !== '[DONE]') {
              try {
                observer.onEvent(JSON.parse(data));
              } catch {
                // Not JSON: the SDK would fail on it; nothing to meter.
              }
            }
          }
          boundary = buffer.indexOf('\n');
        }
      }
    }
  } catch (caught) {
    streamOutcome = 'error';
    error = caught;
  }
  finishStream(call, observer, streamOutcome, error);
}
