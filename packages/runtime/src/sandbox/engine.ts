/**
 * Calf engines (docs/decisions/0010-quickjs-calf-engine.md): a calf's code runs on Node (the
 * default: Debian's node, --jitless, its libraries mounted) or on QuickJS (one static executable
 * holding the engine and the calf's bytecode, built by scripts/build.ts). Both run in the same
 * sandbox; this module holds what differs: what is mounted, the command, and two syscalls.
 */
import type { OciMount } from "./bundle.ts";

/** The JavaScript engines a calf can run on. */
export const CALF_ENGINES = ["node", "quickjs"] as const;
export type CalfEngine = (typeof CALF_ENGINES)[number];

/** The engine of a calf that names none. */
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
