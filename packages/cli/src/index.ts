import { type CommandIO, priceCommand } from './price.js';

export const USAGE = `usage: tokenmeter <command> [options]

commands:
  price   price one call from its usage (tokenmeter price --help)`;

/** Runs the CLI; returns the exit status. */
export function run(argv: string[], io: CommandIO): number {
  const [command, ...rest] = argv;
  switch (command) {
    case 'price':
      return priceCommand(rest, io);
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

export type { CommandIO };
