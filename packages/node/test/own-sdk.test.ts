import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenmeterInstrumentations, withAttributes } from '../src/index.js';

class Reader extends MetricReader {
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

const here = path.dirname(fileURLToPath(import.meta.url));
let mock: MockLlmServer;
const spans = new InMemorySpanExporter();
const reader = new Reader();

beforeAll(async () => {
  mock = await startMockLlmServer();
  // The app's own OpenTelemetry setup, with Tokenmeter's instrumentations added to it.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  registerInstrumentations({
    instrumentations: tokenmeterInstrumentations(),
    tracerProvider: new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }),
    meterProvider: new MeterProvider({ readers: [reader] }),
  });
});
afterAll(async () => {
  await mock.close();
});

describe("an app's own OpenTelemetry SDK", () => {
  it('gets priced, attributed spans and the contract counters through its own providers', async () => {
    const OpenAI = createRequire(path.resolve(here, '../../../test/sdk-versions/openai-7/package.json'))(
      'openai',
    );
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.url}/v1`, maxRetries: 0 });
    await withAttributes({ tenant: 'acme' }, () =>
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    );
    const [span] = spans.getFinishedSpans();
    expect(span!.attributes['gen_ai.usage.cost.amount']).toBeGreaterThan(0);
    expect(span!.attributes.tenant).toBe('acme');
    const { resourceMetrics } = await reader.collect();
    const calls = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === 'tokenmeter.calls');
    const ok = calls!.dataPoints.find(
      (point) => point.attributes.outcome === 'ok' && point.attributes.tenant === 'acme',
    );
    expect(ok!.value).toBe(1);
  });
});
