import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicError, Batches, countTokens, message, messages } from './anthropic.js';
import { bedrockRoute } from './bedrock.js';
import { cohereRoute } from './cohere.js';
import { geminiRoute } from './gemini.js';
import { groqRoute } from './groq.js';
import { mistralRoute } from './mistral.js';
import { ollamaRoute } from './ollama.js';
import {
  chatCompletions,
  embeddings,
  imageGeneration,
  openAIError,
  responses,
  speech,
  transcription,
} from './openai.js';
import type { ProviderRoute } from './provider.js';
import { readScenario, type Scenario, sleep } from './scenario.js';

/** Providers with a module of their own, tried before the OpenAI and Anthropic routes below. */
const PROVIDER_ROUTES: ProviderRoute[] = [
  geminiRoute,
  bedrockRoute,
  mistralRoute,
  cohereRoute,
  groqRoute,
  ollamaRoute,
];

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface MockLlmServer {
  url: string;
  host: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface MockLlmServerOptions {
  port?: number;
  host?: string;
  /** Keep every request for assertions (default true; benchmarks turn it off). */
  recordRequests?: boolean;
}

/**
 * A loopback server that answers like the OpenAI and Anthropic APIs — same JSON, same SSE framing,
 * same usage objects — so the real SDKs can be run against it. Request headers steer it:
 * `x-mock-scenario` (errors, delays, cut streams) and `x-mock-usage` (the exact usage to return).
 */
export async function startMockLlmServer(options: MockLlmServerOptions = {}): Promise<MockLlmServer> {
  const host = options.host ?? '127.0.0.1';
  const record = options.recordRequests ?? true;
  const requests: RecordedRequest[] = [];
  const batches = new Batches();
  let baseUrl = '';

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any = raw;
      if ((request.headers['content-type'] ?? '').includes('application/json') && raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const url = new URL(request.url ?? '/', baseUrl);
      if (record)
        requests.push({
          method: request.method ?? 'GET',
          path: url.pathname + url.search,
          headers: request.headers,
          body,
        });
      route(request, response, url, body, raw).catch((error: unknown) => {
        if (!response.headersSent) {
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { message: String(error), type: 'server_error' } }));
        } else response.destroy();
      });
    });
  });

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    body: any,
    raw: string,
  ): Promise<void> {
    let scenario: Scenario;
    try {
      scenario = readScenario(request);
    } catch {
      return openAIError(response, 400);
    }
    await sleep(scenario.delayMs);
    if (response.destroyed) return;
    for (const providerRoute of PROVIDER_ROUTES)
      if (await providerRoute({ request, response, url, body, raw, scenario, baseUrl })) return;
    const path = url.pathname;
    const anthropic = path.startsWith('/v1/messages') || path.startsWith('/model/');
    if (scenario.httpError)
      return anthropic
        ? anthropicError(response, scenario.httpError)
        : openAIError(response, scenario.httpError);

    const azure = /^\/openai\/deployments\/([^/]+)(\/.*)$/.exec(path);
    const openaiPath = azure ? azure[2] : path.replace(/^\/v1/, '');
    const deployment = azure ? decodeURIComponent(azure[1]!) : undefined;

    if (request.method === 'POST') {
      switch (openaiPath) {
        case '/chat/completions':
          return chatCompletions(response, body, scenario, {
            legacy: false,
            azure: !!azure,
            model: deployment,
          });
        case '/completions':
          return chatCompletions(response, body, scenario, {
            legacy: true,
            azure: !!azure,
            model: deployment,
          });
        case '/responses':
          return responses(response, body, scenario);
        case '/embeddings':
          return embeddings(response, body, scenario, deployment);
        case '/images/generations':
          return imageGeneration(response, body, scenario);
        case '/audio/speech':
          return speech(response);
        case '/audio/transcriptions':
        case '/audio/translations':
          return transcription(response, raw, scenario);
      }
      if (path === '/v1/messages') return messages(response, body, scenario);
      if (path === '/v1/messages/count_tokens') return countTokens(response, body);
      if (path === '/v1/messages/batches') return batches.create(response, body, baseUrl);
      const bedrock = /^\/model\/([^/]+)\/invoke$/.exec(path);
      if (bedrock) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(message(body, scenario, decodeURIComponent(bedrock[1]!))));
        return;
      }
    }
    if (request.method === 'GET') {
      const results = /^\/v1\/messages\/batches\/([^/]+)\/results$/.exec(path);
      if (results && batches.results(response, results[1]!, scenario)) return;
      const batch = /^\/v1\/messages\/batches\/([^/]+)$/.exec(path);
      if (batch && batches.retrieve(response, batch[1]!, baseUrl)) return;
    }
    return openAIError(response, 404);
  }

  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host}:${port}`;
  return {
    url: baseUrl,
    host,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
