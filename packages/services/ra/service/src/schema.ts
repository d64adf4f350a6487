/**
 * The RA service's schema — the one contract between its calf and the SLAAC handler: what the
 * priv tells the calf about the link (`/config/…`), and what the calf learned from router
 * advertisements (one commit per change), each value in the form ./wire.ts writes and parsed here
 * once into a typed value the handler uses as it is (STYLE.md 13).
 *
 * The key counts are the core's bounds (docs/ra.md): a calf that publishes more is refused at the
 * commit, so the priv never acts on more than 8 routers, 16 prefixes, 16 routes, 8 DNS servers and
 * 8 search names, whatever a network or a compromised calf sends.
 */
import { defineSchema, domainName, intRange, mac, oneOf, type DomainName, type Parsed } from "@paddock/kv";
import { isIpv6LinkLocal, parseIpv6Address, parseIpv6Cidr, type Ipv6Address } from "@paddock/netlink";
import { PREFERENCES, type PreferenceName, type UnixDeadline } from "./wire.ts";

/** The core's MAX_ROUTERS. */
export const MAX_ROUTERS = 8;
/** The core's MAX_PREFIXES: each autonomous one becomes an address. */
export const MAX_PREFIXES = 16;
/** The core's MAX_ROUTES. */
export const MAX_ROUTES = 16;
/** The core's MAX_RDNSS. */
export const MAX_DNS_SERVERS = 8;
/** The core's MAX_SEARCH_NAMES. */
export const MAX_SEARCH_NAMES = 8;
/** RFC 8200 §5: the smallest IPv6 MTU. */
export const MIN_IPV6_MTU = 1280;
/** The largest MTU the kernel's u32 and any link could hold that we accept (a jumbo frame's 65535 and more make no sense here). */
export const MAX_IPV6_MTU = 65_535;

const INDEX = /^[0-9]{3}$/;
const quote = (v: string) => JSON.stringify(v.slice(0, 48));
const no = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

function deadline(text: string): UnixDeadline | undefined {
  if (text === "never") return "never";
  return /^(0|[1-9][0-9]{0,11})$/.test(text) ? Number(text) : undefined;
}

function address(text: string): Ipv6Address | undefined {
  return parseIpv6Address(text);
}

/** A default router. */
export interface RouterValue {
  readonly address: Ipv6Address;
  readonly preference: PreferenceName;
  readonly until: UnixDeadline;
}

/** A prefix from Prefix Information options. */
export interface PrefixValue {
  /** Host bits cleared. */
  readonly prefix: Ipv6Address;
  readonly prefixLength: number;
  /** Absent: not on-link. */
  readonly onLinkUntil?: UnixDeadline;
  /** Absent: not autonomous (no SLAAC address). */
  readonly autonomous?: { readonly validUntil: UnixDeadline; readonly preferredUntil: UnixDeadline };
}

/** A more specific route (RFC 4191). */
export interface RouteValue {
  readonly prefix: Ipv6Address;
  readonly prefixLength: number;
  readonly router: Ipv6Address;
  readonly preference: PreferenceName;
  readonly until: UnixDeadline;
}

/** A DNS server with its lifetime. */
export interface DnsServerValue {
  readonly address: Ipv6Address;
  readonly until: UnixDeadline;
}

/** A search name with its lifetime. */
export interface SearchNameValue {
  readonly name: DomainName;
  readonly until: UnixDeadline;
}

/** "fe80::1 high 1764601800": a router is link-local (RFC 4861 §6.1.2). */
export function routerValue(v: string): Parsed<RouterValue> {
  const [a, p, u, ...rest] = v.split(" ");
  const addr = address(a ?? "");
  const until = deadline(u ?? "");
  if (rest.length > 0 || addr === undefined || !isIpv6LinkLocal(addr) || !(PREFERENCES as readonly string[]).includes(p ?? "") || until === undefined) {
    return no(`${quote(v)} is not "ROUTER PREFERENCE UNTIL" (a link-local address, high|medium|low, Unix seconds or never)`);
  }
  return { ok: true, value: { address: addr, preference: p as PreferenceName, until } };
}

function prefixOf(text: string): { prefix: Ipv6Address; prefixLength: number } | undefined {
  const c = parseIpv6Cidr(text);
  if (c === undefined || !text.includes("/")) return undefined;
  return { prefix: c.address, prefixLength: c.prefixLength };
}

/** "2001:db8:1::/64 on-link=T valid=T preferred=T" (each part optional, in that order). */
export function prefixValue(v: string): Parsed<PrefixValue> {
  const words = v.split(" ");
  const p = prefixOf(words[0] ?? "");
  const bad = () => no<PrefixValue>(`${quote(v)} is not "PREFIX/LEN [on-link=UNTIL] [valid=UNTIL preferred=UNTIL]"`);
  if (p === undefined || isIpv6LinkLocal(p.prefix)) return bad();
  let i = 1;
  let onLinkUntil: UnixDeadline | undefined;
  if (words[i]?.startsWith("on-link=")) {
    onLinkUntil = deadline(words[i]!.slice(8));
    if (onLinkUntil === undefined) return bad();
    i++;
  }
  let autonomous: PrefixValue["autonomous"];
  if (words[i]?.startsWith("valid=")) {
    const validUntil = deadline(words[i]!.slice(6));
    const preferredUntil = words[i + 1]?.startsWith("preferred=") ? deadline(words[i + 1]!.slice(10)) : undefined;
    if (validUntil === undefined || preferredUntil === undefined) return bad();
    autonomous = { validUntil, preferredUntil };
    i += 2;
  }
  if (i !== words.length || (onLinkUntil === undefined && autonomous === undefined)) return bad();
  return { ok: true, value: { ...p, ...(onLinkUntil !== undefined ? { onLinkUntil } : {}), ...(autonomous !== undefined ? { autonomous } : {}) } };
}

/** "2001:db8:2::/48 via fe80::1 high 1764601800". */
export function routeValue(v: string): Parsed<RouteValue> {
  const [pfx, via, r, pref, u, ...rest] = v.split(" ");
  const p = prefixOf(pfx ?? "");
  const router = address(r ?? "");
  const until = deadline(u ?? "");
  if (rest.length > 0 || p === undefined || via !== "via" || router === undefined || !isIpv6LinkLocal(router) || !(PREFERENCES as readonly string[]).includes(pref ?? "") || until === undefined) {
    return no(`${quote(v)} is not "PREFIX/LEN via ROUTER PREFERENCE UNTIL"`);
  }
  return { ok: true, value: { ...p, router, preference: pref as PreferenceName, until } };
}

/** "2001:db8::53 1764601800": a unicast address (not unspecified, loopback or multicast). */
export function dnsServerValue(v: string): Parsed<DnsServerValue> {
  const [a, u, ...rest] = v.split(" ");
  const addr = address(a ?? "");
  const until = deadline(u ?? "");
  if (rest.length > 0 || addr === undefined || addr === "::" || addr === "::1" || addr.startsWith("ff") || until === undefined) {
    return no(`${quote(v)} is not "SERVER UNTIL" (a unicast IPv6 address, Unix seconds or never)`);
  }
  return { ok: true, value: { address: addr, until } };
}

/** "example.com 1764601800". */
export function searchNameValue(v: string): Parsed<SearchNameValue> {
  const [n, u, ...rest] = v.split(" ");
  const name = domainName(n ?? "");
  const until = deadline(u ?? "");
  if (rest.length > 0 || !name.ok || until === undefined) return no(`${quote(v)} is not "NAME UNTIL" (a domain name, Unix seconds or never)`);
  return { ok: true, value: { name: name.value, until } };
}

/** A link-local address (the interface's own, which the solicitations come from). */
export function linkLocalValue(v: string): Parsed<Ipv6Address> {
  const a = address(v);
  return a !== undefined && isIpv6LinkLocal(a) ? { ok: true, value: a } : no(`${quote(v)} is not a link-local IPv6 address`);
}

export const raSchema = defineSchema({
  name: "ra",
  description: "ra: an IPv6 router discovery client whose calf reads router advertisements and whose handler applies SLAAC addresses, routes, MTU and DNS",
  maxTotalBytes: 16 * 1024,
  keys: {
    mac: { pattern: "/config/mac", description: "the interface's MAC: the solicitations' source", writer: "priv", calfReads: true, validate: mac, maxBytes: 17 },
    linkMtu: { pattern: "/config/link-mtu", description: "the link's own MTU: an MTU option above it is ignored", writer: "priv", calfReads: true, validate: intRange(MIN_IPV6_MTU, 0xffffffff), maxBytes: 10 },
    linkLocal: { pattern: "/config/link-local", description: "the interface's link-local address when the service started (absent: solicit from ::)", writer: "priv", calfReads: true, validate: linkLocalValue, maxBytes: 39 },
    solicit: { pattern: "/config/solicit", description: "true: send router solicitations; false: only listen", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    routers: { pattern: "/router/*", wildcard: INDEX, maxKeys: MAX_ROUTERS, description: "a default router: ROUTER PREFERENCE UNTIL", writer: "calf", calfReads: false, validate: routerValue, maxBytes: 64 },
    prefixes: { pattern: "/prefix/*", wildcard: INDEX, maxKeys: MAX_PREFIXES, description: "a prefix: PREFIX/LEN [on-link=UNTIL] [valid=UNTIL preferred=UNTIL]", writer: "calf", calfReads: false, validate: prefixValue, maxBytes: 112 },
    routes: { pattern: "/route/*", wildcard: INDEX, maxKeys: MAX_ROUTES, description: "a route (RFC 4191): PREFIX/LEN via ROUTER PREFERENCE UNTIL", writer: "calf", calfReads: false, validate: routeValue, maxBytes: 112 },
    dnsServers: { pattern: "/dns/*", wildcard: INDEX, maxKeys: MAX_DNS_SERVERS, description: "a DNS server (RFC 8106 RDNSS): SERVER UNTIL", writer: "calf", calfReads: false, validate: dnsServerValue, maxBytes: 56 },
    searchNames: { pattern: "/search/*", wildcard: INDEX, maxKeys: MAX_SEARCH_NAMES, description: "a search name (RFC 8106 DNSSL): NAME UNTIL", writer: "calf", calfReads: false, validate: searchNameValue, maxBytes: 270 },
    mtu: { pattern: "/mtu", description: "the link MTU an RA gave (1280 up to the link's own)", writer: "calf", calfReads: false, validate: intRange(MIN_IPV6_MTU, MAX_IPV6_MTU), maxBytes: 5 },
    managed: { pattern: "/flags/managed", description: "the latest RA's M flag: addresses are available from DHCPv6 (RFC 4861 §4.2)", writer: "calf", calfReads: false, validate: oneOf("true", "false"), maxBytes: 5 },
    other: { pattern: "/flags/other", description: "the latest RA's O flag: other configuration is available from DHCPv6", writer: "calf", calfReads: false, validate: oneOf("true", "false"), maxBytes: 5 },
  },
});

export const raKeys = raSchema.keys;
