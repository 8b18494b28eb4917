import { anthropicUsage } from '../anthropic/adapter.js';
import type { StreamObserver } from '../core/adapter.js';
import type { CallResponse, TokenUsage } from '../core/call-record.js';
import { collectText } from '../core/estimate.js';
import { countOrZero, requiredCount, validateUsage } from '../core/usage.js';
import * as sc from '../semconv.js';

/**
 * The bodies of Bedrock's InvokeModel / InvokeModelWithResponseStream: each model family speaks its
 * own JSON. Families are recognised by the shape of the body (an application inference profile ARN
 * does not name its model), and the model id only breaks ties (Titan text vs Titan embeddings).
 *
 * Token counts, by family (checked against the Bedrock model-parameters pages):
 * - Anthropic Messages: `usage` as the Anthropic API reports it (cache reads/writes ON TOP of
 *   `input_tokens`); streams: `message_start` / `message_delta`, as on the Anthropic API.
 * - Amazon Nova: `usage.inputTokens` / `outputTokens` with `cacheReadInputTokenCount` /
 *   `cacheWriteInputTokenCount` on top; streams: the `metadata` event.
 * - Meta Llama: `prompt_token_count`, `generation_token_count` (streams: first chunk / cumulative).
 * - Amazon Titan text: `inputTextTokenCount`, `results[].tokenCount` (streams:
 *   `totalOutputTextTokenCount`); Titan embeddings: `inputTextTokenCount`.
 * - OpenAI-compatible bodies (AI21 Jamba, OpenAI gpt-oss, DeepSeek): `usage.prompt_tokens` (cache
 *   included) / `completion_tokens`.
 * - Cohere Command R: `meta.billed_units` when present. Mistral (`outputs[]` / `choices[]`), Cohere
 *   Command and Cohere embeddings, Claude v2 Text Completions: no counts in the body at all.
 * Every family also gets Bedrock's own counts: the `x-amzn-bedrock-*-token-count` response headers
 * (non-streamed) and `amazon-bedrock-invocationMetrics` in the last stream chunk. Both report the
 * input WITHOUT cache reads and writes, which have counts of their own.
 */

type Body = Record<string, any>;

export type InvokeOperation = 'chat' | 'text_completion' | 'embeddings';

const decoder = new TextDecoder();

/** The text of a request or response body (string, Uint8Array, Buffer, any view); undefined for streams. */
export function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return decoder.decode(body);
  if (ArrayBuffer.isView(body))
    return decoder.decode(new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength));
  if (body instanceof ArrayBuffer) return decoder.decode(new Uint8Array(body));
  return undefined;
}

/** Parses a JSON object body without changing it; undefined when it is not a JSON object. */
export function parseBody(body: unknown): Body | undefined {
  const text = bodyText(body);
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Body) : undefined;
  } catch {
    return undefined;
  }
}

// --- requests ----------------------------------------------------------------------------------

export interface InvokeRequest {
  operation: InvokeOperation;
  attributes: Record<string, number> | undefined;
  input(): { texts: string[]; messageCount: number };
}

export function describeInvokeBody(modelId: string | undefined, body: Body | undefined): InvokeRequest {
  const request = body ?? {};
  return {
    operation: invokeOperation(modelId ?? '', request),
    attributes: requestAttributes(request),
    input: () => {
      const texts: string[] = [];
      for (const key of ['prompt', 'inputText', 'message', 'preamble'] as const)
        if (typeof request[key] === 'string') texts.push(request[key]);
      collectText(request.system, texts);
      collectText(request.messages, texts);
      collectText(request.texts, texts);
      if (Array.isArray(request.chat_history))
        for (const turn of request.chat_history)
          if (typeof turn?.message === 'string') texts.push(turn.message);
      return { texts, messageCount: Array.isArray(request.messages) ? request.messages.length : 0 };
    },
  };
}

function invokeOperation(modelId: string, body: Body): InvokeOperation {
  const id = modelId.slice(modelId.lastIndexOf('/') + 1);
  if (/embed/i.test(id)) return 'embeddings';
  // Cohere embed (`texts` + `input_type`) and Titan embeddings (`inputText` with embedding options
  // or an image) behind an application inference profile, whose ARN says nothing of the model.
  if (Array.isArray(body.texts) && !('message' in body)) return 'embeddings';
  if (
    typeof body.inputText === 'string' &&
    !body.textGenerationConfig &&
    ('dimensions' in body || 'normalize' in body || 'embeddingTypes' in body || 'inputImage' in body)
  )
    return 'embeddings';
  if (Array.isArray(body.messages) || typeof body.message === 'string') return 'chat';
  if (typeof body.prompt === 'string' || typeof body.inputText === 'string') return 'text_completion';
  return 'chat';
}

function requestAttributes(body: Body): Record<string, number> | undefined {
  const maxTokens = firstNumber(
    body.max_tokens,
    body.max_gen_len,
    body.max_tokens_to_sample,
    body.maxTokens,
    body.textGenerationConfig?.maxTokenCount,
    body.inferenceConfig?.max_new_tokens,
    body.inferenceConfig?.maxTokens,
  );
  const temperature = firstNumber(
    body.temperature,
    body.textGenerationConfig?.temperature,
    body.inferenceConfig?.temperature,
  );
  if (maxTokens === undefined && temperature === undefined) return undefined;
  const attributes: Record<string, number> = {};
  if (maxTokens !== undefined) attributes[sc.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = maxTokens;
  if (temperature !== undefined) attributes[sc.ATTR_GEN_AI_REQUEST_TEMPERATURE] = temperature;
  return attributes;
}

function firstNumber(...values: unknown[]): number | undefined {
  for (const value of values) if (typeof value === 'number' && Number.isFinite(value)) return value;
  return undefined;
}

// --- Bedrock's own counts ----------------------------------------------------------------------

/**
 * Converse `usage` (and Nova's InvokeModel `usage`): `inputTokens` EXCLUDES `cacheReadInputTokens`
 * and `cacheWriteInputTokens` (AWS prompt-caching docs), so they are added to the input total.
 * `cacheDetails` splits cache writes by TTL; 1-hour writes are priced apart.
 */
export function converseUsage(usage: any): TokenUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const uncached = requiredCount(usage.inputTokens);
  const cacheRead = countOrZero(usage.cacheReadInputTokens ?? usage.cacheReadInputTokenCount);
  const cacheWrite = countOrZero(usage.cacheWriteInputTokens ?? usage.cacheWriteInputTokenCount);
  const result: TokenUsage = {
    inputTokens: uncached + cacheRead + cacheWrite,
    outputTokens: requiredCount(usage.outputTokens),
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    reasoningOutputTokens: 0,
  };
  if (Array.isArray(usage.cacheDetails)) {
    let oneHour = 0;
    for (const detail of usage.cacheDetails)
      if (detail?.ttl === '1h') oneHour += countOrZero(detail.inputTokens);
    if (oneHour !== 0) result.units = { cache_write_1h_input_tokens: oneHour };
  }
  return result;
}

/** `amazon-bedrock-invocationMetrics` of a stream's last chunk (input excludes cache, as the headers). */
export function invocationMetricsUsage(metrics: any): TokenUsage | undefined {
  if (!metrics || typeof metrics !== 'object') return undefined;
  return bedrockCounts(
    metrics.inputTokenCount,
    metrics.outputTokenCount,
    metrics.cacheReadInputTokenCount,
    metrics.cacheWriteInputTokenCount,
  );
}

/** Response headers Tokenmeter keeps (lower-case names), captured by the instrumentation's middleware. */
export const TOKEN_HEADERS = [
  'x-amzn-bedrock-input-token-count',
  'x-amzn-bedrock-output-token-count',
  'x-amzn-bedrock-cache-read-input-token-count',
  'x-amzn-bedrock-cache-write-input-token-count',
] as const;

/** `x-amzn-bedrock-input-token-count` & co. Header values are strings: only plain digits count. */
export function headerUsage(headers: Record<string, string> | undefined): TokenUsage | undefined {
  if (!headers || headers[TOKEN_HEADERS[0]] === undefined) return undefined;
  const [input, output, cacheRead, cacheWrite] = TOKEN_HEADERS.map((name) => headerCount(headers[name]));
  return bedrockCounts(input, output, cacheRead, cacheWrite);
}

function headerCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // A malformed header stays malformed (NaN), so that validation rejects the whole record.
  return /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
}

function bedrockCounts(input: unknown, output: unknown, cacheRead: unknown, cacheWrite: unknown): TokenUsage {
  const read = countOrZero(cacheRead);
  const write = countOrZero(cacheWrite);
  return {
    inputTokens: requiredCount(input) + read + write,
    outputTokens: countOrZero(output),
    cacheReadInputTokens: read,
    cacheWriteInputTokens: write,
    reasoningOutputTokens: 0,
  };
}

// --- InvokeModel responses ---------------------------------------------------------------------

interface Reading {
  usage: TokenUsage | undefined;
  providerUsage: unknown;
  finishReasons: string[] | undefined;
  responseId: string | undefined;
  responseModel: string | undefined;
}

/** What a whole (non-streamed) response body tells, whatever the family. */
export function readInvokeBody(body: Body | undefined): Reading {
  const reading: Reading = {
    usage: undefined,
    providerUsage: undefined,
    finishReasons: undefined,
    responseId: undefined,
    responseModel: undefined,
  };
  if (!body) return reading;
  const reasons: string[] = [];
  const reason = (value: unknown) => {
    if (typeof value === 'string') reasons.push(value);
  };
  if (typeof body.id === 'string') reading.responseId = body.id;
  else if (typeof body.response_id === 'string') reading.responseId = body.response_id;
  if (typeof body.model === 'string') reading.responseModel = body.model;

  if (body.type === 'message' || body.usage?.input_tokens !== undefined) {
    // Anthropic Messages.
    reading.usage = anthropicUsage(body.usage);
    reading.providerUsage = body.usage;
    reason(body.stop_reason);
  } else if (body.output?.message !== undefined || body.usage?.inputTokens !== undefined) {
    // Amazon Nova (the Converse shape).
    reading.usage = converseUsage(body.usage);
    reading.providerUsage = body.usage;
    reason(body.stopReason);
  } else if ('prompt_token_count' in body || 'generation_token_count' in body || 'generation' in body) {
    // Meta Llama.
    reading.usage = llamaUsage(body.prompt_token_count, body.generation_token_count);
    reading.providerUsage = pick(body, ['prompt_token_count', 'generation_token_count']);
    reason(body.stop_reason);
  } else if (Array.isArray(body.results) || 'inputTextTokenCount' in body) {
    // Amazon Titan text and embeddings.
    const results: any[] = Array.isArray(body.results) ? body.results : [];
    let output = 0;
    for (const result of results) {
      output += requiredCount(result?.tokenCount);
      reason(result?.completionReason);
    }
    reading.usage = {
      inputTokens: requiredCount(body.inputTextTokenCount),
      outputTokens: output,
      cacheReadInputTokens: 0,
      cacheWriteInputTokens: 0,
      reasoningOutputTokens: 0,
    };
    reading.providerUsage = {
      inputTextTokenCount: body.inputTextTokenCount,
      tokenCounts: results.map((result) => result?.tokenCount),
    };
  } else if (Array.isArray(body.choices)) {
    // OpenAI-compatible bodies, and Mistral chat (no usage).
    for (const choice of body.choices) reason(choice?.finish_reason ?? choice?.stop_reason);
    if (body.usage && typeof body.usage === 'object') {
      reading.usage = openAIUsage(body.usage);
      reading.providerUsage = body.usage;
    }
  } else if (Array.isArray(body.outputs)) {
    // Mistral text completion: no counts in the body.
    for (const output of body.outputs) reason(output?.stop_reason);
  } else if (Array.isArray(body.generations)) {
    // Cohere Command: no counts in the body.
    for (const generation of body.generations) reason(generation?.finish_reason);
  } else if (typeof body.completion === 'string') {
    // Claude v2 Text Completions: no counts in the body.
    reason(body.stop_reason);
  } else if (typeof body.text === 'string' || 'finish_reason' in body) {
    // Cohere Command R.
    reason(body.finish_reason);
    const billed = body.meta?.billed_units;
    if (billed && typeof billed === 'object') {
      reading.usage = {
        inputTokens: requiredCount(billed.input_tokens),
        outputTokens: countOrZero(billed.output_tokens),
        cacheReadInputTokens: 0,
        cacheWriteInputTokens: 0,
        reasoningOutputTokens: 0,
      };
      reading.providerUsage = billed;
    }
  }
  if (reasons.length) reading.finishReasons = reasons;
  return reading;
}

/** The generated text of a whole response body, whatever the family; for estimation only. */
export function invokeOutputText(body: Body | undefined): string {
  if (!body) return '';
  const texts: string[] = [];
  for (const key of ['generation', 'completion', 'text', 'outputText'] as const)
    if (typeof body[key] === 'string') texts.push(body[key]);
  collectText(body.content, texts);
  collectText(body.output?.message, texts);
  for (const list of [body.results, body.outputs, body.generations, body.choices])
    if (Array.isArray(list))
      for (const item of list) {
        if (typeof item?.outputText === 'string') texts.push(item.outputText);
        collectText(item?.text ?? item?.message, texts);
      }
  return texts.join('');
}

function llamaUsage(prompt: unknown, generation: unknown): TokenUsage {
  return {
    inputTokens: requiredCount(prompt),
    outputTokens: requiredCount(generation),
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: 0,
  };
}

/** OpenAI-compatible usage: `prompt_tokens` already includes cached tokens. */
function openAIUsage(usage: any): TokenUsage {
  return {
    inputTokens: requiredCount(usage.prompt_tokens),
    outputTokens: countOrZero(usage.completion_tokens),
    cacheReadInputTokens: countOrZero(usage.prompt_tokens_details?.cached_tokens),
    cacheWriteInputTokens: 0,
    reasoningOutputTokens: countOrZero(usage.completion_tokens_details?.reasoning_tokens),
  };
}

function pick(body: Body, keys: string[]): Body {
  const result: Body = {};
  for (const key of keys) if (key in body) result[key] = body[key];
  return result;
}

/** A valid record wins; otherwise the next source; the first one when none is valid (to be counted). */
export function preferValid(...candidates: Array<{ usage: TokenUsage | undefined; raw: unknown }>): {
  usage: TokenUsage | undefined;
  raw: unknown;
} {
  let first: { usage: TokenUsage | undefined; raw: unknown } | undefined;
  for (const candidate of candidates) {
    if (!candidate.usage) continue;
    if (!validateUsage(candidate.usage).problem) return candidate;
    first ??= candidate;
  }
  return first ?? { usage: undefined, raw: undefined };
}

// --- InvokeModelWithResponseStream -------------------------------------------------------------

/**
 * Sees the `{chunk: {bytes}}` events of an invoke stream. Each chunk's bytes are a JSON event of
 * the model family; they are decoded for reading only (the app's event and bytes stay as they are).
 * The last chunk carries `amazon-bedrock-invocationMetrics`, Bedrock's count for the whole
 * invocation, which wins; until it comes (a stream cut short), the family's own counts are used.
 */
export class InvokeStreamObserver implements StreamObserver {
  private metrics: unknown;
  /** Anthropic `message_start` / `message_delta` usage, merged. */
  private anthropic: Body | undefined;
  private message: Body | undefined;
  private nova: Body | undefined;
  private openAI: Body | undefined;
  private cohere: Body | undefined;
  private llama: { prompt?: unknown; generation?: unknown } | undefined;
  private titan: { input?: unknown; output?: unknown } | undefined;
  private readonly reasons: string[] = [];
  private responseId: string | undefined;
  private readonly text: string[] = [];

  onEvent(event: any): boolean {
    const bytes = event?.chunk?.bytes;
    if (bytes === undefined) return false;
    const chunk = parseBody(bytes);
    if (!chunk) return false;
    const metrics = chunk['amazon-bedrock-invocationMetrics'];
    if (metrics !== undefined) this.metrics = metrics;
    this.read(chunk);
    return false;
  }

  private read(chunk: Body): void {
    const reason = (value: unknown) => {
      if (typeof value === 'string') this.reasons.push(value);
    };
    const text = (value: unknown) => {
      if (typeof value === 'string') this.text.push(value);
    };
    if (typeof chunk.type === 'string') {
      // Anthropic Messages events.
      switch (chunk.type) {
        case 'message_start':
          this.message = chunk.message;
          if (typeof chunk.message?.id === 'string') this.responseId = chunk.message.id;
          if (chunk.message?.usage) this.anthropic = { ...chunk.message.usage };
          break;
        case 'content_block_delta':
          text(chunk.delta?.text ?? chunk.delta?.partial_json ?? chunk.delta?.thinking);
          break;
        case 'message_delta':
          reason(chunk.delta?.stop_reason);
          if (chunk.usage) this.anthropic = { ...this.anthropic, ...withoutNulls(chunk.usage) };
          break;
      }
      return;
    }
    if (chunk.messageStart || chunk.contentBlockDelta || chunk.messageStop || chunk.metadata) {
      // Amazon Nova.
      text(chunk.contentBlockDelta?.delta?.text);
      reason(chunk.messageStop?.stopReason);
      if (chunk.metadata?.usage) this.nova = chunk.metadata.usage;
      return;
    }
    if ('generation' in chunk || 'generation_token_count' in chunk) {
      // Meta Llama: the prompt count comes with the first chunk, the generation count is cumulative.
      text(chunk.generation);
      reason(chunk.stop_reason);
      this.llama ??= {};
      if (chunk.prompt_token_count !== undefined && chunk.prompt_token_count !== null)
        this.llama.prompt = chunk.prompt_token_count;
      if (chunk.generation_token_count !== undefined && chunk.generation_token_count !== null)
        this.llama.generation = chunk.generation_token_count;
      return;
    }
    if ('outputText' in chunk || 'totalOutputTextTokenCount' in chunk) {
      // Amazon Titan text.
      text(chunk.outputText);
      reason(chunk.completionReason);
      this.titan ??= {};
      if (chunk.inputTextTokenCount !== undefined && chunk.inputTextTokenCount !== null)
        this.titan.input = chunk.inputTextTokenCount;
      if (chunk.totalOutputTextTokenCount !== undefined) this.titan.output = chunk.totalOutputTextTokenCount;
      return;
    }
    if (Array.isArray(chunk.choices)) {
      // OpenAI-compatible deltas, and Mistral chat chunks.
      if (typeof chunk.id === 'string') this.responseId = chunk.id;
      for (const choice of chunk.choices) {
        text(choice?.delta?.content ?? choice?.message?.content);
        reason(choice?.finish_reason ?? choice?.stop_reason);
      }
      if (chunk.usage && typeof chunk.usage === 'object') this.openAI = chunk.usage;
      return;
    }
    if (Array.isArray(chunk.outputs)) {
      // Mistral text completion.
      for (const output of chunk.outputs) {
        text(output?.text);
        reason(output?.stop_reason);
      }
      return;
    }
    if (typeof chunk.completion === 'string') {
      // Claude v2 Text Completions.
      text(chunk.completion);
      reason(chunk.stop_reason);
      return;
    }
    if ('event_type' in chunk || 'is_finished' in chunk) {
      // Cohere Command R.
      if (chunk.event_type === 'text-generation') text(chunk.text);
      reason(chunk.finish_reason);
      if (chunk.response?.meta?.billed_units) this.cohere = chunk.response.meta.billed_units;
      return;
    }
    if (Array.isArray(chunk.generations)) {
      // Cohere Command.
      for (const generation of chunk.generations) {
        text(generation?.text);
        reason(generation?.finish_reason);
      }
    }
  }

  result(): CallResponse {
    const family = this.familyUsage();
    const chosen = preferValid({ usage: invocationMetricsUsage(this.metrics), raw: this.metrics }, family);
    const usage = chosen.usage;
    // 1-hour cache writes are only told by the family's own usage (Anthropic).
    if (usage && family.usage?.units && chosen !== family) usage.units = family.usage.units;
    const reasons = [...new Set(this.reasons)];
    return {
      responseId: this.responseId,
      finishReasons: reasons.length ? reasons : undefined,
      usage,
      providerUsage: chosen.raw,
    };
  }

  private familyUsage(): { usage: TokenUsage | undefined; raw: unknown } {
    if (this.anthropic) return { usage: anthropicUsage(this.anthropic), raw: this.anthropic };
    if (this.nova) return { usage: converseUsage(this.nova), raw: this.nova };
    if (this.llama?.prompt !== undefined)
      return { usage: llamaUsage(this.llama.prompt, this.llama.generation ?? 0), raw: this.llama };
    if (this.titan?.input !== undefined)
      return {
        usage: {
          inputTokens: requiredCount(this.titan.input),
          outputTokens: countOrZero(this.titan.output),
          cacheReadInputTokens: 0,
          cacheWriteInputTokens: 0,
          reasoningOutputTokens: 0,
        },
        raw: this.titan,
      };
    if (this.openAI) return { usage: openAIUsage(this.openAI), raw: this.openAI };
    if (this.cohere)
      return {
        usage: {
          inputTokens: requiredCount(this.cohere.input_tokens),
          outputTokens: countOrZero(this.cohere.output_tokens),
          cacheReadInputTokens: 0,
          cacheWriteInputTokens: 0,
          reasoningOutputTokens: 0,
        },
        raw: this.cohere,
      };
    return { usage: undefined, raw: undefined };
  }

  outputText(): string {
    return this.text.join('');
  }
}

function withoutNulls(usage: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(usage)) if (value !== null) result[key] = value;
  return result;
}
