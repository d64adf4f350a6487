/**
 * Route attributes (struct rtattr / struct nlattr): a u16 length including the 4-byte header, a
 * u16 type whose top two bits are flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER), the payload, and
 * padding to 4 bytes. Unknown attributes are kept as {type, flags, data} so nothing is dropped.
 */

import { align4, readU16, writeU16, writeU32, concatBytes } from "./bytes.ts";
import { NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK } from "./constants.ts";
import { type Decoded, fail, ok } from "./result.ts";

/**
 * Deepest nesting we parse. The kernel's own policy validator stops at
 * MAX_POLICY_RECURSION_DEPTH (10); anything deeper is not rtnetlink we asked for.
 */
export const MAX_NEST_DEPTH = 10;

/** Largest attribute: nla_len is a u16 covering the header too. */
export const MAX_ATTRIBUTE_BYTES = 0xffff;

/** One attribute as it was on the wire, minus padding. */
export interface RawAttribute {
  /** The attribute type with the flag bits removed (e.g. IFLA_IFNAME = 3). */
  readonly type: number;
  /** NLA_F_NESTED was set: `data` holds attributes. */
  readonly nested: boolean;
  /** NLA_F_NET_BYTEORDER was set. */
  readonly netByteOrder: boolean;
  /** The payload (a view into the decoded input; copy it to keep it past the buffer's life). */
  readonly data: Uint8Array;
}

/**
 * Parses a run of attributes filling `bytes` exactly. `base` is the offset of `bytes` in the
 * outer input, so errors point at the right place. The loop always advances by at least
 * NLA_HDRLEN (a zero or short nla_len is an error), so it terminates.
 */
export function parseAttributes(bytes: Uint8Array, base = 0): Decoded<RawAttribute[]> {
  const out: RawAttribute[] = [];
  let off = 0;
  while (off < bytes.byteLength) {
    const remaining = bytes.byteLength - off;
    if (remaining < NLA_HDRLEN) {
      return fail("PADDOCK_E_NETLINK_TRAILING_BYTES", `${remaining} bytes after the last attribute`, base + off);
    }
    const len = readU16(bytes, off);
    const rawType = readU16(bytes, off + 2);
    if (len < NLA_HDRLEN) {
      return fail("PADDOCK_E_NETLINK_BAD_LENGTH", `attribute type ${rawType & NLA_TYPE_MASK} has nla_len ${len} < ${NLA_HDRLEN}`, base + off);
    }
    if (len > remaining) {
      return fail("PADDOCK_E_NETLINK_BAD_LENGTH", `attribute type ${rawType & NLA_TYPE_MASK} has nla_len ${len} but only ${remaining} bytes remain`, base + off);
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0,
      data: bytes.subarray(off + NLA_HDRLEN, off + len),
    });
    // The last attribute may omit its padding (the kernel's nla_next tolerates it), so clamp.
    off = Math.min(bytes.byteLength, off + align4(len));
  }
  return ok(out);
}

/** A parsed attribute tree: nested payloads are parsed into children, others kept as bytes. */
export interface AttributeNode extends RawAttribute {
  /** Present when the attribute was nested (NLA_F_NESTED, or `isNested` said so). */
  readonly children?: readonly AttributeNode[];
}

/**
 * Parses attributes recursively. An attribute is descended into when it carries NLA_F_NESTED or
 * when `isNested(path)` says its type is a nest (many kernel nests predate the flag). Depth is
 * bounded by MAX_NEST_DEPTH.
 */
export function parseAttributeTree(
  bytes: Uint8Array,
  isNested: (typePath: readonly number[]) => boolean = () => false,
  base = 0,
  path: readonly number[] = [],
): Decoded<AttributeNode[]> {
  if (path.length > MAX_NEST_DEPTH) {
    return fail("PADDOCK_E_NETLINK_TOO_DEEP", `attributes nested deeper than ${MAX_NEST_DEPTH}`, base);
  }
  const flat = parseAttributes(bytes, base);
  if (!flat.ok) return flat;
  const out: AttributeNode[] = [];
  for (const a of flat.value) {
    const p = [...path, a.type];
    if (a.nested || isNested(p)) {
      const inner = parseAttributeTree(a.data, isNested, base + (a.data.byteOffset - bytes.byteOffset), p);
      if (!inner.ok) return inner;
      out.push({ ...a, children: inner.value });
    } else {
      out.push(a);
    }
  }
  return ok(out);
}

/** Encodes one attribute with its header and padding. Throws only on a programming error (payload > 64 KiB). */
export function encodeAttribute(type: number, data: Uint8Array, flags = 0): Uint8Array {
  const len = NLA_HDRLEN + data.byteLength;
  if (len > MAX_ATTRIBUTE_BYTES) throw new RangeError(`attribute ${type} payload ${data.byteLength} bytes exceeds nla_len`);
  const out = new Uint8Array(align4(len));
  writeU16(out, 0, len);
  writeU16(out, 2, (type & NLA_TYPE_MASK) | flags);
  out.set(data, NLA_HDRLEN);
  return out;
}

/** Re-encodes a raw attribute exactly as parsed (flags included). */
export function encodeRawAttribute(a: RawAttribute): Uint8Array {
  return encodeAttribute(a.type, a.data, (a.nested ? NLA_F_NESTED : 0) | (a.netByteOrder ? NLA_F_NET_BYTEORDER : 0));
}

/** Encodes a nest: NLA_F_NESTED set, the children concatenated as its payload. */
export function encodeNested(type: number, children: readonly Uint8Array[]): Uint8Array {
  return encodeAttribute(type, concatBytes(children), NLA_F_NESTED);
}

/** A u32 attribute in host byte order. */
export function u32Attribute(type: number, v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v);
  return encodeAttribute(type, b);
}

/** A u8 attribute. */
export function u8Attribute(type: number, v: number): Uint8Array {
  return encodeAttribute(type, Uint8Array.of(v & 0xff));
}

/** A NUL-terminated string attribute (NLA_NUL_STRING / IFNAMSIZ strings). */
export function stringAttribute(type: number, s: string): Uint8Array {
  const t = new TextEncoder().encode(s);
  const b = new Uint8Array(t.byteLength + 1);
  b.set(t);
  return encodeAttribute(type, b);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a string attribute: up to the first NUL (the kernel pads with NULs); undefined if not UTF-8. */
export function decodeStringAttribute(data: Uint8Array): string | undefined {
  const nul = data.indexOf(0);
  try {
    return utf8.decode(nul < 0 ? data : data.subarray(0, nul));
  } catch {
    return undefined;
  }
}
