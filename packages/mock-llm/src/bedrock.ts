import type { ServerResponse } from 'node:http';
import { crc32 } from 'node:zlib';
import { message } from './anthropic.js';
import type { MockRequest } from './provider.js';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario, textsOf } from './scenario.js';
import { ChunkWriter } from './sse.js';

type Body = Record<string, any>;

/**
 * Amazon Bedrock Runtime (restJson1), as `@aws-sdk/client-bedrock-runtime` and
 * `@anthropic-ai/bedrock-sdk` call it:
 * - `POST /model/{modelId}/converse` and `/converse-stream` (the Converse API, any model);
 * - `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`, whose bodies are the model
 *   family's own JSON (Anthropic Messages, Meta Llama, Mistral, Amazon Titan / Nova, Cohere, and an
 *   OpenAI-like shape for the rest), chosen from the model id as Bedrock does.
 * Errors are AWS JSON errors (`x-amzn-errortype`, `{"message"}`); streams use the AWS binary
 * event-stream framing (`application/vnd.amazon.eventstream`). SigV4 signatures are not checked.
 * Invoke responses carry the `x-amzn-bedrock-*-token-count` headers; the last chunk of an invoke
 * stream carries `amazon-bedrock-invocationMetrics`, as the real service sends them.
 */
const PATH = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/;

/** Error code Bedrock sends for each status (`x-amzn-errortype`). */
const ERROR_TYPES: Record<number, string> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  424: 'ModelErrorException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

export function bedrockRoute(mock: MockRequest): boolean | Promise<boolean> {
  if (mock.request.method !== 'POST') return false;
  const match = PATH.exec(mock.url.pathname);
  if (!match) return false;
  const modelId = decodeURIComponent(match[1]!);
  const operation = match[2]!;
  const { response, scenario } = mock;
  if (scenario.httpError) {
    bedrockError(response, scenario.httpError);
    return true;
  }
  const body = parseBody(mock);
  switch (operation) {
    case 'converse':
      converse(response, body, scenario, modelId);
      return true;
    case 'converse-stream':
      return converseStream(response, body, scenario).then(() => true);
    case 'invoke':
      invoke(response, body, scenario, modelId);
      return true;
    default:
      return invokeStream(response, body, scenario, modelId).then(() => true);
  }
}

function parseBody(mock: MockRequest): Body {
  if (mock.body && typeof mock.body === 'object') return mock.body as Body;
  try {
    const parsed = JSON.parse(mock.raw);
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

export function bedrockError(response: ServerResponse, status: number): void {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'InternalServerException' : 'ValidationException');
  response.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    'x-amzn-requestid': `mock-request-${status}`,
  });
  response.end(JSON.stringify({ message: `Mock error ${status}` }));
}

// --- token counts ------------------------------------------------------------------------------

/** Bedrock's own counts: input excludes cache reads and writes (as Converse and the headers do). */
interface Counts {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

function inputTokensOf(texts: string[], messages: number): number {
  return estimateInputTokens(texts, messages);
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function countHeaders(counts: Counts | undefined): Record<string, string> {
  if (!counts) return {};
  const headers: Record<string, string> = {
    'x-amzn-bedrock-input-token-count': String(counts.input),
    'x-amzn-bedrock-output-token-count': String(counts.output),
  };
  if (counts.cacheRead || counts.cacheWrite) {
    headers['x-amzn-bedrock-cache-read-input-token-count'] = String(counts.cacheRead);
    headers['x-amzn-bedrock-cache-write-input-token-count'] = String(counts.cacheWrite);
  }
  return headers;
}

function invocationMetrics(counts: Counts): Body {
  const metrics: Body = {
    inputTokenCount: counts.input,
    outputTokenCount: counts.output,
    invocationLatency: 42,
    firstByteLatency: 7,
  };
  if (counts.cacheRead || counts.cacheWrite) {
    metrics.cacheReadInputTokenCount = counts.cacheRead;
    metrics.cacheWriteInputTokenCount = counts.cacheWrite;
  }
  return metrics;
}

// --- Converse ----------------------------------------------------------------------------------

function converseTexts(body: Body): { texts: string[]; messages: number } {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return { texts: textsOf([body.system, messages]), messages: messages.length };
}

/** Converse `usage`: `inputTokens` excludes `cacheReadInputTokens` and `cacheWriteInputTokens`. */
function converseUsage(body: Body, outputTokens: number, scenario: Scenario): Body | null {
  const { texts, messages } = converseTexts(body);
  const input = inputTokensOf(texts, messages);
  const usage = mergeUsage(
    { inputTokens: input, outputTokens, totalTokens: input + outputTokens },
    scenario.usage,
  );
  return usage === null ? null : (usage as Body);
}

function converse(response: ServerResponse, body: Body, scenario: Scenario, _modelId: string): void {
  const words = pieces(scenario.chunks);
  const result: Body = {
    output: { message: { role: 'assistant', content: [{ text: words.join('') }] } },
    stopReason: 'end_turn',
    metrics: { latencyMs: 42 },
  };
  const usage = converseUsage(body, words.length, scenario);
  if (usage !== null) result.usage = usage;
  response.writeHead(200, {
    'content-type': 'application/json',
    'x-amzn-requestid': nextId('mock-'),
  });
  response.end(scenario.invalidJson ? '{"output": {"message": ' : JSON.stringify(result));
}

async function converseStream(response: ServerResponse, body: Body, scenario: Scenario): Promise<void> {
  const words = pieces(scenario.chunks);
  const usage = converseUsage(body, words.length, scenario);
  const events = new EventStreamWriter(response, scenario);
  if (!(await events.event('messageStart', { role: 'assistant' }))) return;
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) return events.exception('modelStreamErrorException');
    if (!(await events.event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: word } }))) return;
  }
  if (!(await events.event('contentBlockStop', { contentBlockIndex: 0 }))) return;
  if (!(await events.event('messageStop', { stopReason: 'end_turn' }))) return;
  const metadata: Body = { metrics: { latencyMs: 42 } };
  if (usage !== null) metadata.usage = usage;
  if (!(await events.event('metadata', metadata))) return;
  events.end();
}

// --- InvokeModel: one body format per model family --------------------------------------------

type Family = 'anthropic' | 'meta' | 'mistral' | 'titan-text' | 'titan-embed' | 'nova' | 'cohere' | 'other';

/** The family of a model id, foundation model or inference profile (`us.`, `global.`, ARN). */
function familyOf(modelId: string): Family {
  const id = modelId.slice(modelId.lastIndexOf('/') + 1);
  if (id.includes('anthropic.')) return 'anthropic';
  if (id.includes('meta.')) return 'meta';
  if (id.includes('mistral.')) return 'mistral';
  if (id.includes('amazon.titan-embed')) return 'titan-embed';
  if (id.includes('amazon.titan-text') || id.includes('amazon.titan-tg1')) return 'titan-text';
  if (id.includes('amazon.nova')) return 'nova';
  if (id.includes('cohere.')) return 'cohere';
  return 'other';
}

interface Invocation {
  body: Body;
  /** What the token-count headers and invocation metrics report; undefined when usage is off. */
  counts: Counts | undefined;
}

function requestInputTokens(body: Body): number {
  const list = [
    body.system,
    body.messages,
    body.prompt,
    body.inputText,
    body.message,
    body.chat_history,
    body.texts,
    body.preamble,
  ];
  const texts = textsOf(list);
  for (const value of [body.prompt, body.inputText, body.message, body.preamble])
    if (typeof value === 'string') texts.push(value);
  if (Array.isArray(body.texts))
    for (const text of body.texts) if (typeof text === 'string') texts.push(text);
  return inputTokensOf(texts, Array.isArray(body.messages) ? body.messages.length : 0);
}

/** Counts derived for a request, overridden by `scenario.usage` in the header/metrics shape. */
function headerCounts(body: Body, output: number, scenario: Scenario): Counts | undefined {
  const derived = { inputTokenCount: requestInputTokens(body), outputTokenCount: output };
  const merged = mergeUsage(derived, scenario.usage) as Body | null;
  if (merged === null) return undefined;
  return {
    input: merged.inputTokenCount,
    output: merged.outputTokenCount,
    cacheRead: num(merged.cacheReadInputTokenCount),
    cacheWrite: num(merged.cacheWriteInputTokenCount),
  };
}

function invocation(body: Body, scenario: Scenario, modelId: string): Invocation {
  const words = pieces(scenario.chunks);
  const text = words.join('');
  switch (familyOf(modelId)) {
    case 'anthropic': {
      if (typeof body.prompt === 'string' && !Array.isArray(body.messages)) {
        // Claude v2 Text Completions: no usage in the body, only the headers.
        return {
          body: { type: 'completion', completion: text, stop_reason: 'stop_sequence', stop: '\n\nHuman:' },
          counts: headerCounts(body, words.length, scenario),
        };
      }
      const result = message(body, scenario, modelId);
      const usage = result.usage as Body | undefined;
      return {
        body: result,
        counts: usage && {
          input: num(usage.input_tokens),
          output: num(usage.output_tokens),
          cacheRead: num(usage.cache_read_input_tokens),
          cacheWrite: num(usage.cache_creation_input_tokens),
        },
      };
    }
    case 'meta': {
      const counts = mergeUsage(
        { prompt_token_count: requestInputTokens(body), generation_token_count: words.length },
        scenario.usage,
      ) as Body | null;
      return {
        body: { generation: text, ...counts, stop_reason: 'stop' },
        counts: counts
          ? {
              input: num(counts.prompt_token_count),
              output: num(counts.generation_token_count),
              cacheRead: 0,
              cacheWrite: 0,
            }
          : undefined,
      };
    }
    case 'titan-text': {
      const counts = mergeUsage(
        { inputTextTokenCount: requestInputTokens(body), tokenCount: words.length },
        scenario.usage,
      ) as Body | null;
      const result: Body = { results: [{ outputText: text, completionReason: 'FINISH' }] };
      if (counts) {
        result.inputTextTokenCount = counts.inputTextTokenCount;
        result.results[0].tokenCount = counts.tokenCount;
      }
      return {
        body: result,
        counts: counts
          ? {
              input: num(counts.inputTextTokenCount),
              output: num(counts.tokenCount),
              cacheRead: 0,
              cacheWrite: 0,
            }
          : undefined,
      };
    }
    case 'titan-embed': {
      const counts = mergeUsage(
        { inputTextTokenCount: requestInputTokens(body) },
        scenario.usage,
      ) as Body | null;
      const result: Body = { embedding: [0.125, -0.5, 0.25, 0.0625] };
      if (counts) result.inputTextTokenCount = counts.inputTextTokenCount;
      return {
        body: result,
        counts: counts
          ? { input: num(counts.inputTextTokenCount), output: 0, cacheRead: 0, cacheWrite: 0 }
          : undefined,
      };
    }
    case 'nova': {
      const { texts, messages } = converseTexts(body);
      const input = inputTokensOf(texts, messages);
      const usage = mergeUsage(
        { inputTokens: input, outputTokens: words.length, totalTokens: input + words.length },
        scenario.usage,
      ) as Body | null;
      const result: Body = {
        output: { message: { role: 'assistant', content: [{ text }] } },
        stopReason: 'end_turn',
      };
      if (usage) result.usage = usage;
      return {
        body: result,
        counts: usage
          ? {
              input: num(usage.inputTokens),
              output: num(usage.outputTokens),
              cacheRead: num(usage.cacheReadInputTokenCount),
              cacheWrite: num(usage.cacheWriteInputTokenCount),
            }
          : undefined,
      };
    }
    case 'cohere': {
      const counts = headerCounts(body, Array.isArray(body.texts) ? 0 : words.length, scenario);
      if (Array.isArray(body.texts)) {
        return {
          body: {
            id: nextId('emb-'),
            embeddings: body.texts.map(() => [0.125, -0.5, 0.25]),
            response_type: 'embeddings_floats',
            texts: body.texts,
          },
          counts,
        };
      }
      return {
        body: {
          response_id: nextId('resp-'),
          text,
          generation_id: nextId('gen-'),
          chat_history: [
            ...(Array.isArray(body.chat_history) ? body.chat_history : []),
            { role: 'USER', message: body.message },
            { role: 'CHATBOT', message: text },
          ],
          finish_reason: 'COMPLETE',
        },
        counts,
      };
    }
    case 'mistral': {
      const counts = headerCounts(body, words.length, scenario);
      if (Array.isArray(body.messages)) {
        return {
          body: {
            choices: [{ index: 0, message: { role: 'assistant', content: text }, stop_reason: 'stop' }],
          },
          counts,
        };
      }
      return { body: { outputs: [{ text, stop_reason: 'stop' }] }, counts };
    }
    default: {
      // OpenAI-compatible bodies (AI21 Jamba, OpenAI gpt-oss, DeepSeek, …).
      const input = requestInputTokens(body);
      const usage = mergeUsage(
        { prompt_tokens: input, completion_tokens: words.length, total_tokens: input + words.length },
        scenario.usage,
      ) as Body | null;
      const result: Body = {
        id: nextId('chatcmpl-'),
        object: 'chat.completion',
        model: modelId,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      };
      if (usage) result.usage = usage;
      return {
        body: result,
        counts: usage
          ? {
              input: num(usage.prompt_tokens),
              output: num(usage.completion_tokens),
              cacheRead: 0,
              cacheWrite: 0,
            }
          : undefined,
      };
    }
  }
}

function invoke(response: ServerResponse, body: Body, scenario: Scenario, modelId: string): void {
  const { body: result, counts } = invocation(body, scenario, modelId);
  response.writeHead(200, {
    'content-type': 'application/json',
    'x-amzn-requestid': nextId('mock-'),
    'x-amzn-bedrock-invocation-latency': '42',
    ...countHeaders(counts),
  });
  response.end(scenario.invalidJson ? '{"broken": ' : JSON.stringify(result));
}

/** The chunks of an invoke stream, each the family's own JSON event; the last one gets the metrics. */
function streamChunks(
  body: Body,
  scenario: Scenario,
  modelId: string,
): { chunks: Body[]; counts: Counts | undefined } {
  const words = pieces(scenario.chunks);
  const { body: whole, counts } = invocation(body, scenario, modelId);
  const chunks: Body[] = [];
  switch (familyOf(modelId)) {
    case 'anthropic': {
      if (whole.type === 'completion') {
        for (const word of words) chunks.push({ completion: word, stop_reason: null, stop: null });
        chunks.push({ completion: '', stop_reason: 'stop_sequence', stop: '\n\nHuman:' });
        break;
      }
      const usage = whole.usage as Body | undefined;
      const start: Body = { ...whole, content: [], stop_reason: null };
      if (usage) start.usage = { ...usage, output_tokens: 1 };
      else delete start.usage;
      chunks.push({ type: 'message_start', message: start });
      chunks.push({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
      for (const word of words)
        chunks.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } });
      chunks.push({ type: 'content_block_stop', index: 0 });
      const delta: Body = { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null } };
      if (usage) delta.usage = { output_tokens: usage.output_tokens };
      chunks.push(delta);
      chunks.push({ type: 'message_stop' });
      break;
    }
    case 'meta':
      for (const [index, word] of words.entries())
        chunks.push({
          generation: word,
          prompt_token_count: index === 0 ? (whole.prompt_token_count ?? null) : null,
          generation_token_count: index + 1,
          stop_reason: null,
        });
      chunks.push({
        generation: '',
        prompt_token_count: null,
        generation_token_count: whole.generation_token_count ?? null,
        stop_reason: 'stop',
      });
      break;
    case 'titan-text':
      for (const [index, word] of words.entries())
        chunks.push({
          outputText: word,
          index: 0,
          totalOutputTextTokenCount: index + 1,
          completionReason: index === words.length - 1 ? 'FINISH' : null,
          inputTextTokenCount: index === 0 ? whole.inputTextTokenCount : undefined,
        });
      break;
    case 'nova':
      chunks.push({ messageStart: { role: 'assistant' } });
      for (const word of words)
        chunks.push({ contentBlockDelta: { delta: { text: word }, contentBlockIndex: 0 } });
      chunks.push({ contentBlockStop: { contentBlockIndex: 0 } });
      chunks.push({ messageStop: { stopReason: 'end_turn' } });
      if (whole.usage) chunks.push({ metadata: { usage: whole.usage, metrics: {}, trace: {} } });
      break;
    case 'cohere':
      for (const word of words)
        chunks.push({ is_finished: false, event_type: 'text-generation', text: word });
      chunks.push({
        is_finished: true,
        event_type: 'stream-end',
        finish_reason: 'COMPLETE',
        response: whole,
      });
      break;
    case 'mistral':
      for (const word of words)
        chunks.push(
          Array.isArray(body.messages)
            ? { choices: [{ index: 0, message: { role: 'assistant', content: word }, stop_reason: null }] }
            : { outputs: [{ text: word, stop_reason: null }] },
        );
      chunks.push(
        Array.isArray(body.messages)
          ? { choices: [{ index: 0, message: { role: 'assistant', content: '' }, stop_reason: 'stop' }] }
          : { outputs: [{ text: '', stop_reason: 'stop' }] },
      );
      break;
    default:
      for (const word of words)
        chunks.push({ id: whole.id, choices: [{ index: 0, delta: { content: word }, finish_reason: null }] });
      chunks.push({
        id: whole.id,
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
        usage: whole.usage,
      });
      break;
  }
  return { chunks, counts };
}

async function invokeStream(
  response: ServerResponse,
  body: Body,
  scenario: Scenario,
  modelId: string,
): Promise<void> {
  const { chunks, counts } = streamChunks(body, scenario, modelId);
  if (counts) chunks[chunks.length - 1]!['amazon-bedrock-invocationMetrics'] = invocationMetrics(counts);
  const events = new EventStreamWriter(response, scenario);
  for (const [index, chunk] of chunks.entries()) {
    if (scenario.streamError && index === 2) return events.exception('modelStreamErrorException');
    const bytes = Buffer.from(JSON.stringify(chunk)).toString('base64');
    if (!(await events.event('chunk', { bytes }))) return;
  }
  events.end();
}

// --- AWS event-stream framing ------------------------------------------------------------------

/**
 * One message of the AWS event-stream encoding: a prelude (total length, headers length, CRC32 of
 * those 8 bytes), string headers (name length, name, type 7, value length, value), the payload and
 * a CRC32 of everything before it.
 */
export function eventStreamMessage(headers: Record<string, string>, payload: Buffer): Buffer {
  const encoded = Object.entries(headers).map(([name, value]) => {
    const nameBytes = Buffer.from(name, 'utf8');
    const valueBytes = Buffer.from(value, 'utf8');
    const header = Buffer.alloc(1 + nameBytes.length + 1 + 2 + valueBytes.length);
    header.writeUInt8(nameBytes.length, 0);
    nameBytes.copy(header, 1);
    header.writeUInt8(7, 1 + nameBytes.length);
    header.writeUInt16BE(valueBytes.length, 2 + nameBytes.length);
    valueBytes.copy(header, 4 + nameBytes.length);
    return header;
  });
  const headerBytes = Buffer.concat(encoded);
  const total = 12 + headerBytes.length + payload.length + 4;
  const message = Buffer.alloc(total);
  message.writeUInt32BE(total, 0);
  message.writeUInt32BE(headerBytes.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  headerBytes.copy(message, 12);
  payload.copy(message, 12 + headerBytes.length);
  message.writeUInt32BE(crc32(message.subarray(0, total - 4)), total - 4);
  return message;
}

/** Writes AWS event-stream messages with the pacing and faults a scenario asks for. */
class EventStreamWriter extends ChunkWriter {
  constructor(response: ServerResponse, scenario: Scenario) {
    super(response, scenario.chunkDelayMs, scenario.cutStreamAfter, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-requestid': nextId('mock-'),
      'x-amzn-bedrock-content-type': 'application/json',
    });
  }

  /** Returns false once the connection was cut (the scenario asked for it, or the client left). */
  event(type: string, payload: Body): Promise<boolean> {
    return this.write(
      eventStreamMessage(
        { ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' },
        Buffer.from(JSON.stringify({ ...payload, p: 'abcdefgh' }), 'utf8'),
      ),
    );
  }

  /** An exception message (what Bedrock sends when the model fails mid-stream), then the end. */
  exception(type: string): void {
    if (this.response.destroyed) return;
    this.response.write(
      eventStreamMessage(
        { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
        Buffer.from(
          JSON.stringify({
            message: 'Mock stream error',
            originalStatusCode: 500,
            originalMessage: 'overloaded',
          }),
          'utf8',
        ),
      ),
    );
    this.end();
  }
}
