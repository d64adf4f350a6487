/**
 * Byte helpers of the DHCPv6 codec: big-endian reads and writes, IPv6 address text (RFC 5952
 * form out, RFC 4291 §2.2 forms in) and prefix arithmetic. None of them throws; callers check
 * lengths before reading.
 */

/** An IPv6 address in RFC 5952 canonical text ("2001:db8::1"). */
export type Ipv6 = string;

/** Big-endian unsigned 16-bit read (caller has checked bounds). */
export function u16At(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

/** Big-endian unsigned 32-bit read (caller has checked bounds). */
export function u32At(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) * 0x1000000 + (((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0))) >>> 0;
}

/** Appends big-endian bytes of `value` (`width` bytes) to `out`. */
export function pushUint(out: number[], value: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
}

/** True when `value` is an integer that fits `bits` unsigned bits. */
export function isUint(value: number, bits: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 2 ** bits;
}

/** True when two byte strings are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A copy of `bytes[start, end)` that owns its memory (never aliases a caller's Buffer). */
export function copyOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes, start, end);
}

/**
 * RFC 5952 §4 text of the 16 bytes at `offset`: lowercase hex, no leading zeros, the longest run
 * (the first of equal runs) of two or more zero groups as "::", dotted quad for ::ffff:0:0/96.
 */
export function ipv6At(bytes: Uint8Array, offset = 0): Ipv6 {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(u16At(bytes, offset + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const b = (i: number) => bytes[offset + i] ?? 0;
    return `::ffff:${b(12)}.${b(13)}.${b(14)}.${b(15)}`;
  }
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
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function groupsOf(part: string): number[] | null {
  if (part === "") return [];
  const out: number[] = [];
  const pieces = part.split(":");
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as string;
    const dotted = i === pieces.length - 1 ? DOTTED.exec(p) : null;
    if (dotted !== null) {
      const q = dotted.slice(1).map(Number);
      if (q.some((n) => n > 255)) return null;
      out.push(((q[0] as number) << 8) | (q[1] as number), ((q[2] as number) << 8) | (q[3] as number));
    } else if (HEX_GROUP.test(p)) out.push(parseInt(p, 16));
    else return null;
  }
  return out;
}

/** Parses IPv6 text in any RFC 4291 §2.2 form (no zone index) into 16 bytes, or returns null. */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** `address` with every bit from `length` on cleared (a prefix's canonical form). */
export function maskPrefix(address: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = (address[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}
