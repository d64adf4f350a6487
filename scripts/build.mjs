// Bundles the `paddock` command into one ESM file with esbuild, so the CLI starts without a
// TypeScript loader. The native addon stays external: it is loaded from native/build at run time.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

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
  external: ["*.node"],
});
