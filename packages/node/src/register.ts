// `node --import @tokenmeter/node/register app.js`, or `import '@tokenmeter/node/register'` as an
// app's first line: hooks `import` as well as `require`, then starts Tokenmeter.
import { register } from 'node:module';
import { start } from './start.js';

try {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
} catch {
  // Already registered: require hooks and the existing import hook still apply.
}
start();
