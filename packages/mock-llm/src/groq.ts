import type { ServerResponse } from 'node:http';
import { embeddings, openAIError } from './openai.js';
import type { MockRequest } from './provider.js';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario, textsOf } from './scenario.js';
import { EventWriter } from './sse.js';

type Body = Record<string, any>;

/**
 * Groq's OpenAI-compatible API as `groq-sdk` calls it (base URL `https://api.groq.com`, paths under
 * `/openai/v1`). Like OpenAI's, with Groq's own additions: timing fields in `usage` (seconds), an
 * `x_groq` object (request id; on streams, the usage rides in `x_groq.usage` of the final chunk,
 * unrequested), and the service tier (`on_demand`, `flex`, …). Errors have OpenAI's shape.
 */
export function groqRoute(mock: MockRequest): boolean | Promise<boolean> {
  const { request, response, url, body, scenario } = mock;
  if (request.method !== 'POST') return false;
  const path = url.pathname;
  if (path !== '/openai/v1/chat/completions' && path !== '/openai/v1/embeddings') return false;
  if (scenario.httpError) {
    openAIError(response, scenario.httpError);
    return true;
  }
  if (path === '/openai/v1/embeddings') {
    embeddings(response, body, scenario);
    return true;
  }
  return chat(response, body, scenario).then(() => true);
}

/** Groq's reasoning models (gpt-oss, qwen3) spend hidden reasoning tokens within completion_tokens. */
function reasoningTokens(model: unknown): number {
  return typeof model === 'string' && /^(openai\/gpt-oss|qwen\/qwen3)/.test(model) ? 16 : 0;
}

function usageFor(body: Body, words: number, scenario: Scenario): unknown {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  const prompt = estimateInputTokens(textsOf(body.messages), messages);
  const reasoning = reasoningTokens(body.model);
  const completion = words + reasoning;
  const usage: Body = {
    queue_time: 0.0182,
    prompt_tokens: prompt,
    prompt_time: 0.0021,
    completion_tokens: completion,
    completion_time: 0.0274,
    total_tokens: prompt + completion,
    total_time: 0.0295,
  };
  if (reasoning) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  return mergeUsage(usage, scenario.usage);
}

function json(response: ServerResponse, result: unknown, scenario: Scenario): void {
  response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': nextId('req_') });
  if (scenario.invalidJson) response.end('{"id": "chatcmpl-broken", "choices": [');
  else response.end(JSON.stringify(result));
}

async function chat(response: ServerResponse, body: Body, scenario: Scenario): Promise<void> {
  const model = typeof body.model === 'string' ? body.model : 'llama-3.3-70b-versatile';
  const words = pieces(scenario.chunks);
  const id = `chatcmpl-${nextId('')}`;
  const requestId = nextId('req_');
  const created = Math.floor(Date.now() / 1000);
  const usage = usageFor(body, words.length, scenario);
  const fingerprint = 'fp_mockgroq1';

  if (!body.stream) {
    const result: Body = {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: words.join('') },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
    };
    if (usage !== null) result.usage = usage;
    result.usage_breakdown = null;
    result.system_fingerprint = fingerprint;
    result.x_groq = { id: requestId, usage: { dram_cached_tokens: 0, sram_cached_tokens: 0 } };
    result.service_tier = 'on_demand';
    json(response, result, scenario);
    return;
  }

  const includeUsage = body.stream_options?.include_usage === true;
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter);
  const chunk = (choices: unknown[], extra: Body = {}): Body => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: fingerprint,
    choices,
    ...extra,
  });
  const first = chunk(
    [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    {
      x_groq: { id: requestId, seed: 1234567 },
    },
  );
  if (!(await events.send(first))) return;
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      await events.send({
        error: {
          message: 'Mock stream failure',
          type: 'internal_server_error',
          code: 'internal_server_error',
        },
      });
      events.end();
      return;
    }
    if (
      !(await events.send(
        chunk([{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }]),
      ))
    )
      return;
  }
  const groq: Body = { id: requestId, seed: 1234567 };
  if (usage !== null) groq.usage = usage;
  const last = chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], { x_groq: groq });
  // With `stream_options.include_usage`, the usage is also given OpenAI's way, on the final chunk.
  if (includeUsage && usage !== null) last.usage = usage;
  if (!(await events.send(last))) return;
  await events.send('[DONE]');
  events.end();
}
