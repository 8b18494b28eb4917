import { context } from '@opentelemetry/api';
import { InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import type { CallResponse } from '../core/call-record.js';
import type { TokenmeterInstrumentationConfig } from '../core/config.js';
import { LlmInstrumentation } from '../core/instrumentation-base.js';
import { observeStream, runMetered } from '../core/meter-call.js';
import type { CallHandle } from '../core/recorder.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.js';
import { BedrockRuntimeAdapter, type MeteredCommand, registerCommandClasses } from './adapter.js';
import { TOKEN_HEADERS } from './body-formats.js';

export type BedrockRuntimeInstrumentationConfig = TokenmeterInstrumentationConfig;

type SendMethod = (this: unknown, ...args: unknown[]) => unknown;
type Server = { address?: string; port?: number };

/** Token-count headers of a response, by the output object the SDK hands the app. */
const capturedHeaders = new WeakMap<object, Record<string, string>>();
/** Middleware stacks that already capture the headers (one per client). */
const capturingStacks = new WeakSet<object>();
/** Where each client sends its requests, once resolved (its endpoint and region are async providers). */
const servers = new WeakMap<object, Server | Promise<Server>>();
/** Client prototypes whose `send` was inherited (from the shared Smithy client) before wrapping. */
const inheritedSend = new WeakSet<object>();

const HEADER_MIDDLEWARE = 'tokenmeterBedrockTokenHeaders';

/**
 * Meters `@aws-sdk/client-bedrock-runtime` 3.x (from 3.422.0, the first release): `Converse` and
 * `ConverseStream` (3.587.0 on) and `InvokeModel` / `InvokeModelWithResponseStream` (every model
 * family's body), whichever way the app calls them: `client.send(command)`, the callback form, or
 * the aggregated `BedrockRuntime` class, whose methods call `send`. Other commands pass through.
 *
 * The hook is `send` on `BedrockRuntimeClient.prototype` only — never on the Smithy `Client` every
 * AWS client shares — and calls whatever `send` the prototype chain holds at call time, so another
 * tool that wraps the shared `send` keeps working. The SDK does not trace itself.
 *
 * InvokeModel responses carry the token counts in `x-amzn-bedrock-*-token-count` headers that the
 * SDK does not expose; a pass-through middleware on the client's stack keeps them, keyed by the
 * output object, and they are used for families whose bodies carry no counts.
 */
export class BedrockRuntimeInstrumentation extends LlmInstrumentation<BedrockRuntimeInstrumentationConfig> {
  private readonly adapter = new BedrockRuntimeAdapter();

  constructor(config: BedrockRuntimeInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      '@aws-sdk/client-bedrock-runtime',
      ['>=3.422.0 <4'],
      (moduleExports) => {
        registerCommandClasses(moduleExports);
        if (moduleExports?.default) registerCommandClasses(moduleExports.default);
        const proto = clientPrototype(moduleExports);
        if (proto && typeof proto.send === 'function' && !isWrapped(proto.send)) {
          const inherited = !Object.hasOwn(proto, 'send');
          if (inherited) inheritedSend.add(proto);
          this._wrap(proto, 'send', (original) =>
            this.wrapSend(original as SendMethod, inherited ? Object.getPrototypeOf(proto) : undefined),
          );
        }
        return moduleExports;
      },
      (moduleExports) => {
        const proto = clientPrototype(moduleExports);
        if (!proto || !isWrapped(proto.send)) return;
        const original = (proto.send as { __original?: unknown }).__original;
        this._unwrap(proto, 'send');
        // Hand the prototype its inherited `send` back rather than a frozen copy of it.
        if (inheritedSend.has(proto) && proto.send === original) delete (proto as { send?: unknown }).send;
      },
    );
  }

  private wrapSend(original: SendMethod, parent: { send?: unknown } | undefined): SendMethod {
    const instrumentation = this;
    return function send(this: unknown, ...args: unknown[]) {
      const target = (parent && typeof parent.send === 'function' ? parent.send : original) as SendMethod;
      const recorder = instrumentation.activeRecorder();
      if (!recorder) return target.apply(this, args);
      let metered: MeteredCommand | undefined;
      let server: Server | Promise<Server> | undefined;
      try {
        server = serverOf(this);
        metered = instrumentation.adapter.describe(args[0], server instanceof Promise ? {} : server);
        if (metered) captureHeaders(this);
      } catch (error) {
        recorder.self.internalError('describe', error);
      }
      if (!metered) return target.apply(this, args);
      const described = metered;
      const call = recorder.start(described.request, described);
      if (server instanceof Promise) {
        // First call of this client: its endpoint is known a moment later, long before the response.
        server.then((resolved) => {
          if (call.finished || resolved.address === undefined) return;
          described.request.serverAddress = resolved.address;
          described.request.serverPort = resolved.port;
          call.requestDescribed();
        });
      }
      const onOutput = (output: unknown) => instrumentation.readOutput(call, described, output);

      const [, optionsOrCallback, callback] = args;
      if (typeof optionsOrCallback === 'function' || typeof callback === 'function') {
        return sendWithCallback(this, target, args, call, onOutput);
      }
      return runMetered(call, () => target.apply(this, args), onOutput);
    };
  }

  private readOutput(call: CallHandle, metered: MeteredCommand, output: unknown): void {
    if (metered.kind === 'Converse' || metered.kind === 'InvokeModel') {
      if (call.finished) return;
      const headers = output && typeof output === 'object' ? capturedHeaders.get(output) : undefined;
      let response: CallResponse | undefined;
      try {
        response = metered.readResponse(output, headers);
      } catch (error) {
        call.internalError('read_response', error);
      }
      // The generated text is only read when the response told no usage, to estimate it.
      call.finish({ response, billable: true, outputText: () => metered.outputText(output) });
    } else {
      observeStream(metered.streamOf(output), call, metered.observeStream());
    }
  }
}

/** `send(command, callback)` / `send(command, options, callback)`: observed through the callback. */
function sendWithCallback(
  client: unknown,
  target: SendMethod,
  args: unknown[],
  call: CallHandle,
  onOutput: (output: unknown) => void,
): unknown {
  const [command, optionsOrCallback, callback] = args;
  const appCallback = (typeof optionsOrCallback === 'function' ? optionsOrCallback : callback) as (
    ...a: unknown[]
  ) => unknown;
  const observed = function (this: unknown, ...result: unknown[]) {
    const [error, output] = result;
    if (error) call.finish({ error, billable: false });
    else if (!call.finished) {
      try {
        onOutput(output);
      } catch (internal) {
        call.internalError('read_result', internal);
        if (!call.finished) call.finish({ billable: true });
      }
    }
    return appCallback.apply(this, result);
  };
  const sendArgs =
    typeof optionsOrCallback === 'function' ? [command, observed] : [command, optionsOrCallback, observed];
  try {
    return call.propagates
      ? context.with(call.context, () => target.apply(client, sendArgs))
      : target.apply(client, sendArgs);
  } catch (error) {
    call.finish({ error, billable: false });
    throw error;
  }
}

function clientPrototype(moduleExports: any): { send?: unknown } | undefined {
  const cls = moduleExports?.BedrockRuntimeClient ?? moduleExports?.default?.BedrockRuntimeClient;
  return typeof cls === 'function' ? cls.prototype : undefined;
}

/**
 * Adds, once per client, a middleware that keeps the response's token-count headers. It runs
 * outermost (so it sees the output object the app receives), changes nothing and rethrows nothing
 * of its own.
 */
function captureHeaders(client: unknown): void {
  const stack = (client as { middlewareStack?: any } | undefined)?.middlewareStack;
  if (!stack || typeof stack.add !== 'function' || capturingStacks.has(stack)) return;
  capturingStacks.add(stack);
  stack.add(
    (next: (args: unknown) => Promise<any>) => async (args: unknown) => {
      const result = await next(args);
      try {
        remember(result);
      } catch {
        // Never let an unexpected response shape change the call.
      }
      return result;
    },
    { step: 'initialize', priority: 'high', name: HEADER_MIDDLEWARE, override: true },
  );
}

function remember(result: any): void {
  const headers = result?.response?.headers;
  const output = result?.output;
  if (!headers || typeof headers !== 'object' || !output || typeof output !== 'object') return;
  let kept: Record<string, string> | undefined;
  for (const name of TOKEN_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    kept ??= {};
    kept[name] = value;
  }
  if (kept) capturedHeaders.set(output, kept);
}

/** The client's server, or the promise of it the first time (endpoint and region are async providers). */
function serverOf(client: unknown): Server | Promise<Server> {
  if (!client || typeof client !== 'object') return {};
  const known = servers.get(client);
  if (known) return known;
  const pending = lookupServer((client as { config?: any }).config).then(
    (server) => {
      servers.set(client, server);
      return server;
    },
    () => {
      const none: Server = {};
      servers.set(client, none);
      return none;
    },
  );
  servers.set(client, pending);
  return pending;
}

async function lookupServer(config: any): Promise<Server> {
  if (!config) return {};
  if (config.isCustomEndpoint && config.endpoint !== undefined) {
    const endpoint = typeof config.endpoint === 'function' ? await config.endpoint() : config.endpoint;
    return fromEndpoint(endpoint);
  }
  const region = typeof config.region === 'function' ? await config.region() : config.region;
  if (typeof region !== 'string' || !/^[a-z0-9-]+$/.test(region)) return {};
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return { address: `bedrock-runtime.${region}.${domain}`, port: 443 };
}

function fromEndpoint(endpoint: any): Server {
  if (!endpoint) return {};
  if (typeof endpoint === 'string' || endpoint instanceof URL) return fromUrl(new URL(String(endpoint)));
  if (endpoint.url instanceof URL) return fromUrl(endpoint.url);
  if (typeof endpoint.hostname !== 'string') return {};
  const port = Number(endpoint.port);
  return {
    address: endpoint.hostname,
    port: Number.isInteger(port) && port > 0 ? port : endpoint.protocol === 'http:' ? 80 : 443,
  };
}

function fromUrl(url: URL): Server {
  const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
  return { address: url.hostname, port };
}
