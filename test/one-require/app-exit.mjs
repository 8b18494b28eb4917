// An ESM app that makes its calls and ends on its own (no server left running): what it recorded
// must still reach the OTLP receiver, flushed on exit.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { makeCalls } from './calls.mjs';

await makeCalls(OpenAI, Anthropic, process.env.MOCK_URL);
console.log('calls done');
