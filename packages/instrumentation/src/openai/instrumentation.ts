import { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { exportedClientClass, StainlessInstrumentation } from '../stainless/instrumentation.js';
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
export class OpenAIInstrumentation extends StainlessInstrumentation<OpenAIInstrumentationConfig> {
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
        this.patchPost(exportedClientClass(moduleExports, 'OpenAI'), this.adapter);
        return moduleExports;
      },
      (moduleExports) => this.unpatchPost(exportedClientClass(moduleExports, 'OpenAI')),
    );
  }
}
