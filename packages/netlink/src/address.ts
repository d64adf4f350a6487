/**
 * struct ifaddrmsg (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR):
 *
 *   offset 0  u8  ifa_family
 *          1  u8  ifa_prefixlen
 *          2  u8  ifa_flags       (IFA_F_*, low 8 bits; IFA_FLAGS carries all 32)
 *          3  u8  ifa_scope       (RT_SCOPE_*)
 *          4  u32 ifa_index
 *          8  attributes (IFA_*)
 *
 * IFA_CACHEINFO is struct ifa_cacheinfo: u32 ifa_prefered, u32 ifa_valid, u32 cstamp, u32 tstamp
 * (seconds for the lifetimes, hundredths of a second for the stamps; 0xffffffff = forever).
 * Address attributes are typed for AF_INET (4 bytes) and AF_INET6 (16 bytes, RFC 5952 text); for
 * other families they stay raw in `unknown`. An IPv6 address carries only IFA_ADDRESS (the kernel
 * sends IFA_LOCAL too for a point-to-point peer only).
 */

import { concatBytes, ipv4FromBytes, ipv4ToBytes, ipv6FromBytes, ipv6ToBytes, readU32, writeU32, MAX_IFNAME_BYTES } from "./bytes.ts";
import type { IpAddress, Ipv4Address, Ipv6Address } from "./bytes.ts";
import { decodeStringAttribute, encodeAttribute, encodeRawAttribute, parseAttributes, stringAttribute, u32Attribute } from "./attributes.ts";
import type { RawAttribute } from "./attributes.ts";
import { AF_INET, AF_INET6, IFA_ADDRESS, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS, IFA_LABEL, IFA_LOCAL } from "./constants.ts";
import { type Decoded, fail, ok } from "./result.ts";

/** sizeof(struct ifaddrmsg). */
export const IFADDRMSG_LEN = 8;
/** sizeof(struct ifa_cacheinfo). */
export const IFA_CACHEINFO_LEN = 16;

/** struct ifa_cacheinfo. */
export interface AddressCacheInfo {
  /** ifa_prefered: seconds of preferred lifetime left (0xffffffff = forever). */
  readonly preferred: number;
  /** ifa_valid: seconds of valid lifetime left (0xffffffff = forever). */
  readonly valid: number;
  /** cstamp: creation time, hundredths of a second since boot. */
  readonly created: number;
  /** tstamp: last update, hundredths of a second since boot. */
  readonly updated: number;
}

/** A decoded ifaddrmsg with its known attributes typed and the rest kept raw. */
export interface AddressMessage {
  /** ifa_family. */
  readonly family: number;
  /** ifa_prefixlen. */
  readonly prefixLength: number;
  /** ifa_flags (u8). */
  readonly flags: number;
  /** ifa_scope. */
  readonly scope: number;
  /** ifa_index. */
  readonly index: number;
  /** IFA_ADDRESS: the prefix address (the peer on point-to-point links). */
  readonly address?: IpAddress;
  /** IFA_LOCAL: the interface's own address. */
  readonly local?: IpAddress;
  /** IFA_BROADCAST (IPv4 only). */
  readonly broadcast?: Ipv4Address;
  /** IFA_LABEL. */
  readonly label?: string;
  /** IFA_CACHEINFO. */
  readonly cacheInfo?: AddressCacheInfo;
  /** IFA_FLAGS: all 32 flag bits (supersedes ifa_flags when present). */
  readonly extFlags?: number;
  /** Every other attribute, in wire order. */
  readonly unknown: readonly RawAttribute[];
}

/** Decodes an ifaddrmsg payload (after the nlmsghdr). `base` is its offset in the datagram. */
export function decodeAddressMessage(p: Uint8Array, base = 0): Decoded<AddressMessage> {
  if (p.byteLength < IFADDRMSG_LEN) {
    return fail("PADDOCK_E_NETLINK_TRUNCATED", `ifaddrmsg needs ${IFADDRMSG_LEN} bytes, have ${p.byteLength}`, base);
  }
  const attrs = parseAttributes(p.subarray(IFADDRMSG_LEN), base + IFADDRMSG_LEN);
  if (!attrs.ok) return attrs;
  const family = p[0] ?? 0;
  const m: { -readonly [K in keyof AddressMessage]: AddressMessage[K] } = {
    family,
    prefixLength: p[1] ?? 0,
    flags: p[2] ?? 0,
    scope: p[3] ?? 0,
    index: readU32(p, 4),
    unknown: [],
  };
  const unknown: RawAttribute[] = [];
  for (const a of attrs.value) {
    const at = base + (a.data.byteOffset - p.byteOffset) - 4;
    switch (a.type) {
      case IFA_ADDRESS:
      case IFA_LOCAL:
      case IFA_BROADCAST: {
        if (family === AF_INET6 && a.type !== IFA_BROADCAST) {
          if (a.data.byteLength !== 16) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IPv6 address attribute ${a.type} has ${a.data.byteLength} bytes, want 16`, at);
          const v6 = ipv6FromBytes(a.data);
          if (a.type === IFA_ADDRESS) m.address = v6;
          else m.local = v6;
          break;
        }
        if (family !== AF_INET) {
          unknown.push(a);
          break;
        }
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IPv4 address attribute ${a.type} has ${a.data.byteLength} bytes, want 4`, at);
        const v = ipv4FromBytes(a.data);
        if (a.type === IFA_ADDRESS) m.address = v;
        else if (a.type === IFA_LOCAL) m.local = v;
        else m.broadcast = v;
        break;
      }
      case IFA_LABEL: {
        const s = decodeStringAttribute(a.data);
        if (s === undefined || new TextEncoder().encode(s).byteLength > MAX_IFNAME_BYTES) {
          return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", "IFA_LABEL is not a UTF-8 string of at most 15 bytes", at);
        }
        m.label = s;
        break;
      }
      case IFA_CACHEINFO:
        if (a.data.byteLength !== IFA_CACHEINFO_LEN) {
          return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IFA_CACHEINFO has ${a.data.byteLength} bytes, want ${IFA_CACHEINFO_LEN}`, at);
        }
        m.cacheInfo = {
          preferred: readU32(a.data, 0),
          valid: readU32(a.data, 4),
          created: readU32(a.data, 8),
          updated: readU32(a.data, 12),
        };
        break;
      case IFA_FLAGS:
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `IFA_FLAGS has ${a.data.byteLength} bytes, want 4`, at);
        m.extFlags = readU32(a.data, 0);
        break;
      default:
        unknown.push(a);
    }
  }
  m.unknown = unknown;
  return ok(m);
}

/** Encodes an ifaddrmsg payload: the fixed struct, the known attributes, then the unknown ones. */
export function encodeAddressMessage(m: AddressMessage): Uint8Array {
  const head = new Uint8Array(IFADDRMSG_LEN);
  head[0] = m.family;
  head[1] = m.prefixLength;
  head[2] = m.flags;
  head[3] = m.scope;
  writeU32(head, 4, m.index);
  const parts: Uint8Array[] = [head];
  const ipBytes = (a: IpAddress) => (m.family === AF_INET6 ? ipv6ToBytes(a as Ipv6Address) : ipv4ToBytes(a as Ipv4Address));
  if (m.local !== undefined) parts.push(encodeAttribute(IFA_LOCAL, ipBytes(m.local)));
  if (m.address !== undefined) parts.push(encodeAttribute(IFA_ADDRESS, ipBytes(m.address)));
  if (m.broadcast !== undefined) parts.push(encodeAttribute(IFA_BROADCAST, ipv4ToBytes(m.broadcast)));
  if (m.label !== undefined) parts.push(stringAttribute(IFA_LABEL, m.label));
  if (m.cacheInfo !== undefined) {
    const ci = new Uint8Array(IFA_CACHEINFO_LEN);
    writeU32(ci, 0, m.cacheInfo.preferred);
    writeU32(ci, 4, m.cacheInfo.valid);
    writeU32(ci, 8, m.cacheInfo.created);
    writeU32(ci, 12, m.cacheInfo.updated);
    parts.push(encodeAttribute(IFA_CACHEINFO, ci));
  }
  if (m.extFlags !== undefined) parts.push(u32Attribute(IFA_FLAGS, m.extFlags));
  for (const a of m.unknown) parts.push(encodeRawAttribute(a));
  return concatBytes(parts);
}
