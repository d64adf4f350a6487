import { defineConfig } from "vitest/config";
import { runsInParallel, TEST_FILE_GLOBS, testFiles } from "./scripts/test-files.ts";

// Two groups, one after the other (docs/testing.md): the pure unit and property tests two files at
// a time, then the integration tests (namespace labs, runc and crun calves, real servers, the built
// CLI) one file at a time, as before: they share 2 cores, and a starved CPU stretches their protocol
// timers. scripts/test-files.ts decides which file is which from its text. Both projects extend this
// root config, so a config that replaces `include` (vitest.calf-engine-lane.config.ts) still runs
// exactly its own files, each in its group.
const root = import.meta.dirname;
const files = testFiles(root);
const unit = files.filter((file) => runsInParallel(root, file));
const integration = files.filter((file) => !unit.includes(file));

export default defineConfig({
  test: {
    include: TEST_FILE_GLOBS,
    // Bounds a hang only: a property test that takes 10 s alone took over 30 s beside the namespace
    // tests on a loaded machine (CI, stress-ng); a test's own waits carry their own bounds.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Tests a file marks concurrent (timer-bound ones with a lab each: test/config-reload.test.ts,
    // test/dhcp6-hostile.test.ts) run at most this many at once: their start-ups (a priv, a calf, a
    // server each) share 2 cores.
    maxConcurrency: 3,
    projects: [
      { extends: true, test: { name: "unit", exclude: integration, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "integration", exclude: unit, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
