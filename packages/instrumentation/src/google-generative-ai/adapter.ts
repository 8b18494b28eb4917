import type { CallRequest, CallResponse } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { DescribedCall } from '../core/meter-call.js';
import {
  GenerateContentStreamObserver,
  geminiEmbeddingUsage,
  readGenerateContentResponse,
  turnCount,
} from '../google-genai/usage.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';

/**
 * `@google/generative-ai` (the deprecated Gemini API SDK): `GenerativeModel` and `ChatSession`
 * calls, described from the model object (`model`, `generationConfig`, `systemInstruction`, request
 * options) and the method's arguments. It only speaks to the Gemini Developer API: `gcp.gemini`.
 */

const DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

type Kind = 'generate' | 'stream' | 'embed' | 'batch_embed';

/** Request options: the model's (`_requestOptions`, `requestOptions` before 0.11) under the call's. */
function baseUrlOf(owner: any, callOptions: unknown): string {
  const perCall = (callOptions as { baseUrl?: unknown } | undefined)?.baseUrl;
  if (typeof perCall === 'string' && perCall) return perCall;
  const configured = (owner?._requestOptions ?? owner?.requestOptions)?.baseUrl;
  return typeof configured === 'string' && configured ? configured : DEFAULT_BASE_URL;
}

function request(owner: any, callOptions: unknown, operation: string, stream: boolean): CallRequest {
  const server = serverOf(baseUrlOf(owner, callOptions));
  const result: CallRequest = {
    operation,
    provider: 'gcp.gemini',
    requestModel: typeof owner?.model === 'string' ? owner.model : undefined,
    stream,
    serverAddress: server.address,
    serverPort: server.port,
  };
  if (operation === 'generate_content') {
    const config = owner?.generationConfig ?? owner?.params?.generationConfig;
    if (config && typeof config === 'object') {
      const attributes: NonNullable<CallRequest['attributes']> = {};
      if (typeof config.maxOutputTokens === 'number')
        attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = config.maxOutputTokens;
      if (typeof config.temperature === 'number')
        attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = config.temperature;
      result.attributes = attributes;
    }
  }
  return result;
}

/**
 * `GenerativeModel.generateContent[Stream](request, requestOptions)`: the request is a string, an
 * array of strings/parts, or a `GenerateContentRequest` (`{ contents, systemInstruction, … }`).
 */
export function describeModelCall(model: any, args: unknown[], kind: Kind): DescribedCall {
  const [input, callOptions] = args;
  if (kind === 'embed' || kind === 'batch_embed') {
    return {
      request: request(model, callOptions, 'embeddings', false),
      input: () => {
        const texts: string[] = [];
        const value = input as any;
        collectText(kind === 'batch_embed' ? value?.requests : (value?.content ?? value), texts);
        return { texts, messageCount: 0 };
      },
    };
  }
  return {
    request: request(model, callOptions, 'generate_content', kind === 'stream'),
    input: () => {
      const texts: string[] = [];
      const value = input as any;
      const contents = value && typeof value === 'object' && 'contents' in value ? value.contents : value;
      collectText(value?.systemInstruction ?? model?.systemInstruction, texts);
      collectText(contents, texts);
      return { texts, messageCount: turnCount(contents) };
    },
  };
}

/**
 * `ChatSession.sendMessage[Stream](request, requestOptions)`: the history so far (taken when the call
 * starts) and the new message, sent to the session's model.
 */
export function describeChatCall(session: any, args: unknown[], stream: boolean): DescribedCall {
  const [message, callOptions] = args;
  const history: unknown[] = Array.isArray(session?._history) ? session._history.slice() : [];
  return {
    request: request(session, callOptions, 'generate_content', stream),
    input: () => {
      const texts: string[] = [];
      collectText(session?.params?.systemInstruction, texts);
      collectText(history, texts);
      collectText(message, texts);
      return { texts, messageCount: history.length + 1 };
    },
  };
}

/** `generateContent` resolves to `{ response }`. */
export function readGenerateContentResult(result: any): CallResponse {
  return readGenerateContentResponse(result?.response);
}

/** `embedContent` → `{ embedding }`, `batchEmbedContents` → `{ embeddings }`: no usage on the Gemini API. */
export function readEmbedResult(result: any): CallResponse {
  const { usage, raw } = geminiEmbeddingUsage(result);
  return { usage, providerUsage: raw };
}

export function streamObserver(): GenerateContentStreamObserver {
  return new GenerateContentStreamObserver();
}
