import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { RecorderOptions } from './recorder.js';

/** Options every Tokenmeter instrumentation accepts. */
export interface TokenmeterInstrumentationConfig extends InstrumentationConfig, RecorderOptions {}
