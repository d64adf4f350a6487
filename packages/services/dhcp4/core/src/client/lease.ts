/**
 * A lease: what an ACK grants, how long it lasts (RFC 2131 §4.4.5), how it is published as the
 * DHCP client schema's KV keys, and its canonical persisted form under `/state/lease` (used for
 * INIT-REBOOT after a restart, §3.2).
 */

import type { ClasslessRoute, DhcpMessage, DhcpOption, Ipv4 } from "../message.ts";
import { ipv4ToNumber, isCidr, isIpv4, isUnicastHost, maskToPrefix, normaliseDomainName } from "./addr.ts";

/** RFC 2132 §9.2: 0xffffffff seconds means the lease never expires. */
export const INFINITE_LEASE = 0xffffffff;
/**
 * Shorter leases (including 0) are stretched to this: RFC 2131 §4.4.5 lets a client retransmit
 * a renewal no faster than every 60 s, so a shorter lease could only be renewed by a tight loop.
 */
export const MIN_LEASE_SECONDS = 60;
/** glibc reads 3 (MAXNS); a few more serve other resolvers, bounded so one ACK cannot make hundreds of KV writes. */
export const MAX_NAMESERVERS = 8;
/** Same reason as {@link MAX_NAMESERVERS}; chrony and ntpd use a handful of servers at most. */
export const MAX_NTP_SERVERS = 8;
/** One option 121 holds ≤ 51 routes (5 bytes each at least); 64 covers that and bounds KV writes. */
export const MAX_ROUTES = 64;
/** glibc before 2.26 used at most 6 search domains; more only slows every lookup down. */
export const MAX_SEARCH_DOMAINS = 6;
/**
 * glibc's resolv.conf `search` line holds 256 bytes (the store's `/search` limit): names are
 * dropped from the end until the space-separated list fits, rather than publish a value the store
 * refuses (which would leave the lease without its keys).
 */
export const MAX_SEARCH_BYTES = 256;
/** A persisted lease with every list full stays well under this; anything larger is not ours. */
export const MAX_PERSISTED_LEASE_BYTES = 8192;
/** Version of the persisted format; a different one is ignored (→ INIT), never guessed at. */
export const PERSISTED_LEASE_VERSION = 1;

/**
 * A lease as the client holds it, persists it (`/state/lease`) and publishes it. Every field is
 * already sanitised for publication: lists bounded, names checked, unusable addresses dropped.
 */
export interface PersistedLease {
  /** Format version, {@link PERSISTED_LEASE_VERSION}. */
  v: 1;
  /** chaddr the lease was granted to ("02:00:00:00:00:01"): a lease for another MAC is ignored. */
  mac: string;
  /** yiaddr of the ACK. */
  address: Ipv4;
  /** From option 1 (1–32); 32 when the server sent no, a malformed, a non-contiguous or an all-zero mask. */
  prefix: number;
  /** Option 54: where renewals and RELEASE go (§4.4.5, §4.4.6). */
  serverId: Ipv4;
  /** Ethernet source of the ACK: next hop for unicast to the server (server or relay), or "" when unknown. */
  serverMac: string;
  /** When the request that got this lease was first sent, Unix ms: the lease's time origin (§4.4.1). */
  acquiredAt: number;
  /** Option 51 after stretching to {@link MIN_LEASE_SECONDS}; {@link INFINITE_LEASE} = never expires. */
  leaseSeconds: number;
  /** T1 and T2 as offsets from `acquiredAt` in ms; both 0 for an infinite lease. */
  renewMs: number;
  rebindMs: number;
  /** Option 3, usable unicast addresses only. */
  routers: Ipv4[];
  /** Option 121 when present (even empty: its presence alone overrides option 3, RFC 3442). */
  classlessRoutes: ClasslessRoute[] | null;
  /** Option 6. */
  dns: Ipv4[];
  /** Option 15, or "" for none. */
  domain: string;
  /** Option 119. */
  search: string[];
  /** Option 26 when 68 ≤ mtu ≤ 65535 (RFC 791 minimum; u16 maximum), else 0. */
  mtu: number;
  /** Option 42. */
  ntp: Ipv4[];
  /** Option 12, the host name the server assigned (≤ 64 bytes, Linux HOST_NAME_MAX); absent when none or unusable. */
  hostname?: string;
}

/** Linux HOST_NAME_MAX: a longer assigned name could not be applied by sethostname(). */
export const MAX_ASSIGNED_HOSTNAME_BYTES = 64;

/** The absolute times of a lease, ms; undefined for an infinite lease. */
export interface LeaseTimes {
  t1At: number;
  t2At: number;
  expiresAt: number;
}

/** T1, T2 and expiry as absolute ms, or undefined when the lease is infinite. */
export function leaseTimes(lease: PersistedLease): LeaseTimes | undefined {
  if (lease.leaseSeconds === INFINITE_LEASE) return undefined;
  return {
    t1At: lease.acquiredAt + lease.renewMs,
    t2At: lease.acquiredAt + lease.rebindMs,
    expiresAt: lease.acquiredAt + lease.leaseSeconds * 1000,
  };
}

/** The first option of a kind, typed. */
export function findOption<K extends DhcpOption["kind"]>(
  message: DhcpMessage,
  kind: K,
): Extract<DhcpOption, { kind: K }> | undefined {
  for (const o of message.options) if (o.kind === kind) return o as Extract<DhcpOption, { kind: K }>;
  return undefined;
}

/**
 * Why an ACK could not become a lease: an unusable yiaddr; no (or a malformed) lease time; a
 * yiaddr that is its subnet's network or broadcast address under the server's mask; a yiaddr
 * equal to the server's own address. Each is something the lease cannot do without.
 */
export type LeaseRejection = "BAD_YIADDR" | "NO_LEASE_TIME" | "BAD_LEASE_TIME" | "NOT_A_HOST_IN_SUBNET" | "SERVER_ADDRESS";

/**
 * Route destinations a DHCP server has no business installing (RFC 1122 §3.2.1.3, RFC 5771):
 * inside 0.0.0.0/8 (except the default route itself), 127.0.0.0/8 (loopback), 224.0.0.0/4
 * (multicast) and 240.0.0.0/4 (reserved, broadcast). A route to them is dropped, not the lease.
 */
export function isForbiddenRouteDestination(destination: string): boolean {
  if (destination === "0.0.0.0/0") return false;
  const slash = destination.indexOf("/");
  const n = ipv4ToNumber(destination.slice(0, slash));
  if (n === undefined) return true;
  const first = n >>> 24;
  return first === 0 || first === 127 || first >= 224;
}

/** Whether `address` is the network or broadcast address of its /`prefix` subnet (prefixes up to 30: /31 and /32 have neither, RFC 3021). */
export function isNetworkOrBroadcast(address: string, prefix: number): boolean {
  const n = ipv4ToNumber(address);
  if (n === undefined || prefix > 30 || prefix < 1) return false;
  const hostMask = 0xffffffff >>> prefix;
  const host = (n & hostMask) >>> 0;
  return host === 0 || host === hostMask;
}

/** A lease built from an ACK, plus remarks worth a log line (clamped lease, ignored T1/T2, …). */
export interface AckLease {
  lease: PersistedLease;
  notes: string[];
}

function unicastList(addresses: readonly Ipv4[], max: number, exclude?: Ipv4): Ipv4[] {
  const out: Ipv4[] = [];
  for (const a of addresses) {
    if (out.length >= max) break;
    if (isUnicastHost(a) && a !== exclude && !out.includes(a)) out.push(a);
  }
  return out;
}

/** Option codes whose malformed form leaves the lease without what it needs: it is refused. */
const ESSENTIAL_OPTION_CODES: ReadonlySet<number> = new Set([51]);

/**
 * Turns an ACK into a lease. `fallbackLeaseSeconds` (the offer's or the previous lease's time)
 * covers servers that omit option 51, which RFC 2131 table 3 says they MUST send.
 */
export function leaseFromAck(
  ack: DhcpMessage,
  opts: { mac: string; serverId: Ipv4; serverMac: string; acquiredAt: number; fallbackLeaseSeconds: number | undefined; minLeaseSeconds?: number },
): { ok: true; value: AckLease } | { ok: false; reason: LeaseRejection; detail: string } {
  const refuse = (reason: LeaseRejection, detail: string) => ({ ok: false as const, reason, detail });
  if (!isUnicastHost(ack.yiaddr)) return refuse("BAD_YIADDR", `unusable yiaddr ${ack.yiaddr}`);
  if (ack.yiaddr === opts.serverId) return refuse("SERVER_ADDRESS", `yiaddr ${ack.yiaddr} is the server's own address`);
  const notes: string[] = [];
  // One malformed optional option is dropped alone (and said so); an essential one refuses the ACK.
  for (const o of ack.options) {
    if (o.kind !== "malformed") continue;
    if (ESSENTIAL_OPTION_CODES.has(o.code)) return refuse("BAD_LEASE_TIME", `malformed option ${o.code} (${o.error.detail})`);
    notes.push(`malformed option ${o.code} ignored (${o.error.detail})`);
  }
  let leaseSeconds = findOption(ack, "leaseTime")?.seconds ?? opts.fallbackLeaseSeconds;
  if (leaseSeconds === undefined) return refuse("NO_LEASE_TIME", "no lease time");
  const minLease = opts.minLeaseSeconds ?? MIN_LEASE_SECONDS;
  if (leaseSeconds < minLease) {
    notes.push(`lease of ${leaseSeconds} s stretched to ${minLease} s`);
    leaseSeconds = minLease;
  }
  let renewMs = 0;
  let rebindMs = 0;
  if (leaseSeconds !== INFINITE_LEASE) {
    const leaseMs = leaseSeconds * 1000;
    const t1 = findOption(ack, "renewalTime")?.seconds;
    const t2 = findOption(ack, "rebindingTime")?.seconds;
    // RFC 2131 §4.4.5: T1 defaults to 0.5 × lease, T2 to 0.875 × lease.
    renewMs = t1 !== undefined ? t1 * 1000 : Math.floor(leaseMs * 0.5);
    rebindMs = t2 !== undefined ? t2 * 1000 : Math.floor(leaseMs * 0.875);
    if (!(renewMs > 0 && renewMs < rebindMs && rebindMs < leaseMs)) {
      if (t1 !== undefined || t2 !== undefined) {
        notes.push(`server T1/T2 (${t1 ?? "-"}/${t2 ?? "-"} s) not 0 < T1 < T2 < lease: using 0.5/0.875 × lease`);
      }
      renewMs = Math.floor(leaseMs * 0.5);
      rebindMs = Math.floor(leaseMs * 0.875);
    }
  }
  const maskOpt = findOption(ack, "subnetMask");
  let prefix = 32;
  if (maskOpt !== undefined) {
    const p = maskToPrefix(maskOpt.mask);
    if (p === undefined) notes.push(`non-contiguous subnet mask ${maskOpt.mask} ignored: using /32`);
    // A /0 would put the whole Internet on-link (and the store refuses it as /ip).
    else if (p === 0) notes.push(`subnet mask ${maskOpt.mask} ignored: using /32`);
    else prefix = p;
  }
  if (isNetworkOrBroadcast(ack.yiaddr, prefix)) {
    return refuse("NOT_A_HOST_IN_SUBNET", `yiaddr ${ack.yiaddr} is the network or broadcast address of its /${prefix} subnet`);
  }
  const classless = findOption(ack, "classlessRoutes");
  let classlessRoutes: ClasslessRoute[] | null = null;
  if (classless !== undefined) {
    classlessRoutes = [];
    for (const r of classless.routes) {
      if (classlessRoutes.length >= MAX_ROUTES) break;
      if (!isCidr(r.destination) || !isIpv4(r.router) || !(r.router === "0.0.0.0" || isUnicastHost(r.router))) continue;
      if (isForbiddenRouteDestination(r.destination)) {
        notes.push(`route to ${r.destination} via ${r.router} dropped: not a destination a server may route`);
        continue;
      }
      if (r.router === ack.yiaddr) {
        notes.push(`route to ${r.destination} dropped: its router is the leased address`);
        continue;
      }
      classlessRoutes.push({ destination: r.destination, router: r.router });
    }
  }
  const mtuOpt = findOption(ack, "mtu")?.mtu;
  const domainOpt = findOption(ack, "domainName")?.name;
  const domain = domainOpt === undefined ? "" : (normaliseDomainName(domainOpt) ?? "");
  if (domainOpt !== undefined && domain === "") notes.push("unusable domain name ignored");
  const hostOpt = findOption(ack, "hostname")?.name;
  const hostname = hostOpt === undefined ? undefined : normaliseDomainName(hostOpt);
  const usableHostname = hostname !== undefined && hostname.length <= MAX_ASSIGNED_HOSTNAME_BYTES ? hostname : undefined;
  if (hostOpt !== undefined && usableHostname === undefined) notes.push("unusable host name ignored");
  const search: string[] = [];
  let searchBytes = -1;
  for (const n of findOption(ack, "domainSearch")?.names ?? []) {
    const name = normaliseDomainName(n);
    if (name === undefined || search.includes(name) || search.length >= MAX_SEARCH_DOMAINS) continue;
    // The names are ASCII (normaliseDomainName), so characters are bytes; +1 for the separator.
    if (searchBytes + 1 + name.length > MAX_SEARCH_BYTES) {
      notes.push(`search domain ${name} dropped: the list would exceed ${MAX_SEARCH_BYTES} bytes`);
      continue;
    }
    searchBytes += 1 + name.length;
    search.push(name);
  }
  const offeredRouters = findOption(ack, "routers")?.addresses ?? [];
  if (offeredRouters.includes(ack.yiaddr)) notes.push(`router ${ack.yiaddr} dropped: it is the leased address`);
  return {
    ok: true,
    value: {
      notes,
      lease: {
        v: PERSISTED_LEASE_VERSION,
        mac: opts.mac,
        address: ack.yiaddr,
        prefix,
        serverId: opts.serverId,
        serverMac: opts.serverMac,
        acquiredAt: opts.acquiredAt,
        leaseSeconds,
        renewMs,
        rebindMs,
        routers: unicastList(offeredRouters, MAX_ROUTES, ack.yiaddr),
        classlessRoutes,
        dns: unicastList(findOption(ack, "dnsServers")?.addresses ?? [], MAX_NAMESERVERS),
        domain,
        search,
        mtu: mtuOpt !== undefined && mtuOpt >= 68 && mtuOpt <= 65535 ? mtuOpt : 0,
        ntp: unicastList(findOption(ack, "ntpServers")?.addresses ?? [], MAX_NTP_SERVERS),
        ...(usableHostname !== undefined ? { hostname: usableHostname } : {}),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Persistence

/** Canonical text of a lease: JSON with a fixed key order and no whitespace. */
export function serializePersistedLease(lease: PersistedLease): string {
  return JSON.stringify({
    v: lease.v,
    mac: lease.mac,
    address: lease.address,
    prefix: lease.prefix,
    serverId: lease.serverId,
    serverMac: lease.serverMac,
    acquiredAt: lease.acquiredAt,
    leaseSeconds: lease.leaseSeconds,
    renewMs: lease.renewMs,
    rebindMs: lease.rebindMs,
    routers: lease.routers,
    classlessRoutes:
      lease.classlessRoutes === null ? null : lease.classlessRoutes.map((r) => ({ destination: r.destination, router: r.router })),
    dns: lease.dns,
    domain: lease.domain,
    search: lease.search,
    mtu: lease.mtu,
    ntp: lease.ntp,
    ...(lease.hostname !== undefined ? { hostname: lease.hostname } : {}),
  });
}

/** Why a persisted lease was refused; `detail` names the field. */
export interface PersistedLeaseError {
  code: "PADDOCK_E_DHCP4_PERSISTED_LEASE";
  detail: string;
}

const LEASE_KEYS = [
  "v", "mac", "address", "prefix", "serverId", "serverMac", "acquiredAt", "leaseSeconds", "renewMs",
  "rebindMs", "routers", "classlessRoutes", "dns", "domain", "search", "mtu", "ntp", "hostname",
] as const;
const MAC_TEXT = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
}

function isHostList(v: unknown, max: number): v is Ipv4[] {
  return Array.isArray(v) && v.length <= max && v.every((a) => isIpv4(a) && isUnicastHost(a));
}

/** Checks every field of an already-decoded lease; returns the reason it is unusable, if any. */
export function validatePersistedLease(value: unknown): PersistedLeaseError | undefined {
  const bad = (detail: string): PersistedLeaseError => ({ code: "PADDOCK_E_DHCP4_PERSISTED_LEASE", detail });
  if (typeof value !== "object" || value === null || Array.isArray(value)) return bad("not an object");
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(LEASE_KEYS as readonly string[]).includes(k)) return bad(`unknown field ${k}`);
  if (o.v !== PERSISTED_LEASE_VERSION) return bad("v: unsupported version");
  if (typeof o.mac !== "string" || !MAC_TEXT.test(o.mac)) return bad("mac");
  if (!isIpv4(o.address) || !isUnicastHost(o.address)) return bad("address");
  if (!isInt(o.prefix, 1, 32)) return bad("prefix");
  if (!isIpv4(o.serverId) || !isUnicastHost(o.serverId)) return bad("serverId");
  if (typeof o.serverMac !== "string" || (o.serverMac !== "" && !MAC_TEXT.test(o.serverMac))) return bad("serverMac");
  if (!isInt(o.acquiredAt, 0, Number.MAX_SAFE_INTEGER)) return bad("acquiredAt");
  // A lease shorter than MIN_LEASE_SECONDS exists only under a test configuration (minLeaseSeconds).
  if (!isInt(o.leaseSeconds, 1, INFINITE_LEASE)) return bad("leaseSeconds");
  if (!isInt(o.renewMs, 0, INFINITE_LEASE * 1000) || !isInt(o.rebindMs, 0, INFINITE_LEASE * 1000)) return bad("renewMs/rebindMs");
  if (o.leaseSeconds === INFINITE_LEASE) {
    if (o.renewMs !== 0 || o.rebindMs !== 0) return bad("renewMs/rebindMs: must be 0 for an infinite lease");
  } else if (!(o.renewMs > 0 && o.renewMs < o.rebindMs && o.rebindMs < o.leaseSeconds * 1000)) {
    return bad("renewMs/rebindMs: need 0 < T1 < T2 < lease");
  }
  if (!isHostList(o.routers, MAX_ROUTES)) return bad("routers");
  if (o.classlessRoutes !== null) {
    if (!Array.isArray(o.classlessRoutes) || o.classlessRoutes.length > MAX_ROUTES) return bad("classlessRoutes");
    for (const r of o.classlessRoutes as unknown[]) {
      if (typeof r !== "object" || r === null) return bad("classlessRoutes");
      const route = r as Record<string, unknown>;
      if (Object.keys(route).length !== 2 || !isCidr(route.destination) || !isIpv4(route.router)) return bad("classlessRoutes");
      if (isForbiddenRouteDestination(route.destination as string)) return bad("classlessRoutes");
      if (route.router !== "0.0.0.0" && !isUnicastHost(route.router)) return bad("classlessRoutes");
    }
  }
  if (!isHostList(o.dns, MAX_NAMESERVERS)) return bad("dns");
  if (typeof o.domain !== "string" || (o.domain !== "" && normaliseDomainName(o.domain) !== o.domain)) return bad("domain");
  if (
    !Array.isArray(o.search) ||
    o.search.length > MAX_SEARCH_DOMAINS ||
    o.search.join(" ").length > MAX_SEARCH_BYTES ||
    !o.search.every((n) => typeof n === "string" && normaliseDomainName(n) === n)
  ) {
    return bad("search");
  }
  if (!(o.mtu === 0 || isInt(o.mtu, 68, 65535))) return bad("mtu");
  if (!isHostList(o.ntp, MAX_NTP_SERVERS)) return bad("ntp");
  if (o.hostname !== undefined) {
    if (typeof o.hostname !== "string" || o.hostname.length > MAX_ASSIGNED_HOSTNAME_BYTES || normaliseDomainName(o.hostname) !== o.hostname) return bad("hostname");
  }
  return undefined;
}

/** Parses the text stored under `/state/lease`. Never throws: bad text yields a typed error. */
export function parsePersistedLease(
  text: string,
): { ok: true; lease: PersistedLease } | { ok: false; error: PersistedLeaseError } {
  if (text.length > MAX_PERSISTED_LEASE_BYTES) {
    return { ok: false, error: { code: "PADDOCK_E_DHCP4_PERSISTED_LEASE", detail: "too large" } };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: "PADDOCK_E_DHCP4_PERSISTED_LEASE", detail: "not JSON" } };
  }
  const error = validatePersistedLease(value);
  if (error !== undefined) return { ok: false, error };
  return { ok: true, lease: value as PersistedLease };
}

// ---------------------------------------------------------------------------------------------
// Publication

/** One entry of the client's KV schema: a path (NNN = a 3-digit index from 001), its value form. */
export interface DhcpKvPath {
  pattern: string;
  value: string;
  description: string;
}

/** Every path the client writes or deletes, for the KV schema. */
export const DHCP_CLIENT_KV_PATHS: readonly DhcpKvPath[] = [
  { pattern: "/ip", value: "ipv4-cidr", description: "yiaddr/prefix from option 1; /32 without a (contiguous) mask" },
  { pattern: "/gateway", value: "ipv4", description: "default router: option 121's 0.0.0.0/0 when 121 is present, else the first of option 3" },
  { pattern: "/mtu", value: "decimal 68–65535", description: "option 26, only when in range" },
  { pattern: "/domain", value: "domain-name", description: "option 15" },
  { pattern: "/search", value: "domain names separated by one space", description: "option 119" },
  { pattern: "/nameserver/NNN", value: "ipv4", description: `option 6, in order, 001…${String(MAX_NAMESERVERS).padStart(3, "0")}` },
  { pattern: "/route/NNN", value: "ipv4-cidr SP ipv4", description: `option 121 routes except the default one used as /gateway ("10.0.0.0/8 10.0.0.1"; router 0.0.0.0 = on-link), 001…${String(MAX_ROUTES).padStart(3, "0")}` },
  { pattern: "/ntp/NNN", value: "ipv4", description: `option 42, in order, 001…${String(MAX_NTP_SERVERS).padStart(3, "0")}` },
  { pattern: "/hostname", value: "host name ≤ 64 bytes", description: "option 12, the host name the server assigned" },
  { pattern: "/lease/expires", value: "Unix seconds (decimal), 0 for an infinite lease", description: "when the lease runs out" },
  { pattern: "/lease/server", value: "ipv4", description: "option 54, the server that granted the lease" },
  { pattern: "/lease/obtained", value: "Unix seconds (decimal)", description: "when the request that got the lease was sent (its time origin)" },
  { pattern: "/lease/renew", value: "Unix seconds (decimal), 0 for an infinite lease", description: "T1: when the client renews" },
  { pattern: "/lease/rebind", value: "Unix seconds (decimal), 0 for an infinite lease", description: "T2: when the client rebinds" },
  { pattern: "/client/ipv6-only-until", value: "Unix seconds (decimal)", description: "only in IPV6-ONLY (RFC 8925, machine.ts departure 15): when DHCPv4 starts over" },
  { pattern: "/state/lease", value: `canonical JSON, ≤ ${MAX_PERSISTED_LEASE_BYTES} bytes`, description: "the lease for INIT-REBOOT after a restart (calf-private)" },
];

function index3(i: number): string {
  return String(i + 1).padStart(3, "0");
}

/** The default route of a lease, following RFC 3442 (option 121 overrides option 3). */
export function leaseGateway(lease: PersistedLease): Ipv4 | undefined {
  if (lease.classlessRoutes !== null) {
    return lease.classlessRoutes.find((r) => r.destination === "0.0.0.0/0" && r.router !== "0.0.0.0")?.router;
  }
  return lease.routers[0];
}

/** The KV keys (path → value) that publish a lease, all of them, including `/state/lease`. */
export function leaseKeys(lease: PersistedLease): Map<string, string> {
  const keys = new Map<string, string>();
  keys.set("/ip", `${lease.address}/${lease.prefix}`);
  const gateway = leaseGateway(lease);
  if (gateway !== undefined) keys.set("/gateway", gateway);
  if (lease.mtu !== 0) keys.set("/mtu", String(lease.mtu));
  if (lease.domain !== "") keys.set("/domain", lease.domain);
  if (lease.search.length > 0) keys.set("/search", lease.search.join(" "));
  lease.dns.forEach((a, i) => keys.set(`/nameserver/${index3(i)}`, a));
  if (lease.classlessRoutes !== null) {
    let n = 0;
    let usedDefault = false;
    for (const r of lease.classlessRoutes) {
      // The first default route with a router became /gateway; publishing it again would apply it twice.
      if (!usedDefault && r.destination === "0.0.0.0/0" && r.router === gateway) {
        usedDefault = true;
        continue;
      }
      keys.set(`/route/${index3(n++)}`, `${r.destination} ${r.router}`);
    }
  }
  lease.ntp.forEach((a, i) => keys.set(`/ntp/${index3(i)}`, a));
  if (lease.hostname !== undefined) keys.set("/hostname", lease.hostname);
  keys.set(
    "/lease/expires",
    lease.leaseSeconds === INFINITE_LEASE ? "0" : String(Math.floor(lease.acquiredAt / 1000) + lease.leaseSeconds),
  );
  // What `paddock status` shows: who granted the lease, when, and when the client acts on it.
  keys.set("/lease/server", lease.serverId);
  keys.set("/lease/obtained", String(Math.floor(lease.acquiredAt / 1000)));
  const times = leaseTimes(lease);
  keys.set("/lease/renew", times === undefined ? "0" : String(Math.floor(times.t1At / 1000)));
  keys.set("/lease/rebind", times === undefined ? "0" : String(Math.floor(times.t2At / 1000)));
  keys.set("/state/lease", serializePersistedLease(lease));
  return keys;
}

/** Every path the client could ever have written: used to withdraw what an unreadable persisted lease left behind. */
export function allLeasePaths(): string[] {
  const paths = ["/ip", "/gateway", "/mtu", "/domain", "/search", "/hostname", "/lease/expires", "/lease/server", "/lease/obtained", "/lease/renew", "/lease/rebind", "/state/lease"];
  for (let i = 0; i < MAX_NAMESERVERS; i++) paths.push(`/nameserver/${index3(i)}`);
  for (let i = 0; i < MAX_ROUTES; i++) paths.push(`/route/${index3(i)}`);
  for (let i = 0; i < MAX_NTP_SERVERS; i++) paths.push(`/ntp/${index3(i)}`);
  return paths;
}
