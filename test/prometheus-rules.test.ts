import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { copyInto, generate, ROOT, readTree, run, tool } from './support/prometheus-tools.js';

const execFileAsync = promisify(execFile);
const UNIT = path.join(ROOT, 'test/prometheus');
const RULES = 'prometheus/rules/tokenmeter.rules.yml';

/** Generated rules for each test config, with its promtool unit-test files beside them. */
const suites = {
  budgets: { config: 'budgets.config.yaml', tests: ['day.test.yml', 'anomaly.test.yml', 'fleet.test.yml'] },
  calendar: { config: 'calendar.config.yaml', tests: ['calendar.test.yml'] },
  offset: { config: 'offset.config.yaml', tests: ['offset.test.yml'] },
} as const;
type Suite = keyof typeof suites;
const dirs = {} as Record<Suite, string>;

beforeAll(() => {
  for (const [name, suite] of Object.entries(suites) as Array<[Suite, (typeof suites)[Suite]]>) {
    const dir = generate(path.join(UNIT, suite.config));
    copyInto(
      suite.tests.map((file) => path.join(UNIT, file)),
      path.join(dir, 'prometheus'),
    );
    dirs[name] = dir;
  }
});

async function promtoolTest(
  suite: Suite,
  testFile: string,
  rules?: string,
): Promise<{ ok: boolean; output: string }> {
  const dir = path.join(dirs[suite], 'prometheus');
  let cwd = dir;
  if (rules !== undefined) {
    // A mutated copy beside the original: the test file finds rules/ relative to itself.
    cwd = path.join(dirs[suite], `mutant-${Math.random().toString(36).slice(2)}`);
    mkdirSync(path.join(cwd, 'rules'), { recursive: true });
    writeFileSync(path.join(cwd, 'rules/tokenmeter.rules.yml'), rules);
    copyInto([path.join(dir, testFile)], cwd);
  }
  try {
    const { stdout, stderr } = await execFileAsync(tool('promtool'), ['test', 'rules', testFile], { cwd });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

describe('generated Prometheus rules', () => {
  it('pass promtool check rules and amtool check-config', () => {
    for (const config of ['examples/tokenmeter.config.yaml', 'test/prometheus/budgets.config.yaml']) {
      const dir = generate(path.join(ROOT, config));
      const rules = run(tool('promtool'), ['check', 'rules', '--lint-fatal', path.join(dir, RULES)]);
      expect(rules.output).toContain('SUCCESS');
      expect(rules.status).toBe(0);
      const alertmanager = run(tool('amtool'), [
        'check-config',
        path.join(dir, 'prometheus/alertmanager.yml'),
      ]);
      expect(alertmanager.output).toContain('SUCCESS');
      expect(alertmanager.status).toBe(0);
    }
  });

  it('are the same bytes every time (deterministic output)', () => {
    const config = path.join(ROOT, 'examples/tokenmeter.config.yaml');
    expect(readTree(generate(config))).toEqual(readTree(generate(config)));
  });

  it('in the repository are up to date with the generator and examples/tokenmeter.config.yaml', () => {
    const generated = readTree(generate(path.join(ROOT, 'examples/tokenmeter.config.yaml')));
    for (const [file, content] of generated) {
      const committed = readFileSync(path.join(ROOT, file), 'utf8');
      expect(committed, `${file} is stale: run npm run generate`).toBe(content);
    }
  });

  it('annotate every alert with summary, description, runbook_url and dashboard_url', () => {
    const rules = readFileSync(path.join(dirs.budgets, RULES), 'utf8');
    const alerts = rules.split('- alert: ').slice(1);
    expect(alerts.length).toBeGreaterThan(8);
    for (const alert of alerts) {
      for (const key of ['summary:', 'description:', 'runbook_url:', 'dashboard_url:', 'severity:']) {
        expect(alert, alert.split('\n')[0]).toContain(key);
      }
    }
  });
});

// promtool runs of the month-long calendar suite take minutes on a 2-core machine while the other
// test files run: the timeouts are a guard against a hang, not a performance goal.
describe.concurrent('promtool unit tests', () => {
  for (const [suite, { tests }] of Object.entries(suites) as Array<[Suite, (typeof suites)[Suite]]>) {
    for (const file of tests) {
      it(`${file} passes`, { timeout: 600_000 }, async () => {
        const result = await promtoolTest(suite, file);
        expect(result.output).toContain('SUCCESS');
        expect(result.ok, result.output).toBe(true);
      });
    }
  }
});

/**
 * Each unit test must fail when the rule it protects is broken: break one thing in the generated
 * rules, and the named test file must fail.
 */
const mutations: Array<{ breaks: string; suite: Suite; file: string; from: string | RegExp; to: string }> = [
  {
    breaks: 'counter resets (an app restart straddling a slot boundary)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: 'or (tokenmeter_cost_usd_total unless on(job, instance) target_info) and last_over_time(tokenmeter_cost_usd_total[5m] offset 5m)',
    to: '',
  },
  {
    breaks: 'replicas summed (max instead of sum)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: 'sum by (job, gen_ai_provider_name, gen_ai_request_model, tenant, feature, cost_type) (',
    to: 'max by (job, gen_ai_provider_name, gen_ai_request_model, tenant, feature, cost_type) (',
  },
  {
    breaks: 'the day starts at midnight UTC (a rolling 24h instead)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: '(last_over_time(vector(time())[1s:1s] @ end()) - last_over_time(vector(time())[1s:1s] @ end()) % 86400)',
    to: '(last_over_time(vector(time())[1s:1s] @ end()) - 86400)',
  },
  {
    breaks: 'the 90% threshold',
    suite: 'budgets',
    file: 'day.test.yml',
    from: 'tokenmeter:budget_usage:ratio{budget="acme-daily"} >= 0.9',
    to: 'tokenmeter:budget_usage:ratio{budget="acme-daily"} >= 0.95',
  },
  {
    breaks: 'a process back after a scrape outage (seen within the hour, not a slot ago)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: /target_info unless target_info offset 5m/g,
    to: 'target_info unless target_info',
  },
  {
    breaks: 'a process back after a short gap counts the increase since its last value',
    suite: 'budgets',
    file: 'day.test.yml',
    from: /\n\s+or \(\(\(tokenmeter_cost_usd_total and on\(job, instance\) group by \(job, instance\) \(target_info unless [^\n]*/,
    to: '',
  },
  {
    breaks:
      'a counter that went down while its process was not scraped counts whole (fixed service.instance.id)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: ' or (tokenmeter_cost_usd_total and on(job, instance) group by (job, instance) (target_info unless target_info offset 5m and last_over_time(target_info[1h] offset 5m))) and last_over_time(tokenmeter_cost_usd_total[5m] offset 5m))',
    to: ')',
  },
  {
    breaks: 'a process back after a gap does not count its whole value again',
    suite: 'budgets',
    file: 'day.test.yml',
    from: /(offset 5m\)\)\)) unless last_over_time\(\(tokenmeter_cost_usd_total and on\(job, instance\) \(target_info and target_info @ end\(\)\)\)\[1h:5m\] offset 5m\)/,
    to: '$1',
  },
  {
    breaks: 'a series born in the slot of a running process (a label set first used after a restart)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: '(tokenmeter_cost_usd_total - tokenmeter_cost_usd_total offset 5m) >= 0 or tokenmeter_cost_usd_total)',
    to: '(tokenmeter_cost_usd_total - tokenmeter_cost_usd_total offset 5m) >= 0)',
  },
  {
    breaks: "the previous value is the same process's (no 5-minute look-back into the old process)",
    suite: 'budgets',
    file: 'day.test.yml',
    from: '(tokenmeter_cost_usd_total - tokenmeter_cost_usd_total offset 5m)',
    to: '(tokenmeter_cost_usd_total - last_over_time(tokenmeter_cost_usd_total[5m] offset 5m))',
  },
  {
    breaks: 'a series counts as seen only under the current process',
    suite: 'budgets',
    file: 'day.test.yml',
    from: /and on\(job, instance\) \(target_info and target_info @ end\(\)\)/g,
    to: 'and on(job, instance) target_info',
  },
  {
    breaks: 'a process not seen within the hour is new (restarts whose counters come back higher)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: /group by \(job, instance\) \(target_info unless last_over_time\(target_info\[1h\] offset 5m\)\)/g,
    to: 'group by (job, instance) (target_info unless target_info)',
  },
  {
    breaks: 'no new processes after a long Prometheus outage (every process would look new)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: / and on\(\) \(count\(last_over_time\(up\[1h\] offset 5m\)\) > 0\)/g,
    to: '',
  },
  {
    breaks: 'the severity of the 50% threshold',
    suite: 'budgets',
    file: 'day.test.yml',
    from: 'severity: info',
    to: 'severity: warning',
  },
  {
    breaks: 'the projection guard in the first hours of the day',
    suite: 'budgets',
    file: 'day.test.yml',
    from: '>= 10800',
    to: '>= 0',
  },
  {
    breaks: 'no projection warning once exhausted',
    suite: 'budgets',
    file: 'day.test.yml',
    from: ' unless tokenmeter:budget_usage:ratio{budget="acme-daily"} >= 1',
    to: '',
  },
  {
    breaks: 'token budgets count every token type',
    suite: 'budgets',
    file: 'day.test.yml',
    from: 'sum(tokenmeter:tokens:slot_increase{feature="search"})',
    to: 'sum(tokenmeter:tokens:slot_increase{feature="search", token_type="input"})',
  },
  {
    breaks: 'the first sample of a new series',
    suite: 'budgets',
    file: 'day.test.yml',
    from: /\(count\(up offset 5m\) > 0\)/g,
    to: '(count(up offset 5m) > 1e9)',
  },
  {
    breaks: 'no double count after a scrape outage (new means unseen for an hour)',
    suite: 'budgets',
    file: 'day.test.yml',
    from: / unless last_over_time\(tokenmeter_cost_usd_total\[1h:5m\] offset 5m\)/,
    to: '',
  },
  {
    breaks: 'the anomaly minimum spend',
    suite: 'budgets',
    file: 'anomaly.test.yml',
    from: 'and tokenmeter:total_cost_usd:increase1h >= 1',
    to: 'and tokenmeter:total_cost_usd:increase1h >= 0',
  },
  {
    breaks: 'the anomaly history guard',
    suite: 'budgets',
    file: 'anomaly.test.yml',
    from: '[7d:1h]) >= 24',
    to: '[7d:1h]) >= 0',
  },
  {
    breaks: 'unpriced usage from a series born minutes ago',
    suite: 'budgets',
    file: 'fleet.test.yml',
    from: /\n\s*or\n\s*sum by \(gen_ai_provider_name, gen_ai_request_model\) \(tokenmeter_unpriced_tokens_total unless tokenmeter_unpriced_tokens_total offset 1h\)/,
    to: '',
  },
  {
    breaks: 'absence per job (only jobs that stopped)',
    suite: 'budgets',
    file: 'fleet.test.yml',
    from: ' unless on(job) tokenmeter:calls_series:count',
    to: '',
  },
  {
    breaks: 'the query offset (counters read at the evaluation time)',
    suite: 'offset',
    file: 'offset.test.yml',
    from: /( offset 10s)|(?<=offset 1m)10s/g,
    to: '',
  },
  {
    breaks: 'the month starts on the 1st',
    suite: 'calendar',
    file: 'calendar.test.yml',
    from: /\(day_of_month\(last_over_time\(vector\(time\(\)\)\[1s:1s\] @ end\(\)\)\) - 1\)/,
    to: '(day_of_month(last_over_time(vector(time())[1s:1s] @ end())) - 2)',
  },
  {
    breaks: 'weeks start on Monday',
    suite: 'calendar',
    file: 'calendar.test.yml',
    from: /\(\(day_of_week\(last_over_time\(vector\(time\(\)\)\[1s:1s\] @ end\(\)\)\) \+ 6\) % 7\)/,
    to: '((day_of_week(last_over_time(vector(time())[1s:1s] @ end())) + 0) % 7)',
  },
];

describe.concurrent('each promtool unit test fails when the rule it protects is broken', () => {
  for (const mutation of mutations) {
    it(`breaking ${mutation.breaks} fails ${mutation.file}`, { timeout: 600_000 }, async () => {
      const original = readFileSync(path.join(dirs[mutation.suite], RULES), 'utf8');
      const mutated =
        typeof mutation.from === 'string'
          ? original.replaceAll(mutation.from, mutation.to)
          : original.replace(mutation.from, mutation.to);
      expect(mutated, 'the mutation no longer applies to the generated rules').not.toBe(original);
      const result = await promtoolTest(mutation.suite, mutation.file, mutated);
      expect(result.output).toContain('FAILED');
      expect(result.ok).toBe(false);
    });
  }
});

describe('generated Alertmanager routing (amtool config routes test)', () => {
  const routes = (config: string, labels: string[]) => {
    const dir = generate(path.resolve(ROOT, config));
    const result = run(tool('amtool'), [
      'config',
      'routes',
      'test',
      `--config.file=${path.join(dir, 'prometheus/alertmanager.yml')}`,
      ...labels,
    ]);
    expect(result.status, result.output).toBe(0);
    // The receivers are the first line (amtool warns on stderr that --config.file wins).
    return result.output.trim().split('\n')[0];
  };

  it('pages critical alerts and copies them to chat; everything else goes to chat', () => {
    const config = 'examples/tokenmeter.config.yaml';
    expect(routes(config, ['alertname=LLMBudgetExhausted', 'budget=org-monthly', 'severity=critical'])).toBe(
      'pager,chat',
    );
    expect(
      routes(config, [
        'alertname=LLMBudgetThresholdReached',
        'budget=org-monthly',
        'severity=warning',
        'threshold=0.75',
      ]),
    ).toBe('chat');
    expect(
      routes(config, [
        'alertname=LLMBudgetThresholdReached',
        'budget=org-monthly',
        'severity=info',
        'threshold=0.5',
      ]),
    ).toBe('chat');
    expect(routes(config, ['alertname=LLMUnpricedModelUsage', 'severity=warning'])).toBe('chat');
  });

  it('with one receiver, it gets everything; with none, alerts go to a silent receiver', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tokenmeter-routes-'));
    const one = path.join(dir, 'one.yaml');
    writeFileSync(
      one,
      'alerting:\n  receivers:\n    oncall: { pagerduty_routing_key: "0123456789abcdef" }\n',
    );
    const none = path.join(dir, 'none.yaml');
    writeFileSync(none, 'budgets: [{ name: b, amount_usd: 1, period: day }]\n');
    expect(routes(one, ['alertname=LLMBudgetExhausted', 'severity=critical'])).toBe('oncall');
    expect(routes(one, ['alertname=LLMSpendAnomaly', 'severity=warning'])).toBe('oncall');
    expect(routes(none, ['alertname=LLMBudgetExhausted', 'severity=critical'])).toBe('tokenmeter-silent');
  });
});

describe('compose.yaml', () => {
  it('mounts files that exist, and its Prometheus config is valid', () => {
    const compose = parse(readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8')) as {
      services: Record<string, { volumes?: string[] }>;
    };
    expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'grafana', 'prometheus']);
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        expect(existsSync(path.join(ROOT, source)), source).toBe(true);
      }
    }
    const check = run(tool('promtool'), ['check', 'config', path.join(ROOT, 'prometheus/prometheus.yml')]);
    expect(check.status, check.output).toBe(0);
  });
});
