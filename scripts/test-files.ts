/**
 * Which test files may run beside another (vitest.config.ts): a file that builds a namespace lab,
 * starts calves under runc or crun, opens packet sockets or needs root shares the machine with the
 * other such files (2 cores, the kernel's tables, timers that a starved CPU stretches), so those
 * run one at a time; a pure unit or property test touches only memory and its own temp files, so
 * two of them run at once.
 *
 * The split is read from each file's text, not kept as a list: a new integration test is serial
 * without anyone remembering to say so. The markers are conservative: a unit test that mentions
 * one of them (in a string, say) only loses its parallelism.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Where the suite's test files live (vitest.config.ts `include`), as directory and file-name pattern. */
export const TEST_FILE_GLOBS = ["packages/*/test/**/*.test.ts", "packages/services/*/*/test/**/*.test.ts", "test/**/*.test.ts", "native/test/**/*.test.ts", "examples/*/*.test.ts"];

/**
 * Text that marks a file as touching the machine: the testkit or the repository's lab helpers,
 * namespaces, container runtimes, packet sockets, the runtime's sandbox harness, a check for root.
 */
const MACHINE_MARKERS = /@paddock\/testkit|helpers\/(lab|netns|paddock|shim-lease)|dhcp6-lab|ntp-lab|\.\/netns|sandbox-harness|createLab|netns|nsenter|unshare|\brunc\b|\bcrun\b|openPacketSocket|getuid/;

/** Directories whose every file is an integration test (namespace labs, the built CLI, real servers). */
const SERIAL_DIRS = ["test/", "native/test/"];

/** `TEST_FILE_GLOBS` as regular expressions: a "**" segment is any directories, a "*" any part of a name. */
const TEST_FILE_PATTERNS = TEST_FILE_GLOBS.map((g) => {
  const escape = (part: string): string => part.replace(/\./g, "\\.").replace(/\*/g, "[^/]*");
  const parts = g.split("/").map((part) => (part === "**" ? "(?:[^/]+/)*" : escape(part) + "/"));
  return new RegExp("^" + parts.join("").slice(0, -1) + "$");
});

/** Every test file of `root` that `TEST_FILE_GLOBS` matches, as a path relative to `root`. */
export function testFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== "node_modules" && e.name !== "dist" && !e.name.startsWith(".")) walk(p);
      } else if (e.name.endsWith(".test.ts") && TEST_FILE_PATTERNS.some((re) => re.test(p))) {
        out.push(p);
      }
    }
  };
  for (const top of ["packages", "test", "native", "examples"]) walk(top);
  return out.sort();
}

/** Whether the test file `file` (relative to `root`) may run beside another one. */
export function runsInParallel(root: string, file: string): boolean {
  if (SERIAL_DIRS.some((d) => file.startsWith(d))) return false;
  return !MACHINE_MARKERS.test(readFileSync(path.join(root, file), "utf8"));
}
