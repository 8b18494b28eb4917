// Many calls while the OTLP Collector is down: the calls must all succeed and the heap must stay
// flat (bounded span queue, failed exports dropped). Prints heap after GC at two points.
import OpenAI from 'openai';

const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${process.env.MOCK_URL}/v1`, maxRetries: 0 });
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const batch = async (count) => {
  for (let i = 0; i < count; i++) await openai.chat.completions.create(body);
};
await batch(Number(process.env.WARMUP ?? 1000));
global.gc();
const before = process.memoryUsage().heapUsed;
await batch(Number(process.env.CALLS ?? 3000));
global.gc();
const after = process.memoryUsage().heapUsed;
console.log(JSON.stringify({ before, after }));
process.exit(0);
