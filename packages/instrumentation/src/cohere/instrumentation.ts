import {
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
} from '@opentelemetry/instrumentation';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { finishWithResponse, meteredMethod, observeStream } from '../core/meter-call.js';
import type { MeteredCall } from '../core/recorder.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import { type CohereCall, type CohereMethod, describeCohereCall } from './adapter.js';

export type CohereInstrumentationConfig = TokenmeterInstrumentationConfig;

type AnyFunction = (this: any, ...args: any[]) => any;

const SUPPORTED = ['>=7.0.0 <9'];

/** Public method → Fern's private worker behind it (absent in SDKs that predate `HttpResponsePromise`). */
const CHAT_METHODS: ReadonlyArray<readonly [string, Omit<CohereMethod, 'api'>]> = [
  ['chat', { kind: 'chat', stream: false }],
  ['chatStream', { kind: 'chat', stream: true }],
  ['embed', { kind: 'embed', stream: false }],
];

/**
 * Meters `cohere-ai` 7.x–8.x: the v2 API (`CohereClientV2#chat`, `chatStream`, `embed`, and the same
 * methods on `client.v2`) and the v1 API (`CohereClient#chat`, `chatStream`, `embed`).
 *
 * Fern's public methods return an `HttpResponsePromise` (a `Promise` subclass whose `then` unwraps
 * `data` and whose `withRawResponse()` gives `{ data, rawResponse }`), built around a private
 * `async __chat()` / `__chatStream()` / `__embed()` that returns a native promise of
 * `{ data, rawResponse }`. Tokenmeter wraps those private methods: the public method then builds
 * the very same kind of `HttpResponsePromise` around a native promise with the same outcome, so the
 * app keeps its class, `withRawResponse()`, the lazy unwrapping, and an unawaited failing call stays
 * one unhandled rejection with the same error. SDKs without the private methods (whose public
 * methods are plain `async` functions) get the public methods wrapped instead.
 *
 * The v1 client class is exported (`CohereClient`); the v2 one (`V2Client`, `V2` in 7.x) lives in
 * `api/resources/v2/client/Client.js`, hooked as an internal file. The AWS-hosted clients
 * (`BedrockClient*`, `SagemakerClient*`, which sign and send through their own fetcher) are passed
 * through unmetered: which of the two platforms a v2 call goes to is not visible from the client.
 */
export class CohereInstrumentation extends LlmInstrumentation<CohereInstrumentationConfig> {
  constructor(config: CohereInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      'cohere-ai',
      SUPPORTED,
      (moduleExports) => {
        this.patchClient(v1ClientPrototype(moduleExports), 'v1');
        return moduleExports;
      },
      (moduleExports) => this.unpatchClient(v1ClientPrototype(moduleExports)),
      [
        new InstrumentationNodeModuleFile(
          'cohere-ai/api/resources/v2/client/Client.js',
          SUPPORTED,
          (moduleExports) => {
            this.patchClient(v2ClientPrototype(moduleExports), 'v2');
            return moduleExports;
          },
          (moduleExports) => this.unpatchClient(v2ClientPrototype(moduleExports)),
        ),
      ],
    );
  }

  private patchClient(prototype: any, api: CohereMethod['api']): void {
    if (!prototype) return;
    for (const [name, method] of CHAT_METHODS) {
      const target = methodToWrap(prototype, name);
      if (!target || isWrapped(target.owner[target.name])) continue;
      this._wrap(target.owner, target.name, (original: AnyFunction) =>
        this.wrapMethod(original, { api, ...method }),
      );
    }
  }

  private unpatchClient(prototype: any): void {
    if (!prototype) return;
    for (const [name] of CHAT_METHODS) {
      const target = methodToWrap(prototype, name);
      if (target && isWrapped(target.owner[target.name])) this._unwrap(target.owner, target.name);
    }
  }

  private wrapMethod(original: AnyFunction, method: CohereMethod): AnyFunction {
    return meteredMethod(original, {
      recorder: () => this.activeRecorder(),
      // Bedrock and SageMaker clients send elsewhere: not metered here.
      describe: (self, args): CohereCall | undefined =>
        isAwsHosted(self) ? undefined : describeCohereCall(method, self, args[0]),
      onValue(value, call, described) {
        if (!isNativePromiseResult(value, call)) return;
        // `__chat` resolves to `{ data, rawResponse }`; the public methods of old SDKs to the data.
        const data = value && typeof value === 'object' && 'rawResponse' in value ? value.data : value;
        if (method.stream) observeStream(data, call, described.observeStream());
        else finishWithResponse(call, () => described.readResponse(data));
      },
    });
  }
}

/**
 * `runMetered` hands over a value directly when the method returned something other than a native
 * promise. A thenable here would be an `HttpResponsePromise` from an SDK layout this code does not
 * know: observing it would attach handlers to it (and so change unhandled-rejection behaviour), so
 * the call is left unread instead, counted as an internal error.
 */
function isNativePromiseResult(value: unknown, call: MeteredCall): boolean {
  if (typeof (value as { then?: unknown } | null)?.then !== 'function') return true;
  call.internalError('unknown_result', new Error('cohere-ai returned a promise Tokenmeter cannot observe'));
  call.finish({ billable: true });
  return false;
}

/** `CohereClient` (v1): the exported class, or the Fern base class it extends. */
function v1ClientPrototype(moduleExports: any): any {
  const cls = moduleExports?.CohereClient ?? moduleExports?.default?.CohereClient;
  return cls?.prototype;
}

function v2ClientPrototype(moduleExports: any): any {
  const cls = moduleExports?.V2Client ?? moduleExports?.V2 ?? moduleExports?.default?.V2Client;
  return cls?.prototype;
}

/** Fern's private `__name` when the SDK has it, else the public method; found up the prototype chain. */
function methodToWrap(prototype: any, name: string): { owner: any; name: string } | undefined {
  for (const candidate of [`__${name}`, name]) {
    let current = prototype;
    while (current && current !== Object.prototype) {
      if (Object.hasOwn(current, candidate) && typeof current[candidate] === 'function')
        return { owner: current, name: candidate };
      current = Object.getPrototypeOf(current);
    }
  }
  return undefined;
}

/** Bedrock and SageMaker clients: options with an AWS region, sent through the SDK's signing fetcher. */
function isAwsHosted(client: any): boolean {
  const options = client?._options;
  return options?.awsRegion !== undefined && typeof options?.fetcher === 'function';
}
