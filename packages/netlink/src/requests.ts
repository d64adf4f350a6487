/**
 * Pure request builders: a caller's intent (an address, a route, a link change) → the rtnetlink
 * message type, flags, payload and an `ip`-like description for errors. No I/O, so every request
 * the client sends can be checked byte for byte in unit tests. Invalid arguments come back as a
 * typed failure, not an exception.
 */

import { parseIpv4Address, parseIpv4Cidr, ipv4Broadcast, parseIfName, parseIpv6Address, parseIpv6Cidr, isIpv6LinkLocal } from "./bytes.ts";
import type { Ipv4Address, IfName } from "./bytes.ts";
import { parseAttributes } from "./attributes.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA_F_MANAGETEMPADDR,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  ICMPV6_ROUTER_PREF_HIGH,
  ICMPV6_ROUTER_PREF_LOW,
  ICMPV6_ROUTER_PREF_MEDIUM,
  IFF_UP,
  IFLA_EXT_MASK,
  INFINITY_LIFE_TIME,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  RTM_DELADDR,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTPROT_PADDOCK,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
  RTEXT_FILTER_SKIP_STATS,
} from "./constants.ts";
import type { RawAttribute } from "./attributes.ts";
import { encodeAddressMessage, IFADDRMSG_LEN } from "./address.ts";
import { encodeLinkMessage, IFINFOMSG_LEN } from "./link.ts";
import { encodeRouteMessage, RTMSG_LEN } from "./route.ts";

/** What the client sends and how it expects the kernel to answer. */
export interface RequestPlan {
  /** nlmsg_type. */
  readonly type: number;
  /** nlmsg_flags (NLM_F_REQUEST included). */
  readonly flags: number;
  /** The payload after the nlmsghdr. */
  readonly body: Uint8Array;
  /** "ack": wait for NLMSG_ERROR; "get": wait for one object; "dump": collect until NLMSG_DONE. */
  readonly expect: "ack" | "get" | "dump";
  /** `ip`-like words for errors and logs. */
  readonly description: string;
}

/** A builder's result: a plan, or why the arguments cannot be encoded. */
export type Planned = { readonly ok: true; readonly plan: RequestPlan } | { readonly ok: false; readonly reason: string };

/** A link named by its ifindex or its name. */
export type LinkRef = number | string;

/** A lifetime in seconds, or "forever" (INFINITY_LIFE_TIME on the wire). */
export type Lifetime = number | "forever";

/** Largest finite lifetime: one second below INFINITY_LIFE_TIME. */
export const MAX_FINITE_LIFETIME = INFINITY_LIFE_TIME - 1;

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** "dev veth0" or "dev #5": how a link appears in descriptions. */
export function describeLink(name: string | undefined, index: number): string {
  return name !== undefined ? `dev ${name}` : `dev #${index}`;
}

// ---- links ------------------------------------------------------------------------------------

/**
 * IFLA_EXT_MASK with RTEXT_FILTER_SKIP_STATS on every link query: the statistics are about a
 * third of each reply and we never read them, so the kernel need not build them.
 */
const SKIP_STATS: readonly RawAttribute[] = [
  { type: IFLA_EXT_MASK, nested: false, netByteOrder: false, data: new Uint8Array(new Uint32Array([RTEXT_FILTER_SKIP_STATS]).buffer) },
];

/** RTM_GETLINK for one link, by index or by name (IFLA_IFNAME with index 0). */
export function planGetLink(ref: LinkRef): Planned {
  if (typeof ref === "number") {
    if (!Number.isInteger(ref) || ref <= 0 || ref > 0x7fffffff) return { ok: false, reason: `ifindex ${ref} is not a positive 31-bit integer` };
    const body = encodeLinkMessage({ family: AF_UNSPEC, ifType: 0, index: ref, flags: 0, change: 0, unknown: SKIP_STATS });
    return { ok: true, plan: { type: RTM_GETLINK, flags: NLM_F_REQUEST, body, expect: "get", description: `RTM_GETLINK ${describeLink(undefined, ref)}` } };
  }
  const name = parseIfName(ref);
  if (name === undefined) return { ok: false, reason: `"${ref}" is not an interface name (1-15 bytes, no "/", ":" or spaces)` };
  const body = encodeLinkMessage({ family: AF_UNSPEC, ifType: 0, index: 0, flags: 0, change: 0, name, unknown: SKIP_STATS });
  return { ok: true, plan: { type: RTM_GETLINK, flags: NLM_F_REQUEST, body, expect: "get", description: `RTM_GETLINK dev ${name}` } };
}

/** RTM_GETLINK dump of every link. */
export function planListLinks(): Planned {
  const body = encodeLinkMessage({ family: AF_UNSPEC, ifType: 0, index: 0, flags: 0, change: 0, unknown: SKIP_STATS });
  return { ok: true, plan: { type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_DUMP, body, expect: "dump", description: "RTM_GETLINK dump" } };
}

/** RTM_NEWLINK changing IFF_UP only (ifi_change = IFF_UP), as `ip link set dev X up|down`. */
export function planSetLinkUp(index: number, name: string | undefined, up: boolean): Planned {
  const body = encodeLinkMessage({ family: AF_UNSPEC, ifType: 0, index, flags: up ? IFF_UP : 0, change: IFF_UP, unknown: [] });
  return { ok: true, plan: { type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK, body, expect: "ack", description: `RTM_NEWLINK ${describeLink(name, index)} ${up ? "up" : "down"}` } };
}

/** RTM_NEWLINK with IFLA_MTU. Range checks are left to the kernel (per-device min/max, with extack). */
export function planSetLinkMtu(index: number, name: string | undefined, mtu: number): Planned {
  if (!isU32(mtu)) return { ok: false, reason: `MTU ${mtu} is not a u32` };
  const body = encodeLinkMessage({ family: AF_UNSPEC, ifType: 0, index, flags: 0, change: 0, mtu, unknown: [] });
  return { ok: true, plan: { type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK, body, expect: "ack", description: `RTM_NEWLINK ${describeLink(name, index)} mtu ${mtu}` } };
}

// ---- addresses --------------------------------------------------------------------------------

/** An IPv4 address to add, replace or delete. */
export interface AddressSpec {
  /** The link, by index or name. */
  readonly link: LinkRef;
  /** "10.0.0.5/24" (no "/n" means /32). */
  readonly address: string;
  /** Broadcast address: an address, true (default: computed like `brd +` for prefixes ≤ /30), or false for none. */
  readonly broadcast?: string | boolean;
  /** IFA_LABEL, e.g. "veth0:dhcp"; must start with the link's name (the kernel checks). */
  readonly label?: string;
  /** Valid lifetime in seconds (default forever). */
  readonly validLifetime?: Lifetime;
  /** Preferred lifetime in seconds (default: the valid lifetime). */
  readonly preferredLifetime?: Lifetime;
  /** IFA_F_NOPREFIXROUTE: do not let the kernel add the prefix route. */
  readonly noPrefixRoute?: boolean;
}

function lifetimeValue(l: Lifetime): number | undefined {
  if (l === "forever") return INFINITY_LIFE_TIME;
  return Number.isInteger(l) && l >= 0 && l <= MAX_FINITE_LIFETIME ? l : undefined;
}

function lifetimeText(l: Lifetime): string {
  return l === "forever" ? "forever" : `${l}sec`;
}

/** RTM_NEWADDR (add: CREATE|EXCL, replace: CREATE|REPLACE) or RTM_DELADDR for an IPv4 address. */
export function planAddress(op: "add" | "replace" | "delete", index: number, name: string | undefined, spec: AddressSpec): Planned {
  const cidr = parseIpv4Cidr(spec.address);
  if (cidr === undefined) return { ok: false, reason: `"${spec.address}" is not an IPv4 address with optional /prefix` };
  const words = [`${cidr.address}/${cidr.prefixLength}`];
  let broadcast: Ipv4Address | undefined;
  if (op !== "delete") {
    if (typeof spec.broadcast === "string") {
      broadcast = parseIpv4Address(spec.broadcast);
      if (broadcast === undefined) return { ok: false, reason: `broadcast "${spec.broadcast}" is not an IPv4 address` };
    } else if (spec.broadcast !== false && cidr.prefixLength <= 30) {
      // /31 and /32 have no broadcast address (RFC 3021).
      broadcast = ipv4Broadcast(cidr);
    }
    if (broadcast !== undefined) words.push(`brd ${broadcast}`);
  }
  let label: IfName | undefined;
  if (spec.label !== undefined) {
    label = parseIfName(spec.label);
    if (label === undefined) return { ok: false, reason: `label "${spec.label}" is not 1-15 bytes without "/" or spaces` };
  }
  let cacheInfo;
  if (op !== "delete" && (spec.validLifetime !== undefined || spec.preferredLifetime !== undefined)) {
    const validL = spec.validLifetime ?? "forever";
    const preferredL = spec.preferredLifetime ?? validL;
    const valid = lifetimeValue(validL);
    const preferred = lifetimeValue(preferredL);
    if (valid === undefined) return { ok: false, reason: `valid lifetime ${String(validL)} is not 0..${MAX_FINITE_LIFETIME} or "forever"` };
    if (preferred === undefined) return { ok: false, reason: `preferred lifetime ${String(preferredL)} is not 0..${MAX_FINITE_LIFETIME} or "forever"` };
    cacheInfo = { preferred, valid, created: 0, updated: 0 };
    words.push(`valid_lft ${lifetimeText(validL)} preferred_lft ${lifetimeText(preferredL)}`);
  }
  const extFlags = op !== "delete" && spec.noPrefixRoute ? IFA_F_NOPREFIXROUTE : undefined;
  const body = encodeAddressMessage({
    family: AF_INET,
    prefixLength: cidr.prefixLength,
    flags: 0,
    // Like `ip addr add`: loopback addresses get host scope, everything else is global.
    scope: cidr.address.startsWith("127.") ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE,
    index,
    local: cidr.address,
    address: cidr.address,
    ...(broadcast !== undefined ? { broadcast } : {}),
    ...(label !== undefined ? { label } : {}),
    ...(cacheInfo !== undefined ? { cacheInfo } : {}),
    ...(extFlags !== undefined ? { extFlags } : {}),
    unknown: [],
  });
  const type = op === "delete" ? RTM_DELADDR : RTM_NEWADDR;
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === "add" ? NLM_F_CREATE | NLM_F_EXCL : op === "replace" ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  const verb = op === "delete" ? "RTM_DELADDR" : op === "replace" ? "RTM_NEWADDR replace" : "RTM_NEWADDR";
  return { ok: true, plan: { type, flags, body, expect: "ack", description: `${verb} ${words[0]} ${describeLink(name, index)}${words.length > 1 ? " " + words.slice(1).join(" ") : ""}` } };
}

/** RTM_GETADDR dump of IPv4 addresses. */
export function planListAddresses(family: typeof AF_INET | typeof AF_INET6 = AF_INET): Planned {
  const body = encodeAddressMessage({ family, prefixLength: 0, flags: 0, scope: 0, index: 0, unknown: [] });
  return { ok: true, plan: { type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP, body, expect: "dump", description: `RTM_GETADDR dump ${family === AF_INET ? "inet" : "inet6"}` } };
}

// ---- routes -----------------------------------------------------------------------------------

/** An IPv4 route to add, replace or delete. */
export interface RouteSpec {
  /** "default", "0.0.0.0/0" or a prefix "10.1.0.0/16" (host bits must be zero; the kernel checks). */
  readonly destination: string;
  /** Next hop; absent for a prefix route directly on `link`. */
  readonly gateway?: string;
  /** Output link, by index or name. */
  readonly link?: LinkRef;
  /** Metric (RTA_PRIORITY). */
  readonly priority?: number;
  /** Table id (default RT_TABLE_MAIN). */
  readonly table?: number;
  /** Preferred source address (RTA_PREFSRC). */
  readonly prefSrc?: string;
  /** rtm_scope; default: link for a route without gateway, universe otherwise (as `ip route`). */
  readonly scope?: number;
  /**
   * rtm_protocol; default RTPROT_PADDOCK. For delete, the kernel deletes only a route with this
   * protocol, so by default Paddock can remove only routes it installed; 0 matches any.
   */
  readonly protocol?: number;
  /** rtm_type; default RTN_UNICAST (RTN_UNSPEC, i.e. any, for delete). */
  readonly type?: number;
}

/** RTM_NEWROUTE (add: CREATE|EXCL, replace: CREATE|REPLACE) or RTM_DELROUTE for an IPv4 route. */
export function planRoute(op: "add" | "replace" | "delete", index: number | undefined, name: string | undefined, spec: RouteSpec): Planned {
  const dst = spec.destination === "default" ? parseIpv4Cidr("0.0.0.0/0") : parseIpv4Cidr(spec.destination);
  if (dst === undefined || (!spec.destination.includes("/") && spec.destination !== "default")) {
    return { ok: false, reason: `destination "${spec.destination}" is not "default" or an IPv4 prefix a.b.c.d/n` };
  }
  let gateway: Ipv4Address | undefined;
  if (spec.gateway !== undefined) {
    gateway = parseIpv4Address(spec.gateway);
    if (gateway === undefined) return { ok: false, reason: `gateway "${spec.gateway}" is not an IPv4 address` };
  }
  let prefSrc: Ipv4Address | undefined;
  if (spec.prefSrc !== undefined) {
    prefSrc = parseIpv4Address(spec.prefSrc);
    if (prefSrc === undefined) return { ok: false, reason: `prefsrc "${spec.prefSrc}" is not an IPv4 address` };
  }
  const table = spec.table ?? RT_TABLE_MAIN;
  const protocol = spec.protocol ?? RTPROT_PADDOCK;
  for (const [what, v, max] of [["table", table, 0xffffffff], ["metric", spec.priority, 0xffffffff], ["protocol", protocol, 255], ["scope", spec.scope, 255], ["type", spec.type, 255]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= max)) return { ok: false, reason: `${what} ${v} is not 0..${max}` };
  }
  const scope = spec.scope ?? (op === "delete" ? RT_SCOPE_NOWHERE : gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  const type = spec.type ?? (op === "delete" ? RTN_UNSPEC : RTN_UNICAST);
  const body = encodeRouteMessage({
    family: AF_INET,
    dstLength: dst.prefixLength,
    srcLength: 0,
    tos: 0,
    // rtm_table holds 8 bits; ids above 255 go in RTA_TABLE only (rtm_table = RT_TABLE_UNSPEC).
    table: table <= 255 ? table : RT_TABLE_UNSPEC,
    protocol,
    scope,
    type,
    flags: 0,
    tableId: table,
    ...(dst.prefixLength > 0 ? { destination: dst.address } : {}),
    ...(gateway !== undefined ? { gateway } : {}),
    ...(prefSrc !== undefined ? { prefSrc } : {}),
    ...(index !== undefined ? { oif: index } : {}),
    ...(spec.priority !== undefined ? { priority: spec.priority } : {}),
    unknown: [],
  });
  const words: string[] = [dst.prefixLength === 0 ? "default" : `${dst.address}/${dst.prefixLength}`];
  if (gateway !== undefined) words.push(`via ${gateway}`);
  if (index !== undefined) words.push(describeLink(name, index));
  if (prefSrc !== undefined) words.push(`src ${prefSrc}`);
  if (spec.priority !== undefined) words.push(`metric ${spec.priority}`);
  if (table !== RT_TABLE_MAIN) words.push(`table ${table}`);
  words.push(`proto ${protocol}`);
  const verb = op === "delete" ? "RTM_DELROUTE" : op === "replace" ? "RTM_NEWROUTE replace" : "RTM_NEWROUTE";
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === "add" ? NLM_F_CREATE | NLM_F_EXCL : op === "replace" ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  return { ok: true, plan: { type: op === "delete" ? RTM_DELROUTE : RTM_NEWROUTE, flags, body, expect: "ack", description: `${verb} ${words.join(" ")}` } };
}

/** RTM_GETROUTE dump of IPv4 routes (all tables; the client filters). */
export function planListRoutes(): Planned {
  const body = encodeRouteMessage({ family: AF_INET, dstLength: 0, srcLength: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0, unknown: [] });
  return { ok: true, plan: { type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP, body, expect: "dump", description: "RTM_GETROUTE dump inet" } };
}

// ---- IPv6 -------------------------------------------------------------------------------------

/**
 * An IPv6 address to add, replace or delete. The lifetimes go to the kernel in IFA_CACHEINFO, so
 * the KERNEL deprecates the address when the preferred lifetime ends and removes it when the
 * valid one does, whether or not Paddock is still running (RFC 4862 §5.5.4).
 */
export interface Address6Spec {
  /** The link, by index or name. */
  readonly link: LinkRef;
  /** "2001:db8::5/64" (no "/n" means /128). */
  readonly address: string;
  /** Valid lifetime in seconds (default forever). */
  readonly validLifetime?: Lifetime;
  /** Preferred lifetime in seconds (default: the valid lifetime; the kernel refuses one above it). */
  readonly preferredLifetime?: Lifetime;
  /** IFA_F_NOPREFIXROUTE: no kernel prefix route (a SLAAC address: the prefix's on-link route is separate). */
  readonly noPrefixRoute?: boolean;
  /** IFA_F_NODAD: usable at once, no duplicate address detection (RFC 4862 §5.4: only where DAD cannot work). */
  readonly noDad?: boolean;
  /** IFA_F_MANAGETEMPADDR: the kernel derives RFC 8981 temporary addresses from this one's prefix. */
  readonly manageTempAddr?: boolean;
}

/** RTM_NEWADDR (add: CREATE|EXCL, replace: CREATE|REPLACE) or RTM_DELADDR for an IPv6 address. */
export function planAddress6(op: "add" | "replace" | "delete", index: number, name: string | undefined, spec: Address6Spec): Planned {
  const cidr = parseIpv6Cidr(spec.address);
  if (cidr === undefined) return { ok: false, reason: `"${spec.address}" is not an IPv6 address with optional /prefix` };
  const words = [`${cidr.address}/${cidr.prefixLength}`];
  let cacheInfo;
  let extFlags = 0;
  if (op !== "delete") {
    if (spec.validLifetime !== undefined || spec.preferredLifetime !== undefined) {
      const validL = spec.validLifetime ?? "forever";
      const preferredL = spec.preferredLifetime ?? validL;
      const valid = lifetimeValue(validL);
      const preferred = lifetimeValue(preferredL);
      if (valid === undefined) return { ok: false, reason: `valid lifetime ${String(validL)} is not 0..${MAX_FINITE_LIFETIME} or "forever"` };
      if (preferred === undefined) return { ok: false, reason: `preferred lifetime ${String(preferredL)} is not 0..${MAX_FINITE_LIFETIME} or "forever"` };
      if (preferred > valid) return { ok: false, reason: `preferred lifetime ${String(preferredL)} is longer than the valid lifetime ${String(validL)}` };
      cacheInfo = { preferred, valid, created: 0, updated: 0 };
      words.push(`valid_lft ${lifetimeText(validL)} preferred_lft ${lifetimeText(preferredL)}`);
    }
    if (spec.noPrefixRoute) (extFlags |= IFA_F_NOPREFIXROUTE), words.push("noprefixroute");
    if (spec.noDad) (extFlags |= IFA_F_NODAD), words.push("nodad");
    if (spec.manageTempAddr) (extFlags |= IFA_F_MANAGETEMPADDR), words.push("mngtmpaddr");
  }
  const body = encodeAddressMessage({
    family: AF_INET6,
    prefixLength: cidr.prefixLength,
    flags: extFlags & 0xff,
    // Like `ip addr add`: the kernel derives an IPv6 address's scope from the address itself.
    scope: isIpv6LinkLocal(cidr.address) ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
    index,
    address: cidr.address,
    ...(cacheInfo !== undefined ? { cacheInfo } : {}),
    ...(op !== "delete" ? { extFlags } : {}),
    unknown: [],
  });
  const type = op === "delete" ? RTM_DELADDR : RTM_NEWADDR;
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === "add" ? NLM_F_CREATE | NLM_F_EXCL : op === "replace" ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  const verb = op === "delete" ? "RTM_DELADDR" : op === "replace" ? "RTM_NEWADDR replace" : "RTM_NEWADDR";
  return { ok: true, plan: { type, flags, body, expect: "ack", description: `${verb} ${words[0]} ${describeLink(name, index)}${words.length > 1 ? " " + words.slice(1).join(" ") : ""}` } };
}

/** RFC 4191 §2.1 router preference as a name. */
export type RouterPreference = "high" | "medium" | "low";

const PREF_VALUE: Record<RouterPreference, number> = { high: ICMPV6_ROUTER_PREF_HIGH, medium: ICMPV6_ROUTER_PREF_MEDIUM, low: ICMPV6_ROUTER_PREF_LOW };

/** An IPv6 route to add, replace or delete. */
export interface Route6Spec {
  /** "default", "::/0" or a prefix "2001:db8:1::/48" (host bits must be zero; the kernel checks). */
  readonly destination: string;
  /** Next hop: a router's link-local address (RFC 4861 §4.2), paired with `link`. */
  readonly gateway?: string;
  /** Output link, by index or name (required with a link-local gateway). */
  readonly link?: LinkRef;
  /** Metric (RTA_PRIORITY); the kernel's default for IPv6 is 1024. */
  readonly priority?: number;
  /** Table id (default RT_TABLE_MAIN). */
  readonly table?: number;
  /** RFC 4191 preference (RTA_PREF): among routes of equal metric, the kernel prefers high. */
  readonly pref?: RouterPreference;
  /** Seconds until the kernel deletes the route (RTA_EXPIRES); absent or "forever": never. */
  readonly expires?: Lifetime;
  /** rtm_protocol; default RTPROT_PADDOCK (delete matches only it, as for IPv4). */
  readonly protocol?: number;
  /** rtm_type; default RTN_UNICAST (RTN_UNSPEC, any, for delete). */
  readonly type?: number;
}

/**
 * RTM_NEWROUTE (add: CREATE|EXCL, replace: CREATE|REPLACE, append: CREATE only) or RTM_DELROUTE
 * for an IPv6 route. The kernel keys an IPv6 route by (table, prefix, metric): "add" refuses a
 * second one with EEXIST whatever its gateway, "replace" takes over the first one of that key
 * whoever owns it, and "append" adds another gateway as an ECMP sibling — and, for a route
 * already there with the same gateway and an expiry, refreshes that expiry in place (answering
 * EEXIST), which is how a router's lifetime is renewed without the route ever disappearing.
 */
export function planRoute6(op: "add" | "replace" | "append" | "delete", index: number | undefined, name: string | undefined, spec: Route6Spec): Planned {
  const dst = spec.destination === "default" ? parseIpv6Cidr("::/0") : spec.destination.includes("/") ? parseIpv6Cidr(spec.destination) : undefined;
  if (dst === undefined) return { ok: false, reason: `destination "${spec.destination}" is not "default" or an IPv6 prefix x:y::/n` };
  let gateway;
  if (spec.gateway !== undefined) {
    gateway = parseIpv6Address(spec.gateway);
    if (gateway === undefined) return { ok: false, reason: `gateway "${spec.gateway}" is not an IPv6 address` };
    if (isIpv6LinkLocal(gateway) && index === undefined) return { ok: false, reason: `gateway ${gateway} is link-local: the route needs its link` };
  }
  const table = spec.table ?? RT_TABLE_MAIN;
  const protocol = spec.protocol ?? RTPROT_PADDOCK;
  for (const [what, v, max] of [["table", table, 0xffffffff], ["metric", spec.priority, 0xffffffff], ["protocol", protocol, 255], ["type", spec.type, 255]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= max)) return { ok: false, reason: `${what} ${v} is not 0..${max}` };
  }
  let expires: number | undefined;
  if (op !== "delete" && spec.expires !== undefined && spec.expires !== "forever") {
    if (!Number.isInteger(spec.expires) || spec.expires < 0 || spec.expires > MAX_FINITE_LIFETIME) return { ok: false, reason: `expires ${spec.expires} is not 0..${MAX_FINITE_LIFETIME} or "forever"` };
    // rtm_to_fib6_config: a finite RTA_EXPIRES sets RTF_EXPIRES; the kernel deletes the route then.
    expires = spec.expires;
  }
  const pref = op !== "delete" && spec.pref !== undefined ? PREF_VALUE[spec.pref] : undefined;
  const body = encodeRouteMessage({
    family: AF_INET6,
    dstLength: dst.prefixLength,
    srcLength: 0,
    tos: 0,
    table: table <= 255 ? table : RT_TABLE_UNSPEC,
    protocol,
    // IPv6 routes are all of universe scope (the kernel ignores rtm_scope for AF_INET6).
    scope: op === "delete" ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE,
    type: spec.type ?? (op === "delete" ? RTN_UNSPEC : RTN_UNICAST),
    flags: 0,
    tableId: table,
    ...(dst.prefixLength > 0 ? { destination: dst.address } : {}),
    ...(gateway !== undefined ? { gateway } : {}),
    ...(index !== undefined ? { oif: index } : {}),
    ...(spec.priority !== undefined ? { priority: spec.priority } : {}),
    ...(pref !== undefined ? { pref } : {}),
    ...(expires !== undefined ? { expires } : {}),
    unknown: [],
  });
  const words: string[] = [dst.prefixLength === 0 ? "default" : `${dst.address}/${dst.prefixLength}`];
  if (gateway !== undefined) words.push(`via ${gateway}`);
  if (index !== undefined) words.push(describeLink(name, index));
  if (spec.priority !== undefined) words.push(`metric ${spec.priority}`);
  if (table !== RT_TABLE_MAIN) words.push(`table ${table}`);
  words.push(`proto ${protocol}`);
  if (expires !== undefined) words.push(`expires ${expires}sec`);
  if (pref !== undefined) words.push(`pref ${spec.pref}`);
  const verb = op === "delete" ? "RTM_DELROUTE" : op === "replace" ? "RTM_NEWROUTE replace" : op === "append" ? "RTM_NEWROUTE append" : "RTM_NEWROUTE";
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === "add" ? NLM_F_CREATE | NLM_F_EXCL : op === "replace" ? NLM_F_CREATE | NLM_F_REPLACE : op === "append" ? NLM_F_CREATE : 0);
  return { ok: true, plan: { type: op === "delete" ? RTM_DELROUTE : RTM_NEWROUTE, flags, body, expect: "ack", description: `${verb} ${words.join(" ")}` } };
}

/** RTM_GETROUTE dump of IPv6 routes (all tables; the client filters). */
export function planListRoutes6(): Planned {
  const body = encodeRouteMessage({ family: AF_INET6, dstLength: 0, srcLength: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0, unknown: [] });
  return { ok: true, plan: { type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP, body, expect: "dump", description: "RTM_GETROUTE dump inet6" } };
}

// ---- extended-ack offsets ---------------------------------------------------------------------

const IFLA_NAMES: Record<number, string> = { 1: "IFLA_ADDRESS", 2: "IFLA_BROADCAST", 3: "IFLA_IFNAME", 4: "IFLA_MTU", 16: "IFLA_OPERSTATE", 29: "IFLA_EXT_MASK", 33: "IFLA_CARRIER" };
const IFA_NAMES: Record<number, string> = { 1: "IFA_ADDRESS", 2: "IFA_LOCAL", 3: "IFA_LABEL", 4: "IFA_BROADCAST", 6: "IFA_CACHEINFO", 8: "IFA_FLAGS", 9: "IFA_RT_PRIORITY" };
const RTA_NAMES: Record<number, string> = { 1: "RTA_DST", 2: "RTA_SRC", 4: "RTA_OIF", 5: "RTA_GATEWAY", 6: "RTA_PRIORITY", 7: "RTA_PREFSRC", 15: "RTA_TABLE", 20: "RTA_PREF", 23: "RTA_EXPIRES" };

/**
 * Names the request attribute at `offset` (NLMSGERR_ATTR_OFFS counts from the start of the
 * request's nlmsghdr): "IFLA_MTU", or "ifinfomsg" for the fixed header. Undefined if the offset
 * does not point at anything we sent.
 */
export function attributeAtOffset(requestType: number, body: Uint8Array, offset: number): string | undefined {
  const family = requestType >= RTM_NEWROUTE ? { len: RTMSG_LEN, names: RTA_NAMES, struct: "rtmsg" }
    : requestType >= RTM_NEWADDR ? { len: IFADDRMSG_LEN, names: IFA_NAMES, struct: "ifaddrmsg" }
    : { len: IFINFOMSG_LEN, names: IFLA_NAMES, struct: "ifinfomsg" };
  if (offset < NLMSG_HDRLEN) return offset >= 0 ? "nlmsghdr" : undefined;
  if (offset < NLMSG_HDRLEN + family.len) return family.struct;
  const attrs = parseAttributes(body.subarray(family.len), NLMSG_HDRLEN + family.len);
  if (!attrs.ok) return undefined;
  for (const a of attrs.value) {
    const start = NLMSG_HDRLEN + family.len + (a.data.byteOffset - body.byteOffset - family.len) - 4;
    if (offset >= start && offset < start + 4 + a.data.byteLength) return family.names[a.type] ?? `attribute ${a.type}`;
  }
  return undefined;
}
