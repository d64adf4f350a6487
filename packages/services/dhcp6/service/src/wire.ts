/**
 * The text forms of the DHCPv6 service's values, shared by the calf (which writes them) and the
 * schema (whose parsers accept exactly these forms). Imports nothing, so the calf bundle can hold
 * it without any priv-side code.
 */

/** A lifetime's end that never comes (RFC 8415 §7.7: 0xffffffff is infinity). */
export const INFINITE = "infinite";

/** RFC 8415 §7.7's infinity, in seconds. */
export const INFINITY_SECONDS = 0xffffffff;

/**
 * The end of a lifetime as the store keeps it: the Unix time (whole seconds) it ends, rounded
 * down so an address is never kept longer than the server allowed, or "infinite".
 */
export function untilText(untilUnixMs: number | null): string {
  return untilUnixMs === null ? INFINITE : String(Math.max(0, Math.floor(untilUnixMs / 1000)));
}

/** The three-digit index of the n-th list key (0 → "000"). */
export function indexSegment(n: number): string {
  return String(n).padStart(3, "0");
}

/** Bytes as lower-case colon-separated hex ("00:03:00:01:…"): a DUID's text. */
export function hexText(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The bytes of colon-separated (or plain) hex text, or undefined. */
export function hexBytes(text: string): Uint8Array | undefined {
  const plain = text.replaceAll(":", "");
  if (plain.length === 0 || plain.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(plain)) return undefined;
  const out = new Uint8Array(plain.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(plain.slice(2 * i, 2 * i + 2), 16);
  return out;
}
