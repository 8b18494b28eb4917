import { durationSeconds, MATCH_LABEL_ALIASES, type TokenmeterConfig } from '@tokenmeter/node/config';
import {
  CALENDAR_PERIODS,
  formatDuration,
  type Period,
  periodLength,
  periodStart,
  selector,
  sumOfSlotsInPeriod,
  sumOfSlotsSince,
} from './promql.js';

/** Recorded series: dashboards and alerts read these instead of the raw counters. */
export const RECORDED = {
  costSlot: 'tokenmeter:cost_usd:slot_increase',
  tokensSlot: 'tokenmeter:tokens:slot_increase',
  callsSlot: 'tokenmeter:calls:slot_increase',
  totalCostSlot: 'tokenmeter:total_cost_usd:slot_increase',
  totalCostHour: 'tokenmeter:total_cost_usd:increase1h',
  totalCostHourAvg7d: 'tokenmeter:total_cost_usd:increase1h_avg7d',
  callSeries: 'tokenmeter:calls_series:count',
  budgetSlot: 'tokenmeter:budget_usage:slot_increase',
  budgetAmount: 'tokenmeter:budget_amount',
  budgetToDate: 'tokenmeter:budget_usage:period_to_date',
  budgetRatio: 'tokenmeter:budget_usage:ratio',
  budgetElapsed: 'tokenmeter:budget_period:elapsed_ratio',
  budgetProjected: 'tokenmeter:budget_usage:projected_period_end',
  budgetProjectedRatio: 'tokenmeter:budget_usage:projected_ratio',
} as const;

export const ALERTS = {
  threshold: 'LLMBudgetThresholdReached',
  exhausted: 'LLMBudgetExhausted',
  projected: 'LLMBudgetProjectedOverrun',
  anomaly: 'LLMSpendAnomaly',
  unpriced: 'LLMUnpricedModelUsage',
  absent: 'LLMCostTelemetryAbsent',
} as const;

export const DASHBOARD_UIDS = {
  overview: 'tokenmeter-overview',
  budgets: 'tokenmeter-budgets',
  models: 'tokenmeter-models',
  tenants: 'tokenmeter-tenants',
} as const;

/** Projections start once this much of a calendar period has passed: early spend is too noisy. */
export const PROJECTION_AFTER_SECONDS: Record<'day' | 'week' | 'month', number> = {
  day: 3 * 3600,
  week: 86_400,
  month: 2 * 86_400,
};
const PROJECTION_FOR = '30m';
/** Rolling budgets project the last day's spend over the whole window. */
const ROLLING_PROJECTION_BASIS_SECONDS = 86_400;
/** The anomaly baseline needs this many hourly points before it can be trusted. */
const ANOMALY_MIN_HISTORY_HOURS = 24;
/** How far back a slot looks for a series' previous sample when its target has no process identity. */
export const RESTART_GAP_SECONDS = 300;
/** A series or process with no sample for this long before the slot is new: its whole value is spend. */
const NEW_SERIES_AFTER = '1h';

/**
 * Increase of each series over the last slot, exact and without `increase()`'s extrapolation: the
 * latest value now minus the series' previous value from the same process, so consecutive slots
 * telescope to the counter's true increase; where the process has no previous value, the whole
 * current value is spend (a process's counters start at 0).
 *
 * A target's process is its `target_info` series (the resource, with a service_instance_id unique
 * to each process). Staleness keeps a target's series and its target_info from the same scrape.
 * - Process already scraped a slot ago (the usual case): the previous value is the series' value
 *   then; a series absent then was born in the slot.
 * - Process seen within the hour but not a slot ago (scrape outage, Prometheus restart): a series
 *   seen under this process before (a subquery stepping at 5m, with the process pinned by
 *   `@ end()`) counts its increase over its last value within 5 minutes before the slot (or its
 *   whole value if it went down: a process restarted under a fixed service.instance.id), and
 *   nothing after a longer gap (counting from an older value could count spend twice); a series
 *   this process never showed is new.
 * - Process not seen within the hour (just started, or restarted since the last slot): every
 *   series is new — only if Prometheus itself has data from that hour (after its own long outage
 *   every process would look new).
 * - Targets without target_info (exporters other than Tokenmeter's endpoint, bridge and Collector):
 *   the previous value is the latest within 5 minutes before the slot; a counter that went down
 *   was reset; a series with no earlier value is new unless it was seen within the hour (back from
 *   a scrape outage) and only while Prometheus was running a slot ago.
 * A counter that went down is a reset in every case: its whole current value is spend.
 * Series are filtered to their branch before the arithmetic, but Prometheus still evaluates every
 * branch's range selectors and subqueries over all series (bench/README.md has each term's cost);
 * `or` needs no `+ 0` (the sum drops the metric name).
 */
export function slotIncrease(metric: string, resolutionSeconds: number, queryOffsetSeconds = 0): string {
  // Everything is read `queryOffsetSeconds` behind the evaluation (scrapes still being stored).
  const ago = (seconds: number) => (seconds > 0 ? ` offset ${formatDuration(seconds)}` : '');
  const now = ago(queryOffsetSeconds);
  const slotAgo = ago(resolutionSeconds + queryOffsetSeconds);
  const latest = `${metric}${now}`;
  const info = `target_info${now}`;
  const gap = formatDuration(RESTART_GAP_SECONDS);
  const byTarget = 'on(job, instance)';
  const targetsWhere = (selector: string) => `group by (job, instance) (${selector})`;
  const scrapedASlotAgo = targetsWhere(`${info} and target_info${slotAgo}`);
  const seenThisHour = `last_over_time(target_info[${NEW_SERIES_AFTER}]${slotAgo})`;
  const backAfterAGap = `(${latest} and ${byTarget} ${targetsWhere(`${info} unless target_info${slotAgo} and ${seenThisHour}`)})`;
  const notSeenThisHour = targetsWhere(`${info} unless ${seenThisHour}`);
  // `@ end()` pins the current process inside the subquery's steps.
  const seenUnderThisProcess = `last_over_time((${metric} and ${byTarget} (target_info and target_info @ end()${now}))[${NEW_SERIES_AFTER}:${gap}]${slotAgo})`;
  const prometheusHadThisHour = `on() (count(last_over_time(up[${NEW_SERIES_AFTER}]${slotAgo})) > 0)`;
  const lookBack = `last_over_time(${metric}[${gap}]${slotAgo})`;
  const withoutIdentity = `(${latest} unless ${byTarget} ${info})`;
  return [
    `    ((${latest} - ${metric}${slotAgo}) >= 0 or ${latest}) and ${byTarget} ${scrapedASlotAgo}`,
    `  or ((${backAfterAGap} - ${lookBack}) >= 0 or ${backAfterAGap} and ${lookBack}) and ${seenUnderThisProcess}`,
    `  or ${backAfterAGap} unless ${seenUnderThisProcess}`,
    `  or ${latest} and ${byTarget} ${notSeenThisHour} and ${prometheusHadThisHour}`,
    `  or (${withoutIdentity} - ${lookBack}) >= 0`,
    `  or ${withoutIdentity} and ${lookBack}`,
    `  or ${withoutIdentity} unless last_over_time(${metric}[${NEW_SERIES_AFTER}:${gap}]${slotAgo})`,
    `      and on() (count(up${slotAgo}) > 0)`,
  ].join('\n');
}

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}
export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string; dashboard_url: string };
}
export interface RuleGroup {
  name: string;
  interval: string;
  rules: Array<RecordingRule | AlertingRule>;
}

type Budget = TokenmeterConfig['budgets'][number];

/** A budget's matchers with short names (`provider`, `model`, `service`, …) resolved. */
export function budgetMatchers(budget: Budget): Record<string, string> {
  const matchers: Record<string, string> = {};
  for (const [label, value] of Object.entries(budget.match ?? {})) {
    matchers[MATCH_LABEL_ALIASES[label] ?? label] = value;
  }
  return matchers;
}

export function budgetUnit(budget: Budget): 'usd' | 'tokens' {
  return budget.amount_usd !== undefined ? 'usd' : 'tokens';
}

/** Labels kept by the first aggregation: what budgets match on and dashboards break down by. */
export function aggregationLabels(config: TokenmeterConfig, unit: 'usd' | 'tokens' | 'calls'): string[] {
  const labels = ['job', 'gen_ai_provider_name', 'gen_ai_request_model', ...config.attribution.labels];
  labels.push(unit === 'usd' ? 'cost_type' : unit === 'tokens' ? 'token_type' : 'outcome');
  const extra = config.budgets
    .filter((budget) => budgetUnit(budget) === unit)
    .flatMap((budget) => Object.keys(budgetMatchers(budget)))
    .filter((label) => !labels.includes(label))
    .sort();
  return [...labels, ...new Set(extra)];
}

export function buildRuleGroups(config: TokenmeterConfig): RuleGroup[] {
  const interval = config.alerting.evaluation_interval;
  const resolution = durationSeconds(config.alerting.resolution);
  const queryOffset = durationSeconds(config.alerting.query_offset);
  const recording: RecordingRule[] = [
    // Level 1: spend per slot per raw series (see slotIncrease), then summed away from instance and
    // operation. Everything after reads these few series.
    {
      record: RECORDED.costSlot,
      expr: `sum by (${aggregationLabels(config, 'usd').join(', ')}) (\n${slotIncrease('tokenmeter_cost_usd_total', resolution, queryOffset)}\n)`,
    },
    {
      record: RECORDED.tokensSlot,
      expr: `sum by (${aggregationLabels(config, 'tokens').join(', ')}) (\n${slotIncrease('tokenmeter_tokens_total', resolution, queryOffset)}\n)`,
    },
    {
      record: RECORDED.callsSlot,
      expr: `sum by (${aggregationLabels(config, 'calls').join(', ')}) (\n${slotIncrease('tokenmeter_calls_total', resolution, queryOffset)}\n)`,
    },
    { record: RECORDED.totalCostSlot, expr: `sum(${RECORDED.costSlot})` },
    {
      record: RECORDED.totalCostHour,
      expr: sumOfSlotsSince(RECORDED.totalCostSlot, (now) => `(${now} - 3600)`, 3600, resolution),
    },
    { record: RECORDED.totalCostHourAvg7d, expr: `avg_over_time(${RECORDED.totalCostHour}[7d:1h])` },
    { record: RECORDED.callSeries, expr: 'count by (job) (tokenmeter_calls_total)' },
  ];
  for (const budget of config.budgets) recording.push(...budgetRecordingRules(budget, resolution));

  const alerts: AlertingRule[] = [];
  for (const budget of config.budgets) alerts.push(...budgetAlerts(config, budget));
  alerts.push(...fleetAlerts(config));
  return [
    { name: 'tokenmeter.rules', interval, rules: recording },
    { name: 'tokenmeter.alerts', interval, rules: alerts },
  ];
}

function budgetLabels(budget: Budget): Record<string, string> {
  return { budget: budget.name, period: budget.period, unit: budgetUnit(budget) };
}

function budgetRecordingRules(budget: Budget, resolution: number): RecordingRule[] {
  const labels = budgetLabels(budget);
  const only = (metric: string) => selector(metric, { budget: budget.name });
  const level1 = budgetUnit(budget) === 'usd' ? RECORDED.costSlot : RECORDED.tokensSlot;
  const amount = budget.amount_usd ?? budget.amount_tokens ?? 0;
  const period = budget.period as Period;
  const rules: RecordingRule[] = [
    // `or vector(0)`: a budget nobody spends from reads 0, not "no data".
    {
      record: RECORDED.budgetSlot,
      expr: `sum(${selector(level1, budgetMatchers(budget))}) or vector(0)`,
      labels,
    },
    { record: RECORDED.budgetAmount, expr: `vector(${amount})`, labels },
    {
      record: RECORDED.budgetToDate,
      expr: sumOfSlotsInPeriod(only(RECORDED.budgetSlot), period, resolution),
      labels,
    },
    {
      record: RECORDED.budgetRatio,
      expr: `${only(RECORDED.budgetToDate)} / ${only(RECORDED.budgetAmount)}`,
      labels,
    },
  ];
  if (CALENDAR_PERIODS.has(period)) {
    const now = 'vector(time())';
    const elapsed = `(${now} - ${periodStart(period, now)})`;
    rules.push(
      { record: RECORDED.budgetElapsed, expr: `${elapsed} / ${periodLength(period)}`, labels },
      {
        record: RECORDED.budgetProjected,
        expr: `${only(RECORDED.budgetToDate)} / ${only(RECORDED.budgetElapsed)} and on() ${elapsed} >= ${PROJECTION_AFTER_SECONDS[period as 'day']}`,
        labels,
      },
    );
  } else {
    const window = period === '7d' ? 7 * 86_400 : 30 * 86_400;
    const lastDay = sumOfSlotsSince(
      only(RECORDED.budgetSlot),
      (now) => `(${now} - ${ROLLING_PROJECTION_BASIS_SECONDS})`,
      ROLLING_PROJECTION_BASIS_SECONDS,
      resolution,
    );
    rules.push({
      record: RECORDED.budgetProjected,
      expr: `${lastDay} * ${window / ROLLING_PROJECTION_BASIS_SECONDS}`,
      labels,
    });
  }
  rules.push({
    record: RECORDED.budgetProjectedRatio,
    expr: `${only(RECORDED.budgetProjected)} / ${only(RECORDED.budgetAmount)}`,
    labels,
  });
  return rules;
}

/** Severity of a threshold alert: early warnings are informational, later ones warnings. */
export function thresholdSeverity(threshold: number): 'info' | 'warning' {
  return threshold < 0.75 ? 'info' : 'warning';
}

function budgetAlerts(config: TokenmeterConfig, budget: Budget): AlertingRule[] {
  const only = (metric: string) => selector(metric, { budget: budget.name });
  const text = describeBudget(budget);
  const links = (alert: string) => ({
    runbook_url: runbookUrl(config, alert),
    dashboard_url: `${trimSlash(config.alerting.grafana_url)}/d/${DASHBOARD_UIDS.budgets}/tokenmeter-budgets?var-budget=${encodeURIComponent(budget.name)}`,
  });
  const thresholds = [...(budget.thresholds ?? config.alerting.thresholds)].sort((a, b) => a - b);
  const alerts: AlertingRule[] = thresholds.map((threshold) => ({
    alert: ALERTS.threshold,
    expr: `${only(RECORDED.budgetRatio)} >= ${threshold}`,
    labels: { budget: budget.name, severity: thresholdSeverity(threshold), threshold: String(threshold) },
    annotations: {
      summary: `LLM budget ${budget.name} has reached ${percent(threshold)} of ${text.amount}.`,
      description: `${text.subject} has used {{ $value | humanizePercentage }} of its ${text.amount} ${text.per}: ${text.spent} spent so far${text.projection}. Threshold: ${percent(threshold)}.`,
      ...links(ALERTS.threshold),
    },
  }));
  alerts.push(
    {
      alert: ALERTS.exhausted,
      expr: `${only(RECORDED.budgetRatio)} >= 1`,
      labels: { budget: budget.name, severity: 'critical' },
      annotations: {
        summary: `LLM budget ${budget.name} is exhausted.`,
        description: `${text.subject} has used {{ $value | humanizePercentage }} of its ${text.amount} ${text.per}: ${text.spent} spent so far${text.projection}.`,
        ...links(ALERTS.exhausted),
      },
    },
    {
      alert: ALERTS.projected,
      expr: `${only(RECORDED.budgetProjectedRatio)} >= 1 unless ${only(RECORDED.budgetRatio)} >= 1`,
      for: PROJECTION_FOR,
      labels: { budget: budget.name, severity: 'warning' },
      annotations: {
        summary: `LLM budget ${budget.name} is projected to overrun.`,
        description: `${text.subject} is projected to spend {{ $value | humanizePercentage }} of its ${text.amount} ${text.per}${text.projection}; ${text.spent} spent so far ({{ with query \`${only(RECORDED.budgetRatio)}\` }}{{ . | first | value | humanizePercentage }}{{ end }}).`,
        ...links(ALERTS.projected),
      },
    },
  );
  return alerts;
}

function fleetAlerts(config: TokenmeterConfig): AlertingRule[] {
  const grafana = trimSlash(config.alerting.grafana_url);
  const { factor, min_hourly_usd: minimum } = config.alerting.anomaly;
  const overview = `${grafana}/d/${DASHBOARD_UIDS.overview}/tokenmeter-overview`;
  const unpriced =
    'sum by (gen_ai_provider_name, gen_ai_request_model) (increase(tokenmeter_unpriced_tokens_total[1h])) > 0';
  // A series born in the last hour has no increase yet (its first sample has no predecessor).
  const unpricedNew =
    'sum by (gen_ai_provider_name, gen_ai_request_model) (tokenmeter_unpriced_tokens_total unless tokenmeter_unpriced_tokens_total offset 1h)';
  return [
    {
      alert: ALERTS.anomaly,
      expr: [
        `${RECORDED.totalCostHour} > ${factor} * ${RECORDED.totalCostHourAvg7d}`,
        `and ${RECORDED.totalCostHour} >= ${minimum}`,
        `and on() count_over_time(${RECORDED.totalCostHour}[7d:1h]) >= ${ANOMALY_MIN_HISTORY_HOURS}`,
      ].join('\n'),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'LLM spend is unusually high.',
        description: `LLM spend in the last hour is \${{ $value | printf "%.2f" }}, more than ${factor}× the usual \${{ with query "${RECORDED.totalCostHourAvg7d}" }}{{ . | first | value | printf "%.2f" }}{{ end }} per hour (average of the last 7 days). Alerts only above $${minimum.toFixed(2)} per hour.`,
        runbook_url: runbookUrl(config, ALERTS.anomaly),
        dashboard_url: overview,
      },
    },
    {
      alert: ALERTS.unpriced,
      expr: `${unpriced}\nor\n${unpricedNew}`,
      labels: { severity: 'warning' },
      annotations: {
        summary:
          'LLM calls to {{ $labels.gen_ai_provider_name }}/{{ $labels.gen_ai_request_model }} have no price.',
        description:
          '{{ $value | humanize }} tokens of {{ $labels.gen_ai_provider_name }}/{{ $labels.gen_ai_request_model }} in the last hour were not priced, so their spend is missing from every budget. Add the model to the price overrides.',
        runbook_url: runbookUrl(config, ALERTS.unpriced),
        dashboard_url: `${grafana}/d/${DASHBOARD_UIDS.models}/tokenmeter-models?var-provider={{ $labels.gen_ai_provider_name }}&var-model={{ $labels.gen_ai_request_model }}`,
      },
    },
    {
      alert: ALERTS.absent,
      expr: `max_over_time(${RECORDED.callSeries}[1d]) unless on(job) ${RECORDED.callSeries}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'LLM cost telemetry from {{ $labels.job }} is missing.',
        description:
          '{{ $labels.job }} reported LLM calls in the last 24 hours but has reported none for at least 15 minutes: its spend is not being counted against any budget. The app may be down, no longer scraped, or running without Tokenmeter.',
        runbook_url: runbookUrl(config, ALERTS.absent),
        dashboard_url: overview,
      },
    },
  ];
}

function describeBudget(budget: Budget) {
  const only = (metric: string) => selector(metric, { budget: budget.name });
  const usd = budgetUnit(budget) === 'usd';
  // Cents for dollars and more; four decimals below a dollar, where cents would round to $0.00.
  const format = usd
    ? '$v := . | first | value }}{{ if lt $v 1.0 }}{{ printf "$%.4f" $v }}{{ else }}{{ printf "$%.2f" $v }}{{ end'
    : '. | first | value | humanize';
  const value = (metric: string) => `{{ with query \`${only(metric)}\` }}{{ ${format} }}{{ end }}`;
  const matchers = Object.entries(budget.match ?? {})
    .map(([label, value]) => `${label}=${value}`)
    .join(', ');
  const per: Record<string, string> = {
    day: 'for today (UTC)',
    week: 'for this week (UTC, from Monday)',
    month: 'for this month (UTC)',
    '7d': 'over the last 7 days',
    '30d': 'over the last 30 days',
  };
  const end: Record<string, string> = {
    day: 'by the end of the day',
    week: 'by the end of the week',
    month: 'by the end of the month',
    '7d': 'over 7 days at the last 24 hours’ rate',
    '30d': 'over 30 days at the last 24 hours’ rate',
  };
  return {
    subject: `Budget ${budget.name}${matchers ? ` (${matchers})` : ''}`,
    amount: usd ? formatUsd(budget.amount_usd as number) : `${budget.amount_tokens} tokens`,
    per: per[budget.period] as string,
    spent: value(RECORDED.budgetToDate),
    projection: `{{ with query \`${only(RECORDED.budgetProjected)}\` }}; projected {{ ${format} }} ${end[budget.period]}{{ end }}`,
  };
}

function formatUsd(amount: number): string {
  return `$${amount.toFixed(amount < 1 ? 4 : 2)}`;
}

function percent(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}

function runbookUrl(config: TokenmeterConfig, alert: string): string {
  return `${config.alerting.runbook_url}#${alert.toLowerCase()}`;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
