/**
 * Builds what runs without a TypeScript loader: the `paddock` CLI bundle, and each calf's single
 * self-contained script (bundleCalf refuses any priv or native code in a calf).
 * Run by scripts/setup.sh (make setup).
 */
import { build } from "esbuild";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCalf } from "../packages/bundler/src/bundle-calf.ts";
import { bundleQuickjsCalf, quickjsToolchainReady } from "../packages/bundler/src/bundle-quickjs.ts";
import { calfFileName, type CalfEngine } from "../packages/runtime/src/sandbox/engine.ts";

/** The CLI's chunks, under packages/cli/dist. */
const CLI_CHUNKS = "chunks";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The built-in services that have a calf: every packages/services/SERVICE with a calf/src/entry.ts.
 * Each is built into its calf/dist/ once per engine (sandbox/engine.ts calfFileName: calf-SERVICE.mjs
 * for Node, the static executable calf-SERVICE-quickjs for QuickJS), where the CLI finds them
 * (builtinCalfScript); a new service's calf is built without a change here.
 */
export const CALF_SERVICES = readdirSync(path.join(root, "packages/services"))
  .filter((s) => existsSync(path.join(root, "packages/services", s, "calf/src/entry.ts")))
  .sort();

/** A service's calf entry and its output for `engine`. */
function calfPaths(service: string, engine: CalfEngine): { entry: string; out: string } {
  const dir = path.join(root, "packages/services", service, "calf");
  return { entry: path.join(dir, "src/entry.ts"), out: path.join(dir, "dist", calfFileName(service, engine)) };
}

for (const s of CALF_SERVICES) {
  const c = calfPaths(s, "node");
  await bundleCalf(c.entry, c.out);
}

/**
 * The QuickJS form of every calf (docs/decisions/0010-quickjs-calf-engine.md): one static
 * executable each, what `--calf-engine quickjs` runs. Built when native/quickjs/build.sh has built
 * the engine (make setup does); rebuilt only when the calf's code changed.
 */
const quickjs = { dir: path.join(root, "native/quickjs") };
if (quickjsToolchainReady(quickjs)) {
  for (const s of CALF_SERVICES) {
    const c = calfPaths(s, "quickjs");
    await bundleQuickjsCalf(c.entry, c.out, quickjs);
  }
} else {
  console.warn("build: QuickJS is not built (native/quickjs/build.sh, run by make setup): the QuickJS calves are left out");
}

/**
 * The priv's bundles without comments or indentation, in ASCII. V8 keeps each module's source text
 * in the heap for as long as the process runs, and one non-ASCII character (a "§" or "→" in a kept
 * comment) makes it keep the whole text as two bytes per character: the CLI's sources took
 * 2.6 MiB of the priv's heap, 1.8 MiB of them for two-byte copies (docs/performance.md). Names
 * are kept as they are: errors and logs name classes. Stack traces map back through the source map.
 */
const PRIV_SOURCE = { minifyWhitespace: true, charset: "ascii" } as const;

// The early start of `paddock dhcp` (packages/cli/src/early-entry.ts): small on purpose, since it
// loads before everything else.
await build({
  entryPoints: [path.join(root, "packages/cli/src/early-entry.ts")],
  outfile: path.join(root, "packages/cli/dist/early.mjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  ...PRIV_SOURCE,
  logLevel: "warning",
  external: ["esbuild"],
});

// The CLI: dist/paddock.mjs and, split off at each dynamic import, one chunk per command module
// (packages/cli/src/command-table.ts) and per optional part (metrics), so that a run parses and
// evaluates only what its command needs. Chunk names carry their content's hash, so an older
// build's chunks stay beside the new ones for a paddock still running from that build (it may
// load one later: prom-client at its first scrape); those no build has written for a day go.
const cliDist = path.join(root, "packages/cli/dist");
const buildStart = Date.now();
await build({
  entryPoints: { paddock: path.join(root, "packages/cli/src/main.ts") },
  outdir: cliDist,
  outExtension: { ".js": ".mjs" },
  splitting: true,
  chunkNames: `${CLI_CHUNKS}/[name]-[hash]`,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  ...PRIV_SOURCE,
  sourcemap: "linked",
  logLevel: "warning",
  // capnp-ts and its generated code are CommonJS; give the ESM bundle a require() for them.
  banner: { js: "import { createRequire as __paddockRequire } from 'node:module'; const require = __paddockRequire(import.meta.url);" },
  // The addon is loaded at run time from native/build (PADDOCK_NATIVE_DIR); esbuild, used only to
  // build calves, is never needed by the running CLI.
  external: ["*.node", "esbuild"],
});

/** How long a chunk no build wrote any more is kept for a paddock still running from an older build. */
const STALE_CHUNK_MS = 24 * 3600_000;
for (const f of readdirSync(path.join(cliDist, CLI_CHUNKS))) {
  const file = path.join(cliDist, CLI_CHUNKS, f);
  if (statSync(file).mtimeMs < buildStart - STALE_CHUNK_MS) rmSync(file, { force: true });
}
