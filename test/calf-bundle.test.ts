/**
 * Engine-neutral calves (DESIGN.md, import direction): a calf reaches its host only through the
 * calf SDK's host interface, so the only inputs of a calf bundle that import Node built-ins
 * (`node:net`, or a bare "crypto") are the SDK's host module. Checked on the bundles as they are
 * built (bundleCalf's esbuild metafile), for the DHCP calf and the example service's calf.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { bundleCalf, type CalfBuild } from "@paddock/bundler";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The SDK's host module: the one input allowed to import Node built-ins. */
const HOST_MODULES = [path.join(repoRoot, "packages/calf/src/host.ts")];

const BUILTINS = new Set(builtinModules);
const isBuiltin = (spec: string): boolean => spec.startsWith("node:") || BUILTINS.has(spec) || BUILTINS.has(spec.split("/")[0]!);

/** "input imports built-in" for every input outside the host modules. */
function builtinImportsOutsideHost(build: CalfBuild): string[] {
  const out: string[] = [];
  for (const [input, info] of Object.entries(build.metafile.inputs)) {
    if (HOST_MODULES.includes(path.resolve(input))) continue;
    for (const imp of info.imports) if (isBuiltin(imp.path)) out.push(`${input} imports ${imp.path}`);
  }
  return out;
}

const work = mkdtempSync(path.join(tmpdir(), "paddock-calf-bundle-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const build = (entry: string, name: string) => bundleCalf(entry, path.join(work, `${name}.mjs`));

/** Calf entries of the example services (examples/NAME/calf.ts), if there are any. */
const exampleCalves = readdirSync(path.join(repoRoot, "examples"))
  .map((d) => path.join(repoRoot, "examples", d, "calf.ts"))
  .filter((f) => existsSync(f));

describe("calf bundles reach Node only through the SDK's host module", () => {
  it("the DHCP calf", async () => {
    const b = await build(path.join(repoRoot, "packages/services/dhcp4/calf/src/entry.ts"), "dhcp4");
    expect(builtinImportsOutsideHost(b)).toEqual([]);
    // The host module is in the bundle, and it is what imports Node.
    const host = Object.entries(b.metafile.inputs).find(([i]) => HOST_MODULES.includes(path.resolve(i)));
    expect(host?.[1].imports.map((i) => i.path)).toContain("node:net");
  }, 30_000);

  it.runIf(exampleCalves.length > 0)("the example services' calves", async () => {
    for (const entry of exampleCalves) {
      const b = await build(entry, path.basename(path.dirname(entry)));
      expect(builtinImportsOutsideHost(b), entry).toEqual([]);
    }
  }, 30_000);

  it("the check catches calf code that imports a built-in itself", async () => {
    // The DHCP calf's main with one more import, as a careless edit would add it.
    const entry = path.join(work, "careless.ts");
    writeFileSync(entry, `import { randomBytes } from "node:crypto";\nimport "crypto";\nimport ${JSON.stringify(path.join(repoRoot, "packages/services/dhcp4/calf/src/entry.ts"))};\nconsole.log(randomBytes(1));\n`);
    const b = await build(entry, "careless");
    expect(builtinImportsOutsideHost(b)).toEqual([`${path.relative(process.cwd(), entry)} imports node:crypto`, `${path.relative(process.cwd(), entry)} imports crypto`]);
  }, 30_000);
});
