/**
 * The text forms of what the RA calf publishes, shared by the calf (which formats them) and the
 * schema (whose parsers accept exactly these forms, ./schema.ts). Imports nothing, so the calf
 * bundle holds it without any priv-side code.
 *
 * Every end of life is a Unix time in whole seconds (the calf turns its core's monotonic expiries
 * into wall-clock ones when it publishes), or "never" for RFC 4861's infinite lifetime. One value
 * per learned item, read like a line of configuration:
 *
 *   /router/000   fe80::1 high 1764601800                    (address, RFC 4191 preference, until)
 *   /prefix/000   2001:db8:1::/64 on-link=1764601800 valid=1764688200 preferred=1764606600
 *                 (on-link= absent: not on-link; valid= and preferred= absent: not autonomous)
 *   /route/000    2001:db8:2::/48 via fe80::1 high 1764601800
 *   /dns/000      2001:db8::53 1764601800                    (RFC 8106 RDNSS; a link-local one too)
 *   /search/000   example.com 1764601800                     (RFC 8106 DNSSL)
 *   /mtu          1400
 *   /flags/managed, /flags/other   true | false              (the latest RA's M and O)
 */

/** RFC 4191 preferences as published. */
export const PREFERENCES = ["high", "medium", "low"] as const;
export type PreferenceName = (typeof PREFERENCES)[number];

/** An end of life: Unix seconds, or "never". */
export type UnixDeadline = number | "never";

/** The three-digit index of the n-th item (0 → "000"). */
export function indexSegment(n: number): string {
  return String(n).padStart(3, "0");
}

/** A monotonic expiry (ms, Infinity: never) as a Unix deadline, given the same instant on both clocks. */
export function unixDeadline(monoExpiry: number, monoNow: number, unixNowMs: number): UnixDeadline {
  if (monoExpiry === Number.POSITIVE_INFINITY) return "never";
  return Math.max(0, Math.round((unixNowMs + (monoExpiry - monoNow)) / 1000));
}

const deadlineText = (d: UnixDeadline) => (d === "never" ? "never" : String(d));

/** "fe80::1 high 1764601800". */
export function formatRouter(address: string, preference: PreferenceName, until: UnixDeadline): string {
  return `${address} ${preference} ${deadlineText(until)}`;
}

/** A prefix's value (see the module comment). */
export function formatPrefix(p: { prefix: string; prefixLength: number; onLinkUntil?: UnixDeadline | undefined; validUntil?: UnixDeadline | undefined; preferredUntil?: UnixDeadline | undefined }): string {
  const words = [`${p.prefix}/${p.prefixLength}`];
  if (p.onLinkUntil !== undefined) words.push(`on-link=${deadlineText(p.onLinkUntil)}`);
  if (p.validUntil !== undefined && p.preferredUntil !== undefined) words.push(`valid=${deadlineText(p.validUntil)}`, `preferred=${deadlineText(p.preferredUntil)}`);
  return words.join(" ");
}

/** "2001:db8:2::/48 via fe80::1 high 1764601800". */
export function formatRoute(prefix: string, prefixLength: number, router: string, preference: PreferenceName, until: UnixDeadline): string {
  return `${prefix}/${prefixLength} via ${router} ${preference} ${deadlineText(until)}`;
}

/** "2001:db8::53 1764601800" or "example.com 1764601800". */
export function formatLived(value: string, until: UnixDeadline): string {
  return `${value} ${deadlineText(until)}`;
}
