// openai (Stainless): one chat completion; one streamed chat completion of 8 chunks.
export default {
  name: 'openai',
  module: 'openai',
  create: (instrumentation) => new instrumentation.OpenAIInstrumentation(),
  async client(url, require) {
    const { OpenAI } = require('openai');
    const client = new OpenAI({ apiKey: 'sk-bench', baseURL: `${url}/v1`, maxRetries: 0 });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Benchmark me, briefly.' }] };
    return {
      call: () => client.chat.completions.create(body),
      async stream() {
        for await (const _chunk of await client.chat.completions.create({ ...body, stream: true })) {
          // consume every chunk, as an app does
        }
      },
    };
  },
};
