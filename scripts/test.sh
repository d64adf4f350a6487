#!/usr/bin/env bash
# Every test: the typecheck, then vitest (unit, property, interop, kernel and namespace tests), then
# the calf engine lane: the calf and interop tests of test/calf-engine-lane.txt once more, with
# their calves on Node, the engine that is not the built-in services' default (QuickJS, decision
# 0010; PADDOCK_TEST_CALF_ENGINE, docs/testkit.md).
# Ends with a "FAILED file > test" line per failed test, one plain "N passed, N failed, N skipped"
# line for both runs together and a non-zero status when either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/tsc -p tsconfig.json --noEmit || { echo "typecheck failed"; exit 1; }
results=$(mktemp /tmp/paddock-vitest.XXXXXX.json)
lane_results=$(mktemp /tmp/paddock-vitest-lane.XXXXXX.json)
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile="$results"
status=$?
# The engine that is not the built-in services' default (their definitions' calf.engine, quickjs):
# Node, which runs their calves where QuickJS is not built and every calf paddock build makes.
lane_engine=node
# vitest.calf-engine-lane.config.ts: the main config, its include list the lane's files exactly.
lane_files=$(grep -c -v '^\s*\(#\|$\)' test/calf-engine-lane.txt)
echo "calf engine lane: $lane_files test files with their calves on $lane_engine"
lane_start=$SECONDS
PADDOCK_TEST_CALF_ENGINE=$lane_engine node_modules/.bin/vitest run --config vitest.calf-engine-lane.config.ts --reporter=default --reporter=json --outputFile="$lane_results"
lane_status=$?
echo "calf engine lane ($lane_engine): $((SECONDS - lane_start)) s"
node -e '
  const fs = require("fs"), path = require("path");
  const [, first, second, engine] = process.argv;
  const runs = [];
  for (const [file, tag] of [[first, ""], [second, `[${engine}] `]]) {
    try {
      runs.push([JSON.parse(fs.readFileSync(file, "utf8")), tag]);
    } catch {
      console.log(tag ? `the ${engine} lane wrote no results` : "vitest wrote no results");
    }
  }
  // The names of what failed, last, so the tail of a CI log says which tests to look at.
  for (const [r, tag] of runs)
    for (const file of r.testResults)
      for (const t of file.assertionResults)
        if (t.status === "failed") console.log(`FAILED ${tag}${path.relative(process.cwd(), file.name)} > ${t.fullName}`);
  const sum = (f) => runs.reduce((s, [r]) => s + f(r), 0);
  console.log(`${sum((r) => r.numPassedTests)} passed, ${sum((r) => r.numFailedTests)} failed, ${sum((r) => r.numPendingTests + r.numTodoTests)} skipped`);
' "$results" "$lane_results" "$lane_engine"
rm -f "$results" "$lane_results"
[ $status -ne 0 ] && exit $status
exit $lane_status
