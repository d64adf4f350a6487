/**
 * Byte-level helpers: host-order integers (netlink uses the host's byte order, not network order),
 * alignment, and the text forms of IPv4 and link-layer addresses with their branded types.
 */

import { NLMSG_ALIGNTO } from "./constants.ts";

/** True on little-endian hosts; netlink integers are in host byte order (netlink(7)). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Rounds up to the 4-byte netlink alignment (NLMSG_ALIGN / NLA_ALIGN). Arithmetic, not a bit
 * mask: a length read from the wire is a u32, and `&` would turn one ≥ 2^31 negative.
 */
export function align4(n: number): number {
  return Math.ceil(n / NLMSG_ALIGNTO) * NLMSG_ALIGNTO;
}

/** Characters Linux never puts in an interface name (dev_valid_name): "/", ":", whitespace, and no controls either. */
const NOT_IN_IFNAME = /[\s/:\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/** Whether `s` can be a Linux interface name: 1–15 bytes, not "." or "..", none of NOT_IN_IFNAME. */
export function isIfName(s: string): s is IfName {
  const bytes = new TextEncoder().encode(s).byteLength;
  return bytes >= 1 && bytes <= MAX_IFNAME_BYTES && s !== "." && s !== ".." && !NOT_IN_IFNAME.test(s);
}

/** A DataView over exactly the bytes of `b` (which may be a view into a larger buffer). */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Reads a host-order u16; the caller has checked the bounds. */
export function readU16(b: Uint8Array, off: number): number {
  return viewOf(b).getUint16(off, HOST_LITTLE_ENDIAN);
}

/** Reads a host-order u32; the caller has checked the bounds. */
export function readU32(b: Uint8Array, off: number): number {
  return viewOf(b).getUint32(off, HOST_LITTLE_ENDIAN);
}

/** Reads a host-order s32; the caller has checked the bounds. */
export function readS32(b: Uint8Array, off: number): number {
  return viewOf(b).getInt32(off, HOST_LITTLE_ENDIAN);
}

/** Writes a host-order u16. */
export function writeU16(b: Uint8Array, off: number, v: number): void {
  viewOf(b).setUint16(off, v, HOST_LITTLE_ENDIAN);
}

/** Writes a host-order u32. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  viewOf(b).setUint32(off, v >>> 0, HOST_LITTLE_ENDIAN);
}

/** Writes a host-order s32. */
export function writeS32(b: Uint8Array, off: number, v: number): void {
  viewOf(b).setInt32(off, v | 0, HOST_LITTLE_ENDIAN);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

declare const ipv4Brand: unique symbol;
/** A dotted-quad IPv4 address in canonical form ("10.0.0.5": no leading zeros, 4 parts). */
export type Ipv4Address = string & { readonly [ipv4Brand]: true };

/** Parses a canonical dotted quad; undefined for anything else (including "010.0.0.1"). */
export function parseIpv4Address(text: string): Ipv4Address | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  for (const p of parts) {
    // Leading zeros are refused: inet_aton reads them as octal, so "010" is ambiguous.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
  }
  return text as Ipv4Address;
}

/** The 4 network-order bytes of an address. */
export function ipv4ToBytes(a: Ipv4Address): Uint8Array {
  return Uint8Array.from(a.split(".").map(Number));
}

/** The dotted quad of 4 network-order bytes; the caller has checked the length. */
export function ipv4FromBytes(b: Uint8Array): Ipv4Address {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}` as Ipv4Address;
}

/** An IPv4 prefix as given by a user: an address (host bits allowed) and a prefix length. */
export interface Ipv4Cidr {
  readonly address: Ipv4Address;
  /** 0–32. */
  readonly prefixLength: number;
}

/** Parses "10.0.0.5/24" (a missing "/n" means /32); undefined if invalid. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIpv4Address(addrText);
  if (address === undefined) return undefined;
  if (slash < 0) return { address, prefixLength: 32 };
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > 32) return undefined;
  return { address, prefixLength };
}

/** The network address of a prefix (host bits cleared): 10.0.0.5/24 → 10.0.0.0. */
export function ipv4Network(c: Ipv4Cidr): Ipv4Address {
  const b = ipv4ToBytes(c.address);
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(8, c.prefixLength - i * 8));
    b[i] = (b[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipv4FromBytes(b);
}

/** The directed broadcast address of a prefix: 10.0.0.5/24 → 10.0.0.255. */
export function ipv4Broadcast(c: Ipv4Cidr): Ipv4Address {
  const b = ipv4ToBytes(c.address);
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(8, c.prefixLength - i * 8));
    b[i] = (b[i] ?? 0) | (~(0xff << (8 - keep)) & 0xff);
  }
  return ipv4FromBytes(b);
}

declare const llBrand: unique symbol;
/** A link-layer address as lowercase hex bytes joined by ":" ("02:00:5e:10:00:01"); may be empty. */
export type LinkLayerAddress = string & { readonly [llBrand]: true };

/** Maximum link-layer address length (MAX_ADDR_LEN in <linux/netdevice.h>). */
export const MAX_ADDR_LEN = 32;

/** The text form of link-layer address bytes. */
export function linkLayerFromBytes(b: Uint8Array): LinkLayerAddress {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":") as LinkLayerAddress;
}

/** Parses "aa:bb:..." (1–32 bytes, two hex digits each, any case) or ""; undefined if invalid. */
export function parseLinkLayerAddress(text: string): LinkLayerAddress | undefined {
  if (text === "") return text as LinkLayerAddress;
  const parts = text.split(":");
  if (parts.length > MAX_ADDR_LEN || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return undefined;
  return text.toLowerCase() as LinkLayerAddress;
}

/** The bytes of a link-layer address. */
export function linkLayerToBytes(a: LinkLayerAddress): Uint8Array {
  if (a === "") return new Uint8Array(0);
  return Uint8Array.from(a.split(":").map((p) => parseInt(p, 16)));
}

declare const ifNameBrand: unique symbol;
/** An interface name: 1–15 bytes (IFNAMSIZ 16 with the NUL), no "/", ":", NUL or whitespace. */
export type IfName = string & { readonly [ifNameBrand]: true };

/** Longest interface name in bytes (IFNAMSIZ - 1 in <linux/if.h>). */
export const MAX_IFNAME_BYTES = 15;

/** Parses an interface name by the kernel's dev_valid_name() rules; undefined if invalid. */
export function parseIfName(text: string): IfName | undefined {
  const len = new TextEncoder().encode(text).byteLength;
  if (len < 1 || len > MAX_IFNAME_BYTES || text === "." || text === "..") return undefined;
  // dev_valid_name(): no '/', ':' or whitespace (isspace), and a C string cannot hold NUL.
  if (/[/:\s\0]/.test(text)) return undefined;
  return text as IfName;
}

declare const ipv6Brand: unique symbol;
/**
 * An IPv6 address in its RFC 5952 canonical text form: lowercase hex, no leading zeros, the
 * longest run (the first of equal runs) of two or more zero groups as "::", and an IPv4-mapped
 * address (::ffff:a.b.c.d) with its dotted tail. No zone ("%eth0"): a link-local address is
 * always paired with an ifindex where Paddock uses it.
 */
export type Ipv6Address = string & { readonly [ipv6Brand]: true };

/** An address of either family, as the wire attributes of an ifaddrmsg or rtmsg carry it. */
export type IpAddress = Ipv4Address | Ipv6Address;

/** Parses one hex group of 1–4 digits; undefined otherwise. */
function hexGroup(g: string): number | undefined {
  return /^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : undefined;
}

/** The 16 network-order bytes of any valid IPv6 text form (RFC 4291 §2.2); undefined if invalid. */
export function ipv6TextToBytes(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const groups: number[] = [];
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const readPart = (part: string, out: number[], last: boolean): boolean => {
    if (part === "") return true;
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (last && i === items.length - 1 && item.includes(".")) {
        const v4 = parseIpv4Address(item);
        if (v4 === undefined) return false;
        const b = ipv4ToBytes(v4);
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
        continue;
      }
      const g = hexGroup(item);
      if (g === undefined) return false;
      out.push(g);
    }
    return true;
  };
  if (halves.length === 1) {
    if (!readPart(text, groups, true) || groups.length !== 8) return undefined;
  } else {
    const head: number[] = [];
    const back: number[] = [];
    if (!readPart(halves[0]!, head, false) || !readPart(halves[1]!, back, true)) return undefined;
    // "::" stands for at least one zero group (RFC 4291 §2.2 2).
    if (head.length + back.length > 7) return undefined;
    groups.push(...head, ...new Array<number>(8 - head.length - back.length).fill(0), ...back);
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** The RFC 5952 text of 16 network-order bytes; the caller has checked the length. */
export function ipv6FromBytes(b: Uint8Array): Ipv6Address {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  // RFC 5952 §5: ::ffff:0:0/96 is written with its IPv4 tail.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}` as Ipv6Address;
  }
  // RFC 5952 §4.2: the longest run of ≥ 2 zero groups (the first of equal ones) becomes "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups) as Ipv6Address;
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}` as Ipv6Address;
}

/** Parses any valid IPv6 text (no zone) into its canonical form; undefined if invalid. */
export function parseIpv6Address(text: string): Ipv6Address | undefined {
  const b = ipv6TextToBytes(text);
  return b === undefined ? undefined : ipv6FromBytes(b);
}

/** The 16 network-order bytes of an address. */
export function ipv6ToBytes(a: Ipv6Address): Uint8Array {
  return ipv6TextToBytes(a) ?? new Uint8Array(16);
}

/** An IPv6 prefix: an address (host bits allowed) and a prefix length 0–128. */
export interface Ipv6Cidr {
  readonly address: Ipv6Address;
  readonly prefixLength: number;
}

/** Parses "2001:db8::5/64" (a missing "/n" means /128); undefined if invalid. */
export function parseIpv6Cidr(text: string): Ipv6Cidr | undefined {
  const slash = text.indexOf("/");
  const address = parseIpv6Address(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  if (slash < 0) return { address, prefixLength: 128 };
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > 128) return undefined;
  return { address, prefixLength: Number(lenText) };
}

/** The prefix's first address (host bits cleared): 2001:db8::5/64 → 2001:db8::. */
export function ipv6Network(c: Ipv6Cidr): Ipv6Address {
  const b = ipv6ToBytes(c.address);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, c.prefixLength - i * 8));
    b[i] = (b[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipv6FromBytes(b);
}

/** Whether an address is link-local unicast (fe80::/10, RFC 4291 §2.5.6). */
export function isIpv6LinkLocal(a: Ipv6Address): boolean {
  const b = ipv6ToBytes(a);
  return b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80;
}
