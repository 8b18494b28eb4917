// LangChain.js (@langchain/core): ChatOpenAI with only the LangChain instrumentation on, so every call
// is metered at the LangChain level (from usage_metadata); one invoke; one stream of 8 chunks.
export default {
  name: 'langchain',
  module: '@langchain/core',
  create: (instrumentation) => new instrumentation.LangChainInstrumentation(),
  async client(url, require) {
    const { ChatOpenAI } = require('@langchain/openai');
    const model = new ChatOpenAI({
      model: 'gpt-4o-mini',
      apiKey: 'sk-bench',
      maxRetries: 0,
      configuration: { baseURL: `${url}/v1` },
    });
    const input = [{ role: 'user', content: 'Benchmark me, briefly.' }];
    return {
      call: () => model.invoke(input),
      async stream() {
        for await (const _chunk of await model.stream(input)) {
          // consume every chunk, as an app does
        }
      },
    };
  },
};
