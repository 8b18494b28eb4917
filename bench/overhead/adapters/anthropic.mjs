// @anthropic-ai/sdk (Stainless): one message; one streamed message.
export default {
  name: 'anthropic',
  module: '@anthropic-ai/sdk',
  create: (instrumentation) => new instrumentation.AnthropicInstrumentation(),
  async client(url, require) {
    const { Anthropic } = require('@anthropic-ai/sdk');
    const client = new Anthropic({ apiKey: 'sk-ant-bench', baseURL: url, maxRetries: 0 });
    const body = {
      model: 'claude-sonnet-4-20250514',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'Benchmark me, briefly.' }],
    };
    return {
      call: () => client.messages.create(body),
      async stream() {
        for await (const _event of await client.messages.create({ ...body, stream: true })) {
          // consume every event, as an app does
        }
      },
    };
  },
};
