import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, propagation } from '@opentelemetry/api';
import { type MockLlmServer, startMockLlmServer } from '@tokenmeter/mock-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/free-port.js';
import { OTHER_VALUE, setAttributes, start, type Tokenmeter, withAttributes } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let mock: MockLlmServer;
let tokenmeter: Tokenmeter;
let client: any;

beforeAll(async () => {
  mock = await startMockLlmServer();
  tokenmeter = start({ host: '127.0.0.1', port: await freePort(), maxValuesPerLabel: 5 });
  // Loaded after start(), as the one require guarantees for an app.
  const OpenAI = createRequire(path.resolve(here, '../../../test/sdk-versions/openai-7/package.json'))(
    'openai',
  );
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await tokenmeter.shutdown();
  await mock.close();
});

const USAGE = { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 };
const call = (model: string) =>
  client.chat.completions.create(
    { model, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'x-mock-usage': JSON.stringify(USAGE) } },
  );

async function calls(labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(tokenmeter.metricsUrl!)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('tokenmeter_calls_total{') || !line.includes('outcome="ok"')) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

describe('attribution', () => {
  it('follows the call across await, Promise.all, timers and streams', async () => {
    const model = 'gpt-4o-attribution';
    await withAttributes({ tenant: 'acme', feature: 'search' }, async () => {
      await call(model);
      await Promise.all([call(model), call(model)]);
      await new Promise<void>((resolve) => setTimeout(() => void call(model).then(() => resolve()), 5));
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      for await (const _chunk of stream) {
        // consume
      }
      await withAttributes({ feature: 'summarize' }, () => call(model));
    });
    await call(model);
    expect(await calls({ gen_ai_request_model: model, tenant: 'acme', feature: 'search' })).toBe(5);
    expect(await calls({ gen_ai_request_model: model, tenant: 'acme', feature: 'summarize' })).toBe(1);
    // Outside any scope the labels are absent, not empty.
    const text = await (await fetch(tokenmeter.metricsUrl!)).text();
    const bare = text
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('tokenmeter_calls_total{') &&
          line.includes(model) &&
          line.includes('outcome="ok"') &&
          !line.includes('tenant='),
      );
    expect(bare).toHaveLength(1);
    expect(bare[0]).not.toContain('tenant=""');
  });

  it('adds values known later with setAttributes, and reads W3C baggage from upstream', async () => {
    const model = 'gpt-4o-late';
    await withAttributes({ feature: 'chat' }, async () => {
      setAttributes({ tenant: 'globex' });
      await call(model);
    });
    const baggage = propagation.createBaggage({
      tenant: { value: 'initech' },
      feature: { value: 'upstream' },
    });
    await context.with(propagation.setBaggage(context.active(), baggage), () => call(model));
    expect(await calls({ gen_ai_request_model: model, tenant: 'globex', feature: 'chat' })).toBe(1);
    expect(await calls({ gen_ai_request_model: model, tenant: 'initech', feature: 'upstream' })).toBe(1);
  });

  it('caps distinct values per label and reports the rest as __other__', async () => {
    const model = 'gpt-4o-cardinality';
    for (let index = 0; index < 12; index++) {
      await withAttributes({ tenant: `cap-tenant-${index}` }, () => call(model));
    }
    const text = await (await fetch(tokenmeter.metricsUrl!)).text();
    const tenants = new Set(
      text
        .split('\n')
        .filter((line) => line.startsWith('tokenmeter_calls_total{') && line.includes(model))
        .map((line) => /tenant="([^"]*)"/.exec(line)?.[1]),
    );
    // The cap (5 per label) is shared with the tenants of earlier tests: acme, globex, initech.
    expect(tenants.has(OTHER_VALUE)).toBe(true);
    expect(tenants.size).toBeLessThanOrEqual(5 + 1);
    expect(await calls({ gen_ai_request_model: model })).toBe(12);
  });

  it('sanitizes values and never puts them in metrics unbounded', async () => {
    const model = 'gpt-4o-sanitize';
    await withAttributes({ feature: `line\nbreak${'x'.repeat(500)}` }, () => call(model));
    const text = await (await fetch(tokenmeter.metricsUrl!)).text();
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith('tokenmeter_calls_total{') && l.includes(model) && l.includes('outcome="ok"'),
      )!;
    const feature = /feature="([^"]*)"/.exec(line)![1]!;
    expect(feature.startsWith('linebreak')).toBe(true);
    expect(feature.length).toBeLessThanOrEqual(128);
  });
});

describe('manual recording', () => {
  it('prices and records a call no instrumentation sees, in the same series as instrumented calls', async () => {
    const model = 'gpt-4o-mini';
    await withAttributes({ tenant: 'acme' }, () => call(model));
    await withAttributes({ tenant: 'acme' }, async () =>
      tokenmeter.record({
        provider: 'openai',
        model,
        usage: { inputTokens: 1000, outputTokens: 100, cacheReadInputTokens: 400 },
      }),
    );
    expect(await calls({ gen_ai_request_model: model, tenant: 'acme' })).toBe(2);
    const text = await (await fetch(tokenmeter.metricsUrl!)).text();
    const cacheRead = text
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('tokenmeter_tokens_total{') &&
          line.includes(`gen_ai_request_model="${model}"`) &&
          line.includes('tenant="acme"') &&
          line.includes('token_type="cache_read"'),
      );
    expect(cacheRead).toHaveLength(1);
    expect(Number(cacheRead[0]!.split(' ').at(-1))).toBe(400);
  });

  it('records ready amounts under their category', async () => {
    // 'search' is one of the 5 feature values this file's cap has room for.
    await withAttributes({ tenant: 'acme', feature: 'search' }, async () => {
      tokenmeter.recordCost({ category: 'image-provider', amountUsd: 0.04 });
      tokenmeter.recordCost({ category: 'image-provider', amountUsd: 0.02 });
    });
    const text = await (await fetch(tokenmeter.metricsUrl!)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('tokenmeter_cost_usd_total{') &&
          l.includes('gen_ai_provider_name="image-provider"') &&
          l.includes('cost_type="other"'),
      )!;
    expect(line).toContain('feature="search"');
    expect(Number(line.split(' ').at(-1))).toBeCloseTo(0.06, 12);
  });

  it('rejects invalid input with a clear error in development and a counted warning in production', () => {
    expect(() => tokenmeter.record({ provider: 'openai', model: 'x', usage: { inputTokens: -1 } })).toThrow(
      /inputTokens must be a non-negative integer/,
    );
    expect(() => tokenmeter.recordCost({ category: 'fees', amountUsd: Number.NaN })).toThrow(/amountUsd/);
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() =>
        tokenmeter.record({ provider: 'openai', model: 'x', usage: { inputTokens: Number.NaN } }),
      ).not.toThrow();
      expect(() => tokenmeter.recordCost({ category: '', amountUsd: 1 })).not.toThrow();
    } finally {
      process.env.NODE_ENV = previous;
    }
  });
});

describe('prom-client bridge', () => {
  it("serves the contract counters from the app's own prom-client registry", async () => {
    const promClient = await import('prom-client');
    const registry = new promClient.Registry();
    new promClient.Counter({
      name: 'app_requests_total',
      help: 'the app’s own metric',
      registers: [registry],
    }).inc();
    tokenmeter.bridgeToPromClient(promClient, registry);
    const model = 'gpt-4o-bridge';
    await withAttributes({ tenant: 'acme' }, () => call(model));
    await call(model);
    const text = await registry.metrics();
    expect(text).toContain('app_requests_total 1');
    const lines = text
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('tokenmeter_calls_total{') && line.includes(model) && line.includes('outcome="ok"'),
      );
    expect(lines).toHaveLength(2);
    expect(lines.find((line) => line.includes('tenant="acme"'))).toMatch(/ 1$/);
    const input = text
      .split('\n')
      .find(
        (line) =>
          line.startsWith('tokenmeter_tokens_total{') &&
          line.includes(model) &&
          line.includes('tenant="acme"') &&
          line.includes('token_type="input"'),
      );
    expect(input).toMatch(/ 100$/);
    // target_info names this process, as the embedded endpoint does: the budget rules tell a
    // restarted process by its service_instance_id.
    const targetInfo = text.split('\n').find((line) => line.startsWith('target_info{'));
    expect(targetInfo).toMatch(/service_instance_id="[0-9a-f-]{36}"/);
    expect(targetInfo).toMatch(/service_name="[^"]+"/);
    expect(targetInfo).toMatch(/ 1$/);
    // A second scrape reports the same cumulative values, not doubled ones.
    expect(await registry.metrics()).toBe(text);
  });
});

describe('middleware helpers', () => {
  it('attribute the calls made while handling a request (Express and Fastify shapes)', async () => {
    const { expressAttribution, fastifyAttribution, currentAttributes } = await import('../src/index.js');
    const seen: Array<Record<string, string>> = [];
    const express = expressAttribution((request: any) => ({
      tenant: request.headers['x-tenant'],
      feature: 'api',
    }));
    await new Promise<void>((resolve) =>
      express({ headers: { 'x-tenant': 'acme' } }, {}, () => {
        // The handler's async continuation keeps the request's attribution.
        setTimeout(() => {
          seen.push(currentAttributes());
          resolve();
        }, 1);
      }),
    );
    const fastify = fastifyAttribution((request: any) => ({ tenant: request.id }));
    await new Promise<void>((resolve) =>
      fastify({ id: 'globex' }, {}, () => {
        void Promise.resolve().then(() => {
          seen.push(currentAttributes());
          resolve();
        });
      }),
    );
    const failing = expressAttribution(() => {
      throw new Error('bad resolver');
    });
    let continued = false;
    failing({}, {}, () => {
      continued = true;
    });
    expect(seen).toEqual([{ tenant: 'acme', feature: 'api' }, { tenant: 'globex' }]);
    expect(continued).toBe(true);
  });
});
