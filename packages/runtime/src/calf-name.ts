/**
 * A service's calf name on an interface. Small and dependency-free: the early start (./early.ts)
 * needs it before the rest of the priv loads.
 */
import { readlinkSync } from "node:fs";

/**
 * "SERVICE-eth0" (e.g. "ntp-eth0"): a container id and cgroup of its own per service and
 * interface, so services on several interfaces never share one. Characters a calf name cannot hold become "-", and a short hash of
 * the real name keeps two such names apart. A priv in another network namespace than the host's
 * (where "eth0" may exist too) adds a tag of that namespace.
 */
export function calfNameFor(service: string, iface: string, netnsTag: string | undefined = currentNetnsTag()): string {
  const clean = iface.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  const tag = netnsTag === undefined ? "" : `-${netnsTag}`;
  const plain = `${service}-${iface}${tag}`;
  if (clean === iface && plain.length <= MAX_NAME) return plain;
  // Cleaned or shortened: the hash of the real name keeps two such names apart.
  const room = MAX_NAME - service.length - tag.length - 6;
  return `${service}-${clean.slice(0, Math.max(1, room))}-${shortHash(iface)}${tag}`;
}

/** A calf name's limit (MAX_CALF_NAME_BYTES in ./sandbox/bundle.ts; kept here so this file imports nothing). */
const MAX_NAME = 32;

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

/** The pid lock of a service on an interface, under the runtime directory. */
export function interfaceLockFile(runtimeDir: string, service: string, iface: string): string {
  return `${runtimeDir.replace(/\/+$/, "")}/${calfNameFor(service, iface)}.pid`;
}
