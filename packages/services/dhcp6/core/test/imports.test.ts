/**
 * The core runs in the calf on any engine (Node --jitless today, QuickJS next): its sources may
 * import one another and nothing else — no Node module, no other package of ours.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

it("src/ imports only its own modules, statically", () => {
  const src = join(import.meta.dirname, "../src");
  const own = new Set(readdirSync(src).filter((f) => f.endsWith(".ts")).map((f) => `./${f}`));
  const foreign: string[] = [];
  for (const file of own) {
    const text = readFileSync(join(src, file), "utf8");
    for (const m of text.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s*\(|\brequire\s*\(/g)) {
      if (m[1] === undefined || !own.has(m[1])) foreign.push(`${file}: ${m[0]}`);
    }
  }
  expect(own.size).toBeGreaterThan(8);
  expect(foreign).toEqual([]);
});
