/**
 * Router Solicitation and Router Advertisement messages (RFC 4861 §4.1, §4.2, RFC 4191 §2.2): the
 * ICMPv6 message from its type byte to its end. The checksum and the IPv6 header checks need the
 * addresses around the message: see packet.ts.
 */

import { ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION } from "./constants.ts";
import { putU16, putU32, u16At, u32At } from "./ipv6.ts";
import { decodeNdOptions, encodeNdOption, preferenceBits, preferenceFromBits, type NdOption, type Preference } from "./options.ts";
import { RaErrorCode, fail, ok, type RaResult } from "./result.ts";

/** RFC 4861 §6.1.1: a Router Solicitation is at least 8 bytes (type, code, checksum, reserved). */
export const RS_MIN_BYTES = 8;
/** RFC 4861 §6.1.2: a Router Advertisement is at least 16 bytes. */
export const RA_MIN_BYTES = 16;

/** RFC 4861 §4.1. */
export interface RouterSolicitation {
  kind: "rs";
  options: NdOption[];
}

/** RFC 4861 §4.2 with the flags later RFCs assigned. */
export interface RouterAdvertisement {
  kind: "ra";
  /** The hop limit the router suggests for outgoing packets; 0 means unspecified. */
  curHopLimit: number;
  /** M: addresses are available from DHCPv6 (RFC 4861 §4.2, RFC 8415). */
  managed: boolean;
  /** O: other configuration is available from DHCPv6 (information-request). */
  other: boolean;
  /** H: the router is a Mobile IPv6 home agent (RFC 6275 §7.1). */
  homeAgent: boolean;
  /** RFC 4191 §2.2 default router preference; the reserved value 10 is read as medium. */
  preference: Preference;
  /** P: the router is an ND proxy (RFC 4389 §4.1.3.3). */
  proxy: boolean;
  /** Seconds (0–65535); 0: not a default router. */
  routerLifetime: number;
  /** Milliseconds; 0 means unspecified. */
  reachableTime: number;
  /** Milliseconds; 0 means unspecified. */
  retransTimer: number;
  options: NdOption[];
}

/** A message {@link decodeNdMessage} understands. */
export type NdMessage = RouterSolicitation | RouterAdvertisement;

/**
 * Decodes a Router Solicitation or Router Advertisement from the ICMPv6 type byte on. Checks the
 * length, the ICMPv6 code (0, RFC 4861 §6.1) and every option's framing; not the checksum.
 */
export function decodeNdMessage(icmp: Uint8Array): RaResult<NdMessage> {
  if (icmp.length < RS_MIN_BYTES) return fail(RaErrorCode.TRUNCATED, `An ICMPv6 Neighbor Discovery message is at least 8 bytes; this one is ${icmp.length}.`);
  const type = icmp[0]!;
  if (type !== ICMPV6_ROUTER_SOLICITATION && type !== ICMPV6_ROUTER_ADVERTISEMENT) {
    return fail(RaErrorCode.WRONG_TYPE, `ICMPv6 type ${type} is neither a Router Solicitation (133) nor a Router Advertisement (134).`);
  }
  if (icmp[1] !== 0) return fail(RaErrorCode.BAD_CODE, `ICMPv6 code ${icmp[1]} is not 0 (RFC 4861 §6.1).`);
  if (type === ICMPV6_ROUTER_SOLICITATION) {
    const options = decodeNdOptions(icmp, RS_MIN_BYTES);
    return options.ok ? ok({ kind: "rs", options: options.value }) : options;
  }
  if (icmp.length < RA_MIN_BYTES) return fail(RaErrorCode.TRUNCATED, `A Router Advertisement is at least 16 bytes; this one is ${icmp.length}.`);
  const options = decodeNdOptions(icmp, RA_MIN_BYTES);
  if (!options.ok) return options;
  const flags = icmp[5]!;
  const preference = preferenceFromBits(flags >> 3);
  return ok({
    kind: "ra",
    curHopLimit: icmp[4]!,
    managed: (flags & 0x80) !== 0,
    other: (flags & 0x40) !== 0,
    homeAgent: (flags & 0x20) !== 0,
    preference: preference === "reserved" ? "medium" : preference,
    proxy: (flags & 0x04) !== 0,
    routerLifetime: u16At(icmp, 6),
    reachableTime: u32At(icmp, 8),
    retransTimer: u32At(icmp, 12),
    options: options.value,
  });
}

/** A Router Advertisement, or the error that makes these bytes something else. */
export function decodeRouterAdvertisement(icmp: Uint8Array): RaResult<RouterAdvertisement> {
  const m = decodeNdMessage(icmp);
  if (m.ok && m.value.kind !== "ra") return fail(RaErrorCode.WRONG_TYPE, "The message is a Router Solicitation, not a Router Advertisement.");
  return m as RaResult<RouterAdvertisement>;
}

/** A Router Solicitation, or the error that makes these bytes something else. */
export function decodeRouterSolicitation(icmp: Uint8Array): RaResult<RouterSolicitation> {
  const m = decodeNdMessage(icmp);
  if (m.ok && m.value.kind !== "rs") return fail(RaErrorCode.WRONG_TYPE, "The message is a Router Advertisement, not a Router Solicitation.");
  return m as RaResult<RouterSolicitation>;
}

/** Appends the encoded options to a fixed header. */
function withOptions(header: Uint8Array, options: readonly NdOption[]): RaResult<Uint8Array> {
  const parts: Uint8Array[] = [header];
  let length = header.length;
  for (const option of options) {
    const bytes = encodeNdOption(option);
    if (!bytes.ok) return bytes;
    parts.push(bytes.value);
    length += bytes.value.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return ok(out);
}

const isInt = (v: number, max: number) => Number.isInteger(v) && v >= 0 && v <= max;

/** Encodes an ICMPv6 Router Solicitation or Advertisement with a zero checksum (packet.ts fills it). */
export function encodeNdMessage(message: NdMessage): RaResult<Uint8Array> {
  if (message.kind === "rs") {
    const header = new Uint8Array(RS_MIN_BYTES);
    header[0] = ICMPV6_ROUTER_SOLICITATION;
    return withOptions(header, message.options);
  }
  const m = message;
  if (!isInt(m.curHopLimit, 0xff)) return fail(RaErrorCode.UNENCODABLE, `Cur hop limit ${m.curHopLimit} is not 0–255.`);
  if (!isInt(m.routerLifetime, 0xffff)) return fail(RaErrorCode.UNENCODABLE, `Router lifetime ${m.routerLifetime} is not 0–65535 seconds.`);
  if (!isInt(m.reachableTime, 0xffffffff) || !isInt(m.retransTimer, 0xffffffff)) {
    return fail(RaErrorCode.UNENCODABLE, "Reachable time and retrans timer are 32-bit numbers of milliseconds.");
  }
  const header = new Uint8Array(RA_MIN_BYTES);
  header[0] = ICMPV6_ROUTER_ADVERTISEMENT;
  header[4] = m.curHopLimit;
  header[5] =
    (m.managed ? 0x80 : 0) | (m.other ? 0x40 : 0) | (m.homeAgent ? 0x20 : 0) | (preferenceBits(m.preference) << 3) | (m.proxy ? 0x04 : 0);
  putU16(header, 6, m.routerLifetime);
  putU32(header, 8, m.reachableTime);
  putU32(header, 12, m.retransTimer);
  return withOptions(header, m.options);
}
