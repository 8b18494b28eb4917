import { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { finishWithResponse, meteredMethod, observeStream } from '../core/meter-call.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import {
  describeEmbedContent,
  describeGenerateContent,
  generateContentStreamObserver,
  readEmbedContent,
  readGenerateContent,
} from './adapter.js';

export type GoogleGenAIInstrumentationConfig = TokenmeterInstrumentationConfig;

/**
 * Meters `@google/genai` 1.x–3.x, for the Gemini Developer API (`gcp.gemini`) and Vertex AI
 * (`gcp.vertex_ai`, from the client's `vertexai` setting).
 *
 * The public `models.generateContent`, `generateContentStream` and (2.x+) `embedContent` are arrow
 * functions created per instance in the `Models` constructor, out of reach of a prototype hook.
 * Each of them sends its API requests through prototype methods that every version since 1.0 has:
 * `generateContentInternal`, `generateContentStreamInternal`, and `embedContentInternal` (2.x+) or
 * the prototype `embedContent` itself (1.x). One request = one span: chats
 * (`chats.create().sendMessage/sendMessageStream`) call `models.generateContent[Stream]` and are
 * metered there, once; automatic function calling and automatic continuation send several billed
 * requests for one app call, and each is metered on its own. `countTokens`/`computeTokens` are not
 * metered. The SDK has no tracing of its own.
 */
export class GoogleGenAIInstrumentation extends LlmInstrumentation<GoogleGenAIInstrumentationConfig> {
  constructor(config: GoogleGenAIInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      '@google/genai',
      ['>=1.0.0 <4'],
      (moduleExports) => {
        const models = modelsPrototype(moduleExports);
        if (models) this.patchModels(models);
        return moduleExports;
      },
      (moduleExports) => {
        this.unwrapMethods(modelsPrototype(moduleExports), METHODS);
      },
    );
  }

  private patchModels(models: Record<string, any>): void {
    const recorder = () => this.activeRecorder();
    // 2.x+: `embedContent` is a per-instance arrow calling `embedContentInternal`; 1.x: a prototype method.
    const embed = typeof models.embedContentInternal === 'function' ? 'embedContentInternal' : 'embedContent';
    this.wrapMethods(models, {
      generateContentInternal: (original) =>
        meteredMethod(original, {
          recorder,
          describe: (self, args) => describeGenerateContent(self, args[0], false),
          onValue: (value, call) => finishWithResponse(call, () => readGenerateContent(value)),
        }),
      generateContentStreamInternal: (original) =>
        meteredMethod(original, {
          recorder,
          describe: (self, args) => describeGenerateContent(self, args[0], true),
          onValue: (value, call) => observeStream(value, call, generateContentStreamObserver()),
        }),
      [embed]: (original) =>
        meteredMethod(original, {
          recorder,
          describe: (self, args) => describeEmbedContent(self, args[0]),
          onValue: (value, call) => finishWithResponse(call, () => readEmbedContent(value)),
        }),
    });
  }
}

const METHODS = [
  'generateContentInternal',
  'generateContentStreamInternal',
  'embedContentInternal',
  'embedContent',
] as const;

function modelsPrototype(moduleExports: any): Record<string, any> | undefined {
  const Models = moduleExports?.Models ?? moduleExports?.default?.Models;
  return typeof Models === 'function' && Models.prototype ? Models.prototype : undefined;
}
