/**
 * Calf engines (docs/decisions/0010-quickjs-calf-engine.md): a calf's code runs on Node (Debian's
 * node, --jitless, its libraries mounted: the engine of a calf that names none, such as the calves
 * `paddock build` makes) or on QuickJS (one static executable holding the engine and the calf's
 * bytecode, built by scripts/build.ts: the built-in services' default). Both run in the same
 * sandbox; this module holds what differs: what is mounted, the command, and two syscalls.
 */
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import path from "node:path";
import type { OciMount } from "./bundle.ts";

/** The JavaScript engines a calf can run on. */
export const CALF_ENGINES = ["node", "quickjs"] as const;
export type CalfEngine = (typeof CALF_ENGINES)[number];

/** The engine of a calf that names none (a user's service; the built-in ones name QuickJS). */
export const DEFAULT_CALF_ENGINE: CalfEngine = "node";

/** Whether `s` names a calf engine. */
export function isCalfEngine(s: unknown): s is CalfEngine {
  return typeof s === "string" && (CALF_ENGINES as readonly string[]).includes(s);
}

/** Where a QuickJS calf's executable is mounted inside its rootfs. */
export const CALF_QUICKJS_PATH = "/calf/main";

/**
 * A built-in service's calf file on `engine`, in its dist folder: the bundled script for Node,
 * the static executable for QuickJS (scripts/build.ts writes both).
 */
export function calfFileName(service: string, engine: CalfEngine): string {
  return engine === "quickjs" ? `calf-${service}-quickjs` : `calf-${service}.mjs`;
}

/** A built-in service's calf as it will run: its engine and its file. */
export interface BuiltinCalf {
  readonly engine: CalfEngine;
  readonly file: string;
  /** Set when the engine is Node because the QuickJS executable is missing: that file. */
  readonly quickjsMissing?: string;
}

/**
 * The calf a built-in service runs from `dir` (its calf dist folder, or PADDOCK_CALF_DIR) when the
 * operator names no engine: on `preferred` (its definition's calf.engine), except that a missing
 * QuickJS executable (setup could not build QuickJS here, or an installation without it) falls
 * back to the Node bundle, so a fresh machine without gcc still runs its services. The CLI warns
 * when it falls back; the early start uses the same answer, so the host adopts its calf.
 */
export function builtinCalfWithFallback(service: string, dir: string, preferred: CalfEngine): BuiltinCalf {
  const file = path.join(dir, calfFileName(service, preferred));
  if (preferred === "node" || existsSync(file)) return { engine: preferred, file };
  return { engine: "node", file: path.join(dir, calfFileName(service, "node")), quickjsMissing: file };
}

/**
 * The mount of a QuickJS calf: its executable and nothing else (no loader, no libc: it is
 * static). Read-only and nosuid like every mount of the rootfs; not noexec, since it is run.
 */
export function quickjsCalfMounts(executable: string): OciMount[] {
  return [{ destination: CALF_QUICKJS_PATH, type: "bind", source: executable, options: ["bind", "ro", "nosuid", "nodev"] }];
}

/**
 * The command of a QuickJS calf: the executable alone. No options: its code is linked in, the
 * engine has no JIT, and the memory it may use is the cgroup's limit. HOME as for a Node calf (runc
 * adds HOME=/ when absent).
 */
export function quickjsCalfCommand(): { args: string[]; env: string[] } {
  return { args: [CALF_QUICKJS_PATH], env: ["HOME=/"] };
}

/**
 * Syscalls QuickJS's event loop needs beyond a Node calf's: it waits on its descriptors and timers
 * with select(2), which glibc issues as pselect6 (select on older ABIs). Without them the call
 * fails with EPERM at once, and the loop retries at 100 % CPU instead of failing.
 */
export const QUICKJS_EXTRA_SYSCALLS: readonly string[] = ["select", "pselect6"];

/** The engine a hosted calf runs on: the operator's choice, else its definition's, else Node. */
export function calfEngineOf(hosted: { readonly calfEngine?: CalfEngine; readonly definition: { readonly calf: { readonly engine?: CalfEngine } } }): CalfEngine {
  return hosted.calfEngine ?? hosted.definition.calf.engine ?? DEFAULT_CALF_ENGINE;
}

/** The first bytes of an ELF file: a QuickJS calf is one (a static executable), a Node calf's bundle never is. */
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/**
 * Why `file` cannot be the calf of `service` on `engine`, in one sentence, or undefined when it can:
 * a Node bundle given for a QuickJS calf (e.g. a ServiceHost built with a built-in definition,
 * whose engine is QuickJS, and the Node bundle without saying `calfEngine: "node"`) would
 * otherwise be run as an executable and fail inside the container with a runtime's message.
 */
export function calfFileMismatch(service: string, file: string, engine: CalfEngine): string | undefined {
  const head = new Uint8Array(4);
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    readSync(fd, head, 0, 4, 0);
  } catch (err) {
    return `the calf of ${service}, ${file}, cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const elf = ELF_MAGIC.every((b, i) => head[i] === b);
  if (engine === "quickjs" && !elf) return `the calf of ${service} runs on QuickJS, but ${file} is not a QuickJS executable (a Node bundle? run it with the engine node)`;
  if (engine === "node" && elf) return `the calf of ${service} runs on Node, but ${file} is an executable, not a Node bundle (a QuickJS calf? run it with the engine quickjs)`;
  return undefined;
}
