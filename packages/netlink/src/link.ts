/**
 * struct ifinfomsg (RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK / RTM_SETLINK):
 *
 *   offset 0  u8  ifi_family      (AF_UNSPEC)
 *          1  u8  __ifi_pad
 *          2  u16 ifi_type        (ARPHRD_*)
 *          4  s32 ifi_index
 *          8  u32 ifi_flags       (IFF_*)
 *         12  u32 ifi_change      (mask of flags to change; 0xffffffff "all" is deprecated)
 *         16  attributes (IFLA_*)
 */

import { concatBytes, isIfName, linkLayerFromBytes, linkLayerToBytes, readS32, readU16, readU32, writeS32, writeU16, writeU32, MAX_ADDR_LEN, MAX_IFNAME_BYTES } from "./bytes.ts";
import type { IfName, LinkLayerAddress } from "./bytes.ts";
import { decodeStringAttribute, encodeAttribute, encodeRawAttribute, parseAttributes, stringAttribute, u32Attribute, u8Attribute } from "./attributes.ts";
import type { RawAttribute } from "./attributes.ts";
import { IFLA_ADDRESS, IFLA_BROADCAST, IFLA_CARRIER, IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE } from "./constants.ts";
import { type Decoded, fail, ok } from "./result.ts";

/** sizeof(struct ifinfomsg). */
export const IFINFOMSG_LEN = 16;

/** A decoded ifinfomsg with its known attributes typed and the rest kept raw. */
export interface LinkMessage {
  /** ifi_family (AF_UNSPEC for links). */
  readonly family: number;
  /** ifi_type: ARPHRD_* (1 = Ethernet, 772 = loopback). */
  readonly ifType: number;
  /** ifi_index; 0 in a request means "by name". */
  readonly index: number;
  /** ifi_flags: IFF_*. */
  readonly flags: number;
  /** ifi_change: which IFF_* bits a request changes. */
  readonly change: number;
  /** IFLA_IFNAME. */
  readonly name?: IfName;
  /** IFLA_MTU. */
  readonly mtu?: number;
  /** IFLA_ADDRESS: the link-layer (MAC) address. */
  readonly address?: LinkLayerAddress;
  /** IFLA_BROADCAST: the link-layer broadcast address. */
  readonly broadcast?: LinkLayerAddress;
  /** IFLA_OPERSTATE: IF_OPER_* (RFC 2863). */
  readonly operstate?: number;
  /** IFLA_CARRIER. */
  readonly carrier?: boolean;
  /** Every other attribute, in wire order. */
  readonly unknown: readonly RawAttribute[];
}

/** Decodes an ifinfomsg payload (after the nlmsghdr). `base` is its offset in the datagram. */
export function decodeLinkMessage(p: Uint8Array, base = 0): Decoded<LinkMessage> {
  if (p.byteLength < IFINFOMSG_LEN) {
    return fail("PADDOCK_E_NETLINK_TRUNCATED", `ifinfomsg needs ${IFINFOMSG_LEN} bytes, have ${p.byteLength}`, base);
  }
  const attrs = parseAttributes(p.subarray(IFINFOMSG_LEN), base + IFINFOMSG_LEN);
  if (!attrs.ok) return attrs;
  const m: {
    -readonly [K in keyof LinkMessage]: LinkMessage[K];
  } = {
    family: p[0] ?? 0,
    ifType: readU16(p, 2),
    index: readS32(p, 4),
    flags: readU32(p, 8),
    change: readU32(p, 12),
    unknown: [],
  };
  const unknown: RawAttribute[] = [];
  for (const a of attrs.value) {
    const at = base + (a.data.byteOffset - p.byteOffset) - 4;
    switch (a.type) {
      case IFLA_IFNAME: {
        const s = decodeStringAttribute(a.data);
        if (s === undefined || !isIfName(s)) {
          return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", "IFLA_IFNAME is not an interface name (1-15 bytes of UTF-8 without whitespace, '/', ':' or control characters)", at);
        }
        m.name = s;
        break;
      }
      case IFLA_MTU:
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IFLA_MTU has ${a.data.byteLength} bytes, want 4`, at);
        m.mtu = readU32(a.data, 0);
        break;
      case IFLA_ADDRESS:
      case IFLA_BROADCAST:
        if (a.data.byteLength > MAX_ADDR_LEN) {
          return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `link-layer address of ${a.data.byteLength} bytes > MAX_ADDR_LEN`, at);
        }
        if (a.type === IFLA_ADDRESS) m.address = linkLayerFromBytes(a.data);
        else m.broadcast = linkLayerFromBytes(a.data);
        break;
      case IFLA_OPERSTATE:
        if (a.data.byteLength !== 1) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IFLA_OPERSTATE has ${a.data.byteLength} bytes, want 1`, at);
        m.operstate = a.data[0] ?? 0;
        break;
      case IFLA_CARRIER:
        if (a.data.byteLength !== 1) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IFLA_CARRIER has ${a.data.byteLength} bytes, want 1`, at);
        m.carrier = a.data[0] !== 0;
        break;
      default:
        unknown.push(a);
    }
  }
  m.unknown = unknown;
  return ok(m);
}

/** Encodes an ifinfomsg payload: the fixed struct, the known attributes, then the unknown ones. */
export function encodeLinkMessage(m: LinkMessage): Uint8Array {
  const head = new Uint8Array(IFINFOMSG_LEN);
  head[0] = m.family;
  writeU16(head, 2, m.ifType);
  writeS32(head, 4, m.index);
  writeU32(head, 8, m.flags);
  writeU32(head, 12, m.change);
  const parts: Uint8Array[] = [head];
  if (m.name !== undefined) parts.push(stringAttribute(IFLA_IFNAME, m.name));
  if (m.mtu !== undefined) parts.push(u32Attribute(IFLA_MTU, m.mtu));
  if (m.address !== undefined) parts.push(encodeAttribute(IFLA_ADDRESS, linkLayerToBytes(m.address)));
  if (m.broadcast !== undefined) parts.push(encodeAttribute(IFLA_BROADCAST, linkLayerToBytes(m.broadcast)));
  if (m.operstate !== undefined) parts.push(u8Attribute(IFLA_OPERSTATE, m.operstate));
  if (m.carrier !== undefined) parts.push(u8Attribute(IFLA_CARRIER, m.carrier ? 1 : 0));
  for (const a of m.unknown) parts.push(encodeRawAttribute(a));
  return concatBytes(parts);
}
