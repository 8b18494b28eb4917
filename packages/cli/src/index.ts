import { checkCommand, generateCommand } from './generate-command.js';
import { type CommandIO, priceCommand } from './price.js';

export const USAGE = `usage: tokenmeter <command> [options]

commands:
  price      price one call from its usage (tokenmeter price --help)
  generate   write Prometheus rules and Alertmanager config from tokenmeter.config.yaml
  check      validate tokenmeter.config.yaml (and the generated files, with promtool/amtool)`;

/** Runs the CLI; returns the exit status. */
export function run(argv: string[], io: CommandIO): number {
  const [command, ...rest] = argv;
  switch (command) {
    case 'price':
      return priceCommand(rest, io);
    case 'generate':
      return generateCommand(rest, io);
    case 'check':
      return checkCommand(rest, io);
    case undefined:
    case '--help':
    case '-h':
      io.out(USAGE);
      return command === undefined ? 1 : 0;
    default:
      io.err(`tokenmeter: unknown command ${command}\n${USAGE}`);
      return 1;
  }
}

export { generateArtifacts, writeArtifacts } from './generate/artifacts.js';
export { ALERTS, DASHBOARD_UIDS, RECORDED } from './generate/rules.js';
export type { CommandIO };
