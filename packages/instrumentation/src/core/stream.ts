import type { StreamObserver } from './adapter.js';
import type { MeteredCall } from './recorder.js';

/** Calls whose stream was never iterated nor closed are finished when the stream is collected. */
const abandonedStreams = new FinalizationRegistry<{ call: MeteredCall; observer: StreamObserver }>(
  ({ call, observer }) => finishStream(call, observer, 'abandoned'),
);

/** Finishes a streamed call (once) with what its events told, and how the stream ended. */
export function finishStream(
  call: MeteredCall,
  observer: StreamObserver,
  streamOutcome: string,
  error?: unknown,
): void {
  if (call.finished) return;
  call.finish({
    response: observer.result(),
    error,
    billable: true,
    outputText: () => observer.outputText(),
    streamOutcome,
  });
}

/**
 * Finishes `call` when `stream` is garbage-collected without having been iterated. Returns the
 * function that cancels this (call it when the first iteration starts).
 */
export function finishWhenAbandoned(stream: object, call: MeteredCall, observer: StreamObserver): () => void {
  const token = {};
  abandonedStreams.register(stream, { call, observer }, token);
  return () => abandonedStreams.unregister(token);
}

/**
 * An iterator that hands the app exactly the events of `inner` while the observer sees each of
 * them, and finishes the call once: on completion, error, `break`/`return` or `throw`.
 */
export function observeIterator<T>(
  inner: AsyncIterator<T>,
  call: MeteredCall,
  observer: StreamObserver,
): AsyncIterator<T> & AsyncIterable<T> {
  const onResult = (result: IteratorResult<T>): IteratorResult<T> | Promise<IteratorResult<T>> => {
    if (result.done) {
      finishStream(call, observer, 'completed');
      return result;
    }
    call.firstChunk();
    let hide = false;
    try {
      hide = observer.onEvent(result.value);
    } catch (error) {
      call.internalError('stream_event', error);
    }
    return hide ? wrapped.next() : result;
  };
  const onError = (error: unknown): never => {
    finishStream(call, observer, 'error', error);
    throw error;
  };
  const wrapped: AsyncIterator<T> & AsyncIterable<T> = {
    next(...args: [] | [unknown]) {
      return inner.next(...args).then(onResult, onError);
    },
    return(value?: unknown) {
      finishStream(call, observer, 'cancelled');
      return inner.return ? inner.return(value) : Promise.resolve({ done: true, value: value as T });
    },
    throw(error?: unknown) {
      finishStream(call, observer, 'error', error);
      return inner.throw ? inner.throw(error) : Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return wrapped;
}

type AnyIterator = AsyncIterator<unknown> & Record<string, unknown>;

/**
 * Observes a stream object an SDK returned, leaving the object itself (its class, its other
 * methods, its identity) to the app:
 * - an async iterator (an async generator object, whose `[Symbol.asyncIterator]()` returns itself)
 *   gets observing `next` / `return` / `throw` of its own, so `for await` and direct `next()` calls
 *   are both seen;
 * - any other async iterable gets an observing `[Symbol.asyncIterator]` of its own; the first
 *   iteration is observed, later ones pass through and fail exactly as the SDK makes them fail.
 * A stream never iterated is finished when it is garbage-collected. Returns false (and changes
 * nothing) for a value that is not an async iterable.
 */
export function observeStreamObject(stream: unknown, call: MeteredCall, observer: StreamObserver): boolean {
  if (typeof stream !== 'object' || stream === null) return false;
  const target = stream as Record<PropertyKey, unknown>;
  if (typeof target.next === 'function' && typeof target[Symbol.asyncIterator] === 'function') {
    const iterator = target as unknown as AnyIterator;
    const cancelAbandoned = finishWhenAbandoned(iterator, call, observer);
    const inner: AsyncIterator<unknown> = {
      next: (iterator.next as AsyncIterator<unknown>['next']).bind(iterator),
      return: typeof iterator.return === 'function' ? iterator.return.bind(iterator) : undefined,
      throw: typeof iterator.throw === 'function' ? iterator.throw.bind(iterator) : undefined,
    };
    const observed = observeIterator(inner, call, observer);
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      cancelAbandoned();
    };
    iterator.next = (...args: [] | [unknown]) => {
      start();
      return observed.next(...args);
    };
    if (inner.return)
      iterator.return = (value?: unknown) => {
        start();
        return observed.return!(value);
      };
    if (inner.throw)
      iterator.throw = (error?: unknown) => {
        start();
        return observed.throw!(error);
      };
    return true;
  }
  const factory = target[Symbol.asyncIterator];
  if (typeof factory !== 'function') return false;
  const cancelAbandoned = finishWhenAbandoned(target, call, observer);
  let iterated = false;
  Object.defineProperty(target, Symbol.asyncIterator, {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function observedAsyncIterator(this: unknown, ...args: unknown[]) {
      const inner = (factory as (...a: unknown[]) => AsyncIterator<unknown>).apply(this, args);
      if (iterated) return inner;
      iterated = true;
      cancelAbandoned();
      return observeIterator(inner, call, observer);
    },
  });
  return true;
}
