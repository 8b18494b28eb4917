import type { Attributes, Meter, MetricOptions } from '@opentelemetry/api';

/**
 * Monotonic counters summed in plain arrays and reported through asynchronous (observable)
 * OpenTelemetry counters at collection time.
 *
 * Why: a synchronous `Counter.add` hashes its attribute set (sorted keys, serialised) on every
 * call; with a dozen counter updates per LLM call that hashing was most of Tokenmeter's per-call
 * CPU. Here a call costs a few Map lookups per group of series and a few array additions, and
 * attributes are hashed once per series per collection (scrape or export), as prom-client does.
 *
 * A group shares one set of base attributes; each of its `slots` is one data point, told apart by
 * a slot label (`token_type`, `outcome`) or by belonging to a different instrument.
 */
export class CounterGroups {
  private readonly groups: Array<{ attributes: Attributes; values: number[] }> = [];
  /** Nested maps, one level per key part: no key string is built on the hot path. */
  private readonly index = new Map<unknown, unknown>();

  constructor(private readonly slots: number) {}

  /**
   * The values of the group identified by `parts` (attribute values, in a fixed order).
   * `attributes` builds the group's attributes; it is only called the first time.
   */
  values(parts: ReadonlyArray<string | number | undefined>, attributes: () => Attributes): number[] {
    let level = this.index;
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(parts[i]) as Map<unknown, unknown> | undefined;
      if (!next) {
        next = new Map();
        level.set(parts[i], next);
      }
      level = next;
    }
    let values = level.get(parts[last]) as number[] | undefined;
    if (!values) {
      values = new Array<number>(this.slots).fill(0);
      this.groups.push({ attributes: attributes(), values });
      level.set(parts[last], values);
    }
    return values;
  }

  /** One observable counter reporting slot `slot` of every group, with `extra` attributes added. */
  observe(meter: Meter, name: string, options: MetricOptions, slot: number, extra?: Attributes): void {
    meter.createObservableCounter(name, options).addCallback((result) => {
      for (const { attributes, values } of this.groups) {
        result.observe(values[slot]!, extra ? { ...attributes, ...extra } : attributes);
      }
    });
  }

  /** One observable counter reporting slots `offset…offset+labels.length`, labelled `label` = `labels[i]`. */
  observeLabelled(
    meter: Meter,
    name: string,
    options: MetricOptions,
    label: string,
    labels: readonly string[],
    offset = 0,
  ): void {
    meter.createObservableCounter(name, options).addCallback((result) => {
      for (const { attributes, values } of this.groups) {
        for (let index = 0; index < labels.length; index++) {
          result.observe(values[offset + index]!, { ...attributes, [label]: labels[index]! });
        }
      }
    });
  }

  get size(): number {
    return this.groups.length;
  }
}
