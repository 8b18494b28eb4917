import type { IncomingMessage } from 'node:http';

/** Per-request behaviour, from the `x-mock-scenario` and `x-mock-usage` headers. */
export interface Scenario {
  httpError?: number;
  invalidJson: boolean;
  delayMs: number;
  chunkDelayMs: number;
  chunks: number;
  cutStreamAfter?: number;
  streamError: boolean;
  /** `undefined`: derive usage; `null`: send none; otherwise merged over the derived usage. */
  usage: unknown;
}

export function readScenario(request: IncomingMessage): Scenario {
  const scenario: Scenario = {
    invalidJson: false,
    delayMs: 0,
    chunkDelayMs: 0,
    chunks: 8,
    streamError: false,
    usage: undefined,
  };
  const header = request.headers['x-mock-scenario'];
  for (const item of (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',')) {
    const [name, value] = item.trim().split(':');
    const number = Number(value);
    switch (name) {
      case 'http-error':
        scenario.httpError = number;
        break;
      case 'invalid-json':
        scenario.invalidJson = true;
        break;
      case 'delay':
        scenario.delayMs = number;
        break;
      case 'chunk-delay':
        scenario.chunkDelayMs = number;
        break;
      case 'chunks':
        scenario.chunks = number;
        break;
      case 'cut-stream':
        scenario.cutStreamAfter = number;
        break;
      case 'stream-error':
        scenario.streamError = true;
        break;
    }
  }
  const usage = request.headers['x-mock-usage'];
  if (typeof usage === 'string') scenario.usage = JSON.parse(usage);
  return scenario;
}

/** Deep merge of an override onto derived usage; arrays and non-objects replace. */
export function mergeUsage(base: Record<string, unknown>, override: unknown): unknown {
  if (override === undefined) return base;
  if (override === null || typeof override !== 'object' || Array.isArray(override)) return override;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override as Record<string, unknown>)) {
    const current = result[key];
    result[key] =
      current && typeof current === 'object' && value && typeof value === 'object' && !Array.isArray(value)
        ? mergeUsage(current as Record<string, unknown>, value)
        : value;
  }
  return result;
}

/** Deterministic token counts from the request text, roughly 4 characters a token. */
export function estimateInputTokens(texts: string[], messages: number): number {
  const characters = texts.reduce((sum, text) => sum + text.length, 0);
  return Math.max(1, Math.ceil(characters / 4) + 3 * messages);
}

export function textsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) textsOf(item, out);
  else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of ['content', 'text', 'input', 'prompt', 'system', 'instructions'])
      if (key in record) textsOf(record[key], out);
  }
  return out;
}

/** The content pieces a response is made of: `chunks` word pieces. */
const WORDS = [
  'Token',
  'meter',
  ' counts',
  ' every',
  ' token',
  ' so',
  ' budgets',
  ' hold',
  '.',
  ' Cache',
  ' reads',
  ' are',
  ' cheap',
];
export function pieces(count: number): string[] {
  return Array.from({ length: count }, (_, index) => WORDS[index % WORDS.length]!);
}

let sequence = 0;
export function nextId(prefix: string): string {
  sequence = (sequence + 1) % 1e9;
  return `${prefix}${Date.now().toString(36)}${sequence.toString(36).padStart(6, '0')}`;
}

export const sleep = (ms: number) =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
