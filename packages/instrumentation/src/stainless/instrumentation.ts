import { isWrapped } from '@opentelemetry/instrumentation';
import type { ClientAdapter } from '../core/adapter.js';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { findPostOwner, wrapPost } from './wrap-post.js';

/**
 * An instrumentation of a Stainless-generated SDK (`openai`, `@anthropic-ai/sdk`, `groq-sdk`): the
 * client class's `post` is wrapped once, on the prototype that defines it.
 */
export abstract class StainlessInstrumentation<
  Config extends TokenmeterInstrumentationConfig = TokenmeterInstrumentationConfig,
> extends LlmInstrumentation<Config> {
  /** Wraps `post` for `clientClass` unless already wrapped; returns the prototype it wrapped. */
  protected patchPost(clientClass: unknown, adapter: ClientAdapter<any>): object | undefined {
    const owner = findPostOwner(clientClass);
    if (!owner || isWrapped(owner.post)) return undefined;
    this._wrap(owner, 'post', (original) => wrapPost(original, adapter, () => this.activeRecorder()));
    return owner;
  }

  protected unpatchPost(clientClass: unknown): void {
    const owner = findPostOwner(clientClass);
    if (owner && isWrapped(owner.post)) this._unwrap(owner, 'post');
  }
}

/** The client class a module exports under `name` (CommonJS, ESM namespace, or default export). */
export function exportedClientClass(moduleExports: any, name: string): unknown {
  return moduleExports?.[name] ?? moduleExports?.default?.[name] ?? moduleExports?.default ?? moduleExports;
}
