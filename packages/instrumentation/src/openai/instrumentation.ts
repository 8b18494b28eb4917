import { InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { findPostOwner, wrapPost } from '../stainless/wrap-post.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import { OpenAIAdapter } from './adapter.js';
import { parseHostProviders } from './providers.js';

export interface OpenAIInstrumentationConfig extends TokenmeterInstrumentationConfig {
  /**
   * Request the usage event on OpenAI and Azure OpenAI streams (`stream_options.include_usage`)
   * when the app did not, and hide it from the app. Default true; env
   * `TOKENMETER_OPENAI_STREAM_USAGE=false` turns it off (usage is then estimated).
   */
  requestStreamUsage?: boolean;
  /** `host` or `host:port` → `gen_ai.provider.name`, for OpenAI-compatible servers no URL gives away. */
  hostProviders?: Record<string, string>;
}

/** Meters `openai` 4.x–7.x: chat, responses, legacy completions, embeddings, images, audio. */
export class OpenAIInstrumentation extends LlmInstrumentation<OpenAIInstrumentationConfig> {
  private readonly adapter = new OpenAIAdapter();

  constructor(config: OpenAIInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
    this.configureAdapter(config);
  }

  override setConfig(config: OpenAIInstrumentationConfig = {}): void {
    super.setConfig(config);
    // InstrumentationBase calls setConfig from its constructor, before the adapter exists.
    if (this.adapter) this.configureAdapter(config);
  }

  /** Settings are resolved here, once, never on the hot path of a call. */
  private configureAdapter(config: OpenAIInstrumentationConfig): void {
    this.adapter.configure({
      requestStreamUsage:
        config.requestStreamUsage ?? process.env.TOKENMETER_OPENAI_STREAM_USAGE?.toLowerCase() !== 'false',
      hostProviders: {
        ...parseHostProviders(process.env.TOKENMETER_PROVIDER_HOSTS),
        ...config.hostProviders,
      },
    });
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      'openai',
      ['>=4.0.0 <8'],
      (moduleExports) => {
        const owner = findPostOwner(clientClassOf(moduleExports));
        if (owner && !isWrapped(owner.post)) {
          this._wrap(owner, 'post', (original) =>
            wrapPost(original, this.adapter, () => this.activeRecorder()),
          );
        }
        return moduleExports;
      },
      (moduleExports) => {
        const owner = findPostOwner(clientClassOf(moduleExports));
        if (owner && isWrapped(owner.post)) this._unwrap(owner, 'post');
      },
    );
  }
}

function clientClassOf(moduleExports: any): unknown {
  return moduleExports?.OpenAI ?? moduleExports?.default?.OpenAI ?? moduleExports?.default ?? moduleExports;
}
