/**
 * Small byte helpers shared by the codecs: address text, hex text, big-endian reads and the
 * Internet checksum. None of them throws; callers check lengths before calling the readers.
 */

import type { Ipv4 } from "./message.ts";

/** Dotted-quad text of the 4 bytes at `offset` (caller has checked that they exist). */
export function ipv4At(bytes: Uint8Array, offset: number): Ipv4 {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

const IPV4_TEXT = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses strict dotted-quad text ("10.0.0.1": four decimal parts 0–255, no leading "+", no
 * spaces) into 4 bytes, or returns null. Leading zeros are accepted and read as decimal.
 */
export function parseIpv4(text: string): Uint8Array | null {
  const m = IPV4_TEXT.exec(text);
  if (m === null) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Big-endian unsigned 16-bit read (caller has checked bounds). */
export function u16At(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

/** Big-endian unsigned 32-bit read (caller has checked bounds). */
export function u32At(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] ?? 0) * 0x1000000 +
      (((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0))) >>>
    0
  );
}

/** Writes a big-endian 16-bit value. */
export function putU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

/** Writes a big-endian 32-bit value. */
export function putU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex without separators ("0a1b"), the JSON form of opaque option data. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b];
  return s;
}

/** Lowercase colon-separated hex ("02:77:f4:a9:18:e3"), the usual text of a MAC address. */
export function toColonHex(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (const b of bytes) parts.push(HEX[b] as string);
  return parts.join(":");
}

/** Parses hex text, with or without ":" separators, or returns null. */
export function fromHex(text: string): Uint8Array | null {
  const clean = text.replaceAll(":", "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * One's-complement sum of 16-bit big-endian words (RFC 1071), not folded or complemented, so
 * that a pseudo-header and a payload can be summed separately and added.
 */
export function onesComplementSum(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (i < end) sum += (bytes[i] as number) << 8;
  // No intermediate folding: a double is exact up to 2^53, far above 0xffff × any frame size.
  return sum;
}

/** Folds a one's-complement sum to 16 bits and complements it: the value put on the wire. */
export function finishChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** UTF-8 text of bytes (invalid sequences become U+FFFD: text options are display data). */
export function textOf(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** UTF-8 bytes of text. */
export function bytesOf(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A plain Uint8Array view of the same bytes. A Node Buffer's `slice` does not copy, so decoders
 * take this view first: values they return own their bytes and never alias the caller's input.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
