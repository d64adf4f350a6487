/**
 * The priv's systemd unit, written by `paddock generate` for one priv (one set of services on its
 * interfaces). Each hardening directive is chosen for what the priv and runc do, and the ones it
 * cannot take say why in a comment in the unit, so the file explains itself to an auditor.
 *
 * What is relaxed, and why (docs/generate.md, "The unit"):
 *   - no RestrictNamespaces, PrivateUsers or PrivateNetwork: runc makes the calves' namespaces,
 *     and the priv configures the host's own network;
 *   - no MemoryDenyWriteExecute: the priv runs Node with its JIT (the calves run --jitless);
 *   - no ProtectProc=invisible or ProcSubset=pid: runc opens /proc/PID of calves that run as
 *     another uid, and reads /proc/sys; untried under systemd on this project's machines;
 *   - /sys/fs/cgroup stays writable (ReadWritePaths): runc creates each calf's cgroup;
 *   - ProtectClock only without CAP_SYS_TIME, ProtectHostname only when no service writes the
 *     host name (it would give the unit a UTS namespace of its own).
 *
 * With calves started outside the priv (`calf-launch: external`, ./calf-units.ts, decision 0013)
 * the first four do not apply: no runc, so RestrictNamespaces=yes, ProtectControlGroups=yes,
 * ProtectProc=invisible, no cgroup writes, and a bounding set without runc's capabilities.
 */
import type { PrivLimits } from "./deployment.ts";
import type { CapabilityNeed } from "./capabilities.ts";

/** The kernel file a service writes the host name to (ProtectHostname would make that private). */
export const HOSTNAME_FILE = "/proc/sys/kernel/hostname";

/** The address families the priv uses: its admin socket, netlink, packet and UDP channels. */
export const PRIV_ADDRESS_FAMILIES = ["AF_UNIX", "AF_NETLINK", "AF_PACKET", "AF_INET", "AF_INET6"] as const;

/**
 * The system calls the priv and runc make: systemd's @system-service set, mounts (runc builds the
 * calf's root), and the few beyond both: bpf (the tc egress program), pivot_root, setns and unshare
 * (runc), seccomp (the calf's filter). Anything else fails with ENOSYS rather than killing the
 * process, so a libc that tries a newer call first falls back instead of taking the network down.
 */
export const PRIV_SYSCALL_FILTER = ["@system-service", "@mount", "bpf", "pivot_root", "setns", "unshare", "seccomp", "keyctl"] as const;

/** The system calls of a priv whose calves start outside it: @system-service and bpf (its tc programs); nothing of runc's. */
export const EXTERNAL_PRIV_SYSCALL_FILTER = ["@system-service", "bpf"] as const;

/** One line of a unit: [section, key, value, comment?]. */
export type UnitDirective = [string, string, string, string?];

/** Everything a unit is made from. */
export interface UnitPlan {
  /** The unit's name without ".service". */
  readonly name: string;
  readonly description: string;
  /** ExecStart's argv (no element may contain whitespace: the deployment's paths are checked). */
  readonly execStart: readonly string[];
  readonly capabilities: readonly CapabilityNeed[];
  /** The priv's state and runtime directories. */
  readonly stateDir: string;
  readonly runtimeDir: string;
  /** Further paths the services write (ServiceDefinition.privWritePaths). */
  readonly writePaths: readonly string[];
  readonly limits: PrivLimits;
  readonly readyTimeoutSeconds: number;
  /** Where it came from, for the header comment. */
  readonly source: string;
  /** Calves started outside the priv: their socket and service units (./calf-units.ts). */
  readonly external?: { readonly sockets: readonly string[]; readonly calves: readonly string[] };
}

/** /var/lib/X and /run/X become StateDirectory=X and RuntimeDirectory=X; other paths ReadWritePaths. */
function managedDir(dir: string, root: string): string | undefined {
  return dir.startsWith(`${root}/`) && !dir.slice(root.length + 1).includes("..") ? dir.slice(root.length + 1) : undefined;
}

/** The directives of the unit, in order, as [section, key, value, comment?]. */
export function unitDirectives(plan: UnitPlan): UnitDirective[] {
  const ext = plan.external;
  const caps = plan.capabilities.map((c) => c.name);
  const writesClock = caps.includes("CAP_SYS_TIME");
  const writesHostname = plan.writePaths.includes(HOSTNAME_FILE);
  const state = managedDir(plan.stateDir, "/var/lib");
  const runtime = managedDir(plan.runtimeDir, "/run");
  const readWrite = [
    ...(state ? [] : [plan.stateDir]),
    ...(runtime ? [] : [plan.runtimeDir]),
    ...(ext ? [] : ["/sys/fs/cgroup"]),
    ...plan.writePaths,
  ];
  const only = (cond: boolean, ...d: UnitDirective[]): UnitDirective[] => (cond ? d : []);
  const d: UnitDirective[] = [
    ["Unit", "Description", plan.description],
    ["Unit", "Documentation", "file:///usr/share/doc/paddock/generate.md"],
    ["Unit", "After", "network-pre.target", "configures the network: after the firewall and the like, before anything that waits for it"],
    ["Unit", "Wants", "network-pre.target network.target"],
    ["Unit", "Before", "network.target network-online.target"],
    ...only(!!ext, ["Unit", "Wants", (ext?.calves ?? []).join(" "), "its calves, each in a unit of its own (not ordered: READY=1 waits for them)"]),
    ["Service", "Type", "notify", "READY=1 when every service is ready (the DHCP client: its first lease applied) or after --ready-timeout"],
    ["Service", "NotifyAccess", "main"],
    ["Service", "ExecStart", plan.execStart.join(" ")],
    ...only(!!ext, ["Service", "Sockets", (ext?.sockets ?? []).join(" "), "the calves connect here; the priv gets the listening sockets (LISTEN_FDNAMES = the calves' names)"]),
    ["Service", "ExecReload", "/bin/kill -HUP $MAINPID", "re-reads the configuration without dropping leases"],
    ["Service", "Restart", "on-failure"],
    ["Service", "RestartSec", "1"],
    ["Service", "TimeoutStartSec", String(plan.readyTimeoutSeconds + 30)],
    ["Service", "TimeoutStopSec", "15"],
    ["Service", "WatchdogSec", "30s"],
    ["Service", "Environment", "NODE_OPTIONS=", "no inspector, no preloaded code: nothing of the environment reaches Node"],
    ["Service", "UnsetEnvironment", "NODE_EXTRA_CA_CERTS NODE_PATH NODE_DEBUG NODE_V8_COVERAGE"],
    ["Service", "UMask", "0077"],
    ["Service", "CapabilityBoundingSet", caps.join(" "), plan.capabilities.map((c) => `${c.name}: ${c.reasons.join("; ")}`).join("\n")],
    ["Service", "AmbientCapabilities", ""],
    ["Service", "NoNewPrivileges", "yes", ext ? "the calves' units set it too" : "runc needs no set-uid program; the calves set it again in their own config"],
    ["Service", "ProtectSystem", "strict"],
    ...(state ? ([["Service", "StateDirectory", state], ["Service", "StateDirectoryMode", "0711"]] as Array<[string, string, string]>) : []),
    ...(runtime
      ? ([["Service", "RuntimeDirectory", runtime, "0711: the calves' unprivileged uid reaches their root file systems under it"], ["Service", "RuntimeDirectoryMode", "0711"], ["Service", "RuntimeDirectoryPreserve", "yes"]] as Array<[string, string, string, string?]>)
      : []),
    ...only(readWrite.length > 0, ["Service", "ReadWritePaths", readWrite.join(" "), ext ? "what the services write (their definitions' privWritePaths)" : "runc creates each calf's cgroup; the rest: what the services write (their definitions' privWritePaths)"]),
    ["Service", "ProtectHome", "yes"],
    ["Service", "PrivateTmp", "yes"],
    ["Service", "PrivateMounts", "yes", ...(ext ? [] : ["runc's mounts stay in the calves' own namespaces; nothing propagates to the host"])] as UnitDirective,
    ["Service", "PrivateDevices", "yes", ...(ext ? [] : ["runc binds only null, zero, full, random, urandom and tty into a calf, which this /dev has"])] as UnitDirective,
    ["Service", "PrivateIPC", "yes"],
    ["Service", "ProtectKernelTunables", "yes"],
    ["Service", "ProtectKernelModules", "yes"],
    ["Service", "ProtectKernelLogs", "yes"],
    ...(ext ? only(true, ["Service", "ProtectControlGroups", "yes"], ["Service", "RestrictNamespaces", "yes", "no runc: the priv makes no namespace"], ["Service", "ProtectProc", "invisible"]) : only(true, ["Service", "ProtectControlGroups", "no", "runc writes the calves' cgroups"])),
    ...(writesClock ? ([["Service", "ProtectClock", "no", "CAP_SYS_TIME: a service sets the clock"]] as Array<[string, string, string, string?]>) : ([["Service", "ProtectClock", "yes"]] as Array<[string, string, string]>)),
    ...(writesHostname ? ([["Service", "ProtectHostname", "no", "a service writes the host name"]] as Array<[string, string, string, string?]>) : ([["Service", "ProtectHostname", "yes"]] as Array<[string, string, string]>)),
    ["Service", "RestrictAddressFamilies", PRIV_ADDRESS_FAMILIES.join(" ")],
    ["Service", "RestrictRealtime", "yes"],
    ["Service", "RestrictSUIDSGID", "yes"],
    ["Service", "LockPersonality", "yes"],
    ["Service", "SystemCallArchitectures", "native"],
    ["Service", "SystemCallFilter", [...(ext ? EXTERNAL_PRIV_SYSCALL_FILTER : PRIV_SYSCALL_FILTER), ...(writesClock ? ["@clock"] : [])].join(" ")],
    ["Service", "SystemCallErrorNumber", "ENOSYS", "a refused call fails, the process lives (libc falls back)"],
    ["Service", "KeyringMode", "private"],
    ["Service", "MemoryMax", `${plan.limits.memoryMaxMiB}M`, ext ? "the priv; each calf's unit has its definition's limit" : "the priv and runc; each calf has its own cgroup limit from its definition"],
    ["Service", "TasksMax", String(plan.limits.tasksMax)],
    ...(plan.limits.cpuQuotaPercent !== undefined ? ([["Service", "CPUQuota", `${plan.limits.cpuQuotaPercent}%`]] as Array<[string, string, string]>) : []),
    ["Service", "OOMScoreAdjust", "-500", "under memory pressure the calves (+500) go first, the network configuration last"],
    ["Install", "WantedBy", "multi-user.target"],
  ];
  return d;
}

/** The unit file's text. */
export function renderUnit(plan: UnitPlan): string {
  return renderDirectives(unitDirectives(plan), plan.source);
}

/** A unit file's text from its directives. */
export function renderDirectives(directives: readonly UnitDirective[], source: string): string {
  const out: string[] = [`# Generated by paddock generate from ${source}; do not edit: change the deployment and generate again.`];
  let section = "";
  for (const [sec, key, value, comment] of directives) {
    if (sec !== section) {
      out.push("", `[${sec}]`);
      section = sec;
    }
    if (comment) for (const line of comment.split("\n")) out.push(`# ${line}`);
    out.push(`${key}=${value}`);
  }
  return `${out.join("\n")}\n`;
}

/** A unit's directives as a map KEY → values (a key given twice keeps both), for the checks. */
export function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!m) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}
