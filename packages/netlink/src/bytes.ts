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
