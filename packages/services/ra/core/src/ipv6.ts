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
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[at + 2 * i] ?? 0) << 8) | (bytes[at + 2 * i + 1] ?? 0));
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
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(groups) as Ipv6Address;
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}` as Ipv6Address;
}

/** The 16 bytes of an IPv6 address text (RFC 4291 §2.2 forms 1 and 2; no dotted IPv4 tail), or null. */
export function ipv6Bytes(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > 39) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  if (left === null || right === null) return null;
  const given = left.length + right.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return null;
  const groups = [...left, ...new Array<number>(8 - given).fill(0), ...right];
  const bytes = new Uint8Array(IPV6_BYTES);
  groups.forEach((g, i) => putU16(bytes, 2 * i, g));
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
