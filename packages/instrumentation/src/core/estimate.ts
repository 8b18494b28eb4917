import { createRequire } from 'node:module';

/**
 * Token estimation for calls whose usage never arrived (a stream the app abandoned, a stream from
 * a server that sends no usage event). Uses js-tiktoken's BPE ranks: exact for OpenAI families,
 * an approximation for families without a public tokenizer (Claude, Gemini, open models), which
 * is why estimated usage is always flagged `tokenmeter.usage.estimated=true`.
 *
 * The rank tables are large (o200k_base takes ~1 s to load), so they load lazily, once, on the
 * first estimate — never at startup and never for calls whose usage was reported.
 */

type Encoding = 'o200k_base' | 'cl100k_base';
interface Encoder {
  encode(text: string): number[];
}

const encoders = new Map<Encoding, Encoder>();
const requireFromHere = createRequire(import.meta.url);

function encoderFor(encoding: Encoding): Encoder {
  let encoder = encoders.get(encoding);
  if (!encoder) {
    const { Tiktoken } = requireFromHere('js-tiktoken/lite') as { Tiktoken: new (ranks: unknown) => Encoder };
    const ranks = requireFromHere(`js-tiktoken/ranks/${encoding}`) as { default?: unknown };
    encoder = new Tiktoken(ranks.default ?? ranks);
    encoders.set(encoding, encoder);
  }
  return encoder;
}

/** Older OpenAI families use cl100k_base; everything newer (and every non-OpenAI approximation) o200k_base. */
export function encodingForModel(model: string | undefined): Encoding {
  const name = (model ?? '').toLowerCase();
  if (/^(gpt-4(?!o|\.1|\.5)|gpt-3\.5|text-embedding-(3|ada))/.test(name)) return 'cl100k_base';
  return 'o200k_base';
}

export function countTokens(text: string, model: string | undefined): number {
  if (text.length === 0) return 0;
  return encoderFor(encodingForModel(model)).encode(text).length;
}

/** Chat formats add a few tokens of framing per message (OpenAI documents 3 + 3 per reply). */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

export function estimateInputTokens(
  texts: readonly string[],
  messageCount: number,
  model: string | undefined,
): number {
  let total = messageCount > 0 ? TOKENS_PER_REPLY + TOKENS_PER_MESSAGE * messageCount : 0;
  for (const text of texts) total += countTokens(text, model);
  return total;
}

/** Collects the text of request parts for estimation; never exported on telemetry. */
export function collectText(value: unknown, out: string[], depth = 0): void {
  if (depth > 8 || value === null || value === undefined) return;
  if (typeof value === 'string') {
    out.push(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collectText(item, out, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    // Only fields that carry text the model reads; skip ids, urls and base64 payloads.
    for (const key of TEXT_FIELDS) {
      if (key in record) collectText(record[key], out, depth + 1);
    }
    for (const key of JSON_FIELDS) {
      if (record[key] !== undefined && record[key] !== null) out.push(safeJson(record[key]));
    }
  }
}

/** Text the model reads, in OpenAI, Anthropic, Gemini (`parts`) and most other request shapes. */
const TEXT_FIELDS = ['text', 'content', 'input', 'arguments', 'instructions', 'system', 'prompt', 'parts'];
/** Structured values the model reads as JSON: Gemini's function calls and their results. */
const JSON_FIELDS = ['functionCall', 'functionResponse'];

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
