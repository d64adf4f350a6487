/**
 * The calves' containers under a Paddock runtime directory, whichever OCI runtime ran them: runc
 * keeps its state in RUNTIME_DIR/runc, crun in RUNTIME_DIR/crun (docs/decisions/0011-container-runtime.md).
 * `list` needs no cgroups, so crun answers it even on a hybrid-cgroup host.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** One container as `RUNTIME list --format json` reports it, and the runtime that ran it. */
export interface CalfContainer {
  readonly runtime: "runc" | "crun";
  readonly id: string;
  readonly pid: number;
  readonly status: string;
  readonly bundle: string;
}

/** Every container whose state is under `runtimeDir` (runc's, then crun's). */
export function listCalfContainers(runtimeDir: string): CalfContainer[] {
  const out: CalfContainer[] = [];
  for (const runtime of ["runc", "crun"] as const) {
    const root = path.join(runtimeDir, runtime);
    if (!existsSync(root)) continue;
    const r = spawnSync(runtime, ["--root", root, "list", "--format", "json"], { encoding: "utf8" });
    if (r.status !== 0) continue;
    try {
      for (const c of (JSON.parse(r.stdout || "null") ?? []) as Array<Omit<CalfContainer, "runtime">>) out.push({ runtime, ...c });
    } catch {
      // Output cut short by a runtime killed mid-write: nothing listed from it.
    }
  }
  return out;
}

/** The host pid of the running calf under `runtimeDir`, or undefined. */
export function runningCalfPid(runtimeDir: string): number | undefined {
  return listCalfContainers(runtimeDir).find((c) => c.status === "running" && c.pid > 0)?.pid;
}
