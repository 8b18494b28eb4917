// Starts the mock as its own process (benchmarks measure the client's CPU alone) and prints one JSON
// line with its address and PID; stops on SIGTERM/SIGINT.
import { startMockLlmServer } from './server.js';

const portFlag = process.argv.indexOf('--port');
const port = portFlag === -1 ? 0 : Number(process.argv[portFlag + 1]);
void startMockLlmServer({ port, recordRequests: false }).then((server) => {
  process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port, pid: process.pid })}\n`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      void server.close().then(() => process.exit(0));
    });
  }
});
