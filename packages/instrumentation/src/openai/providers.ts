/**
 * Which provider an OpenAI-SDK client is really talking to, from its base URL. The conventions say
 * an OpenAI client reports `openai` unless the instrumentation knows better; these hosts it knows.
 * Apps can add their own (`hostProviders` option or `TOKENMETER_PROVIDER_HOSTS=host[:port]=name,…`),
 * e.g. for a vLLM server, which no URL gives away.
 */
const KNOWN_HOSTS: ReadonlyArray<readonly [suffix: string, provider: string]> = [
  ['api.openai.com', 'openai'],
  ['openai.azure.com', 'azure.ai.openai'],
  ['cognitiveservices.azure.com', 'azure.ai.openai'],
  ['services.ai.azure.com', 'azure.ai.inference'],
  ['api.groq.com', 'groq'],
  ['api.together.xyz', 'together_ai'],
  ['api.together.ai', 'together_ai'],
  ['api.deepseek.com', 'deepseek'],
  ['api.x.ai', 'x_ai'],
  ['openrouter.ai', 'openrouter'],
  ['api.mistral.ai', 'mistral_ai'],
  ['generativelanguage.googleapis.com', 'gcp.gemini'],
  ['api.perplexity.ai', 'perplexity'],
  ['api.fireworks.ai', 'fireworks'],
  ['api.cerebras.ai', 'cerebras'],
];

const OLLAMA_PORT = 11434;

export interface ServerInfo {
  address: string | undefined;
  port: number | undefined;
}

const serverCache = new Map<string, ServerInfo>();

export function serverOf(baseURL: unknown): ServerInfo {
  if (typeof baseURL !== 'string') return { address: undefined, port: undefined };
  let info = serverCache.get(baseURL);
  if (!info) {
    try {
      const url = new URL(baseURL);
      const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
      info = { address: url.hostname, port };
    } catch {
      info = { address: undefined, port: undefined };
    }
    if (serverCache.size > 1000) serverCache.clear();
    serverCache.set(baseURL, info);
  }
  return info;
}

export function parseHostProviders(value: string | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of (value ?? '').split(',')) {
    const [host, provider] = entry.split('=').map((part) => part.trim());
    if (host && provider) map[host.toLowerCase()] = provider;
  }
  return map;
}

export function providerForServer(server: ServerInfo, hostProviders: Record<string, string>): string {
  const host = server.address?.toLowerCase();
  if (!host) return 'openai';
  const configured = hostProviders[`${host}:${server.port}`] ?? hostProviders[host];
  if (configured) return configured;
  for (const [suffix, provider] of KNOWN_HOSTS) {
    if (host === suffix || host.endsWith(`.${suffix}`)) return provider;
  }
  if (server.port === OLLAMA_PORT) return 'ollama';
  return 'openai';
}

/** Providers known to accept `stream_options.include_usage`; it is never sent to any other server. */
export const ACCEPTS_STREAM_USAGE_OPTION = new Set(['openai', 'azure.ai.openai']);
