import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
// @ts-expect-error plain JS helper shared with the other apps
import { makeCalls } from './calls.mjs';

const mockUrl: string = process.env.MOCK_URL!;
await makeCalls(OpenAI, Anthropic, mockUrl);
console.log('calls done');
setInterval(() => {}, 1000);
