import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type TokenmeterConfig } from '@tokenmeter/node/config';
import { ALERTMANAGER_FILE, generateArtifacts, RULES_FILE, writeArtifacts } from './generate/artifacts.js';
import type { CommandIO } from './price.js';

export const GENERATE_USAGE = `usage: tokenmeter generate --config FILE --out DIR

Writes, from the budgets and alerting sections of the config:
  DIR/${RULES_FILE}   recording and alerting rules
  DIR/${ALERTMANAGER_FILE}          routing, inhibition, receivers`;

export const CHECK_USAGE = `usage: tokenmeter check --config FILE

Validates the config; where promtool and amtool are on the PATH, also checks the files
\`tokenmeter generate\` would write. Exit status 1 on any problem.`;

type Values = Record<string, string | boolean | undefined>;

function parse(argv: string[], names: string[], usage: string, io: CommandIO): Values | undefined {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const name of names) options[name] = { type: 'string' };
  try {
    return parseArgs({ args: argv, options, strict: true }).values as Values;
  } catch (error) {
    io.err(`tokenmeter: ${(error as Error).message}\n${usage}`);
    return undefined;
  }
}

function readConfig(file: string, io: CommandIO): TokenmeterConfig | undefined {
  try {
    return loadConfig(path.resolve(file));
  } catch (error) {
    io.err(error instanceof ConfigError ? error.message : `tokenmeter: ${(error as Error).message}`);
    return undefined;
  }
}

export function generateCommand(argv: string[], io: CommandIO): number {
  const values = parse(argv, ['config', 'out'], GENERATE_USAGE, io);
  if (!values) return 1;
  if (values.help) {
    io.out(GENERATE_USAGE);
    return 0;
  }
  if (typeof values.config !== 'string' || typeof values.out !== 'string') {
    io.err(`tokenmeter generate: --config and --out are required\n${GENERATE_USAGE}`);
    return 1;
  }
  const config = readConfig(values.config, io);
  if (!config) return 1;
  const files = generateArtifacts(config, path.basename(values.config));
  for (const file of writeArtifacts(files, values.out)) io.out(`wrote ${file}`);
  return 0;
}

export function checkCommand(argv: string[], io: CommandIO): number {
  const values = parse(argv, ['config'], CHECK_USAGE, io);
  if (!values) return 1;
  if (values.help) {
    io.out(CHECK_USAGE);
    return 0;
  }
  if (typeof values.config !== 'string') {
    io.err(`tokenmeter check: --config is required\n${CHECK_USAGE}`);
    return 1;
  }
  const config = readConfig(values.config, io);
  if (!config) return 1;
  io.out(`${values.config}: config valid (${config.budgets.length} budgets)`);

  const dir = mkdtempSync(path.join(tmpdir(), 'tokenmeter-check-'));
  let failed = false;
  try {
    writeArtifacts(generateArtifacts(config, path.basename(values.config)), dir);
    const tools: Array<[string, string[], string]> = [
      ['promtool', ['check', 'rules', '--lint-fatal', path.join(dir, RULES_FILE)], RULES_FILE],
      ['amtool', ['check-config', path.join(dir, ALERTMANAGER_FILE)], ALERTMANAGER_FILE],
    ];
    for (const [tool, args, file] of tools) {
      const result = runTool(tool, args);
      if (result === undefined) {
        io.out(`${file}: not checked (${tool} is not on the PATH)`);
      } else if (result.ok) {
        io.out(`${file}: valid (${tool})`);
      } else {
        failed = true;
        io.err(`${file}: ${tool} found problems:\n${result.output}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

function runTool(tool: string, args: string[]): { ok: boolean; output: string } | undefined {
  try {
    execFileSync(tool, args, { stdio: 'pipe', encoding: 'utf8' });
    return { ok: true, output: '' };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT') return undefined;
    return { ok: false, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}`.trim() };
  }
}
