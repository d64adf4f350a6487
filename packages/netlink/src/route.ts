/**
 * struct rtmsg (RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE):
 *
 *   offset 0  u8  rtm_family
 *          1  u8  rtm_dst_len
 *          2  u8  rtm_src_len
 *          3  u8  rtm_tos
 *          4  u8  rtm_table      (RT_TABLE_*; RTA_TABLE holds ids above 255)
 *          5  u8  rtm_protocol   (RTPROT_*: who installed the route)
 *          6  u8  rtm_scope      (RT_SCOPE_*)
 *          7  u8  rtm_type       (RTN_*)
 *          8  u32 rtm_flags      (RTM_F_*)
 *         12  attributes (RTA_*)
 *
 * Address attributes are typed for AF_INET (4 bytes) and AF_INET6 (16 bytes); for other families
 * they stay raw in `unknown`. RTA_PREF (RFC 4191 router preference, u8) and RTA_EXPIRES (seconds,
 * u32, IPv6 only: the kernel expires the route) are what an IPv6 route from a router
 * advertisement carries; a dump reports the time left in RTA_CACHEINFO's rta_expires instead.
 */

import { concatBytes, ipv4FromBytes, ipv4ToBytes, ipv6FromBytes, ipv6ToBytes, readS32, readU32, writeU32 } from "./bytes.ts";
import type { IpAddress, Ipv4Address, Ipv6Address } from "./bytes.ts";
import { encodeAttribute, encodeRawAttribute, parseAttributes, u32Attribute } from "./attributes.ts";
import type { RawAttribute } from "./attributes.ts";
import { AF_INET, AF_INET6, RTA_CACHEINFO, RTA_DST, RTA_EXPIRES, RTA_GATEWAY, RTA_OIF, RTA_PREF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE } from "./constants.ts";
import { type Decoded, fail, ok } from "./result.ts";

/** sizeof(struct rtmsg). */
export const RTMSG_LEN = 12;
/** sizeof(struct rta_cacheinfo): 8 u32/s32 fields; rta_expires (s32, hundredths of a second) at offset 8. */
export const RTA_CACHEINFO_LEN = 32;

/**
 * RTA_CACHEINFO's rta_expires: hundredths of a second until the kernel removes the route (a
 * dump's answer for an IPv6 route with RTF_EXPIRES; 0 = none). The attribute stays raw in
 * `unknown` (so messages round-trip); undefined when absent or shorter than the struct.
 */
export function routeCacheExpires(m: RouteMessage): number | undefined {
  const a = m.unknown.find((x) => x.type === RTA_CACHEINFO);
  if (a === undefined || a.data.byteLength < RTA_CACHEINFO_LEN) return undefined;
  return Math.max(0, readS32(a.data, 8));
}

/** A decoded rtmsg with its known attributes typed and the rest kept raw. */
export interface RouteMessage {
  /** rtm_family. */
  readonly family: number;
  /** rtm_dst_len: destination prefix length (0 for the default route). */
  readonly dstLength: number;
  /** rtm_src_len. */
  readonly srcLength: number;
  /** rtm_tos. */
  readonly tos: number;
  /** rtm_table (8 bits; see `tableId`). */
  readonly table: number;
  /** rtm_protocol: RTPROT_* (RTPROT_PADDOCK for ours). */
  readonly protocol: number;
  /** rtm_scope: RT_SCOPE_*. */
  readonly scope: number;
  /** rtm_type: RTN_*. */
  readonly type: number;
  /** rtm_flags: RTM_F_*. */
  readonly flags: number;
  /** RTA_DST: destination prefix address. */
  readonly destination?: IpAddress;
  /** RTA_GATEWAY: next hop. */
  readonly gateway?: IpAddress;
  /** RTA_PREFSRC: preferred source address. */
  readonly prefSrc?: IpAddress;
  /** RTA_OIF: output interface index. */
  readonly oif?: number;
  /** RTA_PRIORITY: the metric. */
  readonly priority?: number;
  /** RTA_TABLE: the full 32-bit table id. */
  readonly tableId?: number;
  /** RTA_PREF: RFC 4191 router preference (ICMPV6_ROUTER_PREF_LOW 3, MEDIUM 0, HIGH 1). */
  readonly pref?: number;
  /** RTA_EXPIRES: seconds until the kernel deletes the route (a request's attribute; IPv6). */
  readonly expires?: number;
  /** Every other attribute, in wire order. */
  readonly unknown: readonly RawAttribute[];
}

/** Decodes an rtmsg payload (after the nlmsghdr). `base` is its offset in the datagram. */
export function decodeRouteMessage(p: Uint8Array, base = 0): Decoded<RouteMessage> {
  if (p.byteLength < RTMSG_LEN) {
    return fail("PADDOCK_E_NETLINK_TRUNCATED", `rtmsg needs ${RTMSG_LEN} bytes, have ${p.byteLength}`, base);
  }
  const attrs = parseAttributes(p.subarray(RTMSG_LEN), base + RTMSG_LEN);
  if (!attrs.ok) return attrs;
  const family = p[0] ?? 0;
  const m: { -readonly [K in keyof RouteMessage]: RouteMessage[K] } = {
    family,
    dstLength: p[1] ?? 0,
    srcLength: p[2] ?? 0,
    tos: p[3] ?? 0,
    table: p[4] ?? 0,
    protocol: p[5] ?? 0,
    scope: p[6] ?? 0,
    type: p[7] ?? 0,
    flags: readU32(p, 8),
    unknown: [],
  };
  const unknown: RawAttribute[] = [];
  for (const a of attrs.value) {
    const at = base + (a.data.byteOffset - p.byteOffset) - 4;
    switch (a.type) {
      case RTA_DST:
      case RTA_GATEWAY:
      case RTA_PREFSRC: {
        if (family !== AF_INET && family !== AF_INET6) {
          unknown.push(a);
          break;
        }
        const want = family === AF_INET ? 4 : 16;
        if (a.data.byteLength !== want) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `${family === AF_INET ? "IPv4" : "IPv6"} address attribute ${a.type} has ${a.data.byteLength} bytes, want ${want}`, at);
        const v: IpAddress = family === AF_INET ? ipv4FromBytes(a.data) : ipv6FromBytes(a.data);
        if (a.type === RTA_DST) m.destination = v;
        else if (a.type === RTA_GATEWAY) m.gateway = v;
        else m.prefSrc = v;
        break;
      }
      case RTA_PREF:
        if (a.data.byteLength !== 1) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `RTA_PREF has ${a.data.byteLength} bytes, want 1`, at);
        m.pref = a.data[0] ?? 0;
        break;
      case RTA_OIF:
      case RTA_PRIORITY:
      case RTA_EXPIRES:
      case RTA_TABLE: {
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `u32 attribute ${a.type} has ${a.data.byteLength} bytes, want 4`, at);
        const v = readU32(a.data, 0);
        if (a.type === RTA_OIF) m.oif = v;
        else if (a.type === RTA_PRIORITY) m.priority = v;
        else if (a.type === RTA_EXPIRES) m.expires = v;
        else m.tableId = v;
        break;
      }
      default:
        unknown.push(a);
    }
  }
  m.unknown = unknown;
  return ok(m);
}

/** Encodes an rtmsg payload: the fixed struct, the known attributes, then the unknown ones. */
export function encodeRouteMessage(m: RouteMessage): Uint8Array {
  const head = new Uint8Array(RTMSG_LEN);
  head[0] = m.family;
  head[1] = m.dstLength;
  head[2] = m.srcLength;
  head[3] = m.tos;
  head[4] = m.table;
  head[5] = m.protocol;
  head[6] = m.scope;
  head[7] = m.type;
  writeU32(head, 8, m.flags);
  const parts: Uint8Array[] = [head];
  if (m.tableId !== undefined) parts.push(u32Attribute(RTA_TABLE, m.tableId));
  const ipBytes = (a: IpAddress) => (m.family === AF_INET6 ? ipv6ToBytes(a as Ipv6Address) : ipv4ToBytes(a as Ipv4Address));
  if (m.destination !== undefined) parts.push(encodeAttribute(RTA_DST, ipBytes(m.destination)));
  if (m.gateway !== undefined) parts.push(encodeAttribute(RTA_GATEWAY, ipBytes(m.gateway)));
  if (m.prefSrc !== undefined) parts.push(encodeAttribute(RTA_PREFSRC, ipBytes(m.prefSrc)));
  if (m.oif !== undefined) parts.push(u32Attribute(RTA_OIF, m.oif));
  if (m.priority !== undefined) parts.push(u32Attribute(RTA_PRIORITY, m.priority));
  if (m.pref !== undefined) parts.push(encodeAttribute(RTA_PREF, Uint8Array.of(m.pref)));
  if (m.expires !== undefined) parts.push(u32Attribute(RTA_EXPIRES, m.expires));
  for (const a of m.unknown) parts.push(encodeRawAttribute(a));
  return concatBytes(parts);
}
