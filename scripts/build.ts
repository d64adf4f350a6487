/**
 * Builds what runs without a TypeScript loader: the `paddock` CLI bundle, and each calf's single
 * self-contained script (bundleCalf refuses any priv or native code in a calf).
 * Run by scripts/setup.sh (make setup).
 */
import { build } from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCalf } from "../packages/bundler/src/bundle-calf.ts";
import { bundleQuickjsCalf, quickjsToolchainReady } from "../packages/bundler/src/bundle-quickjs.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Calf bundles: entry → output. The shim finds them under packages/<calf>/dist/. */
export const CALVES = [
  { entry: "packages/services/dhcp4/calf/src/entry.ts", out: "packages/services/dhcp4/calf/dist/calf-dhcp4.mjs" },
  { entry: "packages/services/ntp/calf/src/entry.ts", out: "packages/services/ntp/calf/dist/calf-ntp.mjs" },
  { entry: "packages/services/dhcp6/calf/src/entry.ts", out: "packages/services/dhcp6/calf/dist/calf-dhcp6.mjs" },
  { entry: "packages/services/ra/calf/src/entry.ts", out: "packages/services/ra/calf/dist/calf-ra.mjs" },
];

for (const c of CALVES) await bundleCalf(path.join(root, c.entry), path.join(root, c.out));

// The early start of `paddock dhcp` (packages/cli/src/early-entry.ts): small on purpose, since it
/**
 * The QuickJS form of the calves that run on it (docs/decisions/0010-quickjs-calf-engine.md): one
 * static executable each, what `--calf-engine quickjs` runs. Built when native/quickjs/build.sh
 * has built the engine (make setup does); rebuilt only when the calf's code changed.
 */
export const QUICKJS_CALVES = [
  { entry: "packages/services/dhcp4/calf/src/entry.ts", out: "packages/services/dhcp4/calf/dist/calf-dhcp4-quickjs" },
  { entry: "packages/services/ntp/calf/src/entry.ts", out: "packages/services/ntp/calf/dist/calf-ntp-quickjs" },
];

const quickjs = { dir: path.join(root, "native/quickjs") };
if (quickjsToolchainReady(quickjs)) {
  for (const c of QUICKJS_CALVES) await bundleQuickjsCalf(path.join(root, c.entry), path.join(root, c.out), quickjs);
} else {
  console.warn("build: QuickJS is not built (native/quickjs/build.sh, run by make setup): the QuickJS calves are left out");
}

// loads before everything else.
await build({
  entryPoints: [path.join(root, "packages/cli/src/early-entry.ts")],
  outfile: path.join(root, "packages/cli/dist/early.mjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  logLevel: "warning",
  external: ["esbuild"],
});

await build({
  entryPoints: [path.join(root, "packages/cli/src/main.ts")],
  outfile: path.join(root, "packages/cli/dist/paddock.mjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: "linked",
  logLevel: "warning",
  // capnp-ts and its generated code are CommonJS; give the ESM bundle a require() for them.
  banner: { js: "import { createRequire as __paddockRequire } from 'node:module'; const require = __paddockRequire(import.meta.url);" },
  // The addon is loaded at run time from native/build (PADDOCK_NATIVE_DIR); esbuild, used only to
  // build calves, is never needed by the running CLI.
  external: ["*.node", "esbuild"],
});
