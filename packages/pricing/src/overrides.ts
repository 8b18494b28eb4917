import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { OverridesError } from './errors.js';

/** Prices per million tokens (and per thousand requests), as the catalog states them. */
export interface ModelPrices {
  input_mtok: number;
  output_mtok: number;
  cache_read_mtok?: number | undefined;
  cache_write_mtok?: number | undefined;
  input_audio_mtok?: number | undefined;
  output_audio_mtok?: number | undefined;
  requests_kcount?: number | undefined;
}

export interface PriceOverrides {
  /** Custom, fine-tuned and self-hosted models; `model` is exact or a prefix ending in `*`. */
  models?: Array<{ provider: string; model: string; prices: ModelPrices; from?: string | undefined }>;
  /** Deployment or gateway names → the catalog model they serve (Azure deployments). */
  aliases?: Array<{ provider: string; alias: string; model: string }>;
  /** Negotiated discounts, per provider or model, optionally from a date on. */
  discounts?: Array<{
    provider: string;
    model?: string | undefined;
    percent: number;
    from?: string | undefined;
  }>;
}

export type ValidOverrides = Required<PriceOverrides>;

// zod and yaml load only when overrides are actually given: importing the package stays cheap.
const requireHere = createRequire(import.meta.url);
let schema: { safeParse(value: unknown): any } | undefined;

function overridesSchema() {
  if (schema) return schema;
  const { z } = requireHere('zod') as typeof import('zod');
  const price = z
    .object({
      input_mtok: z.number().nonnegative(),
      output_mtok: z.number().nonnegative(),
      cache_read_mtok: z.number().nonnegative().optional(),
      cache_write_mtok: z.number().nonnegative().optional(),
      input_audio_mtok: z.number().nonnegative().optional(),
      output_audio_mtok: z.number().nonnegative().optional(),
      requests_kcount: z.number().nonnegative().optional(),
    })
    .strict();
  const date = z.iso.date().or(z.iso.datetime({ offset: true }));
  schema = z
    .object({
      models: z
        .array(
          z
            .object({
              provider: z.string().min(1),
              model: z.string().min(1),
              prices: price,
              from: date.optional(),
            })
            .strict(),
        )
        .default([]),
      aliases: z
        .array(
          z
            .object({ provider: z.string().min(1), alias: z.string().min(1), model: z.string().min(1) })
            .strict(),
        )
        .default([]),
      discounts: z
        .array(
          z
            .object({
              provider: z.string().min(1),
              model: z.string().min(1).optional(),
              percent: z.number().gt(0).max(100),
              from: date.optional(),
            })
            .strict(),
        )
        .default([]),
    })
    .strict();
  return schema;
}

const EMPTY: ValidOverrides = { models: [], aliases: [], discounts: [] };

/** Validates overrides given in code; errors name the path and what is wrong. */
export function validateOverrides(value: unknown, source = 'overrides'): ValidOverrides {
  if (value === undefined || value === null) return EMPTY;
  const result = overridesSchema().safeParse(value);
  if (result.success) return result.data as ValidOverrides;
  throw new OverridesError(
    source,
    (result.error.issues as Array<{ path: PropertyKey[]; message: string }>).map(
      (issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`,
    ),
  );
}

/** Reads a YAML or JSON overrides file. */
export function loadOverridesFile(file: string): ValidOverrides {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new OverridesError(file, [`cannot read file: ${(error as Error).message}`]);
  }
  const json = path.extname(file) === '.json';
  let value: unknown;
  try {
    value = json ? JSON.parse(text) : (requireHere('yaml') as typeof import('yaml')).parse(text);
  } catch (error) {
    throw new OverridesError(file, [`not valid ${json ? 'JSON' : 'YAML'}: ${(error as Error).message}`]);
  }
  return validateOverrides(value, file);
}

/**
 * Re-reads an overrides file whenever it changes and hands the result to `apply` (for example
 * `pricer.setOverrides`), so prices can be corrected without restarting the app. A file that fails
 * validation is reported through `onError` and the previous overrides stay in force. Returns a
 * function that stops watching.
 */
export function watchOverridesFile(
  file: string,
  apply: (overrides: ValidOverrides) => void,
  onError: (error: Error) => void = () => {},
): () => void {
  // Polling survives editors that replace the file (rename) and works on every filesystem.
  const listener = (current: { mtimeMs: number }, previous: { mtimeMs: number }) => {
    if (current.mtimeMs === previous.mtimeMs) return;
    try {
      apply(loadOverridesFile(file));
    } catch (error) {
      onError(error as Error);
    }
  };
  watchFile(file, { interval: 250, persistent: false }, listener);
  return () => unwatchFile(file, listener);
}
