/**
 * A calf's QuickJS form (docs/decisions/0010-quickjs-calf-engine.md): its code bundled for QuickJS
 * (bundleCalf, engine "quickjs"), compiled to bytecode by qjsc and linked statically with the
 * engine and our C host (native/quickjs/host.c) into one executable, which is all its sandbox
 * mounts: no loader, no libc, no script.
 *
 * Build time only, like bundleCalf; it needs the QuickJS build of native/quickjs/build.sh
 * (`make setup` runs it) and gcc.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { BundleError, bundleCalf, type CalfBuild } from "./bundle-calf.ts";

/** The esbuild side, for tests that bundle a calf for QuickJS themselves. */
export { quickjsGlobalsModule, quickjsPlugin } from "./quickjs-plugin.ts";

const execFileP = promisify(execFile);

/** Where native/quickjs/build.sh puts the engine: lib/, include/, bin/qjsc. */
export interface QuickjsToolchain {
  /** native/quickjs (holds host.c and build/). */
  readonly dir: string;
}

/** What a QuickJS calf build produced. */
export interface QuickjsCalfBuild {
  /** The static executable. */
  readonly outFile: string;
  readonly bytes: number;
  /** The ES module that was compiled (its inputs and metafile: what a test checks). */
  readonly bundle: CalfBuild;
  /** The executable was already there, built from the same module, host and engine: not rebuilt. */
  readonly reused: boolean;
}

/** Whether `dir` holds a built engine (native/quickjs/build.sh ran). */
export function quickjsToolchainReady(toolchain: QuickjsToolchain): boolean {
  const b = path.join(toolchain.dir, "build");
  return existsSync(path.join(b, "lib", "libquickjs.a")) && existsSync(path.join(b, "bin", "qjsc")) && existsSync(path.join(toolchain.dir, "host.c"));
}

/** Runs a build tool; its output becomes the error's cause when it fails. */
async function run(file: string, args: readonly string[], what: string): Promise<void> {
  try {
    await execFileP(file, args, { maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const out = `${(e as { stderr?: string }).stderr ?? ""}${(e as { stdout?: string }).stdout ?? ""}`.trim();
    throw new BundleError(`${what} failed${out ? `: ${out.split("\n").slice(0, 20).join("\n")}` : ""}`, { cause: e });
  }
}

/**
 * Builds `entryTs` into the static QuickJS executable `outFile` (mode 0755: the calf's uid, which
 * is "other" on the host, must be able to run it). Compiling and linking take seconds, so they are
 * skipped when `outFile.build-id` says the executable holds this very module, C host and engine.
 */
export async function bundleQuickjsCalf(entryTs: string, outFile: string, toolchain: QuickjsToolchain): Promise<QuickjsCalfBuild> {
  if (!quickjsToolchainReady(toolchain)) {
    throw new BundleError(`QuickJS is not built in ${path.join(toolchain.dir, "build")}: run native/quickjs/build.sh (make setup does)`);
  }
  const build = path.join(toolchain.dir, "build");
  const work = await mkdtemp(path.join(tmpdir(), "paddock-quickjs-"));
  try {
    const bundle = await bundleCalf(entryTs, path.join(work, "calf.mjs"), { engine: "quickjs" });
    const idFile = `${outFile}.build-id`;
    const hash = createHash("sha256");
    for (const f of [path.join(work, "calf.mjs"), path.join(toolchain.dir, "host.c"), path.join(build, "STAMP")]) hash.update(await readFile(f));
    const id = hash.digest("hex");
    if (existsSync(outFile) && (await readFile(idFile, "utf8").catch(() => "")) === id) return { outFile, bytes: (await stat(outFile)).size, bundle, reused: true };
    // -c: bytecode only, as a C array (our host has the main); -m: an ES module; -M: a module the
    // host provides in C ("os" is qjsc's own); -N: the array's name host.c links against.
    await run(path.join(build, "bin", "qjsc"), ["-c", "-m", "-N", "paddock_calf", "-M", "paddock-host", "-o", path.join(work, "calf.c"), path.join(work, "calf.mjs")], "qjsc (bytecode)");
    // Static: the sandbox mounts this one file. glibc's static-link notes (dlopen, getpwnam, not
    // used by a calf) go to the output we only show on failure. Linked beside the target and
    // renamed over it, so a calf running the previous one keeps its file.
    await mkdir(path.dirname(outFile), { recursive: true });
    const linked = `${outFile}.${process.pid}.tmp`;
    try {
      await run(
        "gcc",
        ["-static", "-O2", "-I", path.join(build, "include"), "-o", linked, path.join(toolchain.dir, "host.c"), path.join(work, "calf.c"), path.join(build, "lib", "libquickjs.a"), "-lm", "-ldl", "-lpthread"],
        "linking the QuickJS calf",
      );
      await chmod(linked, 0o755);
      await rename(linked, outFile);
    } finally {
      await rm(linked, { force: true });
    }
    await writeFile(idFile, id);
    return { outFile, bytes: (await stat(outFile)).size, bundle, reused: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
