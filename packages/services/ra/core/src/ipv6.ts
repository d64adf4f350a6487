/**
 * IPv6 addresses as the core hands them around: 16 bytes on the wire, and in values the RFC 5952
 * canonical text (lower case, the longest run of two or more zero groups shortened to "::", the
 * first such run on a tie), so two equal addresses are equal strings and the KV store's values
 * read like a config file.
 */

import { RaErrorCode, fail, ok, type RaResult } from "./result.ts";

/** An IPv6 address in RFC 5952 canonical text; built only by {@link formatIpv6} and {@link parseIpv6Address}. */
export type Ipv6Address = string & { readonly __brand: "Ipv6Address" };

/** RFC 8200: an address is 128 bits. */
export const IPV6_BYTES = 16;
/** IEEE 802 MAC-48: what an Ethernet source link-layer address option carries. */
export const MAC_BYTES = 6;

/** The RFC 5952 text of 16 address bytes (read from `at`). */
export function formatIpv6(bytes: Uint8Array, at = 0): Ipv6Address {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = ((bytes[at + 2 * i] ?? 0) << 8) | (bytes[at + 2 * i + 1] ?? 0);
  // RFC 5952 §4.2: shorten the longest run of zero groups (at least two), the first on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text.length > 0 && !text.endsWith(":")) text += ":";
    text += groups[i]!.toString(16);
  }
  return text as Ipv6Address;
}

/** The value of a hex digit's character code, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * The 16 bytes of an IPv6 address text (RFC 4291 §2.2 forms 1 and 2; no dotted IPv4 tail, no
 * zone), or null. A hand-written scanner: the client parses every prefix and server it keys on.
 */
export function ipv6Bytes(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 39) return null;
  const groups: number[] = [];
  let gap = -1; // index in `groups` where "::" stands
  let i = 0;
  if (text.startsWith("::")) {
    gap = 0;
    i = 2;
    if (i === text.length) return new Uint8Array(IPV6_BYTES);
  }
  for (;;) {
    let value = 0;
    let digits = 0;
    while (i < text.length) {
      const v = hexValue(text.charCodeAt(i));
      if (v < 0) break;
      value = (value << 4) | v;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 4) return null;
    groups.push(value);
    if (i === text.length) break;
    if (text.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < text.length && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return null;
      gap = groups.length;
      i++;
      if (i === text.length) break;
    } else if (i === text.length) return null;
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return null;
  const bytes = new Uint8Array(IPV6_BYTES);
  const tail = gap < 0 ? 0 : groups.length - gap;
  groups.forEach((g, k) => putU16(bytes, 2 * (gap >= 0 && k >= gap ? 8 - tail + (k - gap) : k), g));
  return bytes;
}

/** An address text in canonical form, or a typed error naming it. */
export function parseIpv6Address(text: string): RaResult<Ipv6Address> {
  const bytes = ipv6Bytes(text);
  if (bytes === null) return fail(RaErrorCode.BAD_ADDRESS, `${JSON.stringify(text.slice(0, 64))} is not an IPv6 address.`);
  return ok(formatIpv6(bytes));
}

/** RFC 4291 §2.5.6: fe80::/10. RFC 4861 §6.1.2 accepts Router Advertisements only from such a source. */
export function isLinkLocal(bytes: Uint8Array, at = 0): boolean {
  return bytes[at] === 0xfe && ((bytes[at + 1] ?? 0) & 0xc0) === 0x80;
}

/** The first `length` bits of an address, the rest zero (a prefix's canonical value). */
export function maskPrefix(bytes: Uint8Array, length: number, at = 0): Uint8Array {
  const out = new Uint8Array(IPV6_BYTES);
  for (let i = 0; i < IPV6_BYTES; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = (bytes[at + i] ?? 0) & ((0xff00 >> keep) & 0xff);
  }
  return out;
}

/** A MAC as colon-separated lower-case hex ("c2:00:54:f5:00:00"). */
export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Big-endian readers and writers; callers check the length first. */
export const u16At = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
export const u32At = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
export function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
export function putU32(b: Uint8Array, at: number, v: number): void {
  putU16(b, at, v >>> 16);
  putU16(b, at + 2, v & 0xffff);
}
