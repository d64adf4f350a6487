/**
 * Whole Neighbor Discovery packets: an Ethernet frame or a bare IPv6 packet holding a Router
 * Solicitation or Advertisement, with the RFC 4861 §6.1 validity checks a host must apply before
 * it believes one, and the encoders that build such frames (the Router Solicitation the client
 * sends; Router Advertisements for tests and hostile-router labs).
 *
 * Extension headers are not followed: ND messages are sent without them, and a message behind one
 * (an AH the RFC would have us verify, a fragment header RFC 6980 forbids) is refused as NOT_ICMPV6.
 */

import { ETHERTYPE_IPV6, IPPROTO_ICMPV6, MAX_ND_PACKET_BYTES, ND_HOP_LIMIT } from "./constants.ts";
import { IPV6_BYTES, MAC_BYTES, formatIpv6, ipv6Bytes, isLinkLocal, putU16, u16At, type Ipv6Address } from "./ipv6.ts";
import { decodeNdMessage, encodeNdMessage, type NdMessage } from "./message.ts";
import { RaErrorCode, fail, ok, type RaResult } from "./result.ts";

/** RFC 8200 §3: the fixed IPv6 header. */
export const IPV6_HEADER_BYTES = 40;
/** IEEE 802.3 header without VLAN tags. */
export const ETHERNET_HEADER_BYTES = 14;
/** RFC 4291 §2.7.1: all-routers, link-local scope: where solicitations go. */
export const ALL_ROUTERS = "ff02::2" as Ipv6Address;
/** RFC 4291 §2.7.1: all-nodes, link-local scope: where unsolicited advertisements go. */
export const ALL_NODES = "ff02::1" as Ipv6Address;
/** RFC 4291 §2.5.2. */
export const UNSPECIFIED = "::" as Ipv6Address;

/** What the link layer looks like in the bytes given to {@link decodeNdPacket}. */
export type NdLink = "ethernet" | "ipv6";

/** A validated ND packet: the addresses and hop limit around the message. */
export interface NdPacket {
  /** Ethernet source and destination when decoded from a frame. */
  sourceMac: Uint8Array | undefined;
  destinationMac: Uint8Array | undefined;
  source: Ipv6Address;
  destination: Ipv6Address;
  hopLimit: number;
  message: NdMessage;
}

/**
 * The ICMPv6 checksum (RFC 4443 §2.3) of `icmp` between `source` and `destination` (16 bytes
 * each), over the RFC 8200 §8.1 pseudo-header, with the message's own checksum field counted as
 * written: 0 on a message whose checksum field holds the right value, else the value to write.
 */
export function icmpv6Checksum(source: Uint8Array, destination: Uint8Array, icmp: Uint8Array): number {
  let sum = 0;
  const add = (b: Uint8Array) => {
    for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
    sum = (sum & 0xffff) + (sum >>> 16);
  };
  add(source);
  add(destination);
  sum += (icmp.length >>> 16) + (icmp.length & 0xffff) + IPPROTO_ICMPV6;
  add(icmp);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Decodes and validates an ND packet. For every message: IPv6 directly followed by ICMPv6, hop
 * limit 255, code 0, a correct checksum, option framing (no zero length, nothing past the end).
 * For a Router Advertisement also: a link-local source and at least 16 bytes (RFC 4861 §6.1.2);
 * for a Router Solicitation: no link-layer address option from the unspecified address (§6.1.1).
 * Bytes after the IPv6 payload length (Ethernet padding) are ignored.
 */
export function decodeNdPacket(bytes: Uint8Array, link: NdLink): RaResult<NdPacket> {
  if (bytes.length > MAX_ND_PACKET_BYTES + (link === "ethernet" ? ETHERNET_HEADER_BYTES : 0)) {
    return fail(RaErrorCode.TOO_LONG, `A ${bytes.length}-byte packet is longer than any IPv6 packet without a jumbogram.`);
  }
  let ip = 0;
  let sourceMac: Uint8Array | undefined;
  let destinationMac: Uint8Array | undefined;
  if (link === "ethernet") {
    if (bytes.length < ETHERNET_HEADER_BYTES) return fail(RaErrorCode.TRUNCATED, `A ${bytes.length}-byte frame is shorter than an Ethernet header.`);
    const etherType = u16At(bytes, 12);
    if (etherType !== ETHERTYPE_IPV6) return fail(RaErrorCode.NOT_ICMPV6, `EtherType 0x${etherType.toString(16).padStart(4, "0")} is not IPv6 (0x86dd).`);
    destinationMac = bytes.slice(0, MAC_BYTES);
    sourceMac = bytes.slice(MAC_BYTES, 2 * MAC_BYTES);
    ip = ETHERNET_HEADER_BYTES;
  }
  if (bytes.length < ip + IPV6_HEADER_BYTES) return fail(RaErrorCode.TRUNCATED, `${bytes.length - ip} bytes are shorter than an IPv6 header.`);
  if (bytes[ip]! >> 4 !== 6) return fail(RaErrorCode.NOT_ICMPV6, `IP version ${bytes[ip]! >> 4} is not 6.`);
  const payloadLength = u16At(bytes, ip + 4);
  const nextHeader = bytes[ip + 6]!;
  const hopLimit = bytes[ip + 7]!;
  if (nextHeader !== IPPROTO_ICMPV6) return fail(RaErrorCode.NOT_ICMPV6, `Next header ${nextHeader} is not ICMPv6 (58); ND messages carry no extension headers.`);
  const icmpAt = ip + IPV6_HEADER_BYTES;
  if (icmpAt + payloadLength > bytes.length) {
    return fail(RaErrorCode.TRUNCATED, `The IPv6 payload length says ${payloadLength} bytes; ${bytes.length - icmpAt} are there.`);
  }
  const icmp = bytes.subarray(icmpAt, icmpAt + payloadLength);
  const sourceBytes = bytes.subarray(ip + 8, ip + 24);
  const destinationBytes = bytes.subarray(ip + 24, ip + 40);
  if (hopLimit !== ND_HOP_LIMIT) return fail(RaErrorCode.BAD_HOP_LIMIT, `Hop limit ${hopLimit} is not 255: the packet may come from off the link (RFC 4861 §6.1).`);
  if (icmpv6Checksum(sourceBytes, destinationBytes, icmp) !== 0) return fail(RaErrorCode.BAD_CHECKSUM, "The ICMPv6 checksum does not match.");
  const message = decodeNdMessage(icmp);
  if (!message.ok) return message;
  const source = formatIpv6(sourceBytes);
  if (message.value.kind === "ra") {
    if (!isLinkLocal(sourceBytes)) return fail(RaErrorCode.NOT_LINK_LOCAL, `A Router Advertisement from ${source}, which is not link-local (RFC 4861 §6.1.2).`);
  } else if (source === UNSPECIFIED && message.value.options.some((o) => o.kind === "sourceLinkLayer")) {
    return fail(RaErrorCode.BAD_SOURCE, "A Router Solicitation from :: carries a link-layer address option (RFC 4861 §6.1.1).");
  }
  return ok({ sourceMac, destinationMac, source, destination: formatIpv6(destinationBytes), hopLimit, message: message.value });
}

/** What {@link encodeNdPacket} needs around a message. */
export interface NdPacketAddressing {
  sourceMac: Uint8Array;
  destinationMac: Uint8Array;
  source: string;
  destination: string;
  /** Default 255; anything else only to test that receivers refuse it. */
  hopLimit?: number;
}

/** The Ethernet multicast address of an IPv6 multicast group (RFC 2464 §7: 33:33 + the low 32 bits). */
export function multicastMac(group: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, group[12] ?? 0, group[13] ?? 0, group[14] ?? 0, group[15] ?? 0);
}

/** An Ethernet frame holding `message` in IPv6, checksum computed. */
export function encodeNdPacket(message: NdMessage, to: NdPacketAddressing): RaResult<Uint8Array> {
  const icmp = encodeNdMessage(message);
  return icmp.ok ? encodeIcmpv6Frame(icmp.value, to) : icmp;
}

/**
 * An Ethernet frame around any ICMPv6 bytes, with the checksum field (bytes 2–3) filled in. For
 * tests and hostile-router labs that must send what {@link encodeNdPacket} refuses to make (a
 * zero-length option, one running past the end); `icmp` itself is not changed.
 */
export function encodeIcmpv6Frame(icmp: Uint8Array, to: NdPacketAddressing): RaResult<Uint8Array> {
  const source = ipv6Bytes(to.source);
  const destination = ipv6Bytes(to.destination);
  if (source === null || destination === null) return fail(RaErrorCode.UNENCODABLE, "The packet's source or destination is not an IPv6 address.");
  if (to.sourceMac.length !== MAC_BYTES || to.destinationMac.length !== MAC_BYTES) return fail(RaErrorCode.UNENCODABLE, "A MAC address is 6 bytes.");
  const hopLimit = to.hopLimit ?? ND_HOP_LIMIT;
  if (!Number.isInteger(hopLimit) || hopLimit < 0 || hopLimit > 255) return fail(RaErrorCode.UNENCODABLE, `Hop limit ${hopLimit} is not 0–255.`);
  if (icmp.length < 4 || icmp.length > 0xffff) return fail(RaErrorCode.UNENCODABLE, `A ${icmp.length}-byte ICMPv6 message does not fit an IPv6 payload.`);
  const frame = new Uint8Array(ETHERNET_HEADER_BYTES + IPV6_HEADER_BYTES + icmp.length);
  frame.set(to.destinationMac, 0);
  frame.set(to.sourceMac, MAC_BYTES);
  putU16(frame, 12, ETHERTYPE_IPV6);
  const ip = ETHERNET_HEADER_BYTES;
  frame[ip] = 0x60;
  putU16(frame, ip + 4, icmp.length);
  frame[ip + 6] = IPPROTO_ICMPV6;
  frame[ip + 7] = hopLimit;
  frame.set(source, ip + 8);
  frame.set(destination, ip + 24);
  const at = ip + IPV6_HEADER_BYTES;
  frame.set(icmp, at);
  putU16(frame, at + 2, 0);
  putU16(frame, at + 2, icmpv6Checksum(source, destination, frame.subarray(at)));
  return ok(frame);
}

/**
 * The Router Solicitation a host sends (RFC 4861 §6.3.7): from `mac` and `linkLocal` to all-routers
 * (ff02::2, 33:33:00:00:00:02), hop limit 255, with a source link-layer address option. Before the
 * host has a link-local address (`undefined`) it comes from :: and without the option (§4.1).
 */
export function encodeRouterSolicitationFrame(mac: Uint8Array, linkLocal: string | undefined): RaResult<Uint8Array> {
  if (mac.length !== MAC_BYTES) return fail(RaErrorCode.BAD_ADDRESS, `A MAC address is 6 bytes, not ${mac.length}.`);
  const source = linkLocal === undefined ? new Uint8Array(IPV6_BYTES) : ipv6Bytes(linkLocal);
  if (source === null || (linkLocal !== undefined && !isLinkLocal(source))) {
    return fail(RaErrorCode.BAD_ADDRESS, `${JSON.stringify(String(linkLocal).slice(0, 64))} is not a link-local IPv6 address.`);
  }
  const destination = ipv6Bytes(ALL_ROUTERS)!;
  return encodeNdPacket(
    { kind: "rs", options: linkLocal === undefined ? [] : [{ kind: "sourceLinkLayer", address: mac.slice() }] },
    { sourceMac: mac, destinationMac: multicastMac(destination), source: formatIpv6(source), destination: ALL_ROUTERS },
  );
}
