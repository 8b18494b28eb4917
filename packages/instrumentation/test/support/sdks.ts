import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const versionsDir = path.resolve(here, '../../../../test/sdk-versions');

/**
 * Loads a real SDK through Node's own `require`, from a fixture package that pins its version, so
 * the instrumentation's require hook sees it exactly as in a user's app.
 */
export function requireSdk(fixture: string, moduleName: string): any {
  const requireFromFixture = createRequire(path.join(versionsDir, fixture, 'package.json'));
  return requireFromFixture(moduleName);
}

export const OPENAI_VERSIONS = ['openai-4', 'openai-5', 'openai-6', 'openai-7'] as const;
export const ANTHROPIC_VERSIONS = ['anthropic-0', 'anthropic-1'] as const;

export function openAIClass(fixture: string): any {
  const sdk = requireSdk(fixture, 'openai');
  return sdk.OpenAI ?? sdk.default ?? sdk;
}

export function anthropicClass(fixture: string): any {
  const sdk = requireSdk(fixture, '@anthropic-ai/sdk');
  return sdk.Anthropic ?? sdk.default ?? sdk;
}
