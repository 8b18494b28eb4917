import {
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
} from '@opentelemetry/instrumentation';
import type { StreamObserver } from '../core/adapter.js';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { finishWithResponse, meteredMethod, observeStream } from '../core/meter-call.js';
import type { CallHandle } from '../core/recorder.js';
import { finishStream } from '../core/stream.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import { OLLAMA_METHODS, OllamaAdapter, type OllamaMethod } from './adapter.js';

export type OllamaInstrumentationConfig = TokenmeterInstrumentationConfig;

const SUPPORTED = ['>=0.5.0 <0.7'];
/** The browser entry (`ollama/browser`) in the layouts the package has shipped; the node class extends it. */
const BROWSER_FILES = ['ollama/dist/browser.cjs', 'ollama/dist/browser.mjs', 'ollama/dist/browser.js'];

type Method = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Meters the `ollama` npm package 0.5–0.6: `chat`, `generate` (streamed or not), `embed` (later 0.5.x)
 * and the legacy `embeddings`, for the default instance and every `new Ollama({ host })`, from
 * `ollama` and `ollama/browser` alike. Both entry points share one class (the node `Ollama` extends
 * the browser one, which defines these methods), so its prototype is wrapped once, whichever entry
 * loads first. A stream is the SDK's own object (an `AbortableAsyncIterator`; a plain async
 * generator in 0.5.0), handed back unchanged: its iteration is observed, and its `abort()` (or the
 * client's `abort()`) ends the call at once, with the output seen so far. The package has no
 * tracing of its own.
 */
export class OllamaInstrumentation extends LlmInstrumentation<OllamaInstrumentationConfig> {
  private readonly adapter = new OllamaAdapter();

  constructor(config: OllamaInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    const patch = (moduleExports: any) => {
      this.patchClass(clientClassOf(moduleExports));
      return moduleExports;
    };
    const unpatch = (moduleExports: any) => this.unpatchClass(clientClassOf(moduleExports));
    return new InstrumentationNodeModuleDefinition(
      'ollama',
      SUPPORTED,
      patch,
      unpatch,
      BROWSER_FILES.map((file) => new InstrumentationNodeModuleFile(file, SUPPORTED, patch, unpatch)),
    );
  }

  private patchClass(cls: unknown): void {
    const owner = methodOwner(cls);
    const wrappers: Record<string, (original: Method) => Method> = {};
    for (const method of OLLAMA_METHODS)
      wrappers[method] = (original) => meteredCall(method, original, this, this.adapter);
    // `abort` of the class that defines the methods only (0.5's streams end through it).
    if (owner && Object.hasOwn(owner, 'abort')) wrappers.abort = (original) => abortEndingStreams(original);
    this.wrapMethods(owner, wrappers);
  }

  private unpatchClass(cls: unknown): void {
    this.unwrapMethods(methodOwner(cls), [...OLLAMA_METHODS, 'abort']);
  }
}

function clientClassOf(moduleExports: any): unknown {
  return (
    moduleExports?.Ollama ??
    moduleExports?.default?.Ollama ??
    // The default export is an instance: its class is what apps construct too.
    moduleExports?.default?.constructor
  );
}

/** The prototype in the class chain that defines `chat` (the browser `Ollama`). */
function methodOwner(cls: unknown): Record<string, any> | undefined {
  if (typeof cls !== 'function') return undefined;
  let proto = (cls as { prototype?: object }).prototype;
  while (proto && proto !== Object.prototype) {
    if (Object.hasOwn(proto, 'chat')) return proto as Record<string, any>;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

/**
 * One metered call of a client method. The app gets what the method gives it: the same value,
 * the same rejection (Ollama's `ResponseError` is recorded with its HTTP status, `status_code`, as `error.type`).
 */
function meteredCall(
  method: OllamaMethod,
  original: Method,
  instrumentation: OllamaInstrumentation,
  adapter: OllamaAdapter,
): Method {
  return meteredMethod(original, {
    recorder: () => instrumentation.activeRecorder(),
    describe: (self, args) => adapter.describe(self, method, args[0]),
    onValue(value, call, described, self) {
      if (described.request.stream) observeAbortableStream(self, value, call, described.observeStream());
      else finishWithResponse(call, () => described.readResponse(value));
    },
  });
}

interface OpenStream {
  call: CallHandle;
  observer: StreamObserver;
}

/**
 * The streams of each client that only the client's `abort()` can stop: 0.5.0's streams are plain
 * async generators, without an `abort()` of their own. Finished calls are pruned as others come.
 */
const streamsByClient = new WeakMap<object, Set<OpenStream>>();

function ownedByClient(client: unknown, stream: OpenStream): void {
  if (typeof client !== 'object' || client === null) return;
  let open = streamsByClient.get(client);
  if (!open) {
    open = new Set();
    streamsByClient.set(client, open);
  }
  for (const entry of open) if (entry.call.finished) open.delete(entry);
  open.add(stream);
}

/**
 * The client's `abort()` aborts every request the client has under way, and so ends their streams:
 * a stream without an `abort()` of its own (0.5.0) is finished at once, as cancelled, as when the
 * stream's own `abort()` is called. Later SDKs' `abort()` calls each stream's, observed there.
 */
function abortEndingStreams(original: Method): Method {
  return function observedClientAbort(this: unknown, ...args: unknown[]) {
    const open = typeof this === 'object' && this !== null ? streamsByClient.get(this) : undefined;
    if (open) {
      streamsByClient.delete(this as object);
      for (const { call, observer } of open) {
        try {
          finishStream(call, observer, 'cancelled');
        } catch (error) {
          call.internalError('abort', error);
        }
      }
    }
    return original.apply(this, args);
  };
}

/**
 * Observes the iteration of the stream, and ends the call as soon as the app aborts it: after
 * `abort()` no more messages come, and an app that aborts from outside its loop may never iterate
 * again. The abort itself runs exactly as without Tokenmeter.
 */
function observeAbortableStream(
  client: unknown,
  stream: unknown,
  call: CallHandle,
  observer: StreamObserver,
): void {
  observeStream(stream, call, observer);
  const target = stream as { abort?: unknown } | null;
  const abort = target?.abort;
  if (call.finished) return;
  if (typeof abort !== 'function') {
    ownedByClient(client, { call, observer });
    return;
  }
  Object.defineProperty(target, 'abort', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function observedAbort(this: unknown, ...args: unknown[]) {
      try {
        finishStream(call, observer, 'cancelled');
      } catch (error) {
        call.internalError('abort', error);
      }
      return (abort as Method).apply(this, args);
    },
  });
}
