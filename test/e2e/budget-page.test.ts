/**
 * End to end: the demo app (real SDKs, one require) → real Prometheus with the generated rules →
 * real Alertmanager with the generated config → a webhook receiver here. A tiny daily budget must
 * page, with the budget's numbers; restarting the app must lose no spend.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import {
  type AlertmanagerWebhook,
  promQuery,
  type Started,
  start,
  startDemoApp,
  startPrometheus,
  startWebhookReceiver,
  waitFor,
} from '../support/processes.js';
import { generate, ROOT, tool } from '../support/prometheus-tools.js';

const BUDGET_USD = 0.01;
const work = mkdtempSync(path.join(tmpdir(), 'tokenmeter-e2e-'));
const processes: Started[] = [];
const closers: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const started of processes.reverse()) await started.stop();
  for (const close of closers) await close();
  rmSync(work, { recursive: true, force: true });
});

/** Total spend the app's own /metrics shows (what Prometheus scrapes). */
async function appSpend(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^tokenmeter_cost_usd_total\{.*\} (\S+)$/.exec(line);
    if (match) total += Number(match[1]);
  }
  return total;
}

describe('budget breach pages through real Prometheus and Alertmanager', () => {
  it('pages LLMBudgetExhausted with the numbers, inhibits the thresholds, and loses no spend across an app restart', {
    timeout: 180_000,
  }, async () => {
    const receiver = await startWebhookReceiver();
    closers.push(receiver.close);
    const [appPort, prometheusPort, alertmanagerPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    const metricsUrl = `http://127.0.0.1:${appPort}/metrics`;

    // A tiny budget and short intervals, so the whole story takes seconds.
    const configFile = path.join(work, 'tokenmeter.config.yaml');
    writeFileSync(
      configFile,
      [
        'budgets:',
        `  - { name: demo-daily, amount_usd: ${BUDGET_USD}, period: day }`,
        'alerting:',
        '  evaluation_interval: 1s',
        '  resolution: 5s',
        '  group_wait: 1s',
        '  group_interval: 1s',
        '  repeat_interval: 1h',
        '  receivers:',
        `    pager: { webhook_url: "${receiver.url}/page" }`,
        `    chat: { webhook_url: "${receiver.url}/chat" }`,
      ].join('\n'),
    );
    const out = generate(configFile, path.join(work, 'out'));
    const prometheusConfig = path.join(work, 'prometheus.yml');
    writeFileSync(
      prometheusConfig,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ["${path.join(out, 'prometheus/rules/tokenmeter.rules.yml')}"]`,
        `alerting: { alertmanagers: [ { static_configs: [ { targets: ["127.0.0.1:${alertmanagerPort}"] } ] } ] }`,
        `scrape_configs: [ { job_name: demo, static_configs: [ { targets: ["127.0.0.1:${appPort}"] } ] } ]`,
      ].join('\n'),
    );

    processes.push(
      await start(
        tool('prometheus-alertmanager'),
        [
          `--config.file=${path.join(out, 'prometheus/alertmanager.yml')}`,
          `--storage.path=${path.join(work, 'alertmanager')}`,
          `--web.listen-address=127.0.0.1:${alertmanagerPort}`,
          '--cluster.listen-address=',
        ],
        { ready: 'Listening' },
      ),
    );
    // Prometheus has been scraping (the app is not up yet) for a slot: it is running.
    processes.push(
      await startPrometheus(tool('prometheus'), prometheusConfig, path.join(work, 'tsdb'), prometheusPort),
    );

    // The LLM API outlives the app, as a provider does (its prompt cache stays warm across restarts).
    const mockLlm = await start(
      process.execPath,
      [path.join(ROOT, 'packages/mock-llm/dist/cli.js'), '--port', '0'],
      {
        ready: '"url"',
      },
    );
    processes.push(mockLlm);
    const mockUrl = (JSON.parse(mockLlm.output().trim().split('\n')[0] as string) as { url: string }).url;

    const runApp = (rounds: number) =>
      startDemoApp(ROOT, appPort, ['--rounds', String(rounds)], { MOCK_LLM_URL: mockUrl });

    // Run 1: the demo's calls spend more than the budget.
    const first = await runApp(6);
    processes.push(first);
    const firstSpend = await appSpend(metricsUrl);
    expect(firstSpend).toBeGreaterThan(BUDGET_USD);

    const page = await waitFor(
      () =>
        receiver.received
          .filter((entry) => entry.path === '/page')
          .flatMap((entry) => entry.body.alerts)
          .find((alert) => alert.labels.alertname === 'LLMBudgetExhausted' && alert.status === 'firing'),
      { timeoutMs: 60_000, what: 'the page for LLMBudgetExhausted' },
    );
    expect(page.labels).toMatchObject({
      alertname: 'LLMBudgetExhausted',
      budget: 'demo-daily',
      severity: 'critical',
      period: 'day',
      unit: 'usd',
    });
    // The description carries the figures: percentage, budget and spend.
    const figures =
      /has used (\d+(?:\.\d+)?)% of its \$0\.0100 for today \(UTC\): \$(\d+\.\d+) spent so far/.exec(
        page.annotations.description ?? '',
      );
    expect(figures, page.annotations.description).not.toBeNull();
    const [percentage, spent] = [Number(figures?.[1]), Number(figures?.[2])];
    // The spend when the alert fired: over the budget, and at most run 1's total (a run whose calls
    // straddle a slot boundary pages on the first slot's part).
    expect(spent).toBeGreaterThanOrEqual(BUDGET_USD);
    expect(spent).toBeLessThanOrEqual(Number(firstSpend.toFixed(4)) + 0.00005);
    expect(percentage).toBeCloseTo((spent / BUDGET_USD) * 100, -1);
    expect(page.annotations.runbook_url).toMatch(/#llmbudgetexhausted$/);
    expect(page.annotations.dashboard_url).toContain('var-budget=demo-daily');
    expect(page.annotations.summary).toBe('LLM budget demo-daily is exhausted.');

    // Thresholds below 100% are inhibited by the exhausted alert in Alertmanager.
    const alerts = await waitFor(
      async () => {
        const list = (await (
          await fetch(`http://127.0.0.1:${alertmanagerPort}/api/v2/alerts`)
        ).json()) as Array<{
          labels: Record<string, string>;
          status: { state: string; inhibitedBy: string[] };
        }>;
        const thresholds = list.filter((alert) => alert.labels.alertname === 'LLMBudgetThresholdReached');
        return thresholds.length === 3 ? list : undefined;
      },
      { timeoutMs: 60_000, what: 'three threshold alerts in Alertmanager' },
    );
    for (const alert of alerts.filter((entry) => entry.labels.alertname === 'LLMBudgetThresholdReached')) {
      expect(alert.status.state, JSON.stringify(alert.labels)).toBe('suppressed');
      expect(alert.status.inhibitedBy.length).toBeGreaterThan(0);
    }
    // Chat also saw the critical alert (the pager route continues to chat).
    const chat = receiver.received
      .filter((entry) => entry.path === '/chat')
      .flatMap((entry: { body: AlertmanagerWebhook }) => entry.body.alerts);
    expect(chat.some((alert) => alert.labels.alertname === 'LLMBudgetExhausted')).toBe(true);

    // Restart the app mid-run, once Prometheus has scraped its final figures.
    await waitFor(
      async () => {
        const [scraped] = await promQuery(prometheusUrl, 'sum(tokenmeter_cost_usd_total)');
        return scraped && Math.abs(scraped.value - firstSpend) < 1e-12 ? true : undefined;
      },
      { what: 'Prometheus to scrape run 1 in full' },
    );
    await first.stop();
    // A different workload after the restart: some counters come back lower, some higher (the new
    // process is recognised through its service_instance_id in target_info).
    const second = await runApp(3);
    processes.push(second);
    const secondSpend = await appSpend(metricsUrl);

    // The budget's spend becomes both runs' spend: the counter reset lost nothing.
    const expected = firstSpend + secondSpend;
    let last: number | undefined;
    const budgetSpend = await waitFor(
      async () => {
        const [row] = await promQuery(
          prometheusUrl,
          'tokenmeter:budget_usage:period_to_date{budget="demo-daily"}',
        );
        last = row?.value;
        return row && Math.abs(row.value - expected) < expected * 1e-9 ? row.value : undefined;
      },
      { timeoutMs: 60_000, what: `the budget's spend to reach both runs' $${expected}` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; it is $${last} (run 1 $${firstSpend}, run 2 $${secondSpend})`);
    });
    // Slots are exact differences of the counters' values: equal up to float rounding.
    expect(budgetSpend).toBeCloseTo(expected, 9);
  });
});
