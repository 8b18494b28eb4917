import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseReceivers } from '../src/generate/alertmanager.js';
import { formatDuration, periodStart } from '../src/generate/promql.js';
import { run } from '../src/index.js';

function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = run(argv, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

function configFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tokenmeter-cli-')), 'tokenmeter.config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('tokenmeter generate / check', () => {
  it('writes the rules and Alertmanager files under --out', () => {
    const file = configFile(
      'budgets:\n  - { name: team-a, amount_usd: 100, period: week, match: { tenant: a, model: gpt-4o } }\n',
    );
    const out = path.dirname(file);
    const result = cli(['generate', '--config', file, '--out', out]);
    expect(result.status).toBe(0);
    const rules = readFileSync(path.join(out, 'prometheus/rules/tokenmeter.rules.yml'), 'utf8');
    // `model` is the short name of gen_ai_request_model, kept by the first aggregation.
    expect(rules).toContain(
      'sum(tokenmeter:cost_usd:slot_increase{tenant="a", gen_ai_request_model="gpt-4o"}) or vector(0)',
    );
    expect(readFileSync(path.join(out, 'prometheus/alertmanager.yml'), 'utf8')).toContain('group_by:');
  });

  it('rejects unknown keys, naming the file and the path', () => {
    const file = configFile('budgets:\n  - { name: a, amount_usd: 1, period: day, treshold: [0.5] }\n');
    const result = cli(['check', '--config', file]);
    expect(result.status).toBe(1);
    expect(result.err).toContain(file);
    expect(result.err).toMatch(/budgets\.0.*treshold/);
  });

  it('explains what is wrong with a budget', () => {
    const cases: Array<[string, RegExp]> = [
      ['budgets: [{ name: A, amount_usd: 1, period: day }]', /budgets\.0\.name: use lowercase/],
      ['budgets: [{ name: a, period: day }]', /exactly one of amount_usd and amount_tokens/],
      [
        'budgets: [{ name: a, amount_usd: 1, amount_tokens: 5, period: day }]',
        /exactly one of amount_usd and amount_tokens/,
      ],
      ['budgets: [{ name: a, amount_usd: -1, period: day }]', /budgets\.0\.amount_usd/],
      ['budgets: [{ name: a, amount_usd: 1, period: year }]', /budgets\.0\.period/],
      [
        'budgets: [{ name: a, amount_usd: 1, period: day }, { name: a, amount_usd: 2, period: day }]',
        /unique/,
      ],
      [
        'budgets: [{ name: a, amount_usd: 1, period: day, thresholds: [0.5, 1.2] }]',
        /thresholds\.1: below 1/,
      ],
      ['alerting: { resolution: 7m }', /alerting\.resolution: must divide one day/],
      ['alerting: { evaluation_interval: 2m, resolution: 5m }', /a multiple of evaluation_interval/],
      ['alerting: { repeat_interval: soon }', /alerting\.repeat_interval: a duration/],
      ['alerting: { receivers: { pager: { email: x@example.com } } }', /alerting\.receivers\.pager/],
      ['budgets: [oops', /not valid YAML/],
    ];
    for (const [text, message] of cases) {
      const result = cli(['check', '--config', configFile(text)]);
      expect(result.status, text).toBe(1);
      expect(result.err, text).toMatch(message);
    }
  });

  it('fails on a missing file and on missing arguments', () => {
    expect(cli(['check', '--config', '/nonexistent/tokenmeter.config.yaml']).err).toContain(
      'cannot read file',
    );
    expect(cli(['generate', '--config', 'x.yaml']).status).toBe(1);
    expect(cli(['check']).status).toBe(1);
  });
});

describe('receiver choice', () => {
  it('uses pager and chat by name, else the first paging and the first Slack receiver', () => {
    expect(chooseReceivers({})).toEqual({ pager: 'tokenmeter-silent', chat: 'tokenmeter-silent' });
    expect(
      chooseReceivers({
        slack: { slack_webhook_url: 'https://hooks.example/a' },
        oncall: { pagerduty_routing_key: 'k' },
      }),
    ).toEqual({ pager: 'oncall', chat: 'slack' });
    expect(chooseReceivers({ hook: { webhook_url: 'https://example.com/h' } })).toEqual({
      pager: 'hook',
      chat: 'hook',
    });
  });
});

describe('PromQL helpers', () => {
  it('formats compound durations', () => {
    expect(formatDuration(31 * 86400 + 300)).toBe('31d5m');
    expect(formatDuration(3600 + 5)).toBe('1h5s');
  });
  it('computes week starts on Monday from day_of_week', () => {
    expect(periodStart('week', 'T')).toBe('((T - T % 86400) - ((day_of_week(T) + 6) % 7) * 86400)');
  });
});
