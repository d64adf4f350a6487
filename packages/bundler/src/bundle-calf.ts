/**
 * Builds a calf's code into the one self-contained ES module its sandbox mounts at
 * /calf/main.mjs. A build-time tool, in a package of its own: the privileged runtime never depends on
 * it, and the priv never runs it as root (`paddock run` builds through `paddock build` as nobody).
 *
 * The bundle must never contain priv or native code (DESIGN.md, import direction): the build
 * fails if any input comes from packages/runtime, native/, @paddock/runtime or @paddock/native, or if
 * it would load a `.node` addon (there is no addon inside the sandbox, and no reason for one).
 */

import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Metafile } from "esbuild";
import { quickjsGlobalsModule, quickjsPlugin } from "./quickjs-plugin.ts";

/** A calf that cannot be bundled: esbuild failed (its error is the cause), or the bundle would hold runtime or native code. */
export class BundleError extends Error {
  override readonly name = "BundleError";
  readonly code = "PADDOCK_E_SANDBOX_CALF_BUILD";
  constructor(message: string, options?: { cause?: unknown }) {
    super(`PADDOCK_E_SANDBOX_CALF_BUILD: ${message}`, options);
  }
}

/** What a build produced. */
export interface CalfBuild {
  readonly outFile: string;
  readonly bytes: number;
  /** Every source file that went into the bundle (paths relative to the working directory). */
  readonly inputs: readonly string[];
  /** esbuild's metafile: each input's imports (tests check which inputs import Node built-ins). */
  readonly metafile: Metafile;
}

/**
 * capnp-ts's tracing dependency, replaced by a no-op in calves (packages/calf/stubs/debug.cjs).
 * Found through the calf SDK's package when this code runs bundled (the CLI), else beside it.
 */
function debugStub(): string {
  try {
    return createRequire(import.meta.url).resolve("@paddock/calf/stubs/debug.cjs");
  } catch {
    return fileURLToPath(new URL("../../calf/stubs/debug.cjs", import.meta.url));
  }
}

/** How a calf is bundled. */
export interface BundleCalfOptions {
  /**
   * Development only (`paddock calf dev`): an inline source map, so a calf run with
   * `node --enable-source-maps` reports its stack traces in its TypeScript sources. Production
   * bundles carry none (smaller, and faster to load).
   */
  readonly sourcemap?: boolean;
  /**
   * The engine the bundle is for (default "node"). "quickjs": the same code with the QuickJS host
   * in place of Node's (./quickjs-plugin.ts), as ES2020 for QuickJS 2021-03-27; bundleQuickjsCalf
   * then compiles it to one static executable.
   */
  readonly engine?: "node" | "quickjs";
}

/** Paths a calf bundle must not contain: priv's and the native addon's code. */
const FORBIDDEN_INPUT = /(^|[/\\])(packages[/\\]runtime[/\\]src|native[/\\](lib|src)|@paddock[/\\](runtime|native))([/\\]|$)|\.node$/;

/**
 * Bundles `entryTs` (and everything it imports) into `outFile` as ESM for Node 20 (or, with
 * `engine: "quickjs"`, for QuickJS). On Node, `require` is provided through createRequire so
 * CommonJS dependencies can reach Node built-ins.
 */
export async function bundleCalf(entryTs: string, outFile: string, opts: BundleCalfOptions = {}): Promise<CalfBuild> {
  const esbuild = await import("esbuild");
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    await mkdir(path.dirname(outFile), { recursive: true });
    const quickjs = opts.engine === "quickjs";
    result = await esbuild.build({
      entryPoints: [entryTs],
      outfile: outFile,
      bundle: true,
      platform: "node",
      target: quickjs ? "es2020" : "node20",
      format: "esm",
      ...(quickjs ? { plugins: [quickjsPlugin()], inject: [quickjsGlobalsModule()] } : {}),
      metafile: true,
      logLevel: "silent",
      // Smaller and faster to load (measured: ~20 ms and ~3 MiB less per calf start); identifiers
      // are kept so that a calf's stack traces stay readable in the priv's log.
      minifyWhitespace: true,
      minifySyntax: true,
      alias: { debug: debugStub() },
      legalComments: "none",
      ...(opts.sourcemap ? { sourcemap: "inline" as const } : {}),
      ...(quickjs ? {} : { banner: { js: 'import { createRequire as __paddockCreateRequire } from "node:module"; const require = __paddockCreateRequire(import.meta.url);' } }),
    });
  } catch (e) {
    throw new BundleError(`esbuild ${entryTs} failed`, { cause: e });
  }
  const inputs = Object.keys(result.metafile?.inputs ?? {});
  const forbidden = inputs.filter((i) => FORBIDDEN_INPUT.test(i));
  if (forbidden.length > 0) {
    throw new BundleError(`calf bundle ${entryTs} would contain priv/native code: ${forbidden.join(", ")}`);
  }
  // Read by the calf's uid, which is "other" on the host.
  await chmod(outFile, 0o644);
  const bytes = result.metafile?.outputs[path.relative(process.cwd(), outFile)]?.bytes ?? 0;
  return { outFile, bytes, inputs, metafile: result.metafile! };
}
