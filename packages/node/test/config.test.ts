import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOverridesFile } from '@tokenmeter/pricing';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/index.js';

const example = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../examples/tokenmeter.config.yaml',
);

describe('tokenmeter.config.yaml', () => {
  it('reads the example, with defaults and paths relative to the file', () => {
    const config = loadConfig(example);
    expect(config.attribution).toEqual({ labels: ['tenant', 'feature'], max_values_per_label: 100 });
    expect(config.budgets.map((budget) => budget.name)).toEqual([
      'org-monthly',
      'acme-daily',
      'search-tokens-weekly',
    ]);
    expect(config.currency.rates.EUR).toBe(0.92);
    expect(config.pricing.overrides).toBe(path.resolve(path.dirname(example), 'prices.yaml'));
    expect(loadOverridesFile(config.pricing.overrides!).aliases).toHaveLength(1);
  });

  it('rejects unknown keys and bad values naming the file and the path', () => {
    const problems = (text: string) => {
      try {
        parseConfig(text, '/srv/app/tokenmeter.config.yaml');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).toContain('/srv/app/tokenmeter.config.yaml');
        return (error as ConfigError).problems.join('\n');
      }
      throw new Error('accepted');
    };
    expect(problems('attribution:\n  lables: [tenant]\n')).toMatch(/attribution.*lables/);
    expect(problems('budgets:\n  - { name: Org, amount_usd: 5, period: month }\n')).toMatch(
      /budgets\.0\.name/,
    );
    expect(problems('budgets:\n  - { name: a, amount_usd: 5, amount_tokens: 5, period: month }\n')).toMatch(
      /exactly one/,
    );
    expect(problems('budgets:\n  - { name: a, amount_usd: 5, period: fortnight }\n')).toMatch(
      /budgets\.0\.period/,
    );
    expect(
      problems(
        'budgets:\n  - { name: a, amount_usd: 5, period: day }\n  - { name: a, amount_usd: 6, period: day }\n',
      ),
    ).toMatch(/unique/);
    expect(problems('alerting:\n  receivers:\n    pager: {}\n')).toMatch(/alerting\.receivers\.pager/);
    expect(problems('currency: { rates: { euro: 0.9 } }\n')).toMatch(/currency\.rates/);
    expect(problems('budgets: [\n')).toMatch(/not valid YAML/);
  });

  it('accepts an empty file', () => {
    expect(parseConfig('', 'empty.yaml').budgets).toEqual([]);
  });
});
