/**
 * The priv's capability bounding set for a set of services: what every priv needs (netlink, tc,
 * runc), what each service's channels imply, and what each service declares for its options
 * (ServiceDefinition.privCapabilities). Each capability carries its reason, which the check report
 * prints, so a reader can question any one of them.
 *
 * The base set follows what the priv and runc do (docs/generate.md, "Capabilities"):
 *   - rtnetlink addresses, routes and links, tc clsact and its filters, SO_MARK: CAP_NET_ADMIN;
 *   - loading the tc egress eBPF program: CAP_BPF (with CAP_NET_ADMIN for the attach);
 *   - runc creating the calf's namespaces, mounts and pivot_root, writing its cgroups and seccomp
 *     filter: CAP_SYS_ADMIN; its uid/gid maps and setgroups: CAP_SETUID, CAP_SETGID; dropping the
 *     calf's bounding set: CAP_SETPCAP; chowning its exec fifo to the calf's mapped root:
 *     CAP_CHOWN; opening its rootfs and bundle as the mapped root: CAP_DAC_OVERRIDE, CAP_FOWNER;
 *     lowering the calf's RLIMIT_NOFILE and setting its oom_score_adj: CAP_SYS_RESOURCE;
 *   - signalling calves, which run as another uid: CAP_KILL.
 */
import type { ServiceDefinition } from "@paddock/runtime";

/** One capability and why the priv holds it. */
export interface CapabilityNeed {
  readonly name: string;
  readonly reasons: readonly string[];
}

/** What every priv needs, whatever it runs. */
export const BASE_PRIV_CAPABILITIES: Readonly<Record<string, string>> = {
  CAP_NET_ADMIN: "rtnetlink (addresses, routes, MTU, link up), tc clsact and filters, SO_MARK on the channels",
  CAP_BPF: "loading each service's tc egress eBPF program",
  CAP_SYS_ADMIN: "runc: the calf's namespaces, mounts, pivot_root, cgroups and seccomp filter",
  CAP_SETUID: "runc: the calf's uid map and its switch to the calf's uid",
  CAP_SETGID: "runc: the calf's gid map, setgroups",
  CAP_SETPCAP: "runc: dropping the calf's bounding set",
  CAP_CHOWN: "runc: its exec fifo handed to the calf's mapped root",
  CAP_DAC_OVERRIDE: "runc: the bundle and rootfs opened as the calf's mapped root",
  CAP_FOWNER: "runc: modes of files in the calf's rootfs and state",
  CAP_SYS_RESOURCE: "runc: the calf's rlimits and oom_score_adj",
  CAP_KILL: "stopping calves, which run as another uid",
};

/** A capability name as capabilities(7) spells it. */
const CAP_NAME = /^CAP_[A-Z_]{2,24}$/;

/**
 * The union for `services` (each with its option values): every capability once, with every reason.
 * Throws an Error naming the service when one declares a capability that is not spelled CAP_….
 */
export function privCapabilities(services: ReadonlyArray<{ readonly definition: ServiceDefinition<any>; readonly options: Readonly<Record<string, unknown>> }>): CapabilityNeed[] {
  const need = new Map<string, string[]>();
  const add = (name: string, reason: string) => {
    const list = need.get(name) ?? [];
    if (!list.includes(reason)) list.push(reason);
    need.set(name, list);
  };
  for (const [name, reason] of Object.entries(BASE_PRIV_CAPABILITIES)) add(name, reason);
  for (const { definition: def, options } of services) {
    if (def.channels.packet) add("CAP_NET_RAW", `${def.name}: its packet channel (AF_PACKET)`);
    const port = def.channels.udp?.localPort ?? 0;
    if (port > 0 && port < 1024) add("CAP_NET_BIND_SERVICE", `${def.name}: its UDP channel binds port ${port}`);
    for (const cap of def.privCapabilities?.(options as never) ?? []) {
      if (!CAP_NAME.test(cap)) throw new Error(`the service ${def.name} declares the capability ${JSON.stringify(cap)}, which is not a capability name (CAP_…)`);
      add(cap, `${def.name}: declared for its options`);
    }
  }
  return [...need].map(([name, reasons]) => ({ name, reasons })).sort((a, b) => a.name.localeCompare(b.name));
}
