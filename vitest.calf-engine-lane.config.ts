/**
 * The calf engine lane (scripts/test.sh, issue 14 item 1): the main config with `include` set to
 * exactly the files of test/calf-engine-lane.txt (a vitest filter on the command line matches by
 * substring, so test/hooks.test.ts would also pick the packages' hooks tests).
 */
import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";

const lane = readFileSync(new URL("./test/calf-engine-lane.txt", import.meta.url), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));
if (lane.length === 0) throw new Error("test/calf-engine-lane.txt lists no test file");

// Replaced, not merged: mergeConfig would append the lane to the main include list.
export default defineConfig({ ...base, test: { ...base.test, include: lane } });
