/**
 * The calves running under a priv's runtime directory, whichever OCI runtime started them (runc or
 * crun: each keeps its state in RUNTIME_DIR/NAME).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** One container as `runc list` / `crun list --format json` describe it. */
export interface ListedContainer {
  readonly id: string;
  readonly pid: number;
  readonly status: string;
  readonly bundle: string;
}

/** Every container under `runtimeDir`'s runc and crun state directories. */
export function listContainers(runtimeDir: string): ListedContainer[] {
  const out: ListedContainer[] = [];
  for (const runtime of ["runc", "crun"]) {
    const root = path.join(runtimeDir, runtime);
    if (!existsSync(root)) continue;
    const listed = spawnSync(runtime, ["--root", root, "list", "--format", "json"], { encoding: "utf8" });
    if (listed.status !== 0) continue;
    out.push(...((JSON.parse(listed.stdout || "null") ?? []) as ListedContainer[]));
  }
  return out;
}
