// An ESM app: `node --import @tokenmeter/node/register app.mjs`.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { makeCalls } from './calls.mjs';

await makeCalls(OpenAI, Anthropic, process.env.MOCK_URL);
console.log('calls done');
// Stay up to be scraped; the test stops the process by PID.
setInterval(() => {}, 1000);
