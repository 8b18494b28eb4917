import { InstrumentationBase } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from './config.js';
import { Recorder } from './recorder.js';

/**
 * What every Tokenmeter instrumentation shares: a recorder configured from the instrumentation's
 * config and fed its meter. Subclasses implement `init()` (which modules, which methods).
 */
export abstract class LlmInstrumentation<
  Config extends TokenmeterInstrumentationConfig = TokenmeterInstrumentationConfig,
> extends InstrumentationBase<Config> {
  readonly recorder: Recorder;

  constructor(name: string, version: string, config: Config) {
    super(name, version, config);
    this.recorder = new Recorder(() => this.tracer, config);
  }

  override setConfig(config: Config = {} as Config): void {
    super.setConfig(config);
    // InstrumentationBase calls setConfig from its constructor, before `recorder` exists.
    this.recorder?.configure(config);
  }

  protected override _updateMetricInstruments(): void {
    this.recorder?.setMeter(this.meter);
  }

  /** The recorder while this instrumentation is enabled: wrappers call the SDK untouched otherwise. */
  activeRecorder(): Recorder | undefined {
    return this.isEnabled() ? this.recorder : undefined;
  }
}
