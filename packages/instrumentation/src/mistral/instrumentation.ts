import { context, createContextKey } from '@opentelemetry/api';
import { InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { finishWithResponse, meteredMethod, observeStream } from '../core/meter-call.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import { describeMistralCall, type MistralCall, type MistralMethod } from './adapter.js';

export type MistralInstrumentationConfig = TokenmeterInstrumentationConfig;

type AnyFunction = (this: any, ...args: any[]) => any;
type Resource = 'chat' | 'fim' | 'agents' | 'embeddings';

/** Resource getter on `Mistral.prototype` → methods metered on that resource's class. */
const METHODS: ReadonlyArray<readonly [Resource, string, MistralMethod]> = [
  ['chat', 'complete', { kind: 'chat', stream: false }],
  ['chat', 'stream', { kind: 'chat', stream: true }],
  // Structured-output helpers call the request functions directly, not complete()/stream().
  ['chat', 'parse', { kind: 'chat', stream: false }],
  ['chat', 'parseStream', { kind: 'chat', stream: true }],
  ['fim', 'complete', { kind: 'fim', stream: false }],
  ['fim', 'stream', { kind: 'fim', stream: true }],
  ['agents', 'complete', { kind: 'agents', stream: false }],
  ['agents', 'stream', { kind: 'agents', stream: true }],
  ['embeddings', 'create', { kind: 'embeddings', stream: false }],
];

/** Set in the context of a call Tokenmeter meters, for the SDK's tracing hook to see. */
const METERED_BY_TOKENMETER = createContextKey('tokenmeter mistral call');
const SDK_TRACING_KEYS = ['_tracingSpan', '_tracingTracer', '_tracingBody'];

/**
 * Meters `@mistralai/mistralai` 1.x–2.x (the Speakeasy-generated `Mistral` client): `chat.complete`,
 * `chat.stream`, `chat.parse`, `chat.parseStream`, `fim.complete`, `fim.stream`, `agents.complete`,
 * `agents.stream`, `embeddings.create`. 1.x is CommonJS (hooked by `require`), 2.x ESM-only (hooked
 * by `import` or by `require` of ESM); either way the main module is hooked and the resource classes,
 * which it does not export, are reached through the `Mistral` class's lazy resource getters. Every
 * method is an `async` function, so the app gets a native promise either way.
 *
 * SDK 2.x traces itself through a `TracingHook` (`mistralai_sdk_tracer` spans), but only when asked
 * to: `MISTRAL_SDK_TELEMETRY=global|dedicated`, `registerTracerProvider()` or `configureTelemetry()`
 * from `@mistralai/mistralai/extra/observability`; a global tracer provider alone does not turn it
 * on. When it is on, the calls Tokenmeter meters would get a second span, so while this
 * instrumentation is enabled the hook skips them (Tokenmeter's span, with usage and cost, is the
 * one span) and still traces everything else (OCR, conversations, files…). The exception is the
 * SDK's `dedicated` mode, which exports to Mistral's own telemetry endpoint, not the app's pipeline:
 * those spans are left alone.
 */
export class MistralInstrumentation extends LlmInstrumentation<MistralInstrumentationConfig> {
  constructor(config: MistralInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      '@mistralai/mistralai',
      ['>=1.0.0 <3'],
      (moduleExports) => {
        this.patch(moduleExports);
        return moduleExports;
      },
      (moduleExports) => this.unpatch(moduleExports),
    );
  }

  /**
   * Patches one copy of the package. An app can load two (two majors side by side): each copy is
   * patched and unpatched on its own, since `InstrumentationBase` re-patches only the copy loaded
   * last when the instrumentation is enabled again; a copy left wrapped calls the SDK untouched
   * while the instrumentation is disabled.
   */
  private patch(moduleExports: any): void {
    let found: Map<Resource, any>;
    try {
      found = resourceInstances(moduleExports);
    } catch (error) {
      this.recorder.self.internalError('patch', error);
      return;
    }
    const hookPrototype = tracingHookPrototype(found);
    for (const [resource, name, method] of METHODS) {
      const owner = methodOwner(found, resource, name);
      if (!owner || isWrapped(owner[name])) continue;
      this._wrap(owner, name, (original: AnyFunction) =>
        this.wrapMethod(original, method, hookPrototype !== undefined),
      );
    }
    if (hookPrototype && !isWrapped(hookPrototype.beforeRequest)) {
      this._wrap(hookPrototype, 'beforeRequest', (original: AnyFunction) => this.skipSdkSpan(original));
    }
  }

  private unpatch(moduleExports: any): void {
    let found: Map<Resource, any>;
    try {
      found = resourceInstances(moduleExports);
    } catch (error) {
      this.recorder.self.internalError('unpatch', error);
      return;
    }
    for (const [resource, name] of METHODS) {
      const owner = methodOwner(found, resource, name);
      if (owner && isWrapped(owner[name])) this._unwrap(owner, name);
    }
    const hookPrototype = tracingHookPrototype(found);
    if (hookPrototype && isWrapped(hookPrototype.beforeRequest)) this._unwrap(hookPrototype, 'beforeRequest');
  }

  /** `marked`: this copy has the 2.x tracing hook, which reads from the context which calls are metered. */
  private wrapMethod(original: AnyFunction, method: MistralMethod, marked: boolean): AnyFunction {
    return meteredMethod(original, {
      recorder: () => this.activeRecorder(),
      describe: (self, args): MistralCall => describeMistralCall(method, self, args[0], args[1]),
      invoke: (run) =>
        marked ? context.with(context.active().setValue(METERED_BY_TOKENMETER, true), run) : run(),
      onValue(value, call, described) {
        if (method.stream) observeStream(value, call, described.observeStream());
        else finishWithResponse(call, () => described.readResponse(value));
      },
    });
  }

  private skipSdkSpan(original: AnyFunction): AnyFunction {
    const instrumentation = this;
    return function beforeRequest(this: any, hookContext: any, request: unknown) {
      if (
        instrumentation.isEnabled() &&
        context.active().getValue(METERED_BY_TOKENMETER) === true &&
        !exportsToMistral(this)
      ) {
        // What the hook itself does when tracing is off: no span, the request unchanged.
        if (hookContext && typeof hookContext === 'object')
          for (const key of SDK_TRACING_KEYS) delete hookContext[key];
        return Promise.resolve(request);
      }
      // biome-ignore lint/complexity/noArguments: passes the hook's arguments on exactly
      return original.apply(this, arguments as unknown as unknown[]);
    };
  }
}

/**
 * One instance of each resource class, made by the `Mistral` class's own lazy getters on a bare
 * object (no client is created, nothing is sent): their prototypes are the classes to patch, which
 * the package does not export.
 */
function resourceInstances(moduleExports: any): Map<Resource, any> {
  const found = new Map<Resource, any>();
  const Mistral = moduleExports?.Mistral ?? moduleExports?.default?.Mistral;
  const prototype = Mistral?.prototype;
  if (!prototype) return found;
  const stub = { _options: {} };
  for (const resource of ['chat', 'fim', 'agents', 'embeddings'] as const) {
    const getter = descriptorOf(prototype, resource)?.get;
    if (typeof getter !== 'function') continue;
    const instance = getter.call(stub);
    if (instance && typeof instance === 'object') found.set(resource, instance);
  }
  return found;
}

/** The prototype of the resource class (`Chat`, …) that defines `name`. */
function methodOwner(found: Map<Resource, any>, resource: Resource, name: string): any {
  const instance = found.get(resource);
  return instance ? ownerOf(Object.getPrototypeOf(instance), name) : undefined;
}

/** The prototype defining the SDK 2.x `TracingHook`'s `beforeRequest`, if this copy has one. */
function tracingHookPrototype(found: Map<Resource, any>): any {
  const hook = sdkTracingHook(found.get('chat'));
  return hook ? ownerOf(Object.getPrototypeOf(hook), 'beforeRequest') : undefined;
}

/** The SDK 2.x `TracingHook` registered on a client's hooks, if any. */
function sdkTracingHook(instance: any): any {
  const hooks = instance?._options?.hooks?.beforeRequestHooks;
  if (!Array.isArray(hooks)) return undefined;
  return hooks.find((hook) => hook && typeof hook === 'object' && hook._mistralTracingHook === true);
}

/** The SDK's `dedicated` telemetry mode: spans go to Mistral's endpoint through an SDK-owned provider. */
function exportsToMistral(hook: any): boolean {
  if (hook?._autoTelemetryProvider !== undefined) return true;
  return (
    process.env.MISTRAL_SDK_TELEMETRY?.trim().toLowerCase() === 'dedicated' &&
    hook?.tracerProvider === undefined &&
    hook?._telemetryUseGlobalProvider !== true &&
    hook?._telemetryAutoDisabled !== true
  );
}

function descriptorOf(prototype: object, name: string): PropertyDescriptor | undefined {
  let current: object | null = prototype;
  while (current && current !== Object.prototype) {
    const descriptor = Object.getOwnPropertyDescriptor(current, name);
    if (descriptor) return descriptor;
    current = Object.getPrototypeOf(current);
  }
  return undefined;
}

/** The prototype in the chain that defines `name` as a method. */
function ownerOf(prototype: any, name: string): any {
  let current = prototype;
  while (current && current !== Object.prototype) {
    if (Object.hasOwn(current, name) && typeof current[name] === 'function') return current;
    current = Object.getPrototypeOf(current);
  }
  return undefined;
}
