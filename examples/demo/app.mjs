// A small app that uses the real OpenAI and Anthropic SDKs the way apps do. It is loaded with
// `node --import @tokenmeter/node/register`; the only Tokenmeter call in it is `withAttributes`,
// which says which tenant and feature each piece of work is for.
import Anthropic from '@anthropic-ai/sdk';
import { withAttributes } from '@tokenmeter/node';
import OpenAI from 'openai';

/** Tenants of the demo SaaS, and the feature each topic belongs to. */
const TENANTS = ['acme', 'globex', 'initech'];
const FEATURES = {
  caching: 'search',
  retries: 'support-bot',
  budgets: 'reports',
  observability: 'support-bot',
};

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
    const tenant = TENANTS[round % TENANTS.length];
    for (const topic of topics) {
      await withAttributes({ tenant, feature: FEATURES[topic] }, async () => {
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
      });
    }
    await withAttributes({ tenant, feature: 'search' }, () =>
      openai.embeddings.create({ model: 'text-embedding-3-small', input: topics }),
    );
    onCall();
  }
}
