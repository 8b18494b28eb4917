import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Scenario } from './scenario.js';

/** One request as a provider module sees it: parsed URL and body, the scenario from the headers. */
export interface MockRequest {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  /** Parsed JSON when the request was JSON, otherwise the raw text. */
  body: any;
  raw: string;
  scenario: Scenario;
  baseUrl: string;
}

/**
 * A provider's wire format: answers the requests whose paths it owns (errors included, in the
 * provider's own error shape, when `scenario.httpError` is set) and returns true; false otherwise.
 */
export type ProviderRoute = (mock: MockRequest) => boolean | Promise<boolean>;
