/**
 * Caller-facing views of decoded messages: links, IPv4 addresses and routes with the flag bits
 * and lifetimes turned into plain fields. Each keeps the wire-level `message` it came from.
 */

import type { Ipv4Address, Ipv6Address, LinkLayerAddress } from "./bytes.ts";
import {
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  ICMPV6_ROUTER_PREF_HIGH,
  ICMPV6_ROUTER_PREF_LOW,
  INFINITY_LIFE_TIME,
  RT_TABLE_UNSPEC,
} from "./constants.ts";
import type { AddressMessage } from "./address.ts";
import type { LinkMessage } from "./link.ts";
import { routeCacheExpires, type RouteMessage } from "./route.ts";
import type { Lifetime, RouterPreference } from "./requests.ts";

/** RFC 2863 operational state names, indexed by IF_OPER_* value. */
export const OPER_STATES = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"] as const;

/** An RFC 2863 operational state name. */
export type OperState = (typeof OPER_STATES)[number];

/** A network interface. */
export interface Link {
  /** ifindex. */
  readonly index: number;
  /** Interface name (empty if the kernel sent none, which it always does). */
  readonly name: string;
  /** MTU, if reported. */
  readonly mtu: number | undefined;
  /** Link-layer address, if the link has one. */
  readonly mac: LinkLayerAddress | undefined;
  /** IFF_UP: administratively up. */
  readonly up: boolean;
  /** IFF_RUNNING: operationally up. */
  readonly running: boolean;
  /** IFF_LOWER_UP: the driver reports L1 up. */
  readonly lowerUp: boolean;
  /** IFLA_CARRIER, if reported. */
  readonly carrier: boolean | undefined;
  /** IFLA_OPERSTATE by name ("unknown" if absent or out of range). */
  readonly operState: OperState;
  /** The wire message. */
  readonly message: LinkMessage;
}

/** An IPv4 address on a link. */
export interface Address {
  /** ifindex of the link. */
  readonly index: number;
  /** The local address (IFA_LOCAL, or IFA_ADDRESS when the kernel sent no IFA_LOCAL). */
  readonly address: Ipv4Address | undefined;
  /** Prefix length. */
  readonly prefixLength: number;
  /** "10.0.0.5/24". */
  readonly cidr: string;
  /** The peer (IFA_ADDRESS) when it differs from the local address (point-to-point). */
  readonly peer: Ipv4Address | undefined;
  /** IFA_BROADCAST. */
  readonly broadcast: Ipv4Address | undefined;
  /** IFA_LABEL. */
  readonly label: string | undefined;
  /** Seconds of valid lifetime left, or "forever". */
  readonly validLifetime: Lifetime;
  /** Seconds of preferred lifetime left, or "forever". */
  readonly preferredLifetime: Lifetime;
  /** IFA_FLAGS if present, else ifa_flags. */
  readonly flags: number;
  /** ifa_scope. */
  readonly scope: number;
  /** The wire message. */
  readonly message: AddressMessage;
}

/** An IPv4 route. */
export interface Route {
  /** Destination prefix address ("0.0.0.0" for the default route). */
  readonly destination: Ipv4Address;
  /** Destination prefix length. */
  readonly prefixLength: number;
  /** "default" or "10.1.0.0/16", as `ip route` prints it. */
  readonly cidr: string;
  /** Next hop. */
  readonly gateway: Ipv4Address | undefined;
  /** Output ifindex. */
  readonly oif: number | undefined;
  /** Metric. */
  readonly priority: number | undefined;
  /** Table id (RTA_TABLE, else rtm_table). */
  readonly table: number;
  /** rtm_protocol (RTPROT_PADDOCK for ours). */
  readonly protocol: number;
  /** rtm_scope. */
  readonly scope: number;
  /** rtm_type. */
  readonly type: number;
  /** Preferred source. */
  readonly prefSrc: Ipv4Address | undefined;
  /** The wire message. */
  readonly message: RouteMessage;
}

/** The view of a link message. */
export function linkView(m: LinkMessage): Link {
  return {
    index: m.index,
    name: m.name ?? "",
    mtu: m.mtu,
    mac: m.address,
    up: (m.flags & IFF_UP) !== 0,
    running: (m.flags & IFF_RUNNING) !== 0,
    lowerUp: (m.flags & IFF_LOWER_UP) !== 0,
    carrier: m.carrier,
    operState: OPER_STATES[m.operstate ?? 0] ?? "unknown",
    message: m,
  };
}

function lifetime(n: number | undefined): Lifetime {
  return n === undefined || n === INFINITY_LIFE_TIME ? "forever" : n;
}

/** The view of an IPv4 address message. */
export function addressView(m: AddressMessage): Address {
  const address = (m.local ?? m.address) as Ipv4Address | undefined;
  return {
    index: m.index,
    address,
    prefixLength: m.prefixLength,
    cidr: `${address ?? "?"}/${m.prefixLength}`,
    peer: m.address !== undefined && m.local !== undefined && m.address !== m.local ? (m.address as Ipv4Address) : undefined,
    broadcast: m.broadcast,
    label: m.label,
    validLifetime: lifetime(m.cacheInfo?.valid),
    preferredLifetime: lifetime(m.cacheInfo?.preferred),
    flags: m.extFlags ?? m.flags,
    scope: m.scope,
    message: m,
  };
}

/** The view of an IPv4 route message. */
export function routeView(m: RouteMessage): Route {
  const destination = (m.destination ?? "0.0.0.0") as Ipv4Address;
  return {
    destination,
    prefixLength: m.dstLength,
    cidr: m.dstLength === 0 ? "default" : `${destination}/${m.dstLength}`,
    gateway: m.gateway as Ipv4Address | undefined,
    oif: m.oif,
    priority: m.priority,
    table: m.tableId ?? (m.table === RT_TABLE_UNSPEC ? RT_TABLE_UNSPEC : m.table),
    protocol: m.protocol,
    scope: m.scope,
    type: m.type,
    prefSrc: m.prefSrc as Ipv4Address | undefined,
    message: m,
  };
}

/** An IPv6 address on a link. */
export interface Address6 {
  /** ifindex of the link. */
  readonly index: number;
  /** The address (IFA_LOCAL for a point-to-point one, else IFA_ADDRESS). */
  readonly address: Ipv6Address | undefined;
  /** Prefix length. */
  readonly prefixLength: number;
  /** "2001:db8::5/64". */
  readonly cidr: string;
  /** Seconds of valid lifetime left, or "forever". */
  readonly validLifetime: Lifetime;
  /** Seconds of preferred lifetime left, or "forever" (0: deprecated). */
  readonly preferredLifetime: Lifetime;
  /** IFA_FLAGS if present, else ifa_flags (IFA_F_TENTATIVE, IFA_F_DADFAILED, IFA_F_NOPREFIXROUTE, …). */
  readonly flags: number;
  /** ifa_scope (RT_SCOPE_LINK for fe80::/10). */
  readonly scope: number;
  /** The wire message. */
  readonly message: AddressMessage;
}

/** The view of an IPv6 address message. */
export function address6View(m: AddressMessage): Address6 {
  const address = (m.local ?? m.address) as Ipv6Address | undefined;
  return {
    index: m.index,
    address,
    prefixLength: m.prefixLength,
    cidr: `${address ?? "?"}/${m.prefixLength}`,
    validLifetime: lifetime(m.cacheInfo?.valid),
    preferredLifetime: lifetime(m.cacheInfo?.preferred),
    flags: m.extFlags ?? m.flags,
    scope: m.scope,
    message: m,
  };
}

/** An IPv6 route. */
export interface Route6 {
  /** Destination prefix address ("::" for the default route). */
  readonly destination: Ipv6Address;
  /** Destination prefix length. */
  readonly prefixLength: number;
  /** "default" or "2001:db8:1::/48", as `ip -6 route` prints it. */
  readonly cidr: string;
  /** Next hop (a router's link-local address). */
  readonly gateway: Ipv6Address | undefined;
  /** Output ifindex. */
  readonly oif: number | undefined;
  /** Metric. */
  readonly priority: number | undefined;
  /** Table id (RTA_TABLE, else rtm_table). */
  readonly table: number;
  /** rtm_protocol (RTPROT_PADDOCK for ours, RTPROT_RA 9 for the kernel's own SLAAC routes). */
  readonly protocol: number;
  /** rtm_type. */
  readonly type: number;
  /** RFC 4191 preference (RTA_PREF), when the kernel reports one. */
  readonly pref: RouterPreference | undefined;
  /** Seconds until the kernel removes it (RTA_CACHEINFO's rta_expires, rounded up), or "forever". */
  readonly expires: Lifetime;
  /** The wire message. */
  readonly message: RouteMessage;
}

/** The view of an IPv6 route message. */
export function route6View(m: RouteMessage): Route6 {
  const destination = (m.destination ?? "::") as Ipv6Address;
  return {
    destination,
    prefixLength: m.dstLength,
    cidr: m.dstLength === 0 ? "default" : `${destination}/${m.dstLength}`,
    gateway: m.gateway as Ipv6Address | undefined,
    oif: m.oif,
    priority: m.priority,
    table: m.tableId ?? m.table,
    protocol: m.protocol,
    type: m.type,
    pref: m.pref === undefined ? undefined : m.pref === ICMPV6_ROUTER_PREF_HIGH ? "high" : m.pref === ICMPV6_ROUTER_PREF_LOW ? "low" : "medium",
    expires: ((t) => (t === undefined || t === 0 ? "forever" : Math.ceil(t / 100)))(routeCacheExpires(m)),
    message: m,
  };
}
