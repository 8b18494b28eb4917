export {
  type MockLlmServer,
  type MockLlmServerOptions,
  type RecordedRequest,
  startMockLlmServer,
} from './server.js';
