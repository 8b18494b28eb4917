import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { freePort } from './free-port.js';

export interface Started {
  child: ChildProcess;
  output: () => string;
  /** Stops the process by PID (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop: () => Promise<void>;
}

/** Starts a process on loopback; `ready` is a line its output must contain before this returns. */
export async function start(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; ready?: string; timeoutMs?: number } = {},
): Promise<Started> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const onData = (data: Buffer) => {
    output += data;
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const started: Started = {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid as number, 'SIGTERM');
      const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (options.ready) {
    const ready = options.ready;
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}):\n${output}`);
        return output.includes(ready) ? true : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 20_000, what: `${command} to print "${ready}"\n${output}` },
    );
  }
  return started;
}

/** Polls `check` until it returns a value (not undefined); throws with `what` on timeout. */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  { timeoutMs = 30_000, intervalMs = 250, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
      if (error instanceof Error && / exited \(/.test(error.message)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
}

export interface WebhookReceiver {
  url: string;
  /** Alertmanager webhook payloads received, by request path. */
  received: Array<{ path: string; body: AlertmanagerWebhook }>;
  close: () => Promise<void>;
}

export interface AlertmanagerWebhook {
  status: string;
  receiver: string;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
}

/** A small HTTP server that records what Alertmanager posts to it. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      try {
        received.push({ path: request.url ?? '/', body: JSON.parse(body) });
      } catch {
        // Not a webhook payload: ignored.
      }
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One instant query against Prometheus' HTTP API; the value of each result series. */
export async function promQuery(
  baseUrl: string,
  query: string,
): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const response = await fetch(`${baseUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`query ${query} failed: ${body.error}`);
  return body.data.result.map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
}

/**
 * Starts Prometheus on loopback with `config` and waits until it has recorded `up` for a slot (5s),
 * which the budget rules require before they count a new series' first value.
 */
export async function startPrometheus(
  prometheus: string,
  config: string,
  dataDir: string,
  port: number,
): Promise<Started> {
  const started = await start(
    prometheus,
    [`--config.file=${config}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=127.0.0.1:${port}`],
    { ready: 'Server is ready to receive web requests' },
  );
  await waitFor(
    async () =>
      (await promQuery(`http://127.0.0.1:${port}`, 'count(up offset 5s)')).length ? true : undefined,
    {
      what: 'Prometheus to record up for a slot',
    },
  );
  return started;
}

/** The demo app with the one require, serving /metrics on `port` once its calls are done. */
export function startDemoApp(
  root: string,
  port: number,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<Started> {
  return start(process.execPath, ['--import', '@tokenmeter/node/register', 'main.mjs', '--serve', ...args], {
    cwd: `${root}/examples/demo`,
    env: { OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), ...env },
    ready: 'Serving /metrics',
    timeoutMs: 60_000,
  });
}

/**
 * Runs an app of `test/one-require` with `args` (the one require among them) against the mock at
 * `mockUrl`, waits until it prints `calls done`, and reads its Prometheus endpoint; `stop` kills
 * it by PID.
 */
export async function runMeteredApp(
  appDir: string,
  args: string[],
  mockUrl: string,
): Promise<{ metrics: string; stop: () => void }> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: appDir,
    env: {
      ...process.env,
      MOCK_URL: mockUrl,
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => process.kill(child.pid!, 'SIGKILL');
  let stderr = '';
  child.stderr!.on('data', (data) => (stderr += data));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (data) => String(data).includes('calls done') && resolve());
      child.once('exit', (code) => reject(new Error(`app exited with ${code}: ${stderr}`)));
    });
    return { metrics: await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), stop };
  } catch (error) {
    if (child.exitCode === null) stop();
    throw error;
  }
}
