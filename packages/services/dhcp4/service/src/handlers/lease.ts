/**
 * The desired system state of a DHCPv4 lease, computed from the whole store (pure: no I/O).
 *
 * It reads the store's parsed values through the schema's typed keys (`dhcp4Keys`): each value
 * was parsed once, by the store, when the calf wrote it (or when the store was loaded), into a
 * branded type (`Ipv4Cidr`, `Ipv4Route`, `DomainName`, …) that only a parser that accepted it can
 * build. That check at the edge is the priv's validation (DESIGN.md invariant 1); nothing here
 * parses or re-validates text. What is left here is the lease's own meaning: expiry, RFC 3442
 * precedence, which gateways need an on-link route first.
 */
import { ipv4Bits, ipv4NetworkContains, readKey, readKeys, type DomainName, type HostName, type Ipv4Cidr, type Ipv4Network, type Ipv4Route, type Ipv4Unicast, type SearchList } from "@paddock/kv";
import type { ResolvSettings } from "@paddock/runtime";
import { dhcp4Keys as keys } from "../schema.ts";

/** resolv.conf: glibc reads at most 3 nameserver lines (MAXNS in <resolv.h>); more are ignored, so we do not write them. */
export const MAX_RESOLV_NAMESERVERS = 3;

/** A route to install: destination "default" or "a.b.c.d/n" (as the kernel's route table names it); no gateway means on-link (scope link). */
export interface DesiredRoute {
  readonly destination: string;
  readonly gateway: Ipv4Unicast | undefined;
}

/** What one lease asks of the system. */
export interface DesiredLease {
  /** The address with its prefix ("10.0.0.5/24" is `address.text`). */
  readonly address: Ipv4Cidr;
  /** When the lease ends (Unix seconds), or "never". */
  readonly expiresAt: number | "never";
  readonly mtu: number | undefined;
  /** In the order to install them: on-link routes first, so gateways are reachable. */
  readonly routes: readonly DesiredRoute[];
  /** At most MAX_RESOLV_NAMESERVERS, in index order, without repeats. */
  readonly nameservers: readonly Ipv4Unicast[];
  readonly search: SearchList | undefined;
  readonly domain: DomainName | undefined;
  readonly hostname: HostName | undefined;
}

/** The lease handler's desired state. */
export interface LeaseDesired {
  /** The lease to apply, or null: withdraw everything applied. */
  readonly lease: DesiredLease | null;
  /** Why there is no lease ("no /ip", "expired at …"); undefined when there is one. */
  readonly absentReason: string | undefined;
  /** Parts of the lease refused whatever the system looks like (a route to loopback, …): reported as conflicts. */
  readonly refused?: readonly string[];
}

/**
 * Why no lease may route to `network`, or null: loopback (127/8), multicast and reserved (224/4,
 * 240/4, the limited broadcast), "this network" (0/8, except the default route 0.0.0.0/0) — RFC
 * 1122 §3.2.1.3, RFC 6890. A compromised calf or a rogue server could otherwise steer local or
 * multicast traffic.
 */
export function forbiddenDestination(network: Ipv4Network): string | null {
  if (network.prefixLength === 0) return null;
  const first = ipv4Bits(network.address) >>> 24;
  if (first === 127) return "loopback";
  if (first >= 224) return first >= 240 ? "reserved or broadcast" : "multicast";
  if (first === 0) return "\"this network\" (0.0.0.0/8)";
  // A short prefix that covers any of those ranges is refused too (e.g. 64.0.0.0/2 holds 127/8).
  const covers = (a: number) => ipv4NetworkContains(network, `${a}.0.0.1` as Ipv4Unicast);
  if (covers(127)) return "loopback (127/8 inside it)";
  if (covers(224) || covers(240)) return "multicast or reserved addresses (inside it)";
  if (covers(0)) return "\"this network\" (0.0.0.0/8 inside it)";
  return null;
}

/** Largest time a Date can hold (ECMAScript: ±8.64e15 ms); /lease/expires may go up to 2^53 − 1 s. */
const MAX_DATE_MS = 8.64e15;

/** Unix seconds as ISO text for logs; far-future values (valid in the schema) as plain seconds. */
function isoSeconds(s: number): string {
  return s * 1000 <= MAX_DATE_MS ? new Date(s * 1000).toISOString() : `${s} (Unix seconds)`;
}

/** Destination as the kernel's route table names it: "default" for /0 (only 0.0.0.0/0: a network has no host bits). */
function kernelDestination(network: Ipv4Network): string {
  return network.prefixLength === 0 ? "default" : network.text;
}

/**
 * Routes of a lease.
 *
 * - `/route/NNN` (RFC 3442 classless routes, router 0.0.0.0 = on-link) are installed in order; a
 *   duplicate destination keeps the first.
 * - The default route: a classless `0.0.0.0/0` if there is one (RFC 3442 §1: with option 121 the
 *   router option is ignored); otherwise via `/gateway`. The DHCP calf already applies RFC 3442
 *   when it writes `/gateway` (it is option 121's default router when 121 is present, and 121's
 *   default route is then left out of `/route/`), so `/gateway` is trusted as "the default router".
 * - A gateway outside every on-link prefix (a /32 lease, a classless router on another subnet)
 *   gets an on-link host route first, as dhcpcd and systemd-networkd do; the kernel refuses a
 *   gateway it cannot reach ("Nexthop has invalid gateway").
 */
export function leaseRoutes(address: Ipv4Cidr, gateway: Ipv4Unicast | undefined, classless: readonly Ipv4Route[], refused: string[] = []): DesiredRoute[] {
  const routes: DesiredRoute[] = [];
  const seen = new Set<string>();
  // The networks reachable without a router: the lease's own, and every on-link classless route's.
  const onLink: Ipv4Network[] = [address.network];
  // A router that is the leased address itself would loop every packet back to us.
  const viaSelf = (via: Ipv4Unicast | null | undefined) => via !== null && via !== undefined && via === address.address;
  if (viaSelf(gateway)) {
    refused.push(`default route via ${gateway}, the leased address itself: refused`);
    gateway = undefined;
  }
  for (const r of classless) {
    const destination = kernelDestination(r.destination);
    const forbidden = forbiddenDestination(r.destination);
    if (forbidden !== null) {
      refused.push(`route to ${r.destination.text}: ${forbidden}, refused`);
      continue;
    }
    if (viaSelf(r.gateway)) {
      refused.push(`route to ${r.destination.text} via ${r.gateway}, the leased address itself: refused`);
      continue;
    }
    if (seen.has(destination)) continue;
    seen.add(destination);
    routes.push({ destination, gateway: r.gateway ?? undefined });
    if (r.gateway === null) onLink.push(r.destination);
  }
  if (!seen.has("default") && gateway !== undefined) {
    seen.add("default");
    routes.push({ destination: "default", gateway });
  }
  const hostRoutes: DesiredRoute[] = [];
  for (const r of routes) {
    if (r.gateway === undefined) continue;
    const via = r.gateway;
    if (onLink.some((n) => ipv4NetworkContains(n, via))) continue;
    const dest = `${via}/32`;
    if (seen.has(dest)) continue;
    seen.add(dest);
    hostRoutes.push({ destination: dest, gateway: undefined });
  }
  // On-link routes (ours and the host routes) before gateway routes: the kernel checks that a
  // gateway is reachable when the route is added.
  const direct = [...hostRoutes, ...routes.filter((r) => r.gateway === undefined)];
  return [...direct, ...routes.filter((r) => r.gateway !== undefined)];
}

/**
 * Computes the lease handler's desired state from the store's parsed durable values at `nowMs`.
 * `/lease/expires` 0 (or absent) means the lease never ends.
 */
export function desiredLease(parsed: ReadonlyMap<string, unknown>, nowMs: number): LeaseDesired {
  const address = readKey(parsed, keys.ip);
  if (address === undefined) return { lease: null, absentReason: "no /ip in the store" };
  const expires = readKey(parsed, keys.leaseExpires);
  const expiresAt = expires === undefined || expires === 0 ? "never" : expires;
  if (expiresAt !== "never" && expiresAt * 1000 <= nowMs) {
    return { lease: null, absentReason: `the lease expired at ${isoSeconds(expiresAt)}` };
  }
  const nameservers: Ipv4Unicast[] = [];
  for (const n of readKeys(parsed, keys.nameservers)) if (!nameservers.includes(n)) nameservers.push(n);
  const refused: string[] = [];
  const routes = leaseRoutes(address, readKey(parsed, keys.gateway), readKeys(parsed, keys.routes), refused);
  return {
    refused,
    lease: {
      address,
      expiresAt,
      mtu: readKey(parsed, keys.mtu),
      routes,
      nameservers: nameservers.slice(0, MAX_RESOLV_NAMESERVERS),
      search: readKey(parsed, keys.search),
      domain: readKey(parsed, keys.domain),
      hostname: readKey(parsed, keys.hostname),
    },
    absentReason: undefined,
  };
}

/** One line for logs and the admin view. */
export function describeLease(d: LeaseDesired): string {
  if (d.lease === null) return `no lease (${d.absentReason ?? "none"})`;
  const l = d.lease;
  const parts = [l.address.text, l.expiresAt === "never" ? "infinite" : `until ${isoSeconds(l.expiresAt)}`];
  if (l.mtu !== undefined) parts.push(`mtu ${l.mtu}`);
  parts.push(`${l.routes.length} route${l.routes.length === 1 ? "" : "s"}`);
  parts.push(`${l.nameservers.length} nameserver${l.nameservers.length === 1 ? "" : "s"}`);
  return parts.join(", ");
}

/**
 * What a lease asks of resolv.conf, as one contribution to the composed file (@paddock/runtime's
 * ResolvConfComposer, which orders, merges and bounds it with the other links'), at `priority`
 * (the link's route metric); null when the lease carries no resolver setting. Every value is a
 * parsed one (an `Ipv4Unicast`, a `DomainName`, a `SearchList` of at most 6 names in 256 bytes):
 * none can hold a separator or a line break, so none can add a line to the file.
 */
export function leaseResolvSettings(lease: Pick<DesiredLease, "nameservers" | "search" | "domain">, priority: number): ResolvSettings | null {
  const search = lease.search ?? [];
  if (lease.nameservers.length === 0 && search.length === 0 && lease.domain === undefined) return null;
  return { priority, nameservers: lease.nameservers.slice(0, MAX_RESOLV_NAMESERVERS), search: [...search], ...(lease.domain !== undefined ? { domain: lease.domain } : {}) };
}
