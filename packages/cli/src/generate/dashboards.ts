import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { ReduceDataOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import {
  CustomVariableBuilder,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  type Dashboard as GrafanaDashboard,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import * as gauge from '@grafana/grafana-foundation-sdk/gauge';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { durationSeconds, type TokenmeterConfig } from '@tokenmeter/node/config';
import { budgetUnit, DASHBOARD_UIDS, RECORDED } from './rules.js';

/**
 * Grafana dashboards, built with the foundation SDK (typed against Grafana's dashboard schema).
 * Every query goes through the `datasource` variable; spend is multiplied by `$currency` (the
 * display-currency rate from the config, 1 for USD). Panels that sum a period use the recording
 * rules' slots with a subquery stepping at the slot length, so they add each slot once.
 */
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const PROVIDER_MODEL = 'gen_ai_provider_name, gen_ai_request_model';
const MODEL_LEGEND = '{{gen_ai_provider_name}} {{gen_ai_request_model}}';
const MONEY = '${currency:text}';

type Panel = cog.Builder<GrafanaDashboard['panels'] extends Array<infer P> | undefined ? P : never>;

interface Context {
  config: TokenmeterConfig;
  /** Matchers for the tokenmeter_* counters, from the template variables. */
  filter: (extra?: string) => string;
  /** Matchers for series without attribution labels (semantic-convention metrics, unpriced). */
  modelFilter: (extra?: string) => string;
  resolution: string;
  resolutionSeconds: number;
}

function context(config: TokenmeterConfig): Context {
  const base = ['job=~"$service"', 'gen_ai_provider_name=~"$provider"', 'gen_ai_request_model=~"$model"'];
  const attribution = config.attribution.labels.map((label) => `${label}=~"$${label}"`);
  const matchers = (parts: string[], extra?: string) =>
    `{${[...parts, ...(extra ? [extra] : [])].join(', ')}}`;
  return {
    config,
    filter: (extra) => matchers([...base, ...attribution], extra),
    modelFilter: (extra) => matchers(base, extra),
    resolution: config.alerting.resolution,
    resolutionSeconds: durationSeconds(config.alerting.resolution),
  };
}

function query(expr: string, legend = '__auto', instant = false, refId = 'A'): DataqueryBuilder {
  const builder = new DataqueryBuilder().expr(expr).legendFormat(legend).refId(refId).datasource(DATASOURCE);
  return instant ? builder.instant() : builder.range();
}

function thresholds(steps: Array<[number | null, string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

function series(
  title: string,
  description: string,
  unit: string,
  targets: DataqueryBuilder[],
  width = 12,
): Panel {
  const panel = new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .datasource(DATASOURCE)
    .height(8)
    .span(width)
    .fillOpacity(10)
    .min(0);
  for (const target of targets) panel.withTarget(target);
  return panel;
}

function single(
  title: string,
  description: string,
  unit: string,
  targets: DataqueryBuilder[],
  options: { width?: number; timeFrom?: string; decimals?: number } = {},
): Panel {
  const panel = new stat.PanelBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .datasource(DATASOURCE)
    .height(5)
    .span(options.width ?? 6)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']));
  if (options.decimals !== undefined) panel.decimals(options.decimals);
  if (options.timeFrom) panel.timeFrom(options.timeFrom).hideTimeOverride(false);
  for (const target of targets) panel.withTarget(target);
  return panel;
}

function bars(title: string, description: string, unit: string, target: DataqueryBuilder, width = 12): Panel {
  return new bargauge.PanelBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .datasource(DATASOURCE)
    .height(8)
    .span(width)
    .min(0)
    .withTarget(target);
}

function spendRate(ctx: Context, by?: string, extra?: string): string {
  const rate = `rate(tokenmeter_cost_usd_total${ctx.filter(extra)}[$__rate_interval])`;
  return `${by ? `sum by (${by})` : 'sum'} (${rate}) * 3600 * $currency`;
}

/** Spend over the panel's range from the recorded slots (each slot once). */
function spendInRange(ctx: Context): string {
  return `sum(sum_over_time(${RECORDED.costSlot}${ctx.filter()}[$__range:${ctx.resolution}]))`;
}

/**
 * Sum over the panel's range of a recorded slot series, by `by`: counts what `increase()` on the
 * raw counters cannot (the first value of a new series).
 */
function slotsInRange(metric: string, ctx: Context, by: string, extra?: string): string {
  return `sum by (${by}) (sum_over_time(${metric}${ctx.filter(extra)}[$__range:${ctx.resolution}]))`;
}

function variables(ctx: Context, extra: cog.Builder<never>[] = []) {
  const labelVariable = (name: string, label: string, metricFilter: string, title: string) =>
    new QueryVariableBuilder(name)
      .label(title)
      .datasource(DATASOURCE)
      .query({
        query: `label_values(tokenmeter_calls_total${metricFilter}, ${label})`,
        refId: 'PrometheusVariableQueryEditor-VariableQuery',
      })
      .definition(`label_values(tokenmeter_calls_total${metricFilter}, ${label})`)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*');
  const rates = Object.entries(ctx.config.currency.rates).sort(([a], [b]) => a.localeCompare(b));
  const currency = new CustomVariableBuilder('currency')
    .label('Display currency')
    .description('Spend is shown in this currency, converted at the rates in tokenmeter.config.yaml')
    .values(['USD : 1', ...rates.map(([code, rate]) => `${code} : ${rate}`)].join(','))
    .current({ text: 'USD', value: '1' });
  return [
    new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'),
    labelVariable('service', 'job', '', 'Service'),
    labelVariable('provider', 'gen_ai_provider_name', '{job=~"$service"}', 'Provider'),
    labelVariable(
      'model',
      'gen_ai_request_model',
      '{job=~"$service", gen_ai_provider_name=~"$provider"}',
      'Model',
    ),
    ...ctx.config.attribution.labels.map((label) =>
      labelVariable(label, label, '{job=~"$service"}', label.charAt(0).toUpperCase() + label.slice(1)),
    ),
    currency,
    ...extra,
  ];
}

function dashboard(
  uid: string,
  title: string,
  description: string,
  ctx: Context,
  rows: Array<[string, Panel[]]>,
) {
  const builder = new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['tokenmeter', 'llm-cost'])
    .timezone('utc')
    .weekStart('monday')
    .refresh('1m')
    .time({ from: 'now-24h', to: 'now' })
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly();
  for (const variable of variables(ctx)) builder.withVariable(variable as cog.Builder<never>);
  for (const [row, panels] of rows) {
    builder.withRow(new RowBuilder(row));
    for (const panel of panels) builder.withPanel(panel as cog.Builder<never>);
  }
  return builder.build();
}

function overview(ctx: Context) {
  const monthFraction = '($__range_s / (days_in_month() * 86400))';
  const remainingDays = '((days_in_month() * 86400 - $__range_s) / 86400)';
  // Average daily spend over the last N days, divided by the days that have data: a new install
  // with an hour of history is not averaged over a week of zeros.
  const lastDays = (days: number) =>
    `sum(sum_over_time(${RECORDED.costSlot}${ctx.filter()}[${days}d:${ctx.resolution}])) / (count_over_time(${RECORDED.totalCostSlot}[${days}d:${ctx.resolution}]) * ${ctx.resolutionSeconds} / 86400)`;
  const spentMonth = spendInRange(ctx);
  const topBy = (label: string) =>
    bars(
      `Top ${label} values by spend (${MONEY})`,
      `The ten ${label} values with the most spend in the selected time range.`,
      'short',
      query(`topk(10, ${slotsInRange(RECORDED.costSlot, ctx, label)}) * $currency`, `{{${label}}}`, true),
      Math.max(6, Math.floor(24 / Math.max(1, ctx.config.attribution.labels.length))),
    );
  const cacheSavings = [
    'sum(',
    `  ${slotsInRange(RECORDED.tokensSlot, ctx, PROVIDER_MODEL, 'token_type="cache_read"')}`,
    `  * on (${PROVIDER_MODEL}) (${slotsInRange(RECORDED.costSlot, ctx, PROVIDER_MODEL, 'cost_type="input"')}`,
    `    / (${slotsInRange(RECORDED.tokensSlot, ctx, PROVIDER_MODEL, 'token_type="input"')} > 0))`,
    `  - on (${PROVIDER_MODEL}) ${slotsInRange(RECORDED.costSlot, ctx, PROVIDER_MODEL, 'cost_type="cache_read"')}`,
    ') * $currency',
  ].join('\n');
  return dashboard(
    DASHBOARD_UIDS.overview,
    'Tokenmeter / Overview',
    'LLM spend at a glance: today, this month, the month-end projection, budgets, burn rate and where the money goes.',
    ctx,
    [
      [
        'Spend',
        [
          single(
            'Spend today',
            `Spend since 00:00 UTC, in ${MONEY}.`,
            'short',
            [query(`${spendInRange(ctx)} * $currency`, 'today', true)],
            {
              timeFrom: 'now/d',
              decimals: 2,
            },
          ),
          single(
            'Spend this month',
            `Spend since the 1st of the month (UTC), in ${MONEY}.`,
            'short',
            [query(`${spentMonth} * $currency`, 'month to date', true)],
            {
              timeFrom: 'now/M',
              decimals: 2,
            },
          ),
          single(
            'Projected month-end',
            'Spend by the end of the month at three paces — this month so far, the last 7 days and the last 24 hours: the spread is the uncertainty.',
            'short',
            [
              query(`${spentMonth} / ${monthFraction} * $currency`, 'at month-to-date pace', true, 'A'),
              query(
                `(${spentMonth} + ${lastDays(7)} * ${remainingDays}) * $currency`,
                'at last 7 days pace',
                true,
                'B',
              ),
              query(
                `(${spentMonth} + ${lastDays(1)} * ${remainingDays}) * $currency`,
                'at last 24h pace',
                true,
                'C',
              ),
            ],
            { timeFrom: 'now/M', decimals: 2, width: 12 },
          ),
          bars(
            'Spend vs. budgets',
            'Share of each budget used this period (from the budget recording rules).',
            'percentunit',
            query(RECORDED.budgetRatio, '{{budget}} ({{period}})', true),
          ),
          series('Burn rate', `Spend per hour, in ${MONEY}.`, 'short', [query(spendRate(ctx), 'per hour')]),
        ],
      ],
      [
        'Where the money goes',
        [
          series('Spend by provider and model', `Spend per hour, in ${MONEY}.`, 'short', [
            query(spendRate(ctx, PROVIDER_MODEL), MODEL_LEGEND),
          ]),
          series(
            'Tokens by type',
            'Tokens per second: input (uncached), cache read, cache write, output, reasoning.',
            'short',
            [
              query(
                `sum by (token_type) (rate(tokenmeter_tokens_total${ctx.filter()}[$__rate_interval]))`,
                '{{token_type}}',
              ),
            ],
          ),
          single(
            'Cache savings',
            `What cached input tokens saved in the selected range, against each model's uncached input price, in ${MONEY}.`,
            'short',
            [query(cacheSavings, 'saved', true)],
            {
              decimals: 2,
            },
          ),
          single(
            'Cost per call',
            `Average spend per call in the selected range, in ${MONEY}.`,
            'short',
            [
              query(
                `${spendInRange(ctx)} / (sum(sum_over_time(${RECORDED.callsSlot}${ctx.filter()}[$__range:${ctx.resolution}])) > 0) * $currency`,
                'per call',
                true,
              ),
            ],
            { decimals: 5 },
          ),
          ...ctx.config.attribution.labels.map(topBy),
          new table.PanelBuilder()
            .title('Active alerts')
            .description(
              'Tokenmeter alerts firing now (budget thresholds, exhaustion, projections, anomalies, unpriced models, missing telemetry).',
            )
            .datasource(DATASOURCE)
            .unit('short')
            .height(8)
            .span(24)
            .withTarget(query(`ALERTS{alertname=~"LLM.*", alertstate="firing"}`, '{{alertname}}', true)),
        ],
      ],
    ],
  );
}

function budgetsDashboard(ctx: Context) {
  const rows: Array<[string, Panel[]]> = ctx.config.budgets.map((budget) => {
    const b = `{budget="${budget.name}"}`;
    const usd = budgetUnit(budget) === 'usd';
    const unit = 'short';
    const money = usd ? ' * $currency' : '';
    const shown = usd ? `(${MONEY})` : '(tokens)';
    const levels = [...(budget.thresholds ?? ctx.config.alerting.thresholds)].sort((a, c) => a - c);
    const colours = ['yellow', 'orange', 'red', 'purple'];
    const matchers = Object.entries(budget.match ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join(', ');
    const heading = `${budget.name}: ${usd ? `$${budget.amount_usd}` : `${budget.amount_tokens} tokens`} per ${budget.period}${matchers ? ` (${matchers})` : ''}`;
    return [
      heading,
      [
        single(
          `Spent ${shown}`,
          `Spent this ${budget.period} (UTC) against ${budget.name}.`,
          unit,
          [query(`${RECORDED.budgetToDate}${b}${money}`, 'spent', true)],
          {
            width: 4,
            decimals: usd ? 2 : 0,
          },
        ),
        new gauge.PanelBuilder()
          .title('Used')
          .description('Share of the budget used; colours change at the alert thresholds.')
          .datasource(DATASOURCE)
          .unit('percentunit')
          .min(0)
          .max(1)
          .height(5)
          .span(4)
          .thresholds(
            thresholds([
              [null, 'green'],
              ...levels.map(
                (level, index) => [level, colours[index % colours.length] as string] as [number, string],
              ),
              [1, 'dark-red'],
            ]),
          )
          .withTarget(query(`${RECORDED.budgetRatio}${b}`, 'used', true)),
        single(
          'Time to exhaustion',
          'At the spend rate of the last slot, how long until the budget is used up (empty when nothing is being spent; 0 once exhausted).',
          's',
          [
            query(
              `clamp_min(${RECORDED.budgetAmount}${b} - ${RECORDED.budgetToDate}${b}, 0) / (${RECORDED.budgetSlot}${b} / ${ctx.resolutionSeconds} > 0)`,
              'at current rate',
              true,
            ),
          ],
          { width: 4 },
        ),
        series(
          `Period to date and projection ${shown}`,
          'Spend so far this period, the budget and its alert thresholds, and the projected spend at the end of the period.',
          unit,
          [
            query(`${RECORDED.budgetToDate}${b}${money}`, 'spent', false, 'A'),
            query(`${RECORDED.budgetProjected}${b}${money}`, 'projected at period end', false, 'B'),
            query(`${RECORDED.budgetAmount}${b}${money}`, 'budget', false, 'C'),
            ...levels.map((level, index) =>
              query(
                `${RECORDED.budgetAmount}${b} * ${level}${money}`,
                `${Math.round(level * 100)}%`,
                false,
                String.fromCharCode(68 + index),
              ),
            ),
          ],
        ),
      ],
    ];
  });
  return dashboard(
    DASHBOARD_UIDS.budgets,
    'Tokenmeter / Budgets',
    'One row per budget in tokenmeter.config.yaml: spent vs. budget, thresholds, the projection to the end of the period and time to exhaustion.',
    ctx,
    rows,
  );
}

function modelsDashboard(ctx: Context) {
  const percentiles = (title: string, description: string, histogram: string) =>
    series(
      title,
      description,
      's',
      [0.5, 0.95].map((q, index) =>
        query(
          `histogram_quantile(${q}, sum by (le, ${PROVIDER_MODEL}) (rate(${histogram}${ctx.modelFilter()}[$__rate_interval])))`,
          `p${q * 100} ${MODEL_LEGEND}`,
          false,
          String.fromCharCode(65 + index),
        ),
      ),
    );
  return dashboard(
    DASHBOARD_UIDS.models,
    'Tokenmeter / Models',
    'Cost, tokens, calls, latency, time to first token, errors and unit cost by provider and model; unpriced and estimated usage.',
    ctx,
    [
      [
        'Cost and volume',
        [
          series('Spend by model', `Spend per hour, in ${MONEY}.`, 'short', [
            query(spendRate(ctx, PROVIDER_MODEL), MODEL_LEGEND),
          ]),
          series('Tokens by model', 'Tokens per second, all types.', 'short', [
            query(
              `sum by (${PROVIDER_MODEL}) (rate(tokenmeter_tokens_total${ctx.filter()}[$__rate_interval]))`,
              MODEL_LEGEND,
            ),
          ]),
          series('Calls by model', 'Calls per second.', 'reqps', [
            query(
              `sum by (${PROVIDER_MODEL}) (rate(tokenmeter_calls_total${ctx.filter()}[$__rate_interval]))`,
              MODEL_LEGEND,
            ),
          ]),
          series('Error rate by model', 'Share of calls that failed.', 'percentunit', [
            query(
              `sum by (${PROVIDER_MODEL}) (rate(tokenmeter_calls_total${ctx.filter('outcome="error"')}[$__rate_interval])) / sum by (${PROVIDER_MODEL}) (rate(tokenmeter_calls_total${ctx.filter()}[$__rate_interval]))`,
              MODEL_LEGEND,
            ),
          ]),
          bars(
            `Cost per 1k output tokens (${MONEY})`,
            'Spend divided by output tokens in the selected range, per thousand.',
            'short',
            query(
              `${slotsInRange(RECORDED.costSlot, ctx, PROVIDER_MODEL)} / (${slotsInRange(RECORDED.tokensSlot, ctx, PROVIDER_MODEL, 'token_type="output"')} / 1000 > 0) * $currency`,
              MODEL_LEGEND,
              true,
            ),
          ),
        ],
      ],
      [
        'Latency',
        [
          percentiles(
            'Call duration p50 / p95',
            'From gen_ai.client.inference.duration.',
            'gen_ai_client_inference_duration_bucket',
          ),
          percentiles(
            'Time to first token p50 / p95',
            'Streams only, from gen_ai.client.inference.time_to_first_chunk.',
            'gen_ai_client_inference_time_to_first_chunk_bucket',
          ),
        ],
      ],
      [
        'Data quality',
        [
          bars(
            'Unpriced tokens by model',
            'Tokens of models with no price in the selected range: their spend is missing everywhere. Add them to the price overrides.',
            'short',
            query(
              `sum by (${PROVIDER_MODEL}) (increase(tokenmeter_unpriced_tokens_total${ctx.modelFilter()}[$__range]))`,
              MODEL_LEGEND,
              true,
            ),
          ),
          series(
            'Estimated usage',
            'Calls whose token counts were estimated with a tokenizer because the provider sent no usage.',
            'short',
            [
              query(
                `sum(rate(tokenmeter_estimated_usage_total{job=~"$service"}[$__rate_interval]))`,
                'estimated calls per second',
              ),
            ],
          ),
        ],
      ],
    ],
  );
}

function tenantsDashboard(ctx: Context) {
  const labels = ctx.config.attribution.labels;
  const all = labels.join(', ');
  return dashboard(
    DASHBOARD_UIDS.tenants,
    'Tokenmeter / Tenants & features',
    `Drill down by ${labels.join(' and ')}: pick values in the variables above.`,
    ctx,
    [
      [
        'Spend',
        [
          ...labels.map((label) =>
            series(`Spend by ${label}`, `Spend per hour, in ${MONEY}.`, 'short', [
              query(spendRate(ctx, label), `{{${label}}}`),
            ]),
          ),
          new table.PanelBuilder()
            .title(`Spend by ${labels.join(' and ')} (${MONEY})`)
            .description('Spend in the selected time range for each combination.')
            .datasource(DATASOURCE)
            .unit('short')
            .decimals(4)
            .height(8)
            .span(24)
            .withTarget(query(`${slotsInRange(RECORDED.costSlot, ctx, all)} * $currency`, '', true)),
        ],
      ],
      [
        'Usage',
        labels.flatMap((label) => [
          series(`Tokens by ${label}`, 'Tokens per second, all types.', 'short', [
            query(
              `sum by (${label}) (rate(tokenmeter_tokens_total${ctx.filter()}[$__rate_interval]))`,
              `{{${label}}}`,
            ),
          ]),
          bars(
            `Cost per call by ${label} (${MONEY})`,
            'Average spend per call in the selected range.',
            'short',
            query(
              `${slotsInRange(RECORDED.costSlot, ctx, label)} / (${slotsInRange(RECORDED.callsSlot, ctx, label)} > 0) * $currency`,
              `{{${label}}}`,
              true,
            ),
          ),
        ]),
      ],
    ],
  );
}

/** The dashboards, by file name under `dashboards/`. */
export function buildDashboards(config: TokenmeterConfig): Map<string, unknown> {
  const ctx = context(config);
  return new Map<string, unknown>([
    ['tokenmeter-overview.json', overview(ctx)],
    ['tokenmeter-budgets.json', budgetsDashboard(ctx)],
    ['tokenmeter-models.json', modelsDashboard(ctx)],
    ['tokenmeter-tenants.json', tenantsDashboard(ctx)],
  ]);
}

/** Grafana provisioning: a Prometheus datasource and a provider for the dashboards' folder. */
export function provisioningFiles(): Map<string, unknown> {
  return new Map<string, unknown>([
    [
      'provisioning/datasources/tokenmeter.yaml',
      {
        apiVersion: 1,
        datasources: [
          {
            name: 'Prometheus',
            type: 'prometheus',
            uid: 'prometheus',
            access: 'proxy',
            url: '${PROMETHEUS_URL:-http://prometheus:9090}',
            isDefault: true,
            jsonData: { timeInterval: '15s' },
          },
        ],
      },
    ],
    [
      'provisioning/dashboards/tokenmeter.yaml',
      {
        apiVersion: 1,
        providers: [
          {
            name: 'tokenmeter',
            folder: 'Tokenmeter',
            type: 'file',
            disableDeletion: true,
            allowUiUpdates: false,
            options: {
              path: '${TOKENMETER_DASHBOARDS:-/var/lib/grafana/dashboards/tokenmeter}',
              foldersFromFilesStructure: false,
            },
          },
        ],
      },
    ],
  ]);
}
