/**
 * A calf that runs on QuickJS must not use what QuickJS 2021-03-27 lacks (issue 14,
 * docs/decisions/0010-quickjs-calf-engine.md): `.at()`, `Object.hasOwn`, `findLast`, an Error's
 * `cause`, `WeakRef`, `structuredClone`, Intl… Such a call would fail only when its path runs, in a
 * calf, possibly on a rare packet: so the code that goes into a QuickJS calf is checked here.
 *
 * 1. The engine itself says which of the newer built-ins it lacks (its qjs runs the probes), so the
 *    list follows the engine, and the decision record's list is checked against it.
 * 2. The QuickJS form of each calf is bundled unminified, and every module in it (esbuild marks
 *    each with its path) is searched for a use of a missing built-in, comments aside. The one
 *    known use is capnp-ts's RPC connection (WeakRef, FinalizationRegistry): calves speak plain
 *    Cap'n Proto messages and never create one.
 * 3. The check catches calf code that uses them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { quickjsGlobalsModule, quickjsPlugin } from "@paddock/bundler/quickjs";
import { afterAll, describe, expect, it } from "vitest";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const QJS = path.join(repoRoot, "native/quickjs/build/bin/qjs");
if (process.env.CI === "true" && !existsSync(QJS)) throw new Error(`CI must check the QuickJS calves: ${QJS} is missing (make setup builds it)`);

/** Built-ins newer than ES2020 or outside ECMAScript, each with a probe run on the engine and the use it looks for. */
const CANDIDATES: ReadonlyArray<{ name: string; probe: string; use: RegExp }> = [
  { name: ".at()", probe: `typeof [].at === "function" && typeof "".at === "function"`, use: /\.at\(/ },
  { name: "Object.hasOwn", probe: `typeof Object.hasOwn === "function"`, use: /\bObject\.hasOwn\b/ },
  { name: "findLast", probe: `typeof [].findLast === "function"`, use: /\.findLast(Index)?\(/ },
  { name: "Error cause", probe: `new Error("x", { cause: 1 }).cause === 1`, use: /\bnew \w*Error\([^)]*\{\s*cause\b/ },
  { name: "WeakRef", probe: `typeof WeakRef === "function"`, use: /\bWeakRef\b/ },
  { name: "FinalizationRegistry", probe: `typeof FinalizationRegistry === "function"`, use: /\bFinalizationRegistry\b/ },
  { name: "structuredClone", probe: `typeof structuredClone === "function"`, use: /\bstructuredClone\b/ },
  { name: "Intl", probe: `typeof Intl === "object"`, use: /\bIntl\./ },
  { name: "toSorted/toReversed/toSpliced", probe: `typeof [].toSorted === "function"`, use: /\.to(Sorted|Reversed|Spliced)\(/ },
  { name: "groupBy", probe: `typeof Object.groupBy === "function"`, use: /\b(Object|Map)\.groupBy\b/ },
  { name: "Promise.withResolvers", probe: `typeof Promise.withResolvers === "function"`, use: /\bPromise\.withResolvers\b/ },
  { name: "Array.fromAsync", probe: `typeof Array.fromAsync === "function"`, use: /\bArray\.fromAsync\b/ },
  { name: "well-formed strings", probe: `typeof "".isWellFormed === "function"`, use: /\.(is|to)WellFormed\(/ },
  { name: "replaceAll", probe: `typeof "".replaceAll === "function"`, use: /\.replaceAll\(/ },
  { name: "Promise.any", probe: `typeof Promise.any === "function"`, use: /\bPromise\.any\(/ },
];

/** What docs/decisions/0010-quickjs-calf-engine.md says the engine lacks. */
const DOCUMENTED_MISSING = [".at()", "Object.hasOwn", "findLast", "Error cause", "WeakRef", "structuredClone"];

/** Known uses in code no calf runs: module path fragment → built-ins, and why. */
const NEVER_RUN: ReadonlyArray<{ module: RegExp; names: readonly string[]; why: string }> = [
  { module: /capnp-ts\/src\/rpc\//, names: ["WeakRef", "FinalizationRegistry"], why: "capnp-ts's RPC connection: calves exchange plain messages and never open one" },
];

/** The calves that have a QuickJS form: every service's calf (scripts/build.ts CALF_SERVICES), DHCPv4 first. */
const QUICKJS_CALF_ENTRIES = readdirSync(path.join(repoRoot, "packages/services"))
  .map((s) => `packages/services/${s}/calf/src/entry.ts`)
  .filter((e) => existsSync(path.join(repoRoot, e)))
  .sort((a, b) => Number(!a.includes("/dhcp4/")) - Number(!b.includes("/dhcp4/")) || a.localeCompare(b));

/** The candidates the engine lacks, from its own answers. */
function missingOnEngine(): string[] {
  const script = `print(JSON.stringify([${CANDIDATES.map((c) => `(() => { try { return ${c.probe}; } catch { return false; } })()`).join(", ")}]))`;
  const r = spawnSync(QJS, ["-e", script], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`qjs failed: ${r.stderr}`);
  const present = JSON.parse(r.stdout) as boolean[];
  return CANDIDATES.filter((_, i) => !present[i]).map((c) => c.name);
}

/** "module: built-in: line" for each use of a missing built-in in the QuickJS bundle of `entry`. */
async function usesOfMissing(entry: string, missing: readonly string[]): Promise<string[]> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    target: "es2020",
    format: "esm",
    write: false,
    logLevel: "silent",
    plugins: [quickjsPlugin()],
    inject: [quickjsGlobalsModule()],
    alias: { debug: path.join(repoRoot, "packages/calf/stubs/debug.cjs") },
  });
  const checks = CANDIDATES.filter((c) => missing.includes(c.name));
  const found: string[] = [];
  let module = "?";
  for (const raw of out.outputFiles[0]!.text.split("\n")) {
    const line = raw.trim();
    const marker = /^\/\/ (\S+)$/.exec(line);
    if (marker) {
      module = marker[1]!;
      continue;
    }
    if (line.startsWith("//") || line.startsWith("*") || line.startsWith("/*")) continue;
    for (const c of checks) {
      if (!c.use.test(line)) continue;
      if (NEVER_RUN.some((n) => n.module.test(module) && n.names.includes(c.name))) continue;
      found.push(`${module}: ${c.name}: ${line.slice(0, 160)}`);
    }
  }
  return found;
}

const work = mkdtempSync(path.join(tmpdir(), "paddock-qjs-builtins-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!existsSync(QJS))(`QuickJS calves use no built-in the engine lacks${existsSync(QJS) ? "" : " (skipped: QuickJS is not built; make setup)"}`, () => {
  it("the engine lacks what the decision record says it lacks", () => {
    const missing = missingOnEngine();
    expect(missing).toEqual(expect.arrayContaining(DOCUMENTED_MISSING));
    // Present on this engine, so the search below must not flag them.
    expect(missing).not.toContain("replaceAll");
    expect(missing).not.toContain("Promise.any");
  });

  it.each(QUICKJS_CALF_ENTRIES)("%s", async (entry) => {
    expect(await usesOfMissing(path.join(repoRoot, entry), missingOnEngine())).toEqual([]);
  }, 30_000);

  it("the check catches calf code that uses them", async () => {
    const entry = path.join(work, "careless.ts");
    writeFileSync(
      entry,
      [
        `import ${JSON.stringify(path.join(repoRoot, QUICKJS_CALF_ENTRIES[0]!))};`,
        "const xs = [1, 2, 3];",
        "console.log(xs.at(-1), Object.hasOwn({}, 'a'), xs.findLast((x) => x > 1), new Error('e', { cause: 1 }), new WeakRef({}), structuredClone(xs));",
      ].join("\n"),
    );
    const found = (await usesOfMissing(entry, missingOnEngine())).map((f) => f.split(": ")[1]);
    expect(found).toEqual(expect.arrayContaining(DOCUMENTED_MISSING));
  }, 30_000);
});
