/**
 * IP address literals: a server is named by one (names are resolved elsewhere, if at all), and a
 * reply is matched to its server by comparing them. Both sides are put in one canonical text form
 * first (dotted quad; RFC 5952 for IPv6), so "2001:DB8:0::1" in a configuration and the
 * "2001:db8::1" a socket reports are the same server.
 */

declare const canonicalIp: unique symbol;

/** An IPv4 or IPv6 address in canonical text form, built only by {@link parseIpAddress}. */
export type IpAddress = string & { readonly [canonicalIp]: true };

/** Longest text accepted: an IPv6 address with an embedded IPv4 one is at most 45 characters. */
const MAX_ADDRESS_CHARS = 45;

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const p of parts) {
    // No leading zeros: some parsers read "010" as octal 8, others as decimal 10.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    bytes.push(Number(p));
  }
  return bytes;
}

function parseIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (const [i, p] of parts.entries()) {
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  // An embedded IPv4 address may only end the address.
  if (halves[0]!.includes(".")) return undefined;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : undefined;
}

/** RFC 5952: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
function formatIpv6(g: number[]): string {
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

/** The canonical form of an IPv4 or IPv6 literal, or undefined for anything else (zone ids too). */
export function parseIpAddress(text: string): IpAddress | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_ADDRESS_CHARS) return undefined;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4.join(".") as IpAddress;
  const v6 = text.includes(":") ? parseIpv6(text) : undefined;
  return v6 === undefined ? undefined : (formatIpv6(v6) as IpAddress);
}
