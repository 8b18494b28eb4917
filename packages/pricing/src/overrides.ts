import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Prices per million tokens (and per thousand requests), as the catalog states them. */
const priceSchema = z
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

const dateSchema = z.iso.date().or(z.iso.datetime({ offset: true }));

const modelSchema = z
  .object({
    provider: z.string().min(1),
    /** Exact model name as reported, or a prefix ending in `*`. */
    model: z.string().min(1),
    prices: priceSchema,
    /** The price applies from this date (UTC) on; the latest applicable entry wins. */
    from: dateSchema.optional(),
  })
  .strict();

const aliasSchema = z
  .object({
    provider: z.string().min(1),
    /** A deployment or alias name (Azure deployment, gateway route). */
    alias: z.string().min(1),
    /** The catalog model it serves. */
    model: z.string().min(1),
  })
  .strict();

const discountSchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1).optional(),
    percent: z.number().gt(0).max(100),
    from: dateSchema.optional(),
  })
  .strict();

export const overridesSchema = z
  .object({
    models: z.array(modelSchema).default([]),
    aliases: z.array(aliasSchema).default([]),
    discounts: z.array(discountSchema).default([]),
  })
  .strict();

export type PriceOverrides = z.input<typeof overridesSchema>;
export type ModelPrices = z.infer<typeof priceSchema>;
export type ValidOverrides = z.infer<typeof overridesSchema>;

export class OverridesError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: invalid price overrides\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
  }
}

/** Validates overrides given in code; errors name the path and what is wrong. */
export function validateOverrides(value: unknown, source = 'overrides'): ValidOverrides {
  const result = overridesSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new OverridesError(
    source,
    result.error.issues.map(
      (issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
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
  let value: unknown;
  try {
    value = path.extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new OverridesError(file, [
      `not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
    ]);
  }
  return validateOverrides(value, file);
}
