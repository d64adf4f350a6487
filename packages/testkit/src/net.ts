/**
 * What the kernel holds in a namespace, read with `ip -j` (independently of Paddock's own
 * netlink code), and waits on it: an address on an interface, a UDP port a server has bound.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { runAsync } from "./commands.ts";
import { TestkitError } from "./errors.ts";
import { nsName, type Lab, type NsRef } from "./lab.ts";
import type { LabProcess } from "./process.ts";
import { DEFAULT_WAIT_MS, waitFor } from "./wait.ts";

/** Default wait for an address: a DHCP exchange plus applying it; longer than a plain wait, as a client may retransmit once. */
export const ADDRESS_WAIT_MS = 15_000;

/** One address of `ip -j addr`. */
export interface IpAddrInfo {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  scope?: string;
  valid_life_time: number;
  preferred_life_time: number;
  dynamic?: boolean;
  tentative?: boolean;
}

/** One route of `ip -j route`. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
  table?: string;
  type?: string;
}

/** An address family as `ip` names it. */
export type Family = "inet" | "inet6";

async function ipJsonAsync<T>(ns: NsRef, args: readonly string[]): Promise<T> {
  const r = await runAsync("ip", ["-j", "-n", nsName(ns), ...args]);
  if (r.status !== 0) throw new TestkitError("PADDOCK_E_TESTKIT_COMMAND_FAILED", `ip -n ${nsName(ns)} ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim() || "[]") as T;
}

/** Addresses of `family` on `iface` in `ns`. */
export async function addresses(ns: NsRef, iface: string, family: Family = "inet"): Promise<IpAddrInfo[]> {
  const links = await ipJsonAsync<Array<{ addr_info?: IpAddrInfo[] }>>(ns, [family === "inet" ? "-4" : "-6", "addr", "show", "dev", iface]);
  return (links[0]?.addr_info ?? []).filter((a) => a.family === family);
}

/** Routes of `family` in the main table of `ns`. */
export async function routes(ns: NsRef, family: Family = "inet"): Promise<IpRoute[]> {
  const all = await ipJsonAsync<IpRoute[]>(ns, [family === "inet" ? "-4" : "-6", "route", "show", "table", "all"]);
  return all.filter((r) => r.table === undefined || r.table === "main");
}

/** The MTU of `iface` in `ns`. */
export async function linkMtu(ns: NsRef, iface: string): Promise<number> {
  return (await ipJsonAsync<Array<{ mtu: number }>>(ns, ["link", "show", "dev", iface]))[0]!.mtu;
}

/** Options of {@link waitForAddress}. */
export interface WaitForAddressOptions {
  /** Give up after this long (default {@link ADDRESS_WAIT_MS}). */
  timeoutMs?: number;
  /**
   * Which address counts. Default: any IPv4 address; for IPv6, a global one that is no longer
   * tentative (duplicate address detection done).
   */
  match?: (a: IpAddrInfo) => boolean;
  /** Give up at once when this process (the client) exits. */
  abortOnExit?: LabProcess | readonly LabProcess[];
}

/** Waits until `iface` in `ns` has an address of `family` (matching `options.match`); returns it. */
export async function waitForAddress(lab: Lab, ns: NsRef, iface: string, family: Family = "inet", options: WaitForAddressOptions = {}): Promise<IpAddrInfo> {
  const match = options.match ?? (family === "inet" ? () => true : (a: IpAddrInfo) => a.scope === "global" && !a.tentative);
  let seen: IpAddrInfo[] = [];
  return waitFor(
    async () => {
      if (lab.destroyed) throw new TestkitError("PADDOCK_E_TESTKIT_USAGE", `lab ${lab.id} was destroyed`);
      seen = await addresses(ns, iface, family);
      return seen.find(match);
    },
    {
      what: `an ${family === "inet" ? "IPv4" : "IPv6"} address on ${iface} in ${nsName(ns)}`,
      timeoutMs: options.timeoutMs ?? ADDRESS_WAIT_MS,
      abortOnExit: options.abortOnExit,
      state: () => (seen.length === 0 ? "no address" : seen.map((a) => `${a.local}/${a.prefixlen}${a.scope ? ` scope ${a.scope}` : ""}${a.tentative ? " tentative" : ""}`).join(", ")),
    },
  );
}

/** The socket inodes among process `pid`'s fds. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch {
        // The fd was closed while we looked.
      }
    }
  } catch {
    // The process is gone.
  }
  return out;
}

/**
 * Whether process `pid` holds a NETLINK_ROUTE socket subscribed to multicast groups: an
 * `ip monitor` is listening, so no event from now on is missed.
 */
export function holdsNetlinkSubscription(pid: number): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/netlink`, "utf8");
  } catch {
    return false;
  }
  const subscribed = new Set<string>();
  for (const line of text.split("\n").slice(1)) {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && f[1] === "0" && !/^0+$/.test(f[3]!)) subscribed.add(f[9]!);
  }
  if (subscribed.size === 0) return false;
  for (const inode of socketInodes(pid)) if (subscribed.has(inode)) return true;
  return false;
}

/** Waits until `proc` (e.g. `ip monitor`) has subscribed to rtnetlink events; fails at once if it exits. */
export async function waitForNetlinkSubscription(proc: LabProcess, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  await waitFor(() => proc.pid !== undefined && holdsNetlinkSubscription(proc.pid), {
    what: `${proc.name} to subscribe to rtnetlink events`,
    timeoutMs,
    abortOnExit: proc,
    state: () => `not subscribed; output:\n${proc.tail()}`,
  });
}

/**
 * Whether process `pid` holds a UDP socket bound to local `port` (IPv4 or IPv6), read from its
 * own view of /proc/net (its namespace) and its fd table.
 */
export function holdsUdpPort(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["udp", "udp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`)) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return false;
  for (const inode of socketInodes(pid)) if (inodes.has(inode)) return true;
  return false;
}

/** Waits until `proc` has bound UDP `port` (a server is ready to answer); fails at once if it exits. */
export async function waitForUdpPort(proc: LabProcess, port: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  await waitFor(() => proc.pid !== undefined && holdsUdpPort(proc.pid, port), {
    what: `${proc.name} to bind UDP port ${port}`,
    timeoutMs,
    abortOnExit: proc,
    state: () => `port not bound; output:\n${proc.tail()}`,
  });
}
