// @mistralai/mistralai (Speakeasy, ESM-only; loaded with require of ESM): one chat completion; one
// streamed chat completion of 8 chunks. The mock tells Mistral's requests apart by the SDK's user agent.
export default {
  name: 'mistral',
  module: '@mistralai/mistralai',
  create: (instrumentation) => new instrumentation.MistralInstrumentation(),
  async client(url, require) {
    const { Mistral } = require('@mistralai/mistralai');
    const client = new Mistral({ apiKey: 'mistral-bench', serverURL: url });
    const body = {
      model: 'mistral-small-latest',
      messages: [{ role: 'user', content: 'Benchmark me, briefly.' }],
    };
    return {
      call: () => client.chat.complete(body),
      async stream() {
        for await (const _event of await client.chat.stream(body)) {
          // consume every event, as an app does
        }
      },
    };
  },
};
