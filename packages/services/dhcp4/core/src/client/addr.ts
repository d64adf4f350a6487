/**
 * Small address helpers for the client core: dotted-quad checks, subnet masks, MAC text.
 * The codec already builds valid dotted quads; these re-check values that come back from a
 * persisted lease (written by an earlier run, so not trusted to be well-formed).
 */

import type { Ipv4 } from "../message.ts";

const DOTTED_QUAD = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/** The address as an unsigned 32-bit number, or undefined when `text` is not a canonical dotted quad. */
export function ipv4ToNumber(text: string): number | undefined {
  const m = DOTTED_QUAD.exec(text);
  if (m === null) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

/** True when `text` is a canonical dotted quad ("10.0.0.1", no leading zeros). */
export function isIpv4(text: unknown): text is Ipv4 {
  return typeof text === "string" && ipv4ToNumber(text) !== undefined;
}

/**
 * True for an address a host may hold or talk to as a unicast peer: not 0.0.0.0/8 ("this
 * network", RFC 1122 §3.2.1.3), not loopback, not multicast or class E/broadcast (≥ 224).
 */
export function isUnicastHost(text: string): boolean {
  const n = ipv4ToNumber(text);
  if (n === undefined) return false;
  const first = n >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

/** Prefix length of a contiguous subnet mask ("255.255.255.0" → 24), undefined otherwise. */
export function maskToPrefix(mask: string): number | undefined {
  const n = ipv4ToNumber(mask);
  if (n === undefined) return undefined;
  let prefix = 0;
  while (prefix < 32 && (n & (0x80000000 >>> prefix)) !== 0) prefix++;
  // Contiguous means every bit after the first zero is zero too (RFC 950: masks "should" be).
  const rebuilt = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return rebuilt === n ? prefix : undefined;
}

/** CIDR "a.b.c.d/n" with 0 ≤ n ≤ 32 and no host bits set, as option 121 destinations are built. */
export function isCidr(text: unknown): boolean {
  if (typeof text !== "string") return false;
  const slash = text.indexOf("/");
  if (slash < 0) return false;
  const addr = ipv4ToNumber(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === undefined || !/^(0|[1-9][0-9]?)$/.test(lenText)) return false;
  const len = Number(lenText);
  if (len > 32) return false;
  const hostMask = len === 32 ? 0 : 0xffffffff >>> len;
  return ((addr & hostMask) >>> 0) === 0;
}

/** "02:00:00:00:00:01" — lower-case colon-separated hex, the form `paddock dhcp decode` prints. */
export function macToText(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 characters as text. */
const MAX_DOMAIN_TEXT = 253;

/**
 * The name without a trailing dot when it is a plain host/domain name (letters, digits, `-`,
 * `_`; labels 1–63 characters; RFC 1123 §2.1), else undefined. Names from the network end up in
 * resolv.conf, so anything with spaces, control characters or line terminators is refused.
 */
export function normaliseDomainName(text: string): string | undefined {
  const name = text.endsWith(".") ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > MAX_DOMAIN_TEXT) return undefined;
  for (const label of name.split(".")) if (!LABEL.test(label)) return undefined;
  return name;
}
