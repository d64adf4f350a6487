/**
 * The DHCP calf's name for an interface. Small and dependency-free: the early start
 * (./early.ts) needs it before the rest of the priv loads.
 */
import { readlinkSync } from "node:fs";

/**
 * "dhcp4-eth0": a container id and cgroup of its own per interface, so shims on several
 * interfaces never share one. Characters a calf name cannot hold become "-", and a short hash of
 * the real name keeps two such names apart. A shim in another network namespace than the host's
 * (where "eth0" may exist too) adds a tag of that namespace.
 */
export function calfNameFor(iface: string, netnsTag: string | undefined = currentNetnsTag()): string {
  const clean = iface.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  const base = clean === iface ? `dhcp4-${iface}` : `dhcp4-${clean}-${shortHash(iface)}`;
  return netnsTag === undefined ? base : `${base}-${netnsTag}`;
}

function shortHash(text: string): string {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h % 0x10000).toString(16).padStart(4, "0");
}

/** undefined in the host's network namespace (pid 1's), else a short tag of ours. */
function currentNetnsTag(): string | undefined {
  try {
    const mine = readlinkSync("/proc/self/ns/net");
    if (mine === readlinkSync("/proc/1/ns/net")) return undefined;
    return shortHash(mine);
  } catch {
    return undefined;
  }
}

/** The pid lock of the shim on an interface, under its runtime directory. */
export function interfaceLockFile(runtimeDir: string, iface: string): string {
  return `${runtimeDir.replace(/\/+$/, "")}/${calfNameFor(iface)}.pid`;
}
