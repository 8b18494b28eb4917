// @google/genai (Gemini Developer API): one generateContent; one streamed generateContent of 8 SSE
// chunks, each carrying the usage so far (the last one complete).
export default {
  name: 'google-genai',
  module: '@google/genai',
  create: (instrumentation) => new instrumentation.GoogleGenAIInstrumentation(),
  async client(url, require) {
    const { GoogleGenAI } = require('@google/genai');
    const ai = new GoogleGenAI({ apiKey: 'AIza-bench', httpOptions: { baseUrl: url } });
    const params = { model: 'gemini-2.5-flash', contents: 'Benchmark me, briefly.' };
    return {
      call: () => ai.models.generateContent(params),
      async stream() {
        for await (const _chunk of await ai.models.generateContentStream(params)) {
          // consume every chunk, as an app does
        }
      },
    };
  },
};
