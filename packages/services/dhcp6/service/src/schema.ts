/**
 * The DHCPv6 client's schema — the one contract between its calf and its handlers:
 *   - what the priv configures before the calf starts (`/config/…`: mode, IAs, rapid commit, the
 *     DUID it chose and keeps, the IAID), and the RA's M/O flags mirrored from the `ra` service;
 *   - the lease the calf publishes, as one commit: IA_NA addresses and delegated prefixes with the
 *     Unix times their lifetimes end, the server, DNS servers and domains;
 *   - what the prefix-delegation handler assigned downstream (`/downstream/…`, priv-written).
 *
 * Every value has a strict parser; IPv6 addresses only in their canonical text (RFC 5952).
 */
import { defineSchema, domainName, intRange, oneOf, type Parsed } from "@paddock/kv";
import { ipv6At, maskPrefix, parseIpv6 } from "@paddock/dhcp6";
import { hexBytes, INFINITE } from "./wire.ts";

/** IA_NA addresses kept from one lease (a server gives one per IA, rarely a few). */
export const MAX_ADDRESSES = 8;
/** Delegated prefixes kept from one lease. */
export const MAX_PREFIXES = 4;
/** DNS servers (RFC 3646) kept: resolv.conf uses 3 in all. */
export const MAX_DNS_SERVERS = 8;
/** Domains of the search list (RFC 3646) kept: resolv.conf takes 6. */
export const MAX_DOMAINS = 6;
/** Downstream interfaces that get a /64 from a delegated prefix. */
export const MAX_DOWNSTREAM = 16;
/** RFC 8415 §11.1: a DUID is at most 128 bytes (its text: 3 characters a byte). */
export const MAX_DUID_BYTES = 130;
/** The modes: auto follows the RA's M/O flags. */
export const MODES = ["auto", "stateful", "stateless"] as const;
export type Dhcp6Mode = (typeof MODES)[number];
/** The ways of making the client's DUID (RFC 8415 §11, RFC 6355), or a hex DUID given as it is. */
export const DUID_KINDS = ["ll", "llt", "uuid"] as const;

const INDEX = /^[0-9]{3}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const quote = (v: string) => JSON.stringify(v.slice(0, 48));

/** An IPv6 address in canonical text. */
export function ipv6(v: string): Parsed<string> {
  const bytes = v.length <= 39 ? parseIpv6(v) : null;
  return bytes && ipv6At(bytes) === v ? { ok: true, value: v } : { ok: false, reason: `${quote(v)} is not an IPv6 address in canonical text (RFC 5952, like 2001:db8::5)` };
}

/** A unicast IPv6 address (no multicast ff00::/8, not :: or ::1) in canonical text. */
export function ipv6Unicast(v: string): Parsed<string> {
  const r = ipv6(v);
  if (!r.ok) return r;
  return v.startsWith("ff") || v === "::" || v === "::1" ? { ok: false, reason: `${quote(v)} is not a unicast address` } : r;
}

/** An IPv6 prefix "2001:db8:1::/56": canonical text, no bits set past the length. */
export interface Ipv6Prefix {
  readonly address: string;
  readonly length: number;
}

/** A prefix in canonical text with nothing set past its length; prefixes of /1–/128. */
export function ipv6Prefix(v: string): Parsed<Ipv6Prefix> {
  const m = /^([0-9a-f:]{2,39})\/(0|[1-9][0-9]{0,2})$/.exec(v);
  const length = m ? Number(m[2]) : -1;
  if (!m || !ipv6(m[1]!).ok || length < 1 || length > 128) return { ok: false, reason: `${quote(v)} is not an IPv6 prefix like 2001:db8:1::/56` };
  if (ipv6At(maskPrefix(parseIpv6(m[1]!)!, length)) !== m[1]) return { ok: false, reason: `${quote(v)} has bits set past /${length}` };
  return { ok: true, value: Object.freeze({ address: m[1]!, length }) };
}

/** The end of a lifetime: Unix seconds, or "infinite". Parses to ms since the epoch, or null for never. */
export function lifetimeEnd(v: string): Parsed<number | null> {
  if (v === INFINITE) return { ok: true, value: null };
  return /^(0|[1-9][0-9]{0,11})$/.test(v) ? { ok: true, value: Number(v) * 1000 } : { ok: false, reason: `${quote(v)} is not a Unix time in seconds or "infinite"` };
}

/** A DUID as colon-separated hex, 3–130 bytes (RFC 8415 §11.1). */
export function duidHex(v: string): Parsed<Uint8Array> {
  const bytes = /^[0-9a-f]{2}(:[0-9a-f]{2}){2,129}$/.test(v) ? hexBytes(v) : undefined;
  return bytes ? { ok: true, value: bytes } : { ok: false, reason: `${quote(v)} is not a DUID in colon-separated lower-case hex (3–130 bytes)` };
}

/** ia-pd: "off", or the prefix length to hint (0: ask without a hint). */
export function iaPd(v: string): Parsed<number | null> {
  if (v === "off") return { ok: true, value: null };
  return /^(0|[1-9][0-9]{0,2})$/.test(v) && Number(v) <= 128 ? { ok: true, value: Number(v) } : { ok: false, reason: `${quote(v)} is not "off" or a prefix length 0–128` };
}

/** An interface name (as `ip link` shows it). */
export function ifname(v: string): Parsed<string> {
  return IFNAME.test(v) ? { ok: true, value: v } : { ok: false, reason: `${quote(v)} is not an interface name` };
}

/** A stateful or stateless lease. */
const LEASE_MODES = ["stateful", "stateless"] as const;

export const dhcp6Schema = defineSchema({
  name: "dhcp6",
  description: "dhcp6: a DHCPv6 client (RFC 8415) whose calf runs the exchanges and whose handlers apply IA_NA addresses, delegated prefixes and DNS",
  maxTotalBytes: 16 * 1024,
  keys: {
    mode: { pattern: "/config/mode", description: "auto (follow the RA's M/O flags), stateful or stateless", writer: "priv", calfReads: true, validate: oneOf(...MODES), maxBytes: 9 },
    iaNa: { pattern: "/config/ia-na", description: "stateful: ask for an address (IA_NA)", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    iaPd: { pattern: "/config/ia-pd", description: "stateful: ask for a delegated prefix (IA_PD) with this length hint (0: no hint), or off", writer: "priv", calfReads: true, validate: iaPd, maxBytes: 3 },
    rapidCommit: { pattern: "/config/rapid-commit", description: "offer rapid commit (SOLICIT → REPLY)", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    duid: { pattern: "/config/duid", description: "the client's DUID (hex), chosen once and kept in the state directory", writer: "priv", calfReads: true, validate: duidHex, maxBytes: MAX_DUID_BYTES * 3 },
    iaid: { pattern: "/config/iaid", description: "the IAID of the IA_NA and IA_PD (from the interface's index)", writer: "priv", calfReads: true, validate: intRange(0, 0xffffffff), maxBytes: 10 },
    releaseOnStop: { pattern: "/config/release-on-stop", description: "send RELEASE and withdraw the lease when stopped", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    raManaged: { pattern: "/input/ra/flags/managed", description: "the last RA's M flag (addresses by DHCPv6), mirrored from the ra service", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    raOther: { pattern: "/input/ra/flags/other", description: "the last RA's O flag (other configuration by DHCPv6), mirrored from the ra service", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    leaseMode: { pattern: "/lease/mode", description: "stateful (addresses or prefixes) or stateless (information only)", writer: "calf", calfReads: true, validate: oneOf(...LEASE_MODES), maxBytes: 9 },
    server: { pattern: "/lease/server", description: "the address the server's REPLY came from", writer: "calf", calfReads: true, validate: ipv6Unicast, maxBytes: 39 },
    serverDuid: { pattern: "/lease/server-duid", description: "the server's DUID (hex)", writer: "calf", calfReads: true, validate: duidHex, maxBytes: MAX_DUID_BYTES * 3 },
    obtained: { pattern: "/lease/obtained", description: "when the REPLY arrived (Unix seconds)", writer: "calf", calfReads: true, validate: lifetimeEnd, maxBytes: 12 },
    renewAt: { pattern: "/lease/renew-at", description: "when the client renews (T1, Unix seconds) or infinite", writer: "calf", calfReads: true, validate: lifetimeEnd, maxBytes: 12 },
    address: { pattern: "/address/*/ip", wildcard: INDEX, maxKeys: MAX_ADDRESSES, description: "an IA_NA address (applied as /128)", writer: "calf", calfReads: true, validate: ipv6Unicast, maxBytes: 39 },
    addressPreferred: { pattern: "/address/*/preferred-until", wildcard: INDEX, maxKeys: MAX_ADDRESSES, description: "when the address stops being preferred (Unix seconds) or infinite", writer: "calf", calfReads: true, validate: lifetimeEnd, maxBytes: 12 },
    addressValid: { pattern: "/address/*/valid-until", wildcard: INDEX, maxKeys: MAX_ADDRESSES, description: "when the address stops being valid and goes (Unix seconds) or infinite", writer: "calf", calfReads: true, validate: lifetimeEnd, maxBytes: 12 },
    prefix: { pattern: "/prefix/*/prefix", wildcard: INDEX, maxKeys: MAX_PREFIXES, description: "a delegated prefix (IA_PD)", writer: "calf", calfReads: true, validate: ipv6Prefix, maxBytes: 43 },
    prefixPreferred: { pattern: "/prefix/*/preferred-until", wildcard: INDEX, maxKeys: MAX_PREFIXES, description: "when the prefix stops being preferred (Unix seconds) or infinite", writer: "calf", calfReads: true, validate: lifetimeEnd, maxBytes: 12 },
    prefixValid: { pattern: "/prefix/*/valid-until", wildcard: INDEX, maxKeys: MAX_PREFIXES, description: "when the prefix stops being valid (Unix seconds) or infinite", writer: "calf", calfReads: true, validate: lifetimeEnd, maxBytes: 12 },
    prefixExclude: { pattern: "/prefix/*/exclude", wildcard: INDEX, maxKeys: MAX_PREFIXES, description: "the prefix the server keeps for the uplink (RFC 6603): never assigned downstream", writer: "calf", calfReads: true, validate: ipv6Prefix, maxBytes: 43 },
    dns: { pattern: "/dns/*", wildcard: INDEX, maxKeys: MAX_DNS_SERVERS, description: "a DNS server (RFC 3646), in the server's order", writer: "calf", calfReads: true, validate: ipv6Unicast, maxBytes: 39 },
    domain: { pattern: "/domain/*", wildcard: INDEX, maxKeys: MAX_DOMAINS, description: "a search domain (RFC 3646), in the server's order", writer: "calf", calfReads: true, validate: domainName, maxBytes: 253 },
    downstreamIface: { pattern: "/downstream/*/iface", wildcard: INDEX, maxKeys: MAX_DOWNSTREAM, description: "a downstream interface that got a /64 from the delegated prefix", writer: "priv", calfReads: false, validate: ifname, maxBytes: 15 },
    downstreamPrefix: { pattern: "/downstream/*/prefix", wildcard: INDEX, maxKeys: MAX_DOWNSTREAM, description: "the /64 assigned to it (its address is PREFIX::1)", writer: "priv", calfReads: false, validate: ipv6Prefix, maxBytes: 43 },
  },
});

export const dhcp6Keys = dhcp6Schema.keys;
