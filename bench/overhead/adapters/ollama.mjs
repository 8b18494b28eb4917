// ollama: one chat; one streamed chat of 8 NDJSON messages (the last, done: true, carries the counts).
export default {
  name: 'ollama',
  module: 'ollama',
  create: (instrumentation) => new instrumentation.OllamaInstrumentation(),
  async client(url, require) {
    const { Ollama } = require('ollama');
    const client = new Ollama({ host: url });
    const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'Benchmark me, briefly.' }] };
    return {
      call: () => client.chat({ ...body, stream: false }),
      async stream() {
        for await (const _message of await client.chat({ ...body, stream: true })) {
          // consume every message, as an app does
        }
      },
    };
  },
};
