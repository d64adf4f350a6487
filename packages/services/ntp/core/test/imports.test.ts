/**
 * The core runs in a calf on any engine: its sources import only each other, never Node, never
 * another package (docs/architecture.md, "Packages and who may import whom").
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

it("src imports nothing but its own modules", () => {
  const dir = join(import.meta.dirname, "../src");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(5);
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"/g)].map((m) => m[1]!);
    const dynamic = [...text.matchAll(/\b(?:import|require)\s*\(/g)];
    expect(dynamic, f).toEqual([]);
    for (const s of specifiers) expect(s, `${f} imports ${s}`).toMatch(/^\.\/[a-z-]+\.ts$/);
  }
});
