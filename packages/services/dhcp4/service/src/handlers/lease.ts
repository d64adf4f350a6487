/**
 * The desired system state of a DHCPv4 lease, computed from the whole store (pure: no I/O).
 *
 * Every value is re-validated with @paddock/kv's validators even though the store validated it
 * on write and on load (DESIGN.md invariant 1: priv re-validates every value it acts on). A value
 * that fails is dropped and reported, never acted on; if `/ip` fails, there is no lease.
 */
import {
  domainName,
  hostname as hostnameValidator,
  intRange,
  ipv4Cidr,
  ipv4Route,
  ipv4Unicast,
  parseIpv4,
  searchList,
  type Validator,
} from "@paddock/kv";

/** resolv.conf: glibc reads at most 3 nameserver lines (MAXNS in <resolv.h>); more are ignored, so we do not write them. */
export const MAX_RESOLV_NAMESERVERS = 3;

/** A route to install: destination "default" or "a.b.c.d/n"; no gateway means on-link (scope link). */
export interface DesiredRoute {
  readonly destination: string;
  readonly gateway: string | undefined;
}

/** What one lease asks of the system. */
export interface DesiredLease {
  /** "10.0.0.5/24". */
  readonly address: string;
  /** When the lease ends (Unix seconds), or "never". */
  readonly expiresAt: number | "never";
  readonly mtu: number | undefined;
  /** In the order to install them: on-link routes first, so gateways are reachable. */
  readonly routes: readonly DesiredRoute[];
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly domain: string | undefined;
  readonly hostname: string | undefined;
}

/** A value the handler refused to act on. */
export interface RejectedValue {
  readonly path: string;
  readonly reason: string;
}

/** The lease handler's desired state. */
export interface LeaseDesired {
  /** The lease to apply, or null: withdraw everything applied. */
  readonly lease: DesiredLease | null;
  /** Why there is no lease ("no /ip", "expired at …"); undefined when there is one. */
  readonly absentReason: string | undefined;
  /** Store values that failed re-validation. */
  readonly rejected: readonly RejectedValue[];
}

const expiresValidator = intRange(0, 2 ** 53 - 1);

/**
 * Reads `/lease/expires`: Unix seconds; "0" means infinite (the schema's spelling). The DHCP calf
 * documents "infinite" for an infinite lease; the store's schema refuses that today, but it is
 * accepted here so the handler is right whichever spelling the schema settles on.
 */
function parseExpires(text: string | undefined): number | "never" | undefined {
  if (text === undefined) return "never";
  if (text === "infinite") return "never";
  if (!expiresValidator(text).ok) return undefined;
  const n = Number(text);
  return n === 0 ? "never" : n;
}

/** Largest time a Date can hold (ECMAScript: ±8.64e15 ms); /lease/expires may go up to 2^53 − 1 s. */
const MAX_DATE_MS = 8.64e15;

/** Unix seconds as ISO text for logs; far-future values (valid in the schema) as plain seconds. */
function isoSeconds(s: number): string {
  return s * 1000 <= MAX_DATE_MS ? new Date(s * 1000).toISOString() : `${s} (Unix seconds)`;
}

/** The network address of an "a.b.c.d/n" as a 32-bit number and its prefix. */
function prefixOf(cidr: string): { net: number; len: number } | null {
  const [a, l] = cidr.split("/");
  const addr = parseIpv4(a ?? "");
  const len = Number(l);
  if (addr === null || !Number.isInteger(len) || len < 0 || len > 32) return null;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { net: (addr & mask) >>> 0, len };
}

function contains(prefix: { net: number; len: number }, address: string): boolean {
  const a = parseIpv4(address);
  if (a === null) return false;
  const mask = prefix.len === 0 ? 0 : (0xffffffff << (32 - prefix.len)) >>> 0;
  return ((a & mask) >>> 0) === prefix.net;
}

/** Whether two "a.b.c.d/n" share a subnet (the shorter prefix contains the other's address). */
export function sameSubnet(a: string, b: string): boolean {
  const pa = prefixOf(a);
  const pb = prefixOf(b);
  if (pa === null || pb === null) return false;
  const shorter = pa.len <= pb.len ? pa : pb;
  const other = shorter === pa ? b : a;
  return contains(shorter, other.split("/")[0] ?? "");
}

/** Destination as the kernel view prints it: "default" for /0. */
function normalDestination(network: string): string {
  return network === "0.0.0.0/0" ? "default" : network;
}

/** Keys under a folder ("/nameserver/") in index order (001, 002, …: fixed-width, so string order). */
function indexed(values: ReadonlyMap<string, string>, folder: string): [string, string][] {
  return [...values].filter(([k]) => k.startsWith(folder) && !k.slice(folder.length).includes("/")).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Routes of a lease.
 *
 * - `/route/NNN` (RFC 3442 classless routes, "network router", router 0.0.0.0 = on-link) are
 *   installed in order; a duplicate destination keeps the first.
 * - The default route: a classless `0.0.0.0/0` if there is one (RFC 3442 §1: with option 121 the
 *   router option is ignored); otherwise via `/gateway`. The DHCP calf already applies RFC 3442
 *   when it writes `/gateway` (it is option 121's default router when 121 is present, and 121's
 *   default route is then left out of `/route/`), so `/gateway` is trusted as "the default router".
 * - A gateway outside every on-link prefix (a /32 lease, a classless router on another subnet)
 *   gets an on-link host route first, as dhcpcd and systemd-networkd do; the kernel refuses a
 *   gateway it cannot reach ("Nexthop has invalid gateway").
 */
export function leaseRoutes(address: string, gateway: string | undefined, classless: readonly { network: string; router: string }[]): DesiredRoute[] {
  const routes: DesiredRoute[] = [];
  const seen = new Set<string>();
  for (const r of classless) {
    const destination = normalDestination(r.network);
    if (seen.has(destination)) continue;
    seen.add(destination);
    routes.push({ destination, gateway: r.router === "0.0.0.0" ? undefined : r.router });
  }
  if (!seen.has("default") && gateway !== undefined) {
    seen.add("default");
    routes.push({ destination: "default", gateway });
  }
  const own = prefixOf(address);
  const onLink = [own, ...routes.filter((r) => r.gateway === undefined).map((r) => prefixOf(r.destination === "default" ? "0.0.0.0/0" : r.destination))]
    .filter((p): p is { net: number; len: number } => p !== null);
  const hostRoutes: DesiredRoute[] = [];
  for (const r of routes) {
    if (r.gateway === undefined) continue;
    if (onLink.some((p) => contains(p, r.gateway!))) continue;
    const dest = `${r.gateway}/32`;
    if (seen.has(dest)) continue;
    seen.add(dest);
    hostRoutes.push({ destination: dest, gateway: undefined });
  }
  // On-link routes (ours and the host routes) before gateway routes: the kernel checks that a
  // gateway is reachable when the route is added.
  const direct = [...hostRoutes, ...routes.filter((r) => r.gateway === undefined)];
  return [...direct, ...routes.filter((r) => r.gateway !== undefined)];
}

/** Computes the lease handler's desired state from the store's durable values at `nowMs`. */
export function desiredLease(values: ReadonlyMap<string, string>, nowMs: number): LeaseDesired {
  const rejected: RejectedValue[] = [];
  const get = (p: string, v: Validator): string | undefined => {
    const value = values.get(p);
    if (value === undefined) return undefined;
    const r = v(value);
    if (!r.ok) {
      rejected.push({ path: p, reason: r.reason });
      return undefined;
    }
    return value;
  };
  const address = get("/ip", ipv4Cidr);
  const expiresText = values.get("/lease/expires");
  const expiresAt = parseExpires(expiresText);
  if (expiresAt === undefined) rejected.push({ path: "/lease/expires", reason: `${JSON.stringify(expiresText)} is not Unix seconds` });
  if (address === undefined) return { lease: null, absentReason: values.has("/ip") ? "/ip is invalid" : "no /ip in the store", rejected };
  if (expiresAt === undefined) return { lease: null, absentReason: "/lease/expires is invalid", rejected };
  if (expiresAt !== "never" && expiresAt * 1000 <= nowMs) {
    return { lease: null, absentReason: `the lease expired at ${isoSeconds(expiresAt)}`, rejected };
  }
  const gateway = get("/gateway", ipv4Unicast);
  const mtuText = get("/mtu", intRange(68, 65535));
  const classless: { network: string; router: string }[] = [];
  for (const [k] of indexed(values, "/route/")) {
    const v = get(k, ipv4Route);
    if (v === undefined) continue;
    const [network, router] = v.split(" ") as [string, string];
    classless.push({ network, router });
  }
  const nameservers: string[] = [];
  for (const [k] of indexed(values, "/nameserver/")) {
    const v = get(k, ipv4Unicast);
    if (v !== undefined && !nameservers.includes(v)) nameservers.push(v);
  }
  const searchText = get("/search", searchList);
  const domain = get("/domain", domainName);
  const host = get("/hostname", hostnameValidator);
  return {
    lease: {
      address,
      expiresAt,
      mtu: mtuText === undefined ? undefined : Number(mtuText),
      routes: leaseRoutes(address, gateway, classless),
      nameservers: nameservers.slice(0, MAX_RESOLV_NAMESERVERS),
      search: searchText === undefined ? [] : searchText.split(" "),
      domain,
      hostname: host,
    },
    absentReason: undefined,
    rejected,
  };
}

/** One line for logs and the admin view. */
export function describeLease(d: LeaseDesired): string {
  if (d.lease === null) return `no lease (${d.absentReason ?? "none"})`;
  const l = d.lease;
  const parts = [l.address, l.expiresAt === "never" ? "infinite" : `until ${isoSeconds(l.expiresAt)}`];
  if (l.mtu !== undefined) parts.push(`mtu ${l.mtu}`);
  parts.push(`${l.routes.length} route${l.routes.length === 1 ? "" : "s"}`);
  parts.push(`${l.nameservers.length} nameserver${l.nameservers.length === 1 ? "" : "s"}`);
  return parts.join(", ");
}

/** The first line of every resolv.conf Paddock writes; how a later run recognises the file as ours. */
export const RESOLV_CONF_HEADER = "# Generated by Paddock from a DHCP lease. Do not edit: Paddock manages this file";

/**
 * resolv.conf(5) for a lease, or null when the lease carries no resolver settings. `domain`
 * comes before `search`: glibc and musl let the last of the two win, so the search list applies
 * and the domain is still recorded. Values are re-checked here (a second line of defence after
 * desiredLease): a value with anything but a plain name or address cannot reach the file.
 */
export function renderResolvConf(lease: Pick<DesiredLease, "nameservers" | "search" | "domain">, iface: string): string | null {
  const ns = lease.nameservers.filter((n) => ipv4Unicast(n).ok).slice(0, MAX_RESOLV_NAMESERVERS);
  const search = lease.search.filter((s) => domainName(s).ok);
  const domain = lease.domain !== undefined && domainName(lease.domain).ok ? lease.domain : undefined;
  if (ns.length === 0 && search.length === 0 && domain === undefined) return null;
  const lines = [RESOLV_CONF_HEADER, `# (lease on ${iface.replace(/[^A-Za-z0-9_.:@-]/g, "?")}; the previous file is restored when the lease ends)`];
  if (domain !== undefined) lines.push(`domain ${domain}`);
  if (search.length > 0 && searchList(search.join(" ")).ok) lines.push(`search ${search.join(" ")}`);
  for (const n of ns) lines.push(`nameserver ${n}`);
  return lines.join("\n") + "\n";
}
