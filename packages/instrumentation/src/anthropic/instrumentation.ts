import {
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
} from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { exportedClientClass, StainlessInstrumentation } from '../stainless/instrumentation.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import { AnthropicAdapter } from './adapter.js';

export type AnthropicInstrumentationConfig = TokenmeterInstrumentationConfig;

const SDK_TRACER = '_tracer';
const SUPPORTED = ['>=0.20.0 <2'];

/**
 * Meters `@anthropic-ai/sdk` 0.x–1.x (and the Bedrock and Vertex clients built on it).
 *
 * SDK 1.x traces itself: each client takes a tracer at construction (`_tracer`) and opens its own
 * GenAI span per call once a tracer provider is registered. With Tokenmeter that would be two spans
 * for one call, so while this instrumentation is enabled the clients' own tracer reads as absent and
 * Tokenmeter's span (with full usage and cost) is the one span; disabling Tokenmeter gives the SDK
 * its tracing back. The metering itself does not depend on either span: it happens once, in `post`.
 */
export class AnthropicInstrumentation extends StainlessInstrumentation<AnthropicInstrumentationConfig> {
  private readonly adapter = new AnthropicAdapter();

  constructor(config: AnthropicInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    const patch = (moduleExports: any) => {
      const wrapped = this.patchPost(clientClassOf(moduleExports), this.adapter);
      if (wrapped) this.silenceSdkTracer(wrapped);
      return moduleExports;
    };
    const unpatch = (moduleExports: any) => this.unpatchPost(clientClassOf(moduleExports));
    // `@anthropic-ai/bedrock-sdk` and `vertex-sdk` load `@anthropic-ai/sdk/client` alone, never the
    // package's main module: the client file is hooked too (wrapping once, whichever loads first).
    return new InstrumentationNodeModuleDefinition('@anthropic-ai/sdk', SUPPORTED, patch, unpatch, [
      new InstrumentationNodeModuleFile('@anthropic-ai/sdk/client.js', SUPPORTED, patch, unpatch),
      new InstrumentationNodeModuleFile('@anthropic-ai/sdk/client.mjs', SUPPORTED, patch, unpatch),
    ]);
  }

  /**
   * An accessor on the base client's prototype that the constructor's `this._tracer = …` assignment
   * lands in: the value is kept, and handed back only while Tokenmeter is disabled.
   */
  private silenceSdkTracer(clientPrototype: object): void {
    if (Object.hasOwn(clientPrototype, SDK_TRACER)) return;
    const tracers = new WeakMap<object, unknown>();
    const instrumentation = this;
    Object.defineProperty(clientPrototype, SDK_TRACER, {
      configurable: true,
      enumerable: false,
      get(this: object) {
        return instrumentation.isEnabled() ? undefined : tracers.get(this);
      },
      set(this: object, tracer: unknown) {
        tracers.set(this, tracer);
      },
    });
  }
}

/** `client.js` exports `BaseAnthropic` too; the main module `Anthropic` (or a default export). */
function clientClassOf(moduleExports: any): unknown {
  return moduleExports?.Anthropic
    ? exportedClientClass(moduleExports, 'Anthropic')
    : (moduleExports?.BaseAnthropic ?? exportedClientClass(moduleExports, 'Anthropic'));
}
