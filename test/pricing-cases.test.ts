import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Pricer, usageFromProvider } from '@tokenmeter/pricing';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const cases: Array<{
  provider: string;
  model: string;
  usage: any;
  at: string;
  expected_usd: number;
  arithmetic: string;
}> = JSON.parse(readFileSync(path.join(here, 'fixtures/pricing-cases.json'), 'utf8'));
const cli = path.resolve(here, '../packages/cli/dist/bin.js');
const run = promisify(execFile);

describe('real-world pricing cases (test/fixtures/pricing-cases.json)', () => {
  it('has at least 50 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  const pricer = new Pricer();
  it.each(cases.map((c, index) => [index, c.provider, c.model, c] as const))(
    '#%i %s %s, through the library',
    (_i, _p, _m, c) => {
      const result = pricer.price({
        provider: c.provider,
        model: c.model,
        usage: usageFromProvider(c.provider, c.usage),
        providerCostUsd: typeof c.usage.cost === 'number' ? c.usage.cost : undefined,
        at: Date.parse(c.at),
      });
      if (!result.priced) throw new Error(`${result.reason} — expected ${c.arithmetic}`);
      expect(result.amountUsd, c.arithmetic).toBeCloseTo(c.expected_usd, 12);
    },
  );

  it('gives the same figures through `tokenmeter price --json`', async () => {
    // A sample across providers keeps the run short; every case is checked through the library above.
    for (const c of cases.filter((_, index) => index % 5 === 0)) {
      const { stdout } = await run(process.execPath, [
        cli,
        'price',
        '--provider',
        c.provider,
        '--model',
        c.model,
        '--usage',
        JSON.stringify(c.usage),
        '--at',
        c.at,
        '--json',
      ]);
      const printed = JSON.parse(stdout);
      expect(printed.priced, c.arithmetic).toBe(true);
      expect(printed.amount_usd, c.arithmetic).toBeCloseTo(c.expected_usd, 12);
      const parts = Object.values(printed.breakdown as Record<string, number>).reduce(
        (sum, value) => sum + value,
        0,
      );
      expect(parts).toBeCloseTo(printed.amount_usd, 12);
    }
  });

  it('exits 2 with a reason for an unpriced model and 1 for bad arguments', async () => {
    const unpriced = await run(process.execPath, [
      cli,
      'price',
      '--provider',
      'openai',
      '--model',
      'no-such-model',
      '--usage',
      '{"prompt_tokens":1}',
      '--json',
    ]).catch((error) => error);
    expect(unpriced.code).toBe(2);
    expect(JSON.parse(unpriced.stdout)).toMatchObject({ priced: false, reason: expect.any(String) });
    const bad = await run(process.execPath, [
      cli,
      'price',
      '--provider',
      'openai',
      '--model',
      'gpt-4o',
      '--usage',
      '{"prompt_tokens":-3}',
    ]).catch((error) => error);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('prompt_tokens');
  });
});
