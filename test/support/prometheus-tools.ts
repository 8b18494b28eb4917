import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'packages/cli/dist/bin.js');

/**
 * The path of a Prometheus tool. `.ci/run` and `npm test` install Debian's `prometheus` and
 * `prometheus-alertmanager`; a missing tool fails the test with how to get it.
 */
export function tool(name: 'promtool' | 'amtool' | 'prometheus' | 'prometheus-alertmanager'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    throw new Error(`${name} is not on the PATH: apt-get install prometheus prometheus-alertmanager`);
  }
  return found;
}

/** Runs `tokenmeter generate` on a config into a fresh directory; returns the directory. */
export function generate(
  config: string,
  outDir = mkdtempSync(path.join(tmpdir(), 'tokenmeter-gen-')),
): string {
  execFileSync(process.execPath, [CLI, 'generate', '--config', config, '--out', outDir], { stdio: 'pipe' });
  return outDir;
}

/** Every file under `dir`, as relative path → content. */
export function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, full), readFileSync(full, 'utf8'));
  }
  return files;
}

export function copyInto(files: string[], dir: string): void {
  for (const file of files) cpSync(file, path.join(dir, path.basename(file)));
}

/** Runs a command; returns its exit status and combined output instead of throwing. */
export function run(command: string, args: string[], cwd?: string): { status: number; output: string } {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  return { status: result.status ?? 1, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}
