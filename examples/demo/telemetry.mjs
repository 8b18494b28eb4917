// Until `@tokenmeter/node/register` lands, this is what it will do for the demo: one OpenTelemetry
// pipeline (spans kept in memory for the summary, metrics on a Prometheus endpoint) and
// Tokenmeter's instrumentations, registered before the SDKs load.
import { register } from 'node:module';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AnthropicInstrumentation, OpenAIInstrumentation } from '@tokenmeter/instrumentation';
import { Pricer } from '@tokenmeter/pricing';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

export const spans = new InMemorySpanExporter();
export const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
});
trace.setGlobalTracerProvider(tracerProvider);

const port = Number(process.env.OTEL_EXPORTER_PROMETHEUS_PORT ?? 9464);
const host = process.env.OTEL_EXPORTER_PROMETHEUS_HOST ?? '127.0.0.1';
export const prometheus = new PrometheusExporter({ host, port });
export const metricsUrl = `http://${host}:${port}/metrics`;
export const meterProvider = new MeterProvider({ readers: [prometheus] });
metrics.setGlobalMeterProvider(meterProvider);

// Every call is priced from the @pydantic/genai-prices catalog (no network).
const pricer = new Pricer();
registerInstrumentations({
  tracerProvider,
  meterProvider,
  instrumentations: [new OpenAIInstrumentation({ pricer }), new AnthropicInstrumentation({ pricer })],
});
