import type { CallRequest, CallResponse } from './call-record.js';
import type { EstimationSource } from './recorder.js';

/**
 * One SDK's knowledge, and nothing else: which requests are LLM calls, what they ask for, and
 * how to read usage from a response or a stream. Adapters know nothing about spans or prices.
 */
export interface ClientAdapter<Client = unknown> {
  /** Returns `undefined` for requests that are not metered (listing files, retrieving a batch…). */
  describe(client: Client, path: string): MeteredRequest | undefined;
}

export interface RequestOptionsLike {
  body?: unknown;
  stream?: boolean;
  query?: unknown;
  headers?: unknown;
  [key: string]: unknown;
}

export interface MeteredRequest extends EstimationSource {
  /** What the path and client tell; the body's details are filled in by `readOptions`. */
  request: CallRequest;
  /**
   * Reads the request options (model, stream flag, …) into `request`. SDKs may pass options as a
   * promise, so this can run after the span started. Returns the options to send instead of the
   * app's (a copy with the usage event requested), or undefined to send them as they are.
   */
  readOptions(options: RequestOptionsLike): RequestOptionsLike | undefined;
  /** Reads a non-streamed response body. */
  readResponse(body: unknown): CallResponse;
  /** A fresh observer for the events of a streamed response. */
  observeStream(): StreamObserver;
}

export interface StreamObserver {
  /**
   * Sees one parsed stream event. Returns true when the event must be hidden from the app because
   * it only exists since Tokenmeter asked for it (OpenAI's usage chunk under `include_usage`).
   * May also remove fields that were added for the same reason.
   */
  onEvent(event: unknown): boolean;
  /** What the events told so far. */
  result(): CallResponse;
  /** Generated text seen so far, for estimation when usage never comes. */
  outputText(): string;
}
