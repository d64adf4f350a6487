/**
 * The units of a deployment whose calves start outside the priv (`calf-launch: external`,
 * docs/decisions/0013-external-calves.md): per calf a `.socket` unit that systemd listens on and
 * hands to the priv (FileDescriptorName= the calf's name), and a `.service` unit that runs
 * paddock-calf-launch, which connects to that socket twice and execs the calf with the
 * connections at fd 3 and fd 4. The calf's sandbox is systemd's own: a system user of its own,
 * no capabilities, no network, only AF_UNIX, the OCI bundle's seccomp allowlist (the same list:
 * calfSeccompProfile) plus the launcher's socket and connect, W^X (MemoryDenyWriteExecute), a
 * read-only file system, and its definition's memory, task and CPU limits.
 *
 * Why not After= the priv: the priv is Type=notify and says READY=1 once its calves answered, so
 * a calf ordered after it would wait for a readiness that waits for it. The socket is listening
 * before either starts, so whichever comes first waits in connect()/accept().
 */
import path from "node:path";
import { CALF_SCRIPT_PATH, calfOciConfig, calfSeccompProfile, type CalfEngine, type NodeRuntime } from "@paddock/runtime";
import type { UnitDirective } from "./unit.ts";

/** What one calf's units are made from. */
export interface CalfUnitPlan {
  /** The calf's name (SERVICE-IFACE): its socket's FileDescriptorName= and file name. */
  readonly calf: string;
  readonly service: string;
  readonly iface: string;
  /** The priv's unit name (without .service). */
  readonly privUnit: string;
  /** The unit name stem of this calf's units (without .socket/.service). */
  readonly unit: string;
  /** The socket file (RUNTIME_DIR/calves/CALF.sock). */
  readonly socketPath: string;
  /** The launcher on the target. */
  readonly launcher: string;
  /** The calf's script on the target (or, on QuickJS, its executable). */
  readonly script: string;
  readonly engine: CalfEngine;
  readonly memoryMiB: number;
  readonly pids: number;
  readonly cpuCores: number | undefined;
  /** The system user the calves run as (created by the sysusers.d file). */
  readonly user: string;
  readonly runtime: NodeRuntime;
  /** Where it came from, for the header comment. */
  readonly source: string;
}

/** Calls the launcher makes before it execs the calf, beyond the calf's own allowlist. */
export const LAUNCHER_SYSCALLS = ["socket", "connect"] as const;

/** The calf unit's SystemCallFilter=: every call the OCI bundle's seccomp profile allows (by name), and the launcher's. */
export function calfSyscallFilter(engine: CalfEngine): string[] {
  const names = calfSeccompProfile(undefined, engine).syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW").flatMap((r) => r.names);
  return [...new Set([...names, ...LAUNCHER_SYSCALLS])];
}

/** The calf's command line on the host: the OCI config's, with the script where it is installed. */
export function calfCommandLine(plan: Pick<CalfUnitPlan, "calf" | "script" | "engine" | "memoryMiB" | "pids" | "runtime">): { args: string[]; env: string[] } {
  const config = calfOciConfig({ name: plan.calf as never, script: plan.script, engine: plan.engine, memoryBytes: plan.memoryMiB * 1024 * 1024, pids: plan.pids }, plan.runtime);
  const proc = config.process as { args: string[]; env: string[] };
  return { args: proc.args.map((a) => (a === CALF_SCRIPT_PATH || a === "/calf/main" ? plan.script : a)), env: proc.env };
}

/** The directives of a calf's `.socket` unit. */
export function calfSocketDirectives(plan: CalfUnitPlan): UnitDirective[] {
  return [
    ["Unit", "Description", `Paddock calf socket: ${plan.service} on ${plan.iface} (${plan.privUnit})`],
    ["Unit", "Documentation", "file:///usr/share/doc/paddock/generate.md"],
    ["Unit", "PartOf", `${plan.privUnit}.service`],
    ["Socket", "ListenStream", plan.socketPath],
    ["Socket", "FileDescriptorName", plan.calf, "the priv finds its calf's socket by this name (LISTEN_FDNAMES)"],
    ["Socket", "Service", `${plan.privUnit}.service`],
    ["Socket", "SocketUser", plan.user, "only the calf's user (and root) can connect; the priv also checks SO_PEERCRED"],
    ["Socket", "SocketGroup", plan.user],
    ["Socket", "SocketMode", "0600"],
    ["Socket", "DirectoryMode", "0711"],
    ["Socket", "RemoveOnStop", "yes"],
    ["Install", "WantedBy", "sockets.target"],
  ];
}

/** The directives of a calf's `.service` unit. */
export function calfServiceDirectives(plan: CalfUnitPlan): UnitDirective[] {
  const cmd = calfCommandLine(plan);
  const execStart = [plan.launcher, ...cmd.env.flatMap((e) => ["-e", e]), plan.socketPath, ...cmd.args];
  return [
    ["Unit", "Description", `Paddock calf: ${plan.service} on ${plan.iface} (${plan.privUnit})`],
    ["Unit", "Documentation", "file:///usr/share/doc/paddock/generate.md"],
    ["Unit", "PartOf", `${plan.privUnit}.service`, "stopped and restarted with the priv; not ordered after it (see generate.md: the priv's READY=1 waits for its calves)"],
    ["Unit", "Requires", `${plan.unit}.socket`],
    ["Unit", "After", `${plan.unit}.socket`],
    ["Unit", "StartLimitIntervalSec", "60"],
    ["Unit", "StartLimitBurst", "30", "a calf that crashes at once is given up after 30 starts a minute, not retried forever"],
    ["Service", "Type", "exec"],
    ["Service", "ExecStart", execStart.join(" "), "paddock-calf-launch connects to the priv's socket (fd 3 control, fd 4 data) and execs the calf"],
    ["Service", "User", plan.user],
    ["Service", "Group", plan.user],
    ["Service", "Restart", "always", "a disconnect is the calf's exit for the priv, which waits for the next connection"],
    ["Service", "RestartSec", "100ms"],
    ["Service", "UMask", "0077"],
    ["Service", "CapabilityBoundingSet", ""],
    ["Service", "AmbientCapabilities", ""],
    ["Service", "NoNewPrivileges", "yes"],
    ["Service", "PrivateNetwork", "yes", "only loopback: its channels to the priv are AF_UNIX sockets on the file system"],
    ["Service", "IPAddressDeny", "any"],
    ["Service", "RestrictAddressFamilies", "AF_UNIX"],
    ["Service", "PrivateUsers", "yes"],
    ["Service", "PrivateTmp", "yes"],
    ["Service", "PrivateDevices", "yes"],
    ["Service", "PrivateIPC", "yes"],
    ["Service", "PrivateMounts", "yes"],
    ["Service", "ProtectSystem", "strict"],
    ["Service", "ProtectHome", "yes"],
    ["Service", "TemporaryFileSystem", "/etc /var /srv /opt /mnt /media", "the engine needs its binary, its libraries and the calf's file, nothing of these"],
    ["Service", "ProtectProc", "invisible"],
    ["Service", "ProcSubset", "pid"],
    ["Service", "ProtectKernelTunables", "yes"],
    ["Service", "ProtectKernelModules", "yes"],
    ["Service", "ProtectKernelLogs", "yes"],
    ["Service", "ProtectControlGroups", "yes"],
    ["Service", "ProtectClock", "yes"],
    ["Service", "ProtectHostname", "yes"],
    ["Service", "RestrictNamespaces", "yes"],
    ["Service", "RestrictRealtime", "yes"],
    ["Service", "RestrictSUIDSGID", "yes"],
    ["Service", "LockPersonality", "yes"],
    ["Service", "MemoryDenyWriteExecute", "yes", "W^X: the calf runs --jitless (Node) or has no JIT (QuickJS)"],
    ["Service", "RemoveIPC", "yes"],
    ["Service", "KeyringMode", "private"],
    ["Service", "DevicePolicy", "closed"],
    ["Service", "SystemCallArchitectures", "native"],
    ["Service", "SystemCallFilter", calfSyscallFilter(plan.engine).join(" "), "the OCI bundle's seccomp allowlist (calfSeccompProfile), and socket and connect for paddock-calf-launch"],
    ["Service", "SystemCallErrorNumber", "ENOSYS", "libc and libuv fall back (clone3 → clone) as if the kernel lacked the call"],
    ["Service", "MemoryMax", `${plan.memoryMiB}M`],
    ["Service", "MemorySwapMax", "0"],
    ["Service", "TasksMax", String(plan.pids)],
    ["Service", "CPUQuota", `${Math.round(Math.min(1, Math.max(0.05, plan.cpuCores ?? 1)) * 100)}%`],
    ["Service", "LimitNOFILE", "64"],
    ["Service", "LimitCORE", "0"],
    ["Service", "OOMScoreAdjust", "500"],
    ["Install", "WantedBy", `${plan.privUnit}.service`],
  ];
}

/** The sysusers.d(5) line of the calves' user: a system user with no home and no shell. */
export function calfSysusers(user: string): string {
  return `# Generated by paddock generate: the user every calf of this deployment runs as.\nu ${user} - "Paddock calves" / ${path.posix.join("/usr/sbin", "nologin")}\n`;
}
