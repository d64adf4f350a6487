/**
 * The core runs in a calf on any engine and in the priv: its sources import only each other,
 * never Node, never another package (docs/architecture.md, "Packages and who may import whom").
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
    expect([...text.matchAll(/\b(?:import|require)\s*\(/g)], f).toEqual([]);
    for (const s of specifiers) expect(s, `${f} imports ${s}`).toMatch(/^\.\/[a-z0-9-]+\.ts$/);
  }
});

it("src uses no global that is missing on some engine (Buffer, process, TextEncoder, crypto)", () => {
  const dir = join(import.meta.dirname, "../src");
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".ts"))) {
    const code = readFileSync(join(dir, f), "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    expect(code, f).not.toMatch(/\b(?:Buffer|process|TextEncoder|TextDecoder|crypto|require)\b/);
  }
});
