export { startMockLlmServer, type MockLlmServer, type MockLlmServerOptions, type RecordedRequest } from './server.js';
