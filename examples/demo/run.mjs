// `npm run demo`: the example app, started the way a user starts theirs — with the one require.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = spawn(
  process.execPath,
  ['--import', '@tokenmeter/node/register', './main.mjs', ...process.argv.slice(2)],
  {
    cwd: here,
    stdio: 'inherit',
    env: {
      ...process.env,
      OTEL_EXPORTER_PROMETHEUS_HOST: process.env.OTEL_EXPORTER_PROMETHEUS_HOST ?? '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: process.env.OTEL_EXPORTER_PROMETHEUS_PORT ?? '9464',
    },
  },
);
const forward = (signal) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
