import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** `tokenmeter.config.yaml` (see CONTRACT.md): snake_case, validated, unknown keys are errors. */
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DURATION = /^\d+(ms|s|m|h|d|w)$/;

const receiverSchema = z
  .object({
    webhook_url: z.url().optional(),
    pagerduty_routing_key: z.string().min(1).optional(),
    slack_webhook_url: z.url().optional(),
    channel: z.string().min(1).optional(),
  })
  .strict()
  .refine(
    (receiver) => receiver.webhook_url || receiver.pagerduty_routing_key || receiver.slack_webhook_url,
    {
      message: 'a receiver needs webhook_url, pagerduty_routing_key or slack_webhook_url',
    },
  );

const thresholds = z.array(z.number().gt(0).lt(1)).min(1);

const budgetSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, 'use lowercase letters, digits and dashes'),
    amount_usd: z.number().positive().optional(),
    amount_tokens: z.number().int().positive().optional(),
    period: z.enum(['day', 'week', 'month', '7d', '30d']),
    match: z.record(z.string().regex(LABEL, 'a metric label name'), z.string()).optional(),
    thresholds: thresholds.optional(),
  })
  .strict()
  .refine((budget) => (budget.amount_usd === undefined) !== (budget.amount_tokens === undefined), {
    message: 'give exactly one of amount_usd and amount_tokens',
  });

export const configSchema = z
  .object({
    attribution: z
      .object({
        labels: z.array(z.string().regex(LABEL, 'a metric label name')).default(['tenant', 'feature']),
        max_values_per_label: z.number().int().positive().max(100_000).default(100),
      })
      .strict()
      .default({ labels: ['tenant', 'feature'], max_values_per_label: 100 }),
    pricing: z
      .object({ overrides: z.string().min(1).optional() })
      .strict()
      .default({}),
    currency: z
      .object({
        rates: z
          .record(z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code'), z.number().positive())
          .default({}),
      })
      .strict()
      .default({ rates: {} }),
    budgets: z
      .array(budgetSchema)
      .default([])
      .refine((budgets) => new Set(budgets.map((budget) => budget.name)).size === budgets.length, {
        message: 'budget names must be unique',
      }),
    alerting: z
      .object({
        thresholds: thresholds.default([0.5, 0.75, 0.9]),
        repeat_interval: z.string().regex(DURATION, 'a duration such as 4h').default('4h'),
        receivers: z.record(z.string(), receiverSchema).default({}),
      })
      .strict()
      .default({ thresholds: [0.5, 0.75, 0.9], repeat_interval: '4h', receivers: {} }),
  })
  .strict();

export type TokenmeterConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid Tokenmeter config\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/** Parses and validates config text; errors name the file, the path and what is wrong. */
export function parseConfig(text: string, file: string): TokenmeterConfig {
  let value: unknown;
  try {
    value = parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML: ${(error as Error).message}`]);
  }
  const result = configSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map(
        (issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
      ),
    );
  }
  const config = result.data;
  // Relative paths in the file are relative to the file.
  if (config.pricing.overrides && !path.isAbsolute(config.pricing.overrides)) {
    config.pricing.overrides = path.resolve(path.dirname(file), config.pricing.overrides);
  }
  return config;
}

export function loadConfig(file: string): TokenmeterConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read file: ${(error as Error).message}`]);
  }
  return parseConfig(text, file);
}

/** `TOKENMETER_CONFIG`, else `./tokenmeter.config.yaml` when it exists; none is fine. */
export function findConfigFile(): string | undefined {
  if (process.env.TOKENMETER_CONFIG) return path.resolve(process.env.TOKENMETER_CONFIG);
  const local = path.resolve('tokenmeter.config.yaml');
  return existsSync(local) ? local : undefined;
}
