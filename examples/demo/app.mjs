// A small app that uses real LLM SDKs the way apps do: OpenAI, Anthropic, Google GenAI, Bedrock
// and the Vercel AI SDK. It is loaded with `node --import @tokenmeter/node/register`; the only
// Tokenmeter call in it is `withAttributes`, which says which tenant and feature each piece of work
// is for.
import { createRequire } from 'node:module';
import { createAnthropic } from '@ai-sdk/anthropic';
import Anthropic from '@anthropic-ai/sdk';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { GoogleGenAI } from '@google/genai';
import { withAttributes } from '@tokenmeter/node';
import { generateText } from 'ai';
import OpenAI from 'openai';

/** Calls per round, for progress bars. */
export const CALLS_PER_ROUND = 24;

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
  // The other providers' wire formats are served by the same loopback mock.
  const gemini = new GoogleGenAI({ apiKey: 'gemini-demo', httpOptions: { baseUrl: anthropicBaseURL } });
  const bedrock = new BedrockRuntimeClient({
    endpoint: anthropicBaseURL,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDDEMO', secretAccessKey: 'demo-secret' },
    // HTTP/1.1 for the loopback mock (the SDK's default handler speaks HTTP/2 to AWS).
    requestHandler: new (bedrockHttpHandler())(),
  });
  const aiSdkAnthropic = createAnthropic({ apiKey: 'sk-ant-demo', baseURL: `${anthropicBaseURL}/v1` });
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
    await withAttributes({ tenant, feature: 'reports' }, async () => {
      await gemini.models.generateContent({
        model: 'gemini-2.5-flash',
        contents: `Summarise this week's incidents about ${topics[round % topics.length]}.`,
      });
      onCall();
      await bedrock.send(
        new ConverseCommand({
          modelId: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
          messages: [{ role: 'user', content: [{ text: 'Draft the weekly cost report.' }] }],
        }),
      );
      onCall();
      await generateText({
        model: aiSdkAnthropic('claude-3-haiku-20240307'),
        prompt: 'Title for the weekly cost report?',
        maxOutputTokens: 64,
        maxRetries: 0,
      });
      onCall();
    });
  }
}

function bedrockHttpHandler() {
  const sdk = createRequire(import.meta.url).resolve('@aws-sdk/client-bedrock-runtime');
  return createRequire(sdk)('@smithy/node-http-handler').NodeHttpHandler;
}
