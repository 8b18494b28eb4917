import { InstrumentationBase, isWrapped } from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from './config.js';
import { Recorder } from './recorder.js';

type Method = (this: any, ...args: any[]) => any;

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

  /**
   * Wraps each method of `owner` named in `wrappers` that it has and that is not wrapped yet (one
   * prototype may be reached from several copies or entry files of a package).
   */
  protected wrapMethods(
    owner: Record<string, any> | undefined,
    wrappers: Record<string, (original: Method) => Method>,
  ): void {
    if (!owner) return;
    for (const [name, wrapper] of Object.entries(wrappers)) {
      if (typeof owner[name] === 'function' && !isWrapped(owner[name])) this._wrap(owner, name, wrapper);
    }
  }

  /** Undoes `wrapMethods` for the named methods of `owner` that are wrapped. */
  protected unwrapMethods(owner: Record<string, any> | undefined, names: Iterable<string>): void {
    if (!owner) return;
    for (const name of names) if (isWrapped(owner[name])) this._unwrap(owner, name);
  }

  /** The recorder while this instrumentation is enabled: wrappers call the SDK untouched otherwise. */
  activeRecorder(): Recorder | undefined {
    return this.isEnabled() ? this.recorder : undefined;
  }
}
