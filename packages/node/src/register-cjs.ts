// `node -r @tokenmeter/node/register app.js`: a CommonJS app loads its SDKs with `require`, which
// the instrumentations hook without a loader. The import hook is deliberately not registered here:
// with it registered from a `-r` preload, require()d SDKs were no longer patched (seen on Node 24).
import { start } from './start.js';

start();
