// cohere-ai (Fern): one v2 chat; one v2 streamed chat (SSE) of 8 content deltas.
export default {
  name: 'cohere',
  module: 'cohere-ai',
  create: (instrumentation) => new instrumentation.CohereInstrumentation(),
  async client(url, require) {
    const { CohereClientV2 } = require('cohere-ai');
    const client = new CohereClientV2({ token: 'co-bench', baseUrl: url, maxRetries: 0 });
    const body = {
      model: 'command-a-03-2025',
      messages: [{ role: 'user', content: 'Benchmark me, briefly.' }],
    };
    return {
      call: () => client.chat(body),
      async stream() {
        for await (const _event of await client.chatStream(body)) {
          // consume every event, as an app does
        }
      },
    };
  },
};
