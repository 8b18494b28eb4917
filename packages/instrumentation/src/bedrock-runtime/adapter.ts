import type { StreamObserver } from '../core/adapter.js';
import type { CallRequest, CallResponse } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { EstimationSource } from '../core/recorder.js';
import * as sc from '../semconv.js';
import {
  converseUsage,
  describeInvokeBody,
  headerUsage,
  InvokeStreamObserver,
  invokeOutputText,
  parseBody,
  preferValid,
  readInvokeBody,
} from './body-formats.js';

type Input = Record<string, any>;

/** The Bedrock Runtime operations that run a model and are metered; every other command passes through. */
export type CommandKind = 'Converse' | 'ConverseStream' | 'InvokeModel' | 'InvokeModelWithResponseStream';

const KINDS: ReadonlySet<string> = new Set<CommandKind>([
  'Converse',
  'ConverseStream',
  'InvokeModel',
  'InvokeModelWithResponseStream',
]);

/** The Smithy namespace of the service, in every schema-based SDK's operation schemas. */
const SERVICE_NAMESPACE = 'com.amazonaws.bedrockruntime';

/** Command classes of every loaded copy of the SDK (an app can hold two versions). */
const commandClasses = new Map<unknown, CommandKind>();

/** Remembers the command classes a loaded copy of the SDK exports. */
export function registerCommandClasses(moduleExports: any): void {
  for (const kind of KINDS) {
    const cls = moduleExports?.[`${kind}Command`];
    if (typeof cls === 'function') commandClasses.set(cls, kind as CommandKind);
  }
}

/**
 * Which metered operation a command runs, without trusting class names alone (minifiers rename
 * classes): the exported class itself (or a subclass), then the operation schema that schema-based
 * SDKs (2025 on) attach to each command (`[9, 'com.amazonaws.bedrockruntime', 'Converse', …]`),
 * and the class name only as a last resort.
 */
export function commandKind(command: unknown): CommandKind | undefined {
  if (!command || typeof command !== 'object') return undefined;
  const ctor = (command as { constructor?: unknown }).constructor;
  const known = commandClasses.get(ctor);
  if (known) return known;
  const schema = (command as { schema?: unknown }).schema as any;
  if (Array.isArray(schema)) {
    if (schema[0] === 9 && schema[1] === SERVICE_NAMESPACE)
      return KINDS.has(schema[2]) ? (schema[2] as CommandKind) : undefined;
  } else if (schema && typeof schema === 'object' && schema.namespace === SERVICE_NAMESPACE) {
    return KINDS.has(schema.name) ? (schema.name as CommandKind) : undefined;
  }
  for (const [cls, kind] of commandClasses)
    if (typeof cls === 'function' && command instanceof (cls as new () => unknown)) return kind;
  const name = typeof ctor === 'function' ? ctor.name : undefined;
  if (name?.endsWith('Command')) {
    const kind = name.slice(0, -'Command'.length);
    if (KINDS.has(kind)) return kind as CommandKind;
  }
  return undefined;
}

export interface MeteredCommand extends EstimationSource {
  kind: CommandKind;
  request: CallRequest;
  /** Reads a whole response (Converse, InvokeModel); `headers` are the captured token-count headers. */
  readResponse(output: unknown, headers: Record<string, string> | undefined): CallResponse;
  /** The text a whole response generated, for estimation when it told no usage. */
  outputText(output: unknown): string;
  /** The async iterable of a streamed response (ConverseStream's `stream`, InvokeModel's `body`). */
  streamOf(output: unknown): unknown;
  observeStream(): StreamObserver;
}

/**
 * `@aws-sdk/client-bedrock-runtime`: the Converse API (any model, one usage shape) and InvokeModel
 * (each model family's own body, see body-formats.ts), streamed or not. Knows nothing of spans.
 */
export class BedrockRuntimeAdapter {
  describe(command: unknown, server: { address?: string; port?: number }): MeteredCommand | undefined {
    const kind = commandKind(command);
    if (!kind) return undefined;
    const input: Input = ((command as { input?: unknown }).input ?? {}) as Input;
    const modelId = typeof input.modelId === 'string' ? input.modelId : undefined;
    const stream = kind === 'ConverseStream' || kind === 'InvokeModelWithResponseStream';
    const request: CallRequest = {
      operation: 'chat',
      provider: 'aws.bedrock',
      requestModel: modelId,
      stream,
      serverAddress: server.address,
      serverPort: server.port,
    };
    if (kind === 'Converse' || kind === 'ConverseStream') {
      request.attributes = converseAttributes(input);
      return {
        kind,
        request,
        input: () => {
          const texts: string[] = [];
          collectText(input.system, texts);
          collectText(input.messages, texts);
          return { texts, messageCount: Array.isArray(input.messages) ? input.messages.length : 0 };
        },
        readResponse: (output) => converseResult(output),
        outputText: (output) => {
          const texts: string[] = [];
          collectText((output as { output?: { message?: unknown } } | undefined)?.output?.message, texts);
          return texts.join('');
        },
        streamOf: (output) => (output as { stream?: unknown } | undefined)?.stream,
        observeStream: () => new ConverseStreamObserver(),
      };
    }
    const body = describeInvokeBody(modelId, parseBody(input.body));
    request.operation = body.operation;
    if (body.attributes) request.attributes = body.attributes;
    // The model an InvokeModel body names is Anthropic's or the vendor's name, not the Bedrock id the
    // call is billed under (a `global.` profile costs less than the regional one): it is only the
    // response model when the request's id says nothing of the model (an inference profile ARN).
    const opaqueModel = modelId === undefined || modelId.startsWith('arn:');
    return {
      kind,
      request,
      input: body.input,
      readResponse: (output, headers) => {
        const reading = readInvokeBody(parseBody((output as { body?: unknown } | undefined)?.body));
        const chosen = preferValid(
          { usage: reading.usage, raw: reading.providerUsage },
          { usage: headerUsage(headers), raw: headers },
        );
        return {
          responseId: reading.responseId,
          responseModel: opaqueModel ? reading.responseModel : undefined,
          finishReasons: reading.finishReasons,
          usage: chosen.usage,
          providerUsage: chosen.raw,
        };
      },
      outputText: (output) => invokeOutputText(parseBody((output as { body?: unknown } | undefined)?.body)),
      streamOf: (output) => (output as { body?: unknown } | undefined)?.body,
      observeStream: () => new InvokeStreamObserver(),
    };
  }
}

function converseAttributes(input: Input): CallRequest['attributes'] {
  const config = input.inferenceConfig;
  const attributes: Record<string, number> = {};
  if (typeof config?.maxTokens === 'number') attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = config.maxTokens;
  if (typeof config?.temperature === 'number')
    attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = config.temperature;
  return Object.keys(attributes).length ? attributes : undefined;
}

function converseResult(output: any): CallResponse {
  const stopReason = output?.stopReason;
  return {
    finishReasons: typeof stopReason === 'string' ? [stopReason] : undefined,
    usage: converseUsage(output?.usage),
    providerUsage: output?.usage,
  };
}

/**
 * ConverseStream events: text in `contentBlockDelta`, the stop reason in `messageStop`, and the
 * usage in the final `metadata` event (absent when the stream is cut short: then estimated).
 */
class ConverseStreamObserver implements StreamObserver {
  private usage: unknown;
  private stopReason: string | undefined;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    const delta = event?.contentBlockDelta?.delta;
    if (delta) {
      const piece = delta.text ?? delta.reasoningContent?.text ?? delta.toolUse?.input;
      if (typeof piece === 'string') this.text.push(piece);
    } else if (event?.messageStop) {
      if (typeof event.messageStop.stopReason === 'string') this.stopReason = event.messageStop.stopReason;
    } else if (event?.metadata?.usage) {
      this.usage = event.metadata.usage;
    }
    return false;
  }

  result(): CallResponse {
    return {
      finishReasons: this.stopReason ? [this.stopReason] : undefined,
      usage: converseUsage(this.usage),
      providerUsage: this.usage,
    };
  }

  outputText(): string {
    return this.text.join('');
  }
}
