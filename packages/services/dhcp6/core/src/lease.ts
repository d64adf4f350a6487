/**
 * The lease snapshot the client publishes: everything a handler applies, with lifetimes both as
 * the server gave them and as absolute times on the caller's clock (the `now`/`rxTimeMs` of the
 * events), so a handler can give the kernel the remaining lifetime and let it expire addresses.
 */

import type { Ipv6 } from "./bytes.ts";
import type { Duid } from "./duid.ts";

/** An address from an IA_NA (RFC 8415 §21.6). */
export interface LeasedAddress {
  readonly iaid: number;
  readonly address: Ipv6;
  /** Seconds, as the server gave them (0xffffffff: infinity). */
  readonly preferred: number;
  readonly valid: number;
  /** Absolute times (ms, the caller's clock) the address stops being preferred and valid; null: never. */
  readonly preferredUntil: number | null;
  readonly validUntil: number | null;
}

/** A delegated prefix from an IA_PD (RFC 8415 §21.22), with its RFC 6603 excluded prefix. */
export interface DelegatedPrefix {
  readonly iaid: number;
  readonly prefix: Ipv6;
  readonly prefixLength: number;
  readonly preferred: number;
  readonly valid: number;
  readonly preferredUntil: number | null;
  readonly validUntil: number | null;
  /** The prefix the server keeps for the link between us (RFC 6603): never assign from it. */
  readonly exclude: { readonly prefix: Ipv6; readonly prefixLength: number } | null;
}

/** What the client publishes after every change: one snapshot, applied as a whole. */
export interface Dhcp6Lease {
  readonly mode: "stateful" | "stateless";
  /** The server whose REPLY made (or last extended) this lease. */
  readonly serverDuid: Duid;
  /** The address that REPLY came from (a link-local address, normally). */
  readonly serverAddress: Ipv6;
  /** When that REPLY arrived (ms, the caller's clock). */
  readonly obtainedAt: number;
  /** T1 and T2 in seconds as used (after RFC 8415 §14.2's defaults for 0); 0xffffffff: never. */
  readonly t1: number;
  readonly t2: number;
  /** Absolute times of RENEW and REBIND (ms); null: never (stateless, or infinite lifetimes). */
  readonly renewAt: number | null;
  readonly rebindAt: number | null;
  readonly addresses: readonly LeasedAddress[];
  readonly prefixes: readonly DelegatedPrefix[];
  readonly dnsServers: readonly Ipv6[];
  readonly domains: readonly string[];
  /** Stateless: when the information is asked for again (RFC 8415 §21.23); null: never. Stateful: null. */
  readonly refreshAt: number | null;
}
