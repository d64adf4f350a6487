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
 * Address attributes are typed for AF_INET; for other families they stay raw in `unknown`.
 */

import { concatBytes, ipv4FromBytes, ipv4ToBytes, readU32, writeU32 } from "./bytes.ts";
import type { Ipv4Address } from "./bytes.ts";
import { encodeAttribute, encodeRawAttribute, parseAttributes, u32Attribute } from "./attributes.ts";
import type { RawAttribute } from "./attributes.ts";
import { AF_INET, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE } from "./constants.ts";
import { type Decoded, fail, ok } from "./result.ts";

/** sizeof(struct rtmsg). */
export const RTMSG_LEN = 12;

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
  readonly destination?: Ipv4Address;
  /** RTA_GATEWAY: next hop. */
  readonly gateway?: Ipv4Address;
  /** RTA_PREFSRC: preferred source address. */
  readonly prefSrc?: Ipv4Address;
  /** RTA_OIF: output interface index. */
  readonly oif?: number;
  /** RTA_PRIORITY: the metric. */
  readonly priority?: number;
  /** RTA_TABLE: the full 32-bit table id. */
  readonly tableId?: number;
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
        if (family !== AF_INET) {
          unknown.push(a);
          break;
        }
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IPv4 address attribute ${a.type} has ${a.data.byteLength} bytes, want 4`, at);
        const v = ipv4FromBytes(a.data);
        if (a.type === RTA_DST) m.destination = v;
        else if (a.type === RTA_GATEWAY) m.gateway = v;
        else m.prefSrc = v;
        break;
      }
      case RTA_OIF:
      case RTA_PRIORITY:
      case RTA_TABLE: {
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `u32 attribute ${a.type} has ${a.data.byteLength} bytes, want 4`, at);
        const v = readU32(a.data, 0);
        if (a.type === RTA_OIF) m.oif = v;
        else if (a.type === RTA_PRIORITY) m.priority = v;
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
  if (m.destination !== undefined) parts.push(encodeAttribute(RTA_DST, ipv4ToBytes(m.destination)));
  if (m.gateway !== undefined) parts.push(encodeAttribute(RTA_GATEWAY, ipv4ToBytes(m.gateway)));
  if (m.prefSrc !== undefined) parts.push(encodeAttribute(RTA_PREFSRC, ipv4ToBytes(m.prefSrc)));
  if (m.oif !== undefined) parts.push(u32Attribute(RTA_OIF, m.oif));
  if (m.priority !== undefined) parts.push(u32Attribute(RTA_PRIORITY, m.priority));
  for (const a of m.unknown) parts.push(encodeRawAttribute(a));
  return concatBytes(parts);
}
