// A small app that uses the real OpenAI and Anthropic SDKs the way apps do. Nothing in it knows
// about Tokenmeter: telemetry.mjs is loaded first (`node --import ./telemetry.mjs app.mjs`).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

export async function runWorkload({ openaiBaseURL, anthropicBaseURL, rounds = 3, onCall = () => {} }) {
  const openai = new OpenAI({ apiKey: 'sk-demo', baseURL: openaiBaseURL });
  const anthropic = new Anthropic({ apiKey: 'sk-ant-demo', baseURL: anthropicBaseURL });
  const question = (topic) => [{ role: 'user', content: `In two sentences: what matters most about ${topic}?` }];
  const topics = ['caching', 'retries', 'budgets', 'observability'];

  for (let round = 0; round < rounds; round++) {
    for (const topic of topics) {
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: question(topic) });
      onCall();
      // A stream without stream_options: Tokenmeter still gets the exact usage.
      const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: question(topic), stream: true });
      for await (const _chunk of stream) {
        // the app consumes the stream as usual
      }
      onCall();
      await openai.responses.create({ model: 'o4-mini', input: `Plan a study of ${topic}.` });
      onCall();
      await anthropic.messages.create({
        model: 'claude-sonnet-4-20250514',
        max_tokens: 512,
        system: 'You are terse.',
        messages: question(topic),
      });
      onCall();
      const final = await anthropic.messages
        .stream({ model: 'claude-3-5-haiku-20241022', max_tokens: 256, messages: question(topic) })
        .finalMessage();
      void final;
      onCall();
    }
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: topics });
    onCall();
  }
}
