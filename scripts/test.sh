#!/usr/bin/env bash
# Every test: the typecheck, then vitest (unit, property, interop, kernel and namespace tests).
# Ends with a "FAILED file > test" line per failed test, one plain "N passed, N failed, N skipped"
# line and vitest's exit status.
set -uo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/tsc -p tsconfig.json --noEmit || { echo "typecheck failed"; exit 1; }
results=$(mktemp /tmp/paddock-vitest.XXXXXX.json)
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile="$results"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  // The names of what failed, last, so the tail of a CI log says which tests to look at.
  for (const file of r.testResults)
    for (const t of file.assertionResults)
      if (t.status === "failed") console.log(`FAILED ${require("path").relative(process.cwd(), file.name)} > ${t.fullName}`);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$results" 2>/dev/null || echo "vitest wrote no results"
rm -f "$results"
exit $status
