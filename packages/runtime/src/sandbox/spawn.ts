/**
 * Starting one calf under runc: its fd 3/fd 4 socket pairs and `runc run --preserve-fds 2`, and
 * removing what a crashed run of it left. Shared by the supervisor and by the early start of
 * `paddock dhcp` (../early.ts), which runs this before the rest of the priv has loaded; so this
 * module imports no logging library and nothing heavy.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readdir, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { calfContainerId, DEFAULT_CGROUP_PARENT, type CalfName } from "./bundle.ts";
import { createSocketPairs, type SocketPair } from "./channels.ts";
import type { ContainerRuntime } from "./container-runtime.ts";

/** runc gets only a PATH: NOTIFY_SOCKET in particular would make it pass systemd's socket into the container. */
export const RUNC_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

/** Where the container runtime keeps its state and which one to run (runc or crun, ./container-runtime.ts). */
export interface RuncTarget {
  readonly runcRoot: string;
  /** The runc binary, when `runtime` is not given. */
  readonly runc?: string;
  /** The runtime the calves run under; default runc (`runc`). */
  readonly runtime?: ContainerRuntime;
}

/** The command line `RUNTIME --root ROOT ARGS…` as [file, argv]. */
function runtimeCommand(target: RuncTarget, args: readonly string[]): [string, string[]] {
  const [file, ...prefix] = target.runtime?.argv ?? [target.runc ?? "runc"];
  return [file!, [...prefix, "--root", target.runcRoot, ...args]];
}

/** Runs `RUNTIME --root ROOT ARGS…` (runc or crun) to completion. */
export function runRunc(target: RuncTarget, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file, argv] = runtimeCommand(target, args);
  return new Promise((resolve) => {
    execFile(file, argv, { env: RUNC_ENV }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A calf's runc process and priv's ends of its channels, right after `runc run`. */
export interface StartedCalf {
  readonly child: ChildProcess;
  readonly control: SocketPair;
  readonly data: SocketPair;
  /** Resolves with the exit status once runc's stdio closed; set before anyone listens. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Makes the two socket pairs (under `runtimeDir`) and runs the calf's bundle. The calf holds its
 * ends afterwards: priv's copies of them are closed here, or the channels would outlive it.
 */
export async function runCalfContainer(target: RuncTarget & { runtimeDir: string }, name: CalfName, bundleDir: string): Promise<StartedCalf> {
  const pairs = await createSocketPairs(target.runtimeDir, 2, name);
  const [control, data] = pairs as [SocketPair, SocketPair];
  // --no-new-keyring: the priv's seccomp filter refuses keyctl (priv-sandbox/seccomp.ts), and
  // the calf's refuses it too, so a session keyring of its own would be one it cannot use.
  const child = spawn(
    ...runtimeCommand(target, ["run", "--no-new-keyring", "--bundle", bundleDir, "--preserve-fds", "2", calfContainerId(name)]),
    { stdio: ["ignore", "pipe", "pipe", control.calf, data.calf], env: RUNC_ENV },
  );
  control.calf.destroy();
  data.calf.destroy();
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, control, data, closed };
}

/** What removeStaleCalf did, for the caller's log. */
export type StaleRemoval =
  | { kind: "container"; id: string; ok: boolean; stderr: string }
  | { kind: "dir"; name: string }
  | { kind: "cgroup"; path: string };

/** Where cgroup hierarchies are mounted (v1 controllers and the unified one). */
const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * Removes what a crashed run of these calves left: their runc containers (possibly still running,
 * since `runc run` dying does not kill its container), their bundle dirs, and channel dirs older
 * than a minute. Only these calves' state: several supervisors (a priv per interface) may share
 * one runtime dir and runc root. Spawns runc only for a container whose state exists.
 */
export async function removeStaleCalves(
  target: RuncTarget & { runtimeDir: string },
  names: readonly CalfName[],
  cgroupParent: string = DEFAULT_CGROUP_PARENT,
): Promise<StaleRemoval[]> {
  const done: StaleRemoval[] = [];
  let present = new Set<string>();
  try {
    present = new Set(await readdir(target.runcRoot));
  } catch {
    // No runc root yet: nothing of ours can be there.
  }
  for (const name of names) {
    const id = calfContainerId(name);
    if (!present.has(id)) continue;
    const r = await runRunc(target, ["delete", "--force", id]);
    done.push({ kind: "container", id, ok: r.code === 0, stderr: r.stderr.trim() });
  }
  // A runc killed hard leaves its container's (empty) cgroups behind; rmdir removes only empty ones.
  const hierarchies = await readdir(CGROUP_ROOT).catch(() => [] as string[]);
  for (const name of names) {
    for (const h of hierarchies) {
      const dir = path.join(CGROUP_ROOT, h, cgroupParent, name);
      if (await rmdir(dir).then(() => true, () => false)) done.push({ kind: "cgroup", path: dir });
    }
  }
  let entries: string[] = [];
  try {
    entries = await readdir(target.runtimeDir);
  } catch {
    return done;
  }
  const wanted = new Set<string>(names);
  for (const e of entries) {
    const dir = path.join(target.runtimeDir, e);
    const staleChannels = e.startsWith(".channels-") && Date.now() - (await stat(dir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 60_000;
    if (wanted.has(e) || staleChannels) {
      await rm(dir, { recursive: true, force: true });
      done.push({ kind: "dir", name: e });
    }
  }
  return done;
}
