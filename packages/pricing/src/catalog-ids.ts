/**
 * `gen_ai.provider.name` (the conventions' names) → provider id in the @pydantic/genai-prices
 * catalog. Providers with no entry are priced by overrides only, except self-hosted ones.
 */
const CATALOG_PROVIDER: Record<string, string> = {
  openai: 'openai',
  'azure.ai.openai': 'azure',
  'azure.ai.inference': 'azure',
  anthropic: 'anthropic',
  'aws.bedrock': 'aws',
  'gcp.gemini': 'google',
  'gcp.gen_ai': 'google',
  'gcp.vertex_ai': 'google',
  mistral_ai: 'mistral',
  cohere: 'cohere',
  groq: 'groq',
  deepseek: 'deepseek',
  x_ai: 'x-ai',
  openrouter: 'openrouter',
  together_ai: 'together',
  fireworks: 'fireworks',
  perplexity: 'perplexity',
  cerebras: 'cerebras',
};

/** Providers that serve models on the user's own machines: no per-token price, so $0 unless overridden. */
const SELF_HOSTED = new Set(['ollama']);

export function isSelfHosted(provider: string): boolean {
  return SELF_HOSTED.has(provider);
}

export function catalogProviderId(provider: string): string | undefined {
  return CATALOG_PROVIDER[provider];
}

/**
 * The forms real SDKs report, reduced to what the catalog matches. The exact model string stays on
 * telemetry; only pricing sees the normalized one.
 * - `models/gemini-2.5-pro` (Gemini API resource names) → `gemini-2.5-pro`
 * - `[projects/…/locations/…/]publishers/google/models/gemini-2.5-pro` (Vertex) → `gemini-2.5-pro`
 * - Bedrock ARNs (`arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude…`,
 *   `…:foundation-model/anthropic.claude…`) → the id after the last `/`
 * - Bedrock cross-region inference profiles (`us.`, `eu.`, `apac.`, `global.` prefixes) are kept:
 *   the catalog prices them, and some regions cost more.
 * - Vertex ids (`claude-3-5-sonnet-v2@20241022`) and OpenRouter ids (`anthropic/claude-3.5-sonnet`)
 *   are matched by the catalog as they are.
 */
export function normalizeModel(model: string): string {
  let name = model.trim();
  if (name.startsWith('models/')) name = name.slice('models/'.length);
  // Vertex resource names: `publishers/google/models/gemini-2.5-flash`, or the full
  // `projects/p/locations/l/publishers/google/models/gemini-2.5-flash`.
  const publisherModel = /(?:^|\/)publishers\/[^/]+\/models\/([^/]+)$/.exec(name);
  if (publisherModel) name = publisherModel[1]!;
  if (name.startsWith('arn:')) name = name.slice(name.lastIndexOf('/') + 1);
  return name;
}

/** Fine-tuned OpenAI models (`ft:gpt-4o-mini:org::id`) cost more than their base: never priced as the base. */
export function isFineTuned(model: string): boolean {
  return model.startsWith('ft:');
}
