import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/free-port.js';

/**
 * The packages as users get them: `pnpm pack` tarballs installed with plain npm into a fresh
 * project next to the real SDKs from the registry, then apps started the way users start them.
 */
const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['instrumentation', 'pricing', 'node', 'cli'];
let project: string;
let mock: MockLlmServer;

beforeAll(async () => {
  mock = await startMockLlmServer();
  const work = mkdtempSync(path.join(os.tmpdir(), 'tokenmeter-packed-'));
  const tarballs = path.join(work, 'tarballs');
  mkdirSync(tarballs);
  for (const name of PACKAGES) {
    await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: path.join(root, 'packages', name) });
  }
  project = path.join(work, 'app');
  mkdirSync(project);
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'plain-app', private: true, type: 'module' }),
  );
  for (const file of ['calls.mjs', 'app.mjs', 'app.cjs'])
    cpSync(path.join(root, 'test/one-require', file), path.join(project, file));
  cpSync(path.join(root, 'test/packed-app/app.ts'), path.join(project, 'app.ts'));
  const packed = readdirSync(tarballs).map((file) => path.join(tarballs, file));
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      'openai@7.57.0',
      '@anthropic-ai/sdk@1.12.0',
      'tsx@4',
      ...packed,
    ],
    {
      cwd: project,
      timeout: 180_000,
    },
  );
}, 240_000);

afterAll(async () => {
  await mock.close();
});

async function scrape(args: string[]): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd: project,
    env: {
      ...process.env,
      MOCK_URL: mock.url,
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
    },
  });
  try {
    let stderr = '';
    child.stderr.on('data', (data) => (stderr += data));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (data) => String(data).includes('calls done') && resolve());
      child.once('exit', (code) => reject(new Error(`app exited with ${code}: ${stderr}`)));
    });
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } finally {
    process.kill(child.pid!, 'SIGKILL');
  }
}

const value = (metrics: string, needle: string[]) => {
  const line = metrics.split('\n').find((l) => needle.every((part) => l.includes(part)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
};

describe('installed from packed tarballs into a plain npm project', () => {
  it.each([
    ['ESM (--import)', ['--import', '@tokenmeter/node/register', 'app.mjs']],
    ['CommonJS (-r)', ['-r', '@tokenmeter/node/register', 'app.cjs']],
    ['TypeScript with tsx', ['--import', '@tokenmeter/node/register', '--import', 'tsx', 'app.ts']],
  ])('%s: the metrics match the calls made', async (_name, args) => {
    const metrics = await scrape(args);
    expect(value(metrics, ['tokenmeter_calls_total{', 'gen_ai_provider_name="openai"', 'outcome="ok"'])).toBe(
      4,
    );
    expect(
      value(metrics, [
        'tokenmeter_tokens_total{',
        'gen_ai_provider_name="openai"',
        'token_type="cache_read"',
      ]),
    ).toBe(4000);
    expect(
      value(metrics, [
        'tokenmeter_tokens_total{',
        'gen_ai_provider_name="anthropic"',
        'token_type="cache_write"',
      ]),
    ).toBe(4000);
    expect(
      value(metrics, ['tokenmeter_cost_usd_total{', 'gen_ai_provider_name="openai"', 'cost_type="input"']),
    ).toBeCloseTo((800 * 0.15) / 1e6, 12);
  });

  it('provides the tokenmeter binary', async () => {
    const { stdout } = await run(path.join(project, 'node_modules/.bin/tokenmeter'), [
      'price',
      '--provider',
      'openai',
      '--model',
      'gpt-4o-mini',
      '--usage',
      '{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1000}}',
      '--json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ priced: true, amount_usd: expect.closeTo(0.000285, 12) });
  });
});
