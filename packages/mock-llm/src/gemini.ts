import type { ServerResponse } from 'node:http';
import type { MockRequest } from './provider.js';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario } from './scenario.js';
import { EventWriter } from './sse.js';

type Body = Record<string, any>;

/**
 * Google's Gemini wire format, as both the Gemini Developer API and Vertex AI speak it:
 * - Gemini API: `/{v1|v1beta|v1alpha}/models/{model}:{method}` (and `tunedModels/…`);
 * - Vertex AI: `/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:{method}`,
 *   and `/{version}/publishers/google/models/{model}:{method}` for express mode (API key, no project).
 * Methods: `generateContent`, `streamGenerateContent?alt=sse`, `embedContent`, `batchEmbedContents`,
 * `countTokens`, and Vertex's `predict` (text-embedding models).
 */
const PATH =
  /^\/(v1|v1beta|v1beta1|v1alpha)\/(?:(projects\/[^/]+\/locations\/[^/]+)\/)?(?:publishers\/([^/]+)\/)?(models|tunedModels)\/([^/:]+):([A-Za-z]+)$/;

const METHODS = new Set([
  'generateContent',
  'streamGenerateContent',
  'embedContent',
  'batchEmbedContents',
  'countTokens',
  'predict',
]);

/** google.rpc.Code names, as the APIs put them in `error.status`. */
const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Tokens a request's `cachedContent` stands for: counted inside `promptTokenCount`, as the API does. */
const CACHED_CONTENT_TOKENS = 2048;
const THOUGHT_TOKENS = 12;

export function geminiRoute(mock: MockRequest): boolean | Promise<boolean> {
  if (mock.request.method !== 'POST') return false;
  const match = PATH.exec(mock.url.pathname);
  if (!match || !METHODS.has(match[6]!)) return false;
  const vertex = match[1] === 'v1beta1' || match[2] !== undefined || match[3] !== undefined;
  const model = decodeURIComponent(match[5]!);
  const method = match[6]!;
  const { response, scenario } = mock;
  if (scenario.httpError) {
    geminiError(response, scenario.httpError);
    return true;
  }
  const body: Body = mock.body && typeof mock.body === 'object' ? mock.body : {};
  switch (method) {
    case 'generateContent':
      generateContent(response, body, scenario, model, vertex);
      return true;
    case 'streamGenerateContent':
      return streamGenerateContent(response, body, scenario, model, vertex).then(() => true);
    case 'embedContent':
      embedContent(response, body, scenario, vertex);
      return true;
    case 'batchEmbedContents':
      batchEmbedContents(response, body, scenario);
      return true;
    case 'predict':
      predict(response, body, scenario);
      return true;
    case 'countTokens':
      json(response, countTokens(body, vertex));
      return true;
  }
  return false;
}

/** The error body both APIs send: `{ error: { code, message, status } }`. */
export function geminiError(response: ServerResponse, code: number): void {
  json(
    response,
    { error: { code, message: `Mock error ${code}`, status: STATUS_NAMES[code] ?? 'UNKNOWN' } },
    code,
  );
}

function json(response: ServerResponse, body: unknown, status = 200): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  response.end(JSON.stringify(body));
}

function promptTokens(body: Body): number {
  const texts = partsText([body.systemInstruction, body.system_instruction, body.contents]);
  const messages = Array.isArray(body.contents) ? body.contents.length : 1;
  return estimateInputTokens(texts, messages) + (body.cachedContent ? CACHED_CONTENT_TOKENS : 0);
}

/** Text of `Content`/`Part` structures (`{ role, parts: [{ text }] }`), or of plain strings. */
function partsText(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) partsText(item, out);
  else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.text === 'string') out.push(record.text);
    if (record.parts) partsText(record.parts, out);
    if (record.content) partsText(record.content, out);
  }
  return out;
}

function thinks(body: Body): boolean {
  const thinking = body.generationConfig?.thinkingConfig ?? body.generation_config?.thinking_config;
  return !!thinking && thinking.thinkingBudget !== 0;
}

/**
 * `usageMetadata` as the APIs report it: `promptTokenCount` INCLUDES `cachedContentTokenCount`;
 * `thoughtsTokenCount` is NOT part of `candidatesTokenCount`; the total adds prompt, candidates,
 * tool-use prompt and thoughts.
 */
function usageFor(body: Body, outputTokens: number, scenario: Scenario, vertex: boolean): unknown {
  const prompt = promptTokens(body);
  const thoughts = thinks(body) ? THOUGHT_TOKENS : 0;
  const derived: Body = {
    promptTokenCount: prompt,
    candidatesTokenCount: outputTokens,
    totalTokenCount: prompt + outputTokens + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
  };
  if (body.cachedContent) {
    derived.cachedContentTokenCount = CACHED_CONTENT_TOKENS;
    derived.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: CACHED_CONTENT_TOKENS }];
  }
  if (thoughts) derived.thoughtsTokenCount = thoughts;
  if (vertex) {
    derived.candidatesTokensDetails = [{ modality: 'TEXT', tokenCount: outputTokens }];
    derived.trafficType = 'ON_DEMAND';
  }
  return mergeUsage(derived, scenario.usage);
}

function candidate(text: string, finishReason: string | undefined): Body {
  const result: Body = { content: { parts: [{ text }], role: 'model' } };
  if (finishReason) result.finishReason = finishReason;
  result.index = 0;
  return result;
}

function responseEnvelope(model: string, responseId: string, vertex: boolean): Body {
  // Vertex puts a createTime on every response; both report the model version that served.
  return vertex
    ? { modelVersion: model, createTime: '2025-01-01T00:00:00.000000Z', responseId }
    : { modelVersion: model, responseId };
}

function generateContent(
  response: ServerResponse,
  body: Body,
  scenario: Scenario,
  model: string,
  vertex: boolean,
): void {
  if (scenario.invalidJson) {
    response.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    response.end('{"candidates": [');
    return;
  }
  const words = pieces(scenario.chunks);
  const result: Body = {
    candidates: [candidate(words.join(''), 'STOP')],
  };
  const usage = usageFor(body, words.length, scenario, vertex);
  if (usage !== null) result.usageMetadata = usage;
  Object.assign(result, responseEnvelope(model, nextId('mock-resp-'), vertex));
  json(response, result);
}

async function streamGenerateContent(
  response: ServerResponse,
  body: Body,
  scenario: Scenario,
  model: string,
  vertex: boolean,
): Promise<void> {
  const words = pieces(scenario.chunks);
  const usage = usageFor(body, words.length, scenario, vertex) as Body | null;
  const prompt = promptTokens(body);
  const responseId = nextId('mock-resp-');
  // Google ends SSE lines with CRLF (early @google/generative-ai versions only recognise `\r\n`).
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter, '\r\n');
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      // A failure after the headers went out arrives as an error object in the event stream.
      await events.send({ error: { code: 500, message: 'Mock stream error', status: 'INTERNAL' } });
      events.end();
      return;
    }
    const last = index === words.length - 1;
    const chunk: Body = { candidates: [candidate(word, last ? 'STOP' : undefined)] };
    if (usage !== null) {
      // Every chunk reports the usage so far; the last one is complete.
      chunk.usageMetadata = last
        ? usage
        : { promptTokenCount: prompt, candidatesTokenCount: index + 1, totalTokenCount: prompt + index + 1 };
    }
    Object.assign(chunk, responseEnvelope(model, responseId, vertex));
    if (!(await events.send(chunk))) return;
  }
  events.end();
}

function vector(dimensions: unknown, seed: number): number[] {
  const size = typeof dimensions === 'number' && dimensions > 0 && dimensions <= 4096 ? dimensions : 8;
  return Array.from({ length: size }, (_, index) => Math.round(Math.sin(seed + index) * 1e6) / 1e6);
}

function embedTokens(content: unknown): number {
  return estimateInputTokens(partsText(content), 0);
}

/**
 * `:embedContent`. The Gemini API reports no usage for embeddings (an `x-mock-usage` object is
 * sent as `usageMetadata`); Vertex's embedContent (Gemini embedding models) reports
 * `usageMetadata.promptTokenCount`.
 */
function embedContent(response: ServerResponse, body: Body, scenario: Scenario, vertex: boolean): void {
  const result: Body = { embedding: { values: vector(body.outputDimensionality, 1) } };
  if (vertex) {
    const tokens = embedTokens(body.content);
    const usage = mergeUsage({ promptTokenCount: tokens, totalTokenCount: tokens }, scenario.usage);
    if (usage !== null) result.usageMetadata = usage;
    result.truncated = false;
  } else if (scenario.usage !== undefined && scenario.usage !== null) {
    result.usageMetadata = scenario.usage;
  }
  json(response, result);
}

/** `:batchEmbedContents` (Gemini API): one embedding per request, no usage unless a mock usage is given. */
function batchEmbedContents(response: ServerResponse, body: Body, scenario: Scenario): void {
  const requests: Body[] = Array.isArray(body.requests) ? body.requests : [];
  const result: Body = {
    embeddings: requests.map((request, index) => ({ values: vector(request?.outputDimensionality, index) })),
  };
  if (scenario.usage !== undefined && scenario.usage !== null) result.usageMetadata = scenario.usage;
  json(response, result);
}

/**
 * Vertex `:predict` for text-embedding models: per-instance `statistics.token_count` (snake_case, as
 * the API sends it) and `metadata.billableCharacterCount`. `x-mock-usage: null` drops the statistics.
 */
function predict(response: ServerResponse, body: Body, scenario: Scenario): void {
  const instances: Body[] = Array.isArray(body.instances) ? body.instances : [];
  let characters = 0;
  const predictions = instances.map((instance, index) => {
    const text = typeof instance?.content === 'string' ? instance.content : partsText(instance).join('');
    characters += text.replace(/\s/g, '').length;
    const embeddings: Body = { values: vector(body.parameters?.outputDimensionality, index) };
    if (scenario.usage !== null) {
      embeddings.statistics = mergeUsage(
        { truncated: false, token_count: estimateInputTokens([text], 0) },
        scenario.usage,
      );
    }
    return { embeddings };
  });
  json(response, { predictions, metadata: { billableCharacterCount: characters } });
}

function countTokens(body: Body, vertex: boolean): Body {
  const request: Body = body.generateContentRequest ?? body;
  const total = promptTokens(request);
  return vertex ? { totalTokens: total, totalBillableCharacters: total * 4 } : { totalTokens: total };
}
