// A CommonJS app: `node -r @tokenmeter/node/register app.cjs`.
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

import('./calls.mjs').then(async ({ makeCalls }) => {
  await makeCalls(OpenAI, Anthropic, process.env.MOCK_URL);
  console.log('calls done');
  setInterval(() => {}, 1000);
});
