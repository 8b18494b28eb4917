// An ESM app that uses every supported library once, with nothing but the one require:
// `node --import @tokenmeter/node/register libraries.mjs`. Each call goes to the loopback mock of
// its provider's wire format; the test reads the app's Prometheus endpoint.
import { createRequire } from 'node:module';
import { createOpenAI } from '@ai-sdk/openai';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { GoogleGenAI } from '@google/genai';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { Mistral } from '@mistralai/mistralai';
import { generateText } from 'ai';
import { CohereClientV2 } from 'cohere-ai';
import Groq from 'groq-sdk';
import { Ollama } from 'ollama';

const url = process.env.MOCK_URL;
const prompt = 'Say something short.';

await new Groq({ apiKey: 'gsk_app_secret', baseURL: url, maxRetries: 0 }).chat.completions.create({
  model: 'llama-3.3-70b-versatile',
  messages: [{ role: 'user', content: prompt }],
});

const ollama = new Ollama({ host: url });
for await (const _part of await ollama.chat({
  model: 'llama3.2',
  messages: [{ role: 'user', content: prompt }],
  stream: true,
})) {
  // consumed as an app would
}

// The AI SDK's OpenAI provider calls HTTP itself: metered by the Vercel AI instrumentation.
const vercelOpenAI = createOpenAI({ apiKey: 'sk-app-secret', baseURL: `${url}/v1` });
await generateText({ model: vercelOpenAI.chat('gpt-4.1-mini'), prompt, maxRetries: 0 });

// LangChain's ChatOpenAI calls the openai SDK: metered once, by the OpenAI instrumentation.
const chat = new ChatOpenAI({
  model: 'gpt-4.1-nano',
  apiKey: 'sk-app-secret',
  configuration: { baseURL: `${url}/v1` },
  maxRetries: 0,
});
await chat.invoke(prompt);

const gemini = new GoogleGenAI({ apiKey: 'gemini-app-secret', httpOptions: { baseUrl: url } });
await gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: prompt });

// HTTP/1.1 for the loopback mock (the SDK's default handler speaks HTTP/2 to AWS).
const { NodeHttpHandler } = createRequire(
  createRequire(import.meta.url).resolve('@aws-sdk/client-bedrock-runtime'),
)('@smithy/node-http-handler');
const bedrock = new BedrockRuntimeClient({
  endpoint: url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDAPPSECRET', secretAccessKey: 'aws-app-secret' },
  requestHandler: new NodeHttpHandler(),
});
await bedrock.send(
  new ConverseCommand({
    modelId: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
    messages: [{ role: 'user', content: [{ text: prompt }] }],
  }),
);

const mistral = new Mistral({ apiKey: 'mistral-app-secret', serverURL: url });
for await (const _event of await mistral.chat.stream({
  model: 'mistral-small-latest',
  messages: [{ role: 'user', content: prompt }],
})) {
  // consumed as an app would
}

const cohere = new CohereClientV2({ token: 'cohere-app-secret', baseUrl: url, maxRetries: 0 });
await cohere.chat({ model: 'command-a-03-2025', messages: [{ role: 'user', content: prompt }] });

// A LangChain model no vendor SDK instrumentation sees: metered at the LangChain level.
class InHouseChatModel extends BaseChatModel {
  _llmType() {
    return 'in-house';
  }
  getLsParams() {
    return { ls_provider: 'in_house', ls_model_name: 'house-model-1', ls_model_type: 'chat' };
  }
  async _generate() {
    const message = new AIMessage({
      content: 'ok',
      usage_metadata: { input_tokens: 12, output_tokens: 3, total_tokens: 15 },
    });
    return { generations: [{ text: 'ok', message }] };
  }
}
await new InHouseChatModel({}).invoke(prompt);

console.log('calls done');
// Stay up to be scraped; the test stops the process by PID.
setInterval(() => {}, 1000);
