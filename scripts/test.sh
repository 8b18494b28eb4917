#!/usr/bin/env bash
# Builds every package, checks types and lint, then runs the whole test suite once and prints a
# plain "N passed, N failed" closing line (vitest's own summary is not a standard one).
set -uo pipefail
pnpm run build || exit 1
pnpm run typecheck || exit 1
pnpm exec biome check . || exit 1
report="$(mktemp -d)/vitest.json"
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
if [ -f "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$report"
fi
exit $status
