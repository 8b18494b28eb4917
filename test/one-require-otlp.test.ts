import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const appDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'one-require');
let mock: MockLlmServer;
let receiver: Server;
let receiverUrl: string;
const received: { metrics: any[]; traces: any[] } = { metrics: [], traces: [] };

beforeAll(async () => {
  mock = await startMockLlmServer();
  // A loopback OTLP/HTTP receiver (JSON encoding), as a Collector's otlp receiver would be.
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/v1/metrics') received.metrics.push(JSON.parse(body));
      if (request.url === '/v1/traces') received.traces.push(JSON.parse(body));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});
afterAll(async () => {
  await mock.close();
  await new Promise((resolve) => receiver.close(resolve));
});

function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', '@tokenmeter/node/register', 'app-exit.mjs'], {
      cwd: appDir,
      env: { ...process.env, MOCK_URL: mock.url, ...env },
    });
    let stdout = '';
    child.stdout.on('data', (data) => (stdout += data));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

const attr = (point: any, key: string) =>
  point.attributes.find((a: any) => a.key === key)?.value?.stringValue;

describe('OTLP export with the standard OTEL_* variables', () => {
  it('pushes the same metrics and spans to an OTLP/HTTP receiver, flushed when the app exits', async () => {
    const { code, stdout } = await runToExit({
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'otlp-test-app',
    });
    expect(code).toBe(0);
    expect(stdout).toContain('calls done');
    const tokens = new Map<string, number>();
    let service: string | undefined;
    for (const batch of received.metrics) {
      for (const resource of batch.resourceMetrics) {
        service ??= resource.resource.attributes.find((a: any) => a.key === 'service.name')?.value
          ?.stringValue;
        for (const scope of resource.scopeMetrics) {
          for (const metric of scope.metrics) {
            if (metric.name !== 'tokenmeter.tokens') continue;
            for (const point of metric.sum.dataPoints) {
              const key = `${attr(point, 'gen_ai.provider.name')}/${attr(point, 'token_type')}`;
              tokens.set(key, Number(point.asDouble ?? point.asInt));
            }
          }
        }
      }
    }
    expect(service).toBe('otlp-test-app');
    // Same calls as the Prometheus test: 4 OpenAI calls (1200 input, 1000 cached, 300 output, 100 reasoning).
    expect(tokens.get('openai/input')).toBe(800);
    expect(tokens.get('openai/cache_read')).toBe(4000);
    expect(tokens.get('anthropic/cache_write')).toBe(4000);
    const spans = received.traces.flatMap((batch) =>
      batch.resourceSpans.flatMap((resource: any) =>
        resource.scopeSpans.flatMap((scope: any) => scope.spans),
      ),
    );
    const chatSpans = spans.filter((span: any) => span.name === 'chat gpt-4o-mini');
    expect(chatSpans).toHaveLength(4);
    const costs = chatSpans.map(
      (span: any) =>
        span.attributes.find((a: any) => a.key === 'gen_ai.usage.cost.amount')?.value?.doubleValue,
    );
    expect(costs.every((cost: number) => cost > 0)).toBe(true);
  });

  it('leaves the app unaffected when the Collector is down', async () => {
    const { code, stdout } = await runToExit({
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', // nothing listens there
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      TOKENMETER_FLUSH_TIMEOUT_MS: '500',
    });
    expect(code).toBe(0);
    expect(stdout).toContain('calls done');
  });
});

describe('with the Collector down for a while', () => {
  it('keeps every call succeeding and the heap flat', async () => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', '@tokenmeter/node/register', 'app-memory.mjs'],
      {
        cwd: appDir,
        env: {
          ...process.env,
          MOCK_URL: mock.url,
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_BSP_SCHEDULE_DELAY: '100',
          OTEL_METRIC_EXPORT_INTERVAL: '200',
        },
      },
    );
    let stdout = '';
    child.stdout.on('data', (data) => (stdout += data));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const { before, after } = JSON.parse(stdout.trim().split('\n').at(-1)!);
    // 3,000 more calls, each with a span that cannot be exported: growth stays far below what
    // keeping them would take (a span is ~2 KiB), bounded by the 2,048-span queue.
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
  }, 60_000);
});
