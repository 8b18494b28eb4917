// Vercel AI SDK (`ai` + @ai-sdk/openai, Chat Completions): one generateText; one streamText of 8
// chunks, consumed through textStream (usage arrives in the provider's final `finish` part).
export default {
  name: 'vercel-ai',
  module: 'ai',
  create: (instrumentation) => new instrumentation.VercelAIInstrumentation(),
  async client(url, require) {
    const { generateText, streamText } = require('ai');
    const { createOpenAI } = require('@ai-sdk/openai');
    const openai = createOpenAI({ apiKey: 'sk-bench', baseURL: `${url}/v1` });
    const model = openai.chat('gpt-4o-mini');
    const prompt = 'Benchmark me, briefly.';
    return {
      call: () => generateText({ model, prompt, maxRetries: 0 }),
      async stream() {
        const result = streamText({ model, prompt, maxRetries: 0 });
        for await (const _text of result.textStream) {
          // consume every chunk, as an app does
        }
      },
    };
  },
};
