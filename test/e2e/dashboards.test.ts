/**
 * Every panel query of every generated dashboard, run against a real Prometheus that scraped the
 * demo app and evaluates the generated rules; plus the checks Grafana's dashboard-linter makes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { promQuery, type Started, startDemoApp, startPrometheus, waitFor } from '../support/processes.js';
import { generate, ROOT, readTree, tool } from '../support/prometheus-tools.js';

interface Target {
  expr: string;
  instant?: boolean;
  refId: string;
}
interface PanelJson {
  type: string;
  title: string;
  description?: string;
  datasource?: { uid: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
}
interface DashboardJson {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: PanelJson[];
  templating: {
    list: Array<{
      name: string;
      type: string;
      query?: unknown;
      refresh?: number;
      datasource?: { uid: string };
    }>;
  };
}

/** Panels that can be legitimately empty for the demo app, and why. */
const EMPTY_IN_DEMO: Record<string, string> = {
  'Unpriced tokens by model': 'the demo only calls models the catalog prices',
  'Estimated usage': 'the demo providers always send usage, so nothing is estimated',
  'Error rate by model': 'the demo makes no failing calls',
  'Time to exhaustion': 'empty when nothing is being spent (the demo has finished its calls)',
};

const work = mkdtempSync(path.join(tmpdir(), 'tokenmeter-dashboards-'));
const processes: Started[] = [];
let prometheusUrl = '';
let dashboards: DashboardJson[] = [];

/** Grafana's variables, as a user with everything selected would get them. */
function interpolate(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range_s', '600')
    .replaceAll('$__range', '10m')
    .replaceAll('$currency', '1')
    .replace(/\$(service|provider|model|tenant|feature)\b/g, '.*');
}

beforeAll(async () => {
  const config = path.join(work, 'tokenmeter.config.yaml');
  writeFileSync(
    config,
    [
      'currency: { rates: { EUR: 0.92 } }',
      'budgets:',
      '  - { name: demo-daily, amount_usd: 0.01, period: day }',
      '  - { name: search-weekly-tokens, amount_tokens: 1000000, period: week, match: { feature: search } }',
      '  - { name: acme-rolling, amount_usd: 5, period: 7d, match: { tenant: acme } }',
      'alerting: { evaluation_interval: 1s, resolution: 5s }',
    ].join('\n'),
  );
  const out = generate(config, path.join(work, 'out'));
  dashboards = [...readTree(path.join(out, 'dashboards'))]
    .filter(([file]) => file.endsWith('.json'))
    .map(([, text]) => JSON.parse(text) as DashboardJson);

  const [appPort, prometheusPort] = [await freePort(), await freePort()];
  prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
  writeFileSync(
    path.join(work, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: ["${path.join(out, 'prometheus/rules/tokenmeter.rules.yml')}"]`,
      `scrape_configs: [ { job_name: demo, static_configs: [ { targets: ["127.0.0.1:${appPort}"] } ] } ]`,
    ].join('\n'),
  );
  processes.push(
    await startPrometheus(
      tool('prometheus'),
      path.join(work, 'prometheus.yml'),
      path.join(work, 'tsdb'),
      prometheusPort,
    ),
  );
  processes.push(await startDemoApp(ROOT, appPort));
  // Slots recorded, and a minute of scrapes for the rate() panels.
  await waitFor(
    async () => {
      const [spent] = await promQuery(
        prometheusUrl,
        'tokenmeter:budget_usage:period_to_date{budget="demo-daily"}',
      );
      return spent && spent.value > 0 ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'the budget rules to record spend' },
  );
  await new Promise((resolve) => setTimeout(resolve, 15_000));
}, 180_000);

afterAll(async () => {
  for (const started of processes.reverse()) await started.stop();
  rmSync(work, { recursive: true, force: true });
});

const panelsOf = (dashboard: DashboardJson) => dashboard.panels.filter((panel) => panel.type !== 'row');

describe('generated Grafana dashboards', () => {
  it('are the four dashboards, in the schema version of the foundation SDK', () => {
    expect(dashboards.map((dashboard) => dashboard.uid).sort()).toEqual([
      'tokenmeter-budgets',
      'tokenmeter-models',
      'tokenmeter-overview',
      'tokenmeter-tenants',
    ]);
    for (const dashboard of dashboards) expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  it('have one budgets row per budget in the config', () => {
    const budgets = dashboards.find((dashboard) => dashboard.uid === 'tokenmeter-budgets') as DashboardJson;
    const rows = budgets.panels.filter((panel) => panel.type === 'row').map((row) => row.title);
    expect(rows).toEqual([
      'demo-daily: $0.01 per day',
      'search-weekly-tokens: 1000000 tokens per week (feature=search)',
      'acme-rolling: $5 per 7d (tenant=acme)',
    ]);
  });

  it('resolve every template variable to values from Prometheus', async () => {
    for (const dashboard of dashboards) {
      for (const variable of dashboard.templating.list.filter((entry) => entry.type === 'query')) {
        const definition = (variable.query as { query: string }).query;
        const match = /^label_values\((.+), (\w+)\)$/.exec(interpolate(definition));
        expect(match, definition).not.toBeNull();
        const [, selector, label] = match as RegExpExecArray;
        const response = await fetch(
          `${prometheusUrl}/api/v1/label/${label}/values?match[]=${encodeURIComponent(selector as string)}`,
        );
        const values = ((await response.json()) as { data: string[] }).data;
        expect(values.length, `${dashboard.uid}: $${variable.name}`).toBeGreaterThan(0);
      }
    }
  });

  it('run every panel query: each parses and returns data, or says why it may be empty', {
    timeout: 120_000,
  }, async () => {
    const empty: string[] = [];
    let queries = 0;
    for (const dashboard of dashboards) {
      for (const panel of panelsOf(dashboard)) {
        let panelHasData = false;
        for (const target of panel.targets ?? []) {
          const expr = interpolate(target.expr);
          const now = Date.now() / 1000;
          const url = target.instant
            ? `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`
            : `${prometheusUrl}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${now - 120}&end=${now}&step=5`;
          const body = (await (await fetch(url)).json()) as {
            status: string;
            error?: string;
            data?: { result: unknown[] };
          };
          queries++;
          expect(
            body.status,
            `${dashboard.uid} / ${panel.title} / ${target.refId}: ${body.error}\n${expr}`,
          ).toBe('success');
          if ((body.data?.result.length ?? 0) > 0) panelHasData = true;
        }
        if (!panelHasData) empty.push(panel.title);
      }
    }
    expect(queries).toBeGreaterThan(40);
    expect(empty.filter((title) => !(title in EMPTY_IN_DEMO))).toEqual([]);
  });

  it('pass the dashboard-linter checks: datasource variable, titles and descriptions, units, rate intervals, counters', () => {
    for (const dashboard of dashboards) {
      const datasource = dashboard.templating.list.find((entry) => entry.type === 'datasource');
      expect(datasource?.name).toBe('datasource');
      for (const variable of dashboard.templating.list.filter((entry) => entry.type === 'query')) {
        expect(variable.datasource?.uid).toBe('${datasource}');
        expect(variable.refresh, variable.name).toBe(2); // on time range change
      }
      for (const panel of panelsOf(dashboard)) {
        const where = `${dashboard.uid} / ${panel.title}`;
        expect(panel.datasource?.uid, where).toBe('${datasource}');
        expect(panel.title.length, where).toBeGreaterThan(0);
        expect(panel.description?.length ?? 0, where).toBeGreaterThan(0);
        expect(panel.fieldConfig?.defaults?.unit, where).toBeTruthy();
        expect(panel.targets?.length ?? 0, where).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          // rate() and irate() over $__rate_interval, never a fixed window.
          for (const range of target.expr.matchAll(/\b(?:rate|irate)\([^[]*\[([^\]]+)\]/g))
            expect(range[1], where).toBe('$__rate_interval');
          // A raw counter or histogram bucket is only ever read as a range (inside rate/increase).
          for (const selector of target.expr.matchAll(/\b(\w+_(?:total|bucket))(\{[^}]*\})?(.)/g)) {
            expect(selector[3], `${where}: ${selector[1]} used without rate()/increase()`).toBe('[');
          }
        }
      }
    }
  });

  it('are the same bytes when generated twice, and the committed ones are up to date', () => {
    const example = path.join(ROOT, 'examples/tokenmeter.config.yaml');
    const once = readTree(path.join(generate(example), 'dashboards'));
    const twice = readTree(path.join(generate(example), 'dashboards'));
    expect(once).toEqual(twice);
    for (const [file, content] of once)
      expect(readFileSync(path.join(ROOT, 'dashboards', file), 'utf8'), file).toBe(content);
  });
});
