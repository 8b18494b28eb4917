// groq-sdk (Stainless): one chat completion; one streamed chat completion of 8 chunks, whose usage
// arrives in x_groq.usage on the final chunk.
export default {
  name: 'groq',
  module: 'groq-sdk',
  create: (instrumentation) => new instrumentation.GroqInstrumentation(),
  async client(url, require) {
    const { Groq } = require('groq-sdk');
    const client = new Groq({ apiKey: 'gsk_bench', baseURL: url, maxRetries: 0 });
    const body = {
      model: 'llama-3.3-70b-versatile',
      messages: [{ role: 'user', content: 'Benchmark me, briefly.' }],
    };
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
