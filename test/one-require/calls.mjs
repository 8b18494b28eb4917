// The calls both apps make; usage fixed per call through the mock's x-mock-usage header so the
// expected metric values are exact.
export const OPENAI_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 1000 },
  completion_tokens_details: { reasoning_tokens: 100 },
};
export const ANTHROPIC_USAGE = {
  input_tokens: 50,
  cache_read_input_tokens: 8000,
  cache_creation_input_tokens: 2000,
  output_tokens: 400,
};

export async function makeCalls(OpenAI, Anthropic, mockUrl) {
  const openai = new OpenAI({ apiKey: 'sk-app-secret', baseURL: `${mockUrl}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: 'sk-ant-app-secret', baseURL: mockUrl, maxRetries: 0 });
  const headers = (usage) => ({ headers: { 'x-mock-usage': JSON.stringify(usage) } });
  for (let i = 0; i < 3; i++) {
    await openai.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      headers(OPENAI_USAGE),
    );
  }
  const stream = await openai.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream' }], stream: true },
    headers(OPENAI_USAGE),
  );
  for await (const _chunk of stream) {
    // consumed as an app would
  }
  for (let i = 0; i < 2; i++) {
    await anthropic.messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
      headers(ANTHROPIC_USAGE),
    );
  }
}
