import type { CallRequest, CallResponse } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import type { DescribedCall } from '../core/meter-call.js';
import { serverOf } from '../openai/providers.js';
import * as sc from '../semconv.js';
import {
  GenerateContentStreamObserver,
  geminiEmbeddingUsage,
  readGenerateContentResponse,
  turnCount,
} from './usage.js';

/**
 * `@google/genai`: one API request of `Models` (`generateContentInternal`,
 * `generateContentStreamInternal`, `embedContentInternal` / 1.x `embedContent`), described from the
 * method's parameters (`{ model, contents, config }`) and the module's `ApiClient`, read from the
 * response object the SDK builds from the wire JSON.
 */

type Params = Record<string, any>;

/** The `ApiClient` knows the backend: Vertex AI (`vertexai: true`) or the Gemini Developer API. */
export function providerOf(apiClient: any): string {
  return apiClient?.isVertexAI?.() === true || apiClient?.clientOptions?.vertexai === true
    ? 'gcp.vertex_ai'
    : 'gcp.gemini';
}

function baseUrlOf(apiClient: any, params: Params | undefined): string | undefined {
  const perRequest = params?.config?.httpOptions?.baseUrl;
  if (typeof perRequest === 'string') return perRequest;
  const configured = apiClient?.clientOptions?.httpOptions?.baseUrl;
  return typeof configured === 'string' ? configured : undefined;
}

function describe(models: any, params: Params | undefined, operation: string, stream: boolean): CallRequest {
  const apiClient = models?.apiClient;
  const server = serverOf(baseUrlOf(apiClient, params));
  const request: CallRequest = {
    operation,
    provider: providerOf(apiClient),
    requestModel: typeof params?.model === 'string' ? params.model : undefined,
    stream,
    serverAddress: server.address,
    serverPort: server.port,
  };
  const config = params?.config;
  if (operation === 'generate_content' && config && typeof config === 'object') {
    const attributes: NonNullable<CallRequest['attributes']> = {};
    if (typeof config.maxOutputTokens === 'number')
      attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = config.maxOutputTokens;
    if (typeof config.temperature === 'number')
      attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = config.temperature;
    request.attributes = attributes;
  }
  return request;
}

/** `generateContent` / `streamGenerateContent`: the contents and the system instruction. */
export function describeGenerateContent(
  models: any,
  params: Params | undefined,
  stream: boolean,
): DescribedCall {
  return {
    request: describe(models, params, 'generate_content', stream),
    input: () => {
      const texts: string[] = [];
      collectText(params?.config?.systemInstruction, texts);
      collectText(params?.contents, texts);
      return { texts, messageCount: turnCount(params?.contents) };
    },
  };
}

/** `embedContent`: `contents` (3.x), or `content` for one embedding (Vertex embedContent models). */
export function describeEmbedContent(models: any, params: Params | undefined): DescribedCall {
  return {
    request: describe(models, params, 'embeddings', false),
    input: () => {
      const texts: string[] = [];
      collectText(params?.contents ?? params?.content, texts);
      return { texts, messageCount: 0 };
    },
  };
}

export function readGenerateContent(response: unknown): CallResponse {
  return readGenerateContentResponse(response);
}

export function readEmbedContent(response: any): CallResponse {
  const { usage, raw } = geminiEmbeddingUsage(response);
  return { usage, providerUsage: raw };
}

export function generateContentStreamObserver(): GenerateContentStreamObserver {
  return new GenerateContentStreamObserver();
}
