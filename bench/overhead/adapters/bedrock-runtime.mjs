import { createRequire } from 'node:module';

// @aws-sdk/client-bedrock-runtime: one Converse call; one ConverseStream of 8 content deltas (AWS
// binary event stream) ending with the metadata event that carries the usage. The SDK's default
// handler speaks HTTP/2; the loopback mock speaks HTTP/1.1, so the SDK's own HTTP/1.1 handler is used.
export default {
  name: 'bedrock-runtime',
  module: '@aws-sdk/client-bedrock-runtime',
  create: (instrumentation) => new instrumentation.BedrockRuntimeInstrumentation(),
  async client(url, require) {
    const {
      BedrockRuntimeClient,
      ConverseCommand,
      ConverseStreamCommand,
    } = require('@aws-sdk/client-bedrock-runtime');
    const { NodeHttpHandler } = createRequire(require.resolve('@aws-sdk/client-bedrock-runtime'))(
      '@smithy/node-http-handler',
    );
    const client = new BedrockRuntimeClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDBENCHFAKE', secretAccessKey: 'bench-fake-secret' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
    });
    const input = {
      modelId: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
      messages: [{ role: 'user', content: [{ text: 'Benchmark me, briefly.' }] }],
      inferenceConfig: { maxTokens: 256 },
    };
    return {
      call: () => client.send(new ConverseCommand(input)),
      async stream() {
        const { stream } = await client.send(new ConverseStreamCommand(input));
        for await (const _event of stream) {
          // consume every event, as an app does
        }
      },
    };
  },
};
