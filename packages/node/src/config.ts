import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** `tokenmeter.config.yaml` (see CONTRACT.md): snake_case, validated, unknown keys are errors. */
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DURATION = /^\d+(ms|s|m|h|d|w)$/;
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds in a single-unit Prometheus duration such as `5m`. */
export function durationSeconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(duration);
  if (!match) throw new Error(`not a duration: ${duration}`);
  return Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number);
}

const duration = (example: string) => z.string().regex(DURATION, `a duration such as ${example}`);

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

const thresholds = z
  .array(z.number().gt(0, 'above 0').lt(1, 'below 1 (1.0 is LLMBudgetExhausted)'))
  .min(1)
  .refine((values) => new Set(values).size === values.length, { message: 'thresholds must be distinct' });

/** Short names a budget's `match` may use for the metric labels they stand for. */
export const MATCH_LABEL_ALIASES: Readonly<Record<string, string>> = {
  provider: 'gen_ai_provider_name',
  model: 'gen_ai_request_model',
  operation: 'gen_ai_operation_name',
  service: 'job',
};

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

export const DEFAULT_RUNBOOK_URL = 'https://github.com/tokenmeter/tokenmeter/blob/main/docs/runbooks.md';

export const configSchema = z
  .object({
    attribution: z
      .object({
        labels: z.array(z.string().regex(LABEL, 'a metric label name')).default(['tenant', 'feature']),
        max_values_per_label: z.number().int().positive().max(100_000).default(100),
      })
      .strict()
      .prefault({}),
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
      .prefault({}),
    budgets: z
      .array(budgetSchema)
      .default([])
      .refine((budgets) => new Set(budgets.map((budget) => budget.name)).size === budgets.length, {
        message: 'budget names must be unique',
      }),
    alerting: z
      .object({
        thresholds: thresholds.default([0.5, 0.75, 0.9]),
        repeat_interval: duration('4h').default('4h'),
        receivers: z
          .record(z.string().regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and -'), receiverSchema)
          .default({}),
        // How often the generated rules run, and the slot length spend is summed in: alerts lag
        // spend by at most one slot plus one evaluation.
        evaluation_interval: duration('1m').default('1m'),
        resolution: duration('5m').default('5m'),
        // How far behind the evaluation the slot rules read the counters: a scrape's samples are
        // stamped when it starts but stored when it ends, so an evaluation running meanwhile would
        // miss them (and a later slot would count from them). At least the scrape timeout; more for
        // remote-write ingestion delays.
        query_offset: duration('10s').default('10s'),
        anomaly: z
          .object({
            factor: z.number().gt(1).default(3),
            min_hourly_usd: z.number().nonnegative().default(1),
          })
          .strict()
          .prefault({}),
        group_wait: duration('30s').default('30s'),
        group_interval: duration('5m').default('5m'),
        runbook_url: z.url().default(DEFAULT_RUNBOOK_URL),
        grafana_url: z.url().default('http://localhost:3000'),
      })
      .strict()
      // prefault: an absent section is parsed as {}, so each field's own default applies.
      .prefault({})
      .superRefine((alerting, context) => {
        const interval = durationSeconds(alerting.evaluation_interval);
        const resolution = durationSeconds(alerting.resolution);
        if (interval < 1) {
          context.addIssue({ code: 'custom', path: ['evaluation_interval'], message: 'at least 1s' });
        } else if (resolution % interval !== 0) {
          context.addIssue({
            code: 'custom',
            path: ['resolution'],
            message: `a multiple of evaluation_interval (${alerting.evaluation_interval})`,
          });
        }
        if (durationSeconds(alerting.query_offset) > 300) {
          // The look-back of the slot rules is 5 minutes; a longer offset belongs to the ruler.
          context.addIssue({ code: 'custom', path: ['query_offset'], message: 'at most 5m' });
        }
        if (interval > 300) {
          // A rule's output must be visible to the next evaluation within Prometheus' 5m lookback.
          context.addIssue({ code: 'custom', path: ['evaluation_interval'], message: 'at most 5m' });
        }
        if (resolution < 1 || 86400 % resolution !== 0) {
          context.addIssue({
            code: 'custom',
            path: ['resolution'],
            message: 'must divide one day (for example 1m, 5m, 15m, 1h)',
          });
        }
      }),
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
