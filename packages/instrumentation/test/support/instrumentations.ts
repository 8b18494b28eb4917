import { AnthropicInstrumentation, OpenAIInstrumentation } from '../../src/index.js';
import { setupTelemetry, type TestTelemetry } from './otel.js';

export interface Harness {
  telemetry: TestTelemetry;
  openai: OpenAIInstrumentation;
  anthropic: AnthropicInstrumentation;
}

/**
 * One telemetry pipeline and both instrumentations, enabled before any SDK is required (the
 * require hook patches modules as they load), as `@tokenmeter/node/register` does in an app.
 */
export function setupHarness(): Harness {
  const telemetry = setupTelemetry();
  const openai = new OpenAIInstrumentation({ enabled: false });
  const anthropic = new AnthropicInstrumentation({ enabled: false });
  for (const instrumentation of [openai, anthropic]) {
    instrumentation.setTracerProvider(telemetry.tracerProvider);
    instrumentation.setMeterProvider(telemetry.meterProvider);
    instrumentation.enable();
  }
  return { telemetry, openai, anthropic };
}
