// Rule evaluation benchmark: a real Prometheus scrapes 10,000 tokenmeter_cost_usd_total series
// (plus the token and call counters) and evaluates the generated rules; we read its own rule-group
// timings. Baseline, in the same Prometheus and run: one group with the cheapest useful
// aggregation of the same series, `sum by (tenant) (rate(tokenmeter_cost_usd_total[5m]))`.
//
// usage: node bench/rules/run.mjs [--minutes 4]

import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const minutesArg = process.argv.indexOf('--minutes');
const minutes = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 4;
const work = mkdtempSync(path.join(tmpdir(), 'tokenmeter-bench-rules-'));

// 2 providers x 10 models x 25 tenants x 4 features x 5 cost types = 10,000 cost series.
const series = [];
for (const provider of ['openai', 'anthropic'])
  for (let model = 0; model < 10; model++)
    for (let tenant = 0; tenant < 25; tenant++)
      for (const feature of ['search', 'chat', 'reports', 'support'])
        series.push(
          `gen_ai_provider_name="${provider}",gen_ai_request_model="model-${model}",gen_ai_operation_name="chat",tenant="tenant-${tenant}",feature="${feature}"`,
        );
const costTypes = ['input', 'output', 'cache_read', 'cache_write', 'reasoning'];
const started = Date.now();
const instanceId = randomUUID();
const server = createServer((_request, response) => {
  const elapsed = (Date.now() - started) / 1000;
  const lines = [
    '# TYPE tokenmeter_cost_usd_total counter',
    '# TYPE tokenmeter_tokens_total counter',
    '# TYPE tokenmeter_calls_total counter',
    // As Tokenmeter's endpoint serves it: the slot rules tell processes apart by target_info.
    '# TYPE target_info gauge',
    `target_info{service_name="bench",service_instance_id="${instanceId}"} 1`,
  ];
  series.forEach((labels, index) => {
    const rate = 1e-5 * (1 + (index % 7));
    for (const type of costTypes)
      lines.push(`tokenmeter_cost_usd_total{${labels},cost_type="${type}"} ${(rate * elapsed).toFixed(9)}`);
    for (const type of costTypes)
      lines.push(
        `tokenmeter_tokens_total{${labels},token_type="${type}"} ${Math.floor(elapsed * (index % 11))}`,
      );
    lines.push(`tokenmeter_calls_total{${labels},outcome="ok"} ${Math.floor(elapsed / 3)}`);
  });
  response.setHeader('content-type', 'text/plain; version=0.0.4');
  response.end(`${lines.join('\n')}\n`);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const targetPort = server.address().port;

// The example budgets, evaluated every 10 s with 1-minute slots so a few minutes show steady state.
const config = path.join(work, 'tokenmeter.config.yaml');
writeFileSync(
  config,
  `budgets:
  - { name: org-monthly, amount_usd: 5000, period: month }
  - { name: acme-daily, amount_usd: 50, period: day, match: { tenant: tenant-1 } }
  - { name: search-tokens-weekly, amount_tokens: 20000000, period: week, match: { feature: search } }
  - { name: team-rolling, amount_usd: 900, period: 30d, match: { feature: chat } }
alerting: { evaluation_interval: 10s, resolution: 1m }
`,
);
execFileSync(process.execPath, [
  path.join(root, 'packages/cli/dist/bin.js'),
  'generate',
  '--config',
  config,
  '--out',
  work,
]);
writeFileSync(
  path.join(work, 'baseline.rules.yml'),
  `groups:
  - name: baseline
    interval: 10s
    rules:
      - record: tenant:tokenmeter_cost_usd:rate5m
        expr: sum by (tenant) (rate(tokenmeter_cost_usd_total[5m]))
`,
);
writeFileSync(
  path.join(work, 'prometheus.yml'),
  `global: { scrape_interval: 5s, evaluation_interval: 10s }
rule_files: ["${work}/prometheus/rules/tokenmeter.rules.yml", "${work}/baseline.rules.yml"]
scrape_configs:
  - { job_name: app, static_configs: [ { targets: ["127.0.0.1:${targetPort}"] } ] }
`,
);
const promPort = 19000 + Math.floor(Math.random() * 1000);
const prometheus = spawn(
  'prometheus',
  [
    `--config.file=${work}/prometheus.yml`,
    `--storage.tsdb.path=${work}/tsdb`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ],
  { stdio: 'ignore' },
);
const query = async (q) => {
  const body = await (
    await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)
  ).json();
  return body.data.result;
};
/**
 * Where the first-level cost rule's time goes: each top-level `or` term of its expression, counted
 * through the query API (median of five, while the rules keep running as in production).
 */
async function timeCostSlotTerms() {
  const rules = readFileSync(path.join(work, 'prometheus/rules/tokenmeter.rules.yml'), 'utf8');
  const expr = /record: tokenmeter:cost_usd:slot_increase\n\s+expr: \|-\n([\s\S]*?)\n {6}- record/.exec(
    rules,
  )[1];
  // Inside `sum by (...) (` … `)`, each term starts a line with "or" at the shallowest indent.
  const lines = expr.split('\n').slice(1, -1);
  const terms = [];
  for (const line of lines) {
    const term = /^ {12}or (.*)$/.exec(line);
    if (terms.length === 0 || term) terms.push((term?.[1] ?? line).trim());
    else terms[terms.length - 1] += ` ${line.trim()}`;
  }
  const timings = {};
  for (const term of terms) {
    const times = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await query(`count(${term})`);
      times.push(performance.now() - started);
    }
    timings[term.length > 90 ? `${term.slice(0, 90)}…` : term] = +times.sort((a, b) => a - b)[2].toFixed(0);
  }
  return timings;
}

try {
  console.log(
    `10,000 cost series (${series.length * 11} series in all), ${minutes} min of scraping every 5 s, rules every 10 s…`,
  );
  await new Promise((resolve) => setTimeout(resolve, minutes * 60_000));
  // Prometheus' own metrics (it does not scrape itself here): the last duration of each group,
  // read at six evaluations; the median of each.
  const readings = {};
  for (let i = 0; i < 6; i++) {
    const text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
    for (const match of text.matchAll(
      /^prometheus_rule_group_last_duration_seconds\{rule_group="[^"]*;([^"]+)"\} (\S+)$/gm,
    )) {
      readings[match[1]] = [...(readings[match[1]] ?? []), Number(match[2])];
    }
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const byGroup = Object.fromEntries(
    Object.entries(readings).map(([name, values]) => [name, median(values)]),
  );
  const samples = await query('count(tokenmeter_cost_usd_total)');
  // Where the time goes: the slowest rules of the last evaluation (Prometheus' rules API).
  const rulesApi = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`)).json();
  const slowest = rulesApi.data.groups
    .flatMap((group) =>
      group.rules.map((rule) => ({
        rule: rule.name,
        labels: rule.labels?.budget ?? '',
        ms: rule.evaluationTime * 1000,
      })),
    )
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 6)
    .map(({ rule, labels, ms }) => `${rule}${labels ? `{budget=${labels}}` : ''}: ${ms.toFixed(1)} ms`);
  const baseline = byGroup.baseline;
  const costSlotTerms = await timeCostSlotTerms();
  const result = {
    date: new Date().toISOString(),
    prometheus: execFileSync('prometheus', ['--version'], { encoding: 'utf8' }).split('\n')[0],
    costSeries: Number(samples[0]?.value[1] ?? 0),
    minutesOfHistory: minutes,
    medianGroupDurationMs: Object.fromEntries(
      Object.entries(byGroup).map(([name, seconds]) => [name, +(seconds * 1000).toFixed(2)]),
    ),
    slowestRules: slowest,
    costSlotTermsMs: costSlotTerms,
    ratioToBaseline: Object.fromEntries(
      Object.entries(byGroup)
        .filter(([name]) => name !== 'baseline')
        .map(([name, seconds]) => [name, +(seconds / baseline).toFixed(1)]),
    ),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(path.join(root, 'bench/results/rules.json'), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  prometheus.kill('SIGTERM');
  server.close();
  await new Promise((resolve) => prometheus.once('exit', resolve));
  rmSync(work, { recursive: true, force: true });
}
