import type { ServerResponse } from 'node:http';
import { estimateInputTokens, mergeUsage, nextId, pieces, type Scenario, textsOf } from './scenario.js';
import { EventWriter } from './sse.js';

type Body = Record<string, any>;

/** Request model → the dated snapshot the API answers with. */
const SNAPSHOTS: Record<string, string> = {
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  'o4-mini': 'o4-mini-2025-04-16',
  o3: 'o3-2025-04-16',
  'gpt-3.5-turbo-instruct': 'gpt-3.5-turbo-instruct-0914',
};
const snapshot = (model: unknown) =>
  typeof model === 'string' ? (SNAPSHOTS[model] ?? model) : 'gpt-4o-mini-2024-07-18';
const now = () => Math.floor(Date.now() / 1000);

export function openAIError(response: ServerResponse, status: number): void {
  const types: Record<number, [string, string]> = {
    400: ['invalid_request_error', 'invalid_request'],
    401: ['invalid_request_error', 'invalid_api_key'],
    404: ['invalid_request_error', 'model_not_found'],
    429: ['requests', 'rate_limit_exceeded'],
    500: ['server_error', 'server_error'],
  };
  const [type, code] = types[status] ?? ['server_error', 'server_error'];
  const body = JSON.stringify({ error: { message: `Mock error ${status}`, type, param: null, code } });
  response.writeHead(status, {
    'content-type': 'application/json',
    'retry-after': '0',
    'x-request-id': nextId('req_'),
  });
  response.end(body);
}

/**
 * Like the real API: prompts of 1,024 tokens or more are partly served from the prompt cache (in
 * 128-token steps), and reasoning models spend hidden reasoning tokens, counted in the output.
 */
function cachedTokens(prompt: number): number {
  return prompt >= 1024 ? Math.floor((prompt * 0.75) / 128) * 128 : 0;
}
function reasoningTokens(model: unknown): number {
  return typeof model === 'string' && /^(o\d|gpt-5)/.test(model) ? 64 : 0;
}

function chatUsage(body: Body, completionTokens: number, scenario: Scenario): unknown {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  const prompt = estimateInputTokens(textsOf(body.messages ?? body.prompt), messages);
  const reasoning = reasoningTokens(body.model);
  const completion = completionTokens + reasoning;
  return mergeUsage(
    {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cachedTokens(prompt), audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: reasoning,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    scenario.usage,
  );
}

function json(response: ServerResponse, body: unknown, scenario: Scenario): void {
  response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': nextId('req_') });
  if (scenario.invalidJson) response.end('{"id": "chatcmpl-broken", "choices": [');
  else response.end(JSON.stringify(body));
}

/** `/chat/completions` and `/completions` (text), for OpenAI and Azure OpenAI. */
export async function chatCompletions(
  response: ServerResponse,
  body: Body,
  scenario: Scenario,
  options: { legacy: boolean; azure: boolean; model?: string },
): Promise<void> {
  const model = options.model ?? snapshot(body.model);
  const words = pieces(scenario.chunks);
  const id = nextId(options.legacy ? 'cmpl-' : 'chatcmpl-');
  const created = now();
  const object = options.legacy ? 'text_completion' : 'chat.completion';
  const usage = chatUsage(body, words.length, scenario);
  const withTools = Array.isArray(body.tools) && body.tools.length > 0 && !options.legacy;
  const n = typeof body.n === 'number' ? body.n : 1;
  const azureFilters = options.azure
    ? { content_filter_results: { hate: { filtered: false, severity: 'safe' } } }
    : {};

  if (!body.stream) {
    const choices = Array.from({ length: n }, (_, index) =>
      options.legacy
        ? { text: words.join(''), index, logprobs: null, finish_reason: 'stop' }
        : {
            index,
            message: withTools
              ? {
                  role: 'assistant',
                  content: null,
                  refusal: null,
                  annotations: [],
                  tool_calls: [
                    {
                      id: nextId('call_'),
                      type: 'function',
                      function: { name: body.tools[0]?.function?.name ?? 'tool', arguments: '{"q":"x"}' },
                    },
                  ],
                }
              : { role: 'assistant', content: words.join(''), refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: withTools ? 'tool_calls' : 'stop',
            ...azureFilters,
          },
    );
    const result: Body = { id, object, created, model, choices };
    if (!options.legacy) {
      result.service_tier = 'default';
      result.system_fingerprint = 'fp_mock01';
    }
    if (usage !== null) result.usage = usage;
    if (options.azure) result.prompt_filter_results = [{ prompt_index: 0, content_filter_results: {} }];
    json(response, result, scenario);
    return;
  }

  const includeUsage = body.stream_options?.include_usage === true;
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter);
  const chunkObject = options.legacy ? 'text_completion' : 'chat.completion.chunk';
  const chunk = (choices: unknown[]): Body => {
    const value: Body = { id, object: chunkObject, created, model };
    if (!options.legacy) {
      value.service_tier = 'default';
      value.system_fingerprint = 'fp_mock01';
    }
    value.choices = choices;
    if (includeUsage) value.usage = null;
    return value;
  };
  if (options.azure) {
    if (
      !(await events.send({
        choices: [],
        created: 0,
        id: '',
        model: '',
        object: '',
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
      }))
    )
      return;
  }
  if (!options.legacy) {
    if (
      !(await events.send(
        chunk([
          {
            index: 0,
            delta: { role: 'assistant', content: '', refusal: null },
            logprobs: null,
            finish_reason: null,
          },
        ]),
      ))
    )
      return;
  }
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      await events.send({
        error: { message: 'Mock stream failure', type: 'server_error', param: null, code: 'server_error' },
      });
      events.end();
      return;
    }
    const choice = options.legacy
      ? { text: word, index: 0, logprobs: null, finish_reason: null }
      : { index: 0, delta: { content: word }, logprobs: null, finish_reason: null };
    if (!(await events.send(chunk([choice])))) return;
  }
  const last = options.legacy
    ? { text: '', index: 0, logprobs: null, finish_reason: 'stop' }
    : { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' };
  if (!(await events.send(chunk([last])))) return;
  if (includeUsage) {
    const final = chunk([]);
    if (usage === null) delete final.usage;
    else final.usage = usage;
    if (!(await events.send(final))) return;
  }
  await events.send('[DONE]');
  events.end();
}

export async function responses(response: ServerResponse, body: Body, scenario: Scenario): Promise<void> {
  const model = snapshot(body.model);
  const words = pieces(scenario.chunks);
  const text = words.join('');
  const input = estimateInputTokens(
    textsOf([body.instructions, body.input]),
    Array.isArray(body.input) ? body.input.length : 1,
  );
  const reasoning = reasoningTokens(body.model);
  const output = words.length + reasoning;
  const usage = mergeUsage(
    {
      input_tokens: input,
      input_tokens_details: { cached_tokens: cachedTokens(input) },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: reasoning },
      total_tokens: input + output,
    },
    scenario.usage,
  );
  const id = nextId('resp_');
  const messageId = nextId('msg_');
  const created_at = now();
  const base = (status: string, output: unknown[]): Body => ({
    id,
    object: 'response',
    created_at,
    status,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    model,
    output,
    parallel_tool_calls: true,
    temperature: 1,
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    usage: null as unknown,
  });
  const message = (status: string, content: string) => ({
    type: 'message',
    id: messageId,
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text: content, annotations: [] }],
  });

  if (!body.stream) {
    const result = base('completed', [message('completed', text)]);
    if (usage === null) delete result.usage;
    else result.usage = usage;
    json(response, result, scenario);
    return;
  }
  const events = new EventWriter(response, scenario.chunkDelayMs, scenario.cutStreamAfter);
  let sequence = 0;
  const send = (type: string, fields: Body) =>
    events.send({ type, sequence_number: sequence++, ...fields }, type);
  if (!(await send('response.created', { response: base('in_progress', []) }))) return;
  if (!(await send('response.in_progress', { response: base('in_progress', []) }))) return;
  if (
    !(await send('response.output_item.added', {
      output_index: 0,
      item: { ...message('in_progress', ''), content: [] },
    }))
  )
    return;
  const part = { type: 'output_text', text: '', annotations: [] };
  if (
    !(await send('response.content_part.added', {
      item_id: messageId,
      output_index: 0,
      content_index: 0,
      part,
    }))
  )
    return;
  for (const [index, word] of words.entries()) {
    if (scenario.streamError && index === 2) {
      await send('error', { code: 'server_error', message: 'Mock stream failure', param: null });
      events.end();
      return;
    }
    if (
      !(await send('response.output_text.delta', {
        item_id: messageId,
        output_index: 0,
        content_index: 0,
        delta: word,
        logprobs: [],
      }))
    )
      return;
  }
  if (
    !(await send('response.output_text.done', {
      item_id: messageId,
      output_index: 0,
      content_index: 0,
      text,
      logprobs: [],
    }))
  )
    return;
  if (
    !(await send('response.content_part.done', {
      item_id: messageId,
      output_index: 0,
      content_index: 0,
      part: { ...part, text },
    }))
  )
    return;
  if (!(await send('response.output_item.done', { output_index: 0, item: message('completed', text) })))
    return;
  const completed = base('completed', [message('completed', text)]);
  if (usage === null) delete completed.usage;
  else completed.usage = usage;
  await send('response.completed', { response: completed });
  events.end();
}

export function embeddings(response: ServerResponse, body: Body, scenario: Scenario, model?: string): void {
  const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input];
  const vector = Array.from({ length: 8 }, (_, index) => (index + 1) / 10);
  const base64 = Buffer.from(new Float32Array(vector).buffer).toString('base64');
  const tokens = estimateInputTokens(textsOf(inputs), 0);
  const usage = mergeUsage({ prompt_tokens: tokens, total_tokens: tokens }, scenario.usage);
  const result: Body = {
    object: 'list',
    data: inputs.map((_, index) => ({
      object: 'embedding',
      index,
      embedding: body.encoding_format === 'base64' ? base64 : vector,
    })),
    model: model ?? body.model,
  };
  if (usage !== null) result.usage = usage;
  json(response, result, scenario);
}

export function imageGeneration(response: ServerResponse, body: Body, scenario: Scenario): void {
  const n = typeof body.n === 'number' ? body.n : 1;
  const pixel =
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
  const result: Body = { created: now(), data: Array.from({ length: n }, () => ({ b64_json: pixel })) };
  if (typeof body.model === 'string' && body.model.startsWith('gpt-image')) {
    const text = estimateInputTokens(textsOf(body.prompt), 0);
    const usage = mergeUsage(
      {
        input_tokens: text,
        output_tokens: 1056 * n,
        total_tokens: text + 1056 * n,
        input_tokens_details: { text_tokens: text, image_tokens: 0 },
      },
      scenario.usage,
    );
    if (usage !== null) result.usage = usage;
  }
  json(response, result, scenario);
}

export function speech(response: ServerResponse): void {
  // A short, valid-looking MPEG frame header followed by padding.
  const audio = Buffer.alloc(417, 0);
  audio.writeUInt32BE(0xfffb9064, 0);
  response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(audio.length) });
  response.end(audio);
}

export function transcription(response: ServerResponse, rawBody: string, scenario: Scenario): void {
  const model = /name="model"\r\n\r\n([^\r\n]+)/.exec(rawBody)?.[1] ?? 'gpt-4o-transcribe';
  const text = 'Tokenmeter transcribed this.';
  const usage =
    model === 'whisper-1'
      ? mergeUsage({ type: 'duration', seconds: 4 }, scenario.usage)
      : mergeUsage(
          {
            type: 'tokens',
            input_tokens: 120,
            input_token_details: { text_tokens: 0, audio_tokens: 120 },
            output_tokens: 8,
            total_tokens: 128,
          },
          scenario.usage,
        );
  const result: Body = { text };
  if (usage !== null) result.usage = usage;
  json(response, result, scenario);
}
