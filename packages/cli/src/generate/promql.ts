/**
 * PromQL building blocks for calendar and rolling budgets.
 *
 * A range has to be a duration literal, so "spend since the 1st of the month" cannot be one
 * `increase()`. Instead spend is recorded per slot (the increase over the last `resolution`) and
 * summed with a subquery whose steps fall on multiples of the slot length, keeping only the slots
 * that lie inside the period containing the rule's own evaluation time (`@ end()`). The filter,
 * not the range, bounds the window, so Prometheus 2.x (closed ranges) and 3.x (left-open ranges)
 * give the same answer.
 */

/** The rule's evaluation time, usable inside a subquery (where `time()` is the step's time). */
const EVALUATION_TIME = 'last_over_time(vector(time())[1s:1s] @ end())';

export type Period = 'day' | 'week' | 'month' | '7d' | '30d';

export const CALENDAR_PERIODS = new Set<Period>(['day', 'week', 'month']);

const PERIOD_SECONDS: Record<Period, number> = {
  day: 86_400,
  week: 7 * 86_400,
  month: 31 * 86_400, // the longest month; the filter trims shorter ones
  '7d': 7 * 86_400,
  '30d': 30 * 86_400,
};

/** Start (unix seconds, UTC) of the period that contains `now`, a label-less vector expression. */
export function periodStart(period: Period, now: string): string {
  const midnight = `(${now} - ${now} % 86400)`;
  switch (period) {
    case 'day':
      return midnight;
    case 'week': // day_of_week: 0 is Sunday; weeks start on Monday
      return `(${midnight} - ((day_of_week(${now}) + 6) % 7) * 86400)`;
    case 'month':
      return `(${midnight} - (day_of_month(${now}) - 1) * 86400)`;
    default:
      return `(${now} - ${PERIOD_SECONDS[period]})`;
  }
}

/** Length of the period containing now, in seconds (label-less vector for months). */
export function periodLength(period: Period, now = 'vector(time())'): string {
  return period === 'month' ? `(days_in_month(${now}) * 86400)` : String(PERIOD_SECONDS[period]);
}

/**
 * Sum of a per-slot series over the slots that end after `startAt(evaluation time)`: exact to the
 * slot, whatever the evaluation time within the slot.
 */
export function sumOfSlotsSince(
  slotSeries: string,
  startAt: (now: string) => string,
  longestWindowSeconds: number,
  resolutionSeconds: number,
): string {
  const range = formatDuration(longestWindowSeconds + resolutionSeconds);
  const step = formatDuration(resolutionSeconds);
  return `sum_over_time((${slotSeries} and on() (vector(time()) > ${startAt(EVALUATION_TIME)}))[${range}:${step}])`;
}

export function sumOfSlotsInPeriod(slotSeries: string, period: Period, resolutionSeconds: number): string {
  return sumOfSlotsSince(
    slotSeries,
    (now) => periodStart(period, now),
    PERIOD_SECONDS[period],
    resolutionSeconds,
  );
}

/** Seconds to a compound Prometheus duration (`31d5m`), accepted by 2.x and 3.x. */
export function formatDuration(seconds: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.round(seconds);
  let text = '';
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text || '0s';
}

/** A selector with equality matchers, label values quoted and escaped. */
export function selector(metric: string, matchers: Record<string, string>): string {
  const entries = Object.entries(matchers);
  if (entries.length === 0) return metric;
  return `${metric}{${entries.map(([label, value]) => `${label}=${quote(value)}`).join(', ')}}`;
}

/** A PromQL string literal (JSON escapes are a subset of PromQL's). */
export function quote(value: string): string {
  return JSON.stringify(value);
}
