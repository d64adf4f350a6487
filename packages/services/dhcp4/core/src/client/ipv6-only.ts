/**
 * RFC 8925, IPv6-only preferred (DHCPv4 option 108): what the client asks for and how it reads
 * the server's answer. The transitions (the IPV6-ONLY state) are in ./machine.ts; this module only
 * holds the pure pieces, so that they can be tested and documented on their own.
 *
 * A client that asks for 108 tells the network it can live without IPv4 (it has IPv6 and, for
 * IPv4-only destinations, NAT64/DNS64 or a CLAT). A server that agrees answers the DISCOVER with
 * an OFFER carrying 108 = V6ONLY_WAIT seconds; the client then takes no IPv4 address and leaves
 * DHCPv4 alone for that long.
 */
import type { DhcpMessage } from "../message.ts";

/** RFC 8925 §3.1: the option's code. */
export const OPTION_IPV6_ONLY_PREFERRED = 108;
/** RFC 8925 §3.1: its value is a 32-bit number of seconds; any other length MUST be ignored. */
export const IPV6_ONLY_OPTION_BYTES = 4;
/**
 * RFC 8925 §3.4: the shortest V6ONLY_WAIT a client honours (§3.2: a smaller value, 0 included,
 * waits this long), so a server cannot make a client send a DISCOVER every few seconds.
 */
export const MIN_V6ONLY_WAIT_SECONDS = 300;

/** The key that holds, while the client rests in IPV6-ONLY, when the wait ends (Unix seconds). */
export const IPV6_ONLY_UNTIL_KEY = "/client/ipv6-only-until";

/**
 * The parameter request list to send: `codes` without duplicates, with 108 last when the client
 * prefers IPv6-only and without it otherwise (RFC 8925 §3.2: a client asks for 108 only when it is
 * configured to run without IPv4; a request list naming 108 must not turn that on by itself).
 */
export function requestListFor(codes: readonly number[], ipv6OnlyPreferred: boolean): number[] {
  const out = [...new Set(codes)].filter((c) => c !== OPTION_IPV6_ONLY_PREFERRED);
  if (ipv6OnlyPreferred) out.push(OPTION_IPV6_ONLY_PREFERRED);
  return out;
}

/**
 * What a reply says about IPv6-only, for a client that asked (the caller checks that):
 * - `none`: no option 108;
 * - `malformed`: a 108 whose length is not 4, which RFC 8925 §3.1 says to ignore (the reply is
 *   then handled as if it had none);
 * - `wait`: V6ONLY_WAIT, the option's value raised to {@link MIN_V6ONLY_WAIT_SECONDS} (§3.2).
 */
export type Ipv6OnlyAnswer =
  | { kind: "none" }
  | { kind: "malformed"; bytes: number }
  | { kind: "wait"; offered: number; seconds: number };

/** Reads option 108 from a decoded reply (the codec turns a wrong length into a `malformed` option). */
export function ipv6OnlyAnswer(message: DhcpMessage): Ipv6OnlyAnswer {
  for (const o of message.options) {
    if (o.kind === "ipv6OnlyPreferred") return { kind: "wait", offered: o.seconds, seconds: Math.max(o.seconds, MIN_V6ONLY_WAIT_SECONDS) };
    if (o.kind === "malformed" && o.code === OPTION_IPV6_ONLY_PREFERRED) return { kind: "malformed", bytes: o.data.length };
  }
  return { kind: "none" };
}
