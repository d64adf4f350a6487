/**
 * Which capabilities the priv keeps once it has started (issue 12; the evidence for each is in
 * docs/decisions/0009-priv-capabilities.md): what runc needs to start and restart calves, what
 * the priv's own work needs (packet and netlink sockets, tc and eBPF, chown of calf
 * directories), plus what each running service declares (`privCapabilities`). Pure: no I/O.
 */

/** Linux capability names by number (<linux/capability.h>, up to 6.x). */
export const CAPABILITY_NAMES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
  "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

/** A capability by name, e.g. "CAP_NET_ADMIN". */
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

/** Whether `name` is a capability this table knows. */
export function isCapabilityName(name: string): name is CapabilityName {
  return (CAPABILITY_NAMES as readonly string[]).includes(name);
}

/** The number of a capability (CAP_NET_ADMIN → 12). */
export function capabilityNumber(name: CapabilityName): number {
  return CAPABILITY_NAMES.indexOf(name);
}

/**
 * What runc 1.1 needs to start a calf (user, pid, net, ipc, uts, mount and cgroup namespaces, a
 * read-only root with bind mounts made from inside the calf's mount namespace, cgroup limits, the
 * calf's seccomp filter), found by starting calves with one capability less each time (decision
 * 0009 has what failed without each). CAP_SYS_PTRACE is for opening the new container's
 * /proc/PID/ns/mnt; ptrace(2) itself stays refused by the priv's seccomp filter. CAP_KILL is not
 * needed: the priv's uid owns the calf's user namespace, which gives it every capability there.
 */
export const RUNC_CAPABILITIES: readonly CapabilityName[] = [
  "CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_SYS_PTRACE", "CAP_SYS_CHROOT",
];

/**
 * What the priv's own work needs whatever its services: addresses, routes, links, tc filters,
 * SO_MARK (CAP_NET_ADMIN); packet sockets and SO_BINDTODEVICE (CAP_NET_RAW). Loading the eBPF
 * egress programs needs CAP_BPF or CAP_SYS_ADMIN: runc's set has the latter, EBPF_CAPABILITIES
 * the former.
 */
export const PRIV_BASE_CAPABILITIES: readonly CapabilityName[] = ["CAP_NET_ADMIN", "CAP_NET_RAW"];

/**
 * What loading the eBPF egress programs needs when runc's CAP_SYS_ADMIN is not there (calves
 * started outside the priv, docs/decisions/0013-external-calves.md): CAP_BPF. Measured on kernel
 * 6.18 with the tc program and CAP_NET_ADMIN: without CAP_BPF bpf_object__load fails with EPERM;
 * with it the program loads and attaches; CAP_PERFMON changes nothing, so it is not kept.
 */
export const EBPF_CAPABILITIES: readonly CapabilityName[] = ["CAP_BPF"];

/** How the calves start, as far as the priv's capabilities are concerned. */
export interface PrivCapabilityOptions {
  /** false: the calves are started outside the priv, so runc's capabilities are not kept (default true). */
  readonly runsCalves?: boolean;
}

/** The capabilities the priv keeps for these services (their declared needs as their options make them). */
export function privCapabilities(serviceNeeds: ReadonlyArray<readonly CapabilityName[]>, opts: PrivCapabilityOptions = {}): CapabilityName[] {
  const calves = opts.runsCalves === false ? EBPF_CAPABILITIES : RUNC_CAPABILITIES;
  const wanted = new Set<CapabilityName>([...calves, ...PRIV_BASE_CAPABILITIES, ...serviceNeeds.flat()]);
  return CAPABILITY_NAMES.filter((c) => wanted.has(c));
}

/** The names in a capability mask as /proc/PID/status prints it (hex, e.g. "0000000000203100"). */
export function capabilitiesInMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  const out: string[] = [];
  for (let n = 0; n < 64; n++) {
    if (((mask >> BigInt(n)) & 1n) === 0n) continue;
    out.push(CAPABILITY_NAMES[n] ?? `CAP_${n}`);
  }
  return out;
}
