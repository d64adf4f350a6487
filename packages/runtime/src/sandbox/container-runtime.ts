/**
 * Which OCI runtime starts the calves: runc or crun (docs/decisions/0011-container-runtime.md).
 * Both take the same bundle and the same command line (`--root R run --no-new-keyring --bundle B
 * --preserve-fds 2 ID`, `state`, `kill`, `delete --force`); crun starts faster and its own process
 * is a third of runc's size.
 *
 * crun 1.8 refuses a hybrid cgroup layout (v1 controllers under /sys/fs/cgroup, a cgroup2 mount
 * at /sys/fs/cgroup/unified holding a controller such as hugetlb): "cgroups in hybrid mode not
 * supported, drop all controllers from cgroupv2", even with --cgroup-manager disabled. On such a
 * host each crun command runs in a mount namespace of its own in which the cgroup2 mount is
 * unmounted: crun then sees the v1 layout and sets the calf's v1 limits as runc does. The host's
 * mounts are untouched (the namespace's propagation is private).
 *
 * The choice is made once per start from files (PATH, /proc/self/mountinfo, the cgroup2 mount's
 * cgroup.controllers), without running anything, so the early start (../early.ts) and the host
 * make the same choice in well under a millisecond. Imports nothing heavy, for the early start.
 */
import { readFileSync } from "node:fs";
import { findExecutable } from "./executable.ts";

/** What `--container-runtime` accepts: `auto` is crun when it works on this host, runc otherwise. */
export const CONTAINER_RUNTIME_CHOICES = ["auto", "runc", "crun"] as const;
export type ContainerRuntimeChoice = (typeof CONTAINER_RUNTIME_CHOICES)[number];

/** Whether `value` is one of CONTAINER_RUNTIME_CHOICES. */
export function isContainerRuntimeChoice(value: string): value is ContainerRuntimeChoice {
  return (CONTAINER_RUNTIME_CHOICES as readonly string[]).includes(value);
}

/** The runtime the calves run under: its name (also its state directory's) and the command that runs it. */
export interface ContainerRuntime {
  readonly name: "runc" | "crun";
  /** The command line before the runtime's own arguments (`--root …`): the binary, or a wrapper and the binary. */
  readonly argv: readonly string[];
}

/** How cgroups are mounted, as far as the choice of runtime cares. */
export type CgroupLayout =
  /** /sys/fs/cgroup is a cgroup2 mount. */
  | { readonly kind: "unified" }
  /** v1 hierarchies only, or beside a cgroup2 mount that holds no controller. */
  | { readonly kind: "legacy" }
  /** v1 hierarchies beside a cgroup2 mount (at `unifiedMount`) that holds controllers: crun refuses this. */
  | { readonly kind: "hybrid"; readonly unifiedMount: string };

/** Where the cgroup hierarchies are mounted. */
const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * The layout from /proc/self/mountinfo's text; `controllersOf(mountPoint)` reads a cgroup2
 * mount's cgroup.controllers. Pure apart from that callback, for tests.
 */
export function cgroupLayoutFrom(mountinfo: string, controllersOf: (mountPoint: string) => string): CgroupLayout {
  // mountinfo(5): ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTS.
  // A later mount at the same point hides an earlier one, so the last line for a point wins.
  const fsTypeAt = new Map<string, string>();
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 5 || fields[4] === undefined || fields[dash + 1] === undefined) continue;
    fsTypeAt.set(fields[4], fields[dash + 1]!);
  }
  if (fsTypeAt.get(CGROUP_ROOT) === "cgroup2") return { kind: "unified" };
  for (const [point, type] of fsTypeAt) {
    if (type !== "cgroup2" || !point.startsWith(`${CGROUP_ROOT}/`)) continue;
    if (controllersOf(point).trim() !== "") return { kind: "hybrid", unifiedMount: point };
  }
  return { kind: "legacy" };
}

/** This host's layout. */
export function hostCgroupLayout(): CgroupLayout {
  let mountinfo = "";
  try {
    mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return { kind: "legacy" };
  }
  return cgroupLayoutFrom(mountinfo, (point) => {
    try {
      return readFileSync(`${point}/cgroup.controllers`, "utf8");
    } catch {
      return "";
    }
  });
}

/** The command that runs crun on a host with `layout`. */
export function crunArgv(crun: string, layout: CgroupLayout): readonly string[] {
  if (layout.kind !== "hybrid") return [crun];
  // unshare(1) makes the mount namespace and execs sh; sh unmounts the cgroup2 mount there and
  // execs crun, so the process the caller holds (its pid, its signals, fds 3 and 4) is crun's.
  return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", 'umount "$0" && exec "$@"', layout.unifiedMount, crun];
}

/** Why a runtime cannot be used, as one sentence, with a stable code. */
export interface ContainerRuntimeProblem {
  readonly code: "PADDOCK_E_HOST_NO_RUNC" | "PADDOCK_E_HOST_NO_CRUN";
  readonly message: string;
}

/** What the choice needs to know about the host; the defaults look at this one. */
export interface ContainerRuntimeProbe {
  /** The runc binary (default `runc` on PATH). */
  readonly runc?: string;
  /** The crun binary (default `crun` on PATH). */
  readonly crun?: string;
  readonly isExecutable?: (cmd: string) => boolean;
  readonly layout?: () => CgroupLayout;
}

/**
 * The runtime `choice` means on this host: `auto` is crun when crun is installed and usable with
 * this cgroup layout, runc otherwise; `runc` and `crun` are that runtime or a problem.
 */
export function resolveContainerRuntime(
  choice: ContainerRuntimeChoice,
  probe: ContainerRuntimeProbe = {},
): { ok: true; value: ContainerRuntime } | { ok: false; error: ContainerRuntimeProblem } {
  const isExecutable = probe.isExecutable ?? findExecutable;
  const runc = probe.runc ?? "runc";
  const crun = probe.crun ?? "crun";
  const crunUsable = (): { ok: true; value: ContainerRuntime } | { ok: false; error: ContainerRuntimeProblem } => {
    if (!isExecutable(crun)) return { ok: false, error: { code: "PADDOCK_E_HOST_NO_CRUN", message: `${crun} is not installed (not found on PATH); install the Debian package crun or start with --container-runtime runc` } };
    const layout = (probe.layout ?? hostCgroupLayout)();
    if (layout.kind === "hybrid" && !isExecutable("unshare")) {
      return { ok: false, error: { code: "PADDOCK_E_HOST_NO_CRUN", message: `crun needs unshare (util-linux) on this host, whose cgroup2 mount ${layout.unifiedMount} holds controllers; install util-linux or start with --container-runtime runc` } };
    }
    return { ok: true, value: { name: "crun", argv: crunArgv(crun, layout) } };
  };
  if (choice === "crun") return crunUsable();
  if (choice === "auto") {
    const c = crunUsable();
    if (c.ok) return c;
  }
  if (!isExecutable(runc)) {
    const message = choice === "auto"
      ? `neither crun nor ${runc} is installed (not found on PATH); install the Debian package crun or runc`
      : `${runc} is not installed (not found on PATH); install the Debian package runc`;
    return { ok: false, error: { code: "PADDOCK_E_HOST_NO_RUNC", message } };
  }
  return { ok: true, value: { name: "runc", argv: [runc] } };
}
