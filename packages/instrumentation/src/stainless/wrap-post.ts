import { context } from '@opentelemetry/api';
import type { ClientAdapter, RequestOptionsLike } from '../core/adapter.js';
import type { CallHandle, Recorder } from '../core/recorder.js';
import { observeApiPromise } from './observe.js';

type PostMethod = (this: unknown, path: string, options?: unknown) => unknown;

/**
 * Stainless-generated SDKs send every API call through the client's `post(path, options)` (chat,
 * responses, embeddings, images, audio; messages for Anthropic), so one wrapper there meters all of
 * them, for every major version, whichever helper (`stream()`, `parse()`, `.withResponse()`) the app
 * calls on top. The adapter decides from the path which calls are LLM calls.
 */
export function wrapPost(
  original: PostMethod,
  adapter: ClientAdapter<any>,
  getRecorder: () => Recorder | undefined,
): PostMethod {
  return function post(this: unknown, ...args: [path: string, options?: unknown]) {
    const [path, options] = args;
    const recorder = getRecorder();
    if (!recorder) return original.apply(this, args);
    let metered: ReturnType<ClientAdapter['describe']>;
    try {
      metered = adapter.describe(this, path);
    } catch (error) {
      recorder.self.internalError('describe', error);
    }
    if (!metered) return original.apply(this, args);
    const described = metered;

    const readOptions = (resolved: unknown): unknown => {
      try {
        return described.readOptions((resolved ?? {}) as RequestOptionsLike) ?? resolved;
      } catch (error) {
        recorder.self.internalError('read_options', error);
        return resolved;
      }
    };
    let call: CallHandle;
    let sendOptions: unknown;
    if (isThenable(options)) {
      // Newer SDKs resolve options asynchronously: start the span now, name it once the body is known.
      call = recorder.start(described.request, described);
      sendOptions = options.then((resolved) => {
        const replaced = readOptions(resolved);
        call.requestDescribed();
        return replaced;
      });
    } else {
      sendOptions = readOptions(options);
      call = recorder.start(described.request, described);
    }
    let result: unknown;
    try {
      // Without a tracer provider the span is a no-op with no trace context: nothing for HTTP
      // instrumentation to parent to, so the call runs in the app's own context.
      result = call.propagates
        ? context.with(call.context, () => original.call(this, path, sendOptions))
        : original.call(this, path, sendOptions);
    } catch (error) {
      call.finish({ error, billable: false });
      throw error;
    }
    try {
      if (!observeApiPromise(result, call, described)) {
        // Not the promise shape we know: the call goes on untouched, we just cannot see its usage.
        call.internalError('unknown_result', new Error('post() did not return an APIPromise'));
        call.finish({ billable: false });
      }
    } catch (error) {
      call.internalError('observe', error);
    }
    return result;
  };
}

/** The prototype in `cls`'s chain that defines `post` (BaseOpenAI, APIClient in 4.x, BaseAnthropic…). */
export function findPostOwner(cls: unknown): { post: PostMethod } | undefined {
  let proto = (cls as { prototype?: object } | undefined)?.prototype;
  while (proto && proto !== Object.prototype) {
    if (Object.hasOwn(proto, 'post') && typeof (proto as { post?: unknown }).post === 'function') {
      return proto as { post: PostMethod };
    }
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
