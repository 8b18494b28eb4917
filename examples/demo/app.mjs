// A small app that uses the real OpenAI and Anthropic SDKs the way apps do. Nothing in it knows
// about Tokenmeter: it is loaded with `node --import @tokenmeter/node/register`.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

export async function runWorkload({ openaiBaseURL, anthropicBaseURL, rounds = 3, onCall = () => {} }) {
  const openai = new OpenAI({ apiKey: 'sk-demo', baseURL: openaiBaseURL });
  const anthropic = new Anthropic({ apiKey: 'sk-ant-demo', baseURL: anthropicBaseURL });
  const question = (topic) => [
    { role: 'user', content: `In two sentences: what matters most about ${topic}?` },
  ];
  const topics = ['caching', 'retries', 'budgets', 'observability'];
  // A long, stable instruction prefix, as real apps have: OpenAI caches it automatically, Anthropic
  // when it is marked with cache_control — so the demo shows cache reads and writes too.
  const policy = `You are the support assistant of a company that sells observability tooling. ${'Answer precisely, cite the runbook, never guess a number. '.repeat(80)}`;

  for (let round = 0; round < rounds; round++) {
    for (const topic of topics) {
      await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'system', content: policy }, ...question(topic)],
      });
      onCall();
      // A stream without stream_options: Tokenmeter still gets the exact usage.
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o',
        messages: question(topic),
        stream: true,
      });
      for await (const _chunk of stream) {
        // the app consumes the stream as usual
      }
      onCall();
      await openai.responses.create({ model: 'o4-mini', input: `Plan a study of ${topic}.` });
      onCall();
      await anthropic.messages.create({
        model: 'claude-sonnet-4-20250514',
        max_tokens: 512,
        system: [{ type: 'text', text: policy, cache_control: { type: 'ephemeral' } }],
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
