// `npm run demo`: loopback mock providers + the example app with Tokenmeter, then a summary of
// what was metered and the Prometheus endpoint it serves.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Run the app in a child with Tokenmeter registered first, as a user would.
const child = spawn(
  process.execPath,
  ['--import', './telemetry.mjs', './main.mjs', ...process.argv.slice(2)],
  {
    cwd: here,
    stdio: 'inherit',
  },
);
const forward = (signal) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
