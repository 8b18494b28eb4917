import { context, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import type { StreamObserver } from '../src/core/adapter.js';
import type { CallRequest, CallResponse } from '../src/core/call-record.js';
import { finishWithResponse, observeStream, runMetered } from '../src/core/meter-call.js';
import { Recorder } from '../src/core/recorder.js';
import { PACKAGE_NAME } from '../src/version.js';
import { eventually, setupTelemetry } from './support/otel.js';

const telemetry = setupTelemetry();
const recorder = new Recorder(() => telemetry.tracerProvider.getTracer(PACKAGE_NAME));
recorder.setMeter(telemetry.meterProvider.getMeter(PACKAGE_NAME));

const request = (provider = 'openai', model = 'gpt-4o-mini'): CallRequest => ({
  operation: 'chat',
  provider,
  requestModel: model,
  stream: false,
  serverAddress: '127.0.0.1',
  serverPort: 443,
});
const usage = (input: number, output: number) => ({
  inputTokens: input,
  outputTokens: output,
  cacheReadInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningOutputTokens: 0,
});
const calls = (provider: string) =>
  telemetry.counterSum('tokenmeter.calls', { 'gen_ai.provider.name': provider });

/** A stream observer that takes usage from events shaped `{ usage }` and text from `{ text }`. */
function observer(): StreamObserver {
  let seen: CallResponse = {};
  let text = '';
  return {
    onEvent(event: any) {
      if (event.usage) seen = { usage: usage(event.usage[0], event.usage[1]) };
      if (event.text) text += event.text;
      return false;
    },
    result: () => seen,
    outputText: () => text,
  };
}

async function* events() {
  yield { text: 'hello ' };
  yield { text: 'world' };
  yield { usage: [12, 3] };
}

describe('runMetered', () => {
  it('resolves to the very value the method resolved to, and meters it', async () => {
    telemetry.reset();
    const value = { answer: 42 };
    const call = recorder.start(request());
    const result = await runMetered(
      call,
      () => Promise.resolve(value),
      (v) => finishWithResponse(call, () => ({ usage: usage(v.answer, 1) })),
    );
    expect(result).toBe(value);
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.input_tokens']).toBe(42);
  });

  it('rejects with the very error and records its type', async () => {
    telemetry.reset();
    const error = new TypeError('boom');
    const call = recorder.start(request());
    const result = runMetered(
      call,
      () => Promise.reject(error),
      () => {},
    );
    await expect(result).rejects.toBe(error);
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe('TypeError');
  });

  it('rethrows a synchronous throw and ends the span once', () => {
    telemetry.reset();
    const error = new RangeError('sync');
    const call = recorder.start(request());
    expect(() =>
      runMetered(
        call,
        () => {
          throw error;
        },
        () => {},
      ),
    ).toThrow(error);
    expect(telemetry.spans()).toHaveLength(1);
  });

  it('keeps a non-native thenable as it is', async () => {
    class SdkPromise<T> extends Promise<T> {
      withRawResponse() {
        return 'raw';
      }
    }
    const call = recorder.start(request());
    const promise = SdkPromise.resolve(1) as SdkPromise<number>;
    const result = runMetered(
      call,
      () => promise,
      () => call.finish({ billable: false }),
    );
    expect(result).toBe(promise);
    expect(result.withRawResponse()).toBe('raw');
  });

  it('runs the method in the call span context', async () => {
    telemetry.reset();
    const call = recorder.start(request());
    let inner: string | undefined;
    await runMetered(
      call,
      async () => {
        inner = trace.getSpan(context.active())?.spanContext().spanId;
      },
      () => finishWithResponse(call, () => ({ usage: usage(1, 1) })),
    );
    expect(inner).toBe(telemetry.spans()[0]!.spanContext().spanId);
  });

  it('counts an adapter that throws while reading as an internal error, the app unaffected', async () => {
    const before = recorder.self.counts.internalErrors;
    const call = recorder.start(request());
    const value = await runMetered(
      call,
      () => Promise.resolve('ok'),
      () => {
        throw new Error('adapter bug');
      },
    );
    expect(value).toBe('ok');
    expect(recorder.self.counts.internalErrors).toBe(before + 1);
    expect(call.finished).toBe(true);
  });
});

describe('observeStream', () => {
  it('observes an async generator consumed with for await, events unchanged', async () => {
    telemetry.reset();
    const call = recorder.start({ ...request(), stream: true });
    const stream = events();
    observeStream(stream, call, observer());
    const seen: unknown[] = [];
    for await (const event of stream) seen.push(event);
    expect(seen).toEqual([{ text: 'hello ' }, { text: 'world' }, { usage: [12, 3] }]);
    expect(telemetry.spans()[0]!.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 12,
      'tokenmeter.stream.outcome': 'completed',
    });
  });

  it('observes direct next() calls on a generator', async () => {
    telemetry.reset();
    const call = recorder.start({ ...request(), stream: true });
    const stream = events();
    observeStream(stream, call, observer());
    while (!(await stream.next()).done) {
      // the app drives the generator by hand
    }
    expect(telemetry.spans()[0]!.attributes['gen_ai.usage.output_tokens']).toBe(3);
  });

  it('ends the call once when the app breaks out early, with estimated usage', async () => {
    telemetry.reset();
    const call = recorder.start(
      { ...request(), stream: true },
      { input: () => ({ texts: ['Say hello to the world, please.'], messageCount: 1 }) },
    );
    const stream = events();
    observeStream(stream, call, observer());
    for await (const _event of stream) break;
    const [span] = telemetry.spans();
    expect(telemetry.spans()).toHaveLength(1);
    expect(span!.attributes['tokenmeter.stream.outcome']).toBe('cancelled');
    expect(span!.attributes['tokenmeter.usage.estimated']).toBe(true);
    expect(span!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });

  it('observes the first iteration of a re-iterable stream object and passes later ones through', async () => {
    telemetry.reset();
    class Replayable {
      [Symbol.asyncIterator]() {
        return events();
      }
    }
    const stream = new Replayable();
    const call = recorder.start({ ...request(), stream: true });
    observeStream(stream, call, observer());
    for await (const _event of stream) {
      // consume
    }
    for await (const _event of stream) {
      // a second iteration: not observed again
    }
    expect(stream).toBeInstanceOf(Replayable);
    expect(telemetry.spans()).toHaveLength(1);
  });

  it('passes an in-stream error through and records it once', async () => {
    telemetry.reset();
    const error = new Error('cut');
    async function* failing() {
      yield { text: 'partial' };
      throw error;
    }
    const call = recorder.start({ ...request(), stream: true });
    const stream = failing();
    observeStream(stream, call, observer());
    await expect(
      (async () => {
        for await (const _event of stream) {
          // consume
        }
      })(),
    ).rejects.toBe(error);
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.spans()[0]!.attributes['error.type']).toBe('Error');
  });
});

describe('framework calls', () => {
  it('record nothing when a vendor SDK call is metered inside them', async () => {
    telemetry.reset();
    const before = await calls('openai');
    const deduplicated = recorder.self.counts.deduplicatedCalls;
    const framework = recorder.startFramework(request('openai'));
    await runMetered(
      framework,
      async () => {
        const vendor = recorder.start(request('openai'));
        vendor.finish({ response: { usage: usage(10, 5) }, billable: true });
        return 'done';
      },
      () => finishWithResponse(framework, () => ({ usage: usage(10, 5) })),
    );
    expect(telemetry.spans()).toHaveLength(1);
    expect(await calls('openai')).toBe(before + 1);
    expect(recorder.self.counts.deduplicatedCalls).toBe(deduplicated + 1);
  });

  it('record the call, from its own start, when nothing underneath metered it', async () => {
    telemetry.reset();
    const before = await calls('custom');
    const framework = recorder.startFramework(request('custom', 'my-model'));
    const started = Date.now();
    await runMetered(
      framework,
      () => new Promise((resolve) => setTimeout(() => resolve('x'), 30)),
      () => finishWithResponse(framework, () => ({ usage: usage(7, 2) })),
    );
    await eventually(() => telemetry.spans().length === 1);
    const [span] = telemetry.spans();
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBe(7);
    const startMs = span!.startTime[0] * 1000 + span!.startTime[1] / 1e6;
    expect(startMs).toBeLessThanOrEqual(started + 1);
    expect(span!.duration[0] * 1000 + span!.duration[1] / 1e6).toBeGreaterThanOrEqual(25);
    expect(await calls('custom')).toBe(before + 1);
  });

  it('nested framework calls count once: the innermost that records covers the ones around it', async () => {
    telemetry.reset();
    const before = await calls('custom');
    const outer = recorder.startFramework(request('custom'));
    await runMetered(
      outer,
      async () => {
        const inner = recorder.startFramework(request('custom'));
        await runMetered(
          inner,
          async () => 'inner',
          () => finishWithResponse(inner, () => ({ usage: usage(3, 3) })),
        );
      },
      () => finishWithResponse(outer, () => ({ usage: usage(3, 3) })),
    );
    expect(telemetry.spans()).toHaveLength(1);
    expect(await calls('custom')).toBe(before + 1);
  });

  it('are not covered by vendor calls that ran outside them', async () => {
    telemetry.reset();
    const framework = recorder.startFramework(request('custom'));
    const vendor = recorder.start(request('openai'));
    vendor.finish({ response: { usage: usage(1, 1) }, billable: true });
    finishWithResponse(framework, () => ({ usage: usage(2, 2) }));
    expect(telemetry.spans()).toHaveLength(2);
  });
});
