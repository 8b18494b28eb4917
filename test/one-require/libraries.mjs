// An ESM app that uses every supported library once, with nothing but the one require:
// `node --import @tokenmeter/node/register libraries.mjs`. Each call goes to the loopback mock of
// its provider's wire format; the test reads the app's Prometheus endpoint.
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText } from 'ai';
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

console.log('calls done');
// Stay up to be scraped; the test stops the process by PID.
setInterval(() => {}, 1000);
