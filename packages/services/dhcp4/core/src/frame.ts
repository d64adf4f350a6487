/**
 * Ethernet II → IPv4 → UDP framing around a DHCP message, both ways. This is what the client's
 * data path carries (the calf sees whole frames, DESIGN.md "Data path"), and what a capture holds.
 *
 * Decoding is strict where a wrong answer could be believed: the IPv4 header checksum must verify,
 * a non-zero UDP checksum must verify (RFC 768: zero means none was computed), fragments are
 * refused (a DHCP message fits in one datagram; reassembly would be attack surface for no gain).
 * Only a capture reader turns checksum checks off (see {@link DecodeFrameOptions}).
 */

import {
  finishChecksum,
  ipv4At,
  onesComplementSum,
  parseIpv4,
  plainBytes,
  putU16,
  u16At,
  u32At,
} from "./bytes.ts";
import { decodeDhcpMessage, encodeDhcpMessage } from "./codec.ts";
import type { DhcpMessage, DhcpPacketInfo } from "./message.ts";
import { DhcpErrorCode, fail, ok, type DhcpResult } from "./result.ts";

/** RFC 2131 §4.1: servers listen on 67, clients on 68. */
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

const ETHERTYPE_IPV4 = 0x0800;
/** IEEE 802.1Q and 802.1ad tags: a capture on a trunk port carries them. */
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
/** Q-in-Q is two tags; more is not a real network, so stop there rather than walk on. */
const MAX_VLAN_TAGS = 2;
const ETHERNET_HEADER_BYTES = 14;
const IPV4_MIN_HEADER_BYTES = 20;
const UDP_HEADER_BYTES = 8;
const IPPROTO_UDP = 17;
/** TTL for frames we build: Linux's default (net.ipv4.ip_default_ttl); a DHCP client never routes. */
const DEFAULT_TTL = 64;

/** A decoded DHCP packet: the message and the addressing around it. */
export interface DhcpFrame {
  message: DhcpMessage;
  info: DhcpPacketInfo;
}

/** Choices for {@link decodeDhcpFrame} and {@link decodeDhcpIpv4Packet}. */
export interface DecodeFrameOptions {
  /**
   * Verify the IPv4 header checksum and a non-zero UDP checksum (default true). A capture taken
   * on the sending host holds outgoing packets before checksum offload fills them in (often as
   * zero), so a capture reader turns this off, as tcpdump and Wireshark do by default.
   */
  verifyChecksums?: boolean;
  /**
   * Skip the UDP checksum only (default false). A packet socket sees a frame from a local veth
   * or tap before checksum offload completes it (the kernel says so: TP_STATUS_CSUMNOTREADY in
   * PACKET_AUXDATA); its UDP checksum field then holds only the pseudo-header's partial sum.
   */
  udpChecksumPending?: boolean;
}

/** Offset of the IPv4 header in an Ethernet frame, skipping VLAN tags, or an error. */
function ethernetPayload(frame: Uint8Array): DhcpResult<number> {
  if (frame.length < ETHERNET_HEADER_BYTES) {
    return fail(DhcpErrorCode.TRUNCATED, `Ethernet frame is ${frame.length} bytes, shorter than its 14-byte header`);
  }
  let typeAt = 12;
  for (let tags = 0; ; tags++) {
    const type = u16At(frame, typeAt);
    if (type === ETHERTYPE_IPV4) return ok(typeAt + 2);
    if ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && tags < MAX_VLAN_TAGS) {
      if (typeAt + 6 > frame.length) return fail(DhcpErrorCode.TRUNCATED, "Ethernet frame ends inside a VLAN tag");
      typeAt += 4;
      continue;
    }
    return fail(DhcpErrorCode.NOT_IPV4, `EtherType 0x${type.toString(16).padStart(4, "0")} is not IPv4`);
  }
}

/**
 * Decodes an IPv4 packet (starting at its header; trailing bytes such as Ethernet padding are
 * ignored) carrying UDP to or from port 67/68 and a DHCP message. `macs` fills the info's MAC
 * fields when the link layer had them.
 */
export function decodeDhcpIpv4Packet(
  input: Uint8Array,
  options: DecodeFrameOptions = {},
  macs: { srcMac: Uint8Array; dstMac: Uint8Array } = { srcMac: new Uint8Array(6), dstMac: new Uint8Array(6) },
): DhcpResult<DhcpFrame> {
  const packet = plainBytes(input);
  if (packet.length < IPV4_MIN_HEADER_BYTES) {
    return fail(DhcpErrorCode.TRUNCATED, `IPv4 header needs 20 bytes, ${packet.length} remain`);
  }
  const version = (packet[0] as number) >> 4;
  const ihl = ((packet[0] as number) & 0x0f) * 4;
  if (version !== 4) return fail(DhcpErrorCode.BAD_IP_HEADER, `IP version is ${version}, not 4`);
  if (ihl < IPV4_MIN_HEADER_BYTES) return fail(DhcpErrorCode.BAD_IP_HEADER, `IPv4 header length ${ihl} is below 20`);
  const total = u16At(packet, 2);
  if (total < ihl) return fail(DhcpErrorCode.BAD_IP_HEADER, `IPv4 total length ${total} is below its header length ${ihl}`);
  if (packet.length < ihl) return fail(DhcpErrorCode.TRUNCATED, `IPv4 header of ${ihl} bytes is cut at ${packet.length}`);
  if (packet.length < total) {
    return fail(DhcpErrorCode.TRUNCATED, `IPv4 packet of ${total} bytes is cut at ${packet.length} (capture snap length?)`);
  }
  const verify = options.verifyChecksums !== false;
  if (verify && finishChecksum(onesComplementSum(packet, 0, ihl)) !== 0) {
    return fail(DhcpErrorCode.BAD_IP_CHECKSUM, `IPv4 header checksum 0x${u16At(packet, 10).toString(16)} does not verify`);
  }
  const fragment = u16At(packet, 6);
  if (fragment & 0x3fff) {
    return fail(DhcpErrorCode.FRAGMENT, `IPv4 fragment (offset ${(fragment & 0x1fff) * 8}, more-fragments ${(fragment >> 13) & 1})`);
  }
  const protocol = packet[9] as number;
  if (protocol !== IPPROTO_UDP) return fail(DhcpErrorCode.NOT_UDP, `IP protocol ${protocol} is not UDP`);
  if (total - ihl < UDP_HEADER_BYTES) {
    return fail(DhcpErrorCode.TRUNCATED, `UDP header needs 8 bytes, the IPv4 payload has ${total - ihl}`);
  }
  const srcPort = u16At(packet, ihl);
  const dstPort = u16At(packet, ihl + 2);
  const isDhcp = (p: number) => p === DHCP_SERVER_PORT || p === DHCP_CLIENT_PORT;
  if (!isDhcp(srcPort) && !isDhcp(dstPort)) {
    return fail(DhcpErrorCode.NOT_DHCP_PORT, `UDP ports ${srcPort} → ${dstPort} are not DHCP's 67/68`);
  }
  const udpLength = u16At(packet, ihl + 4);
  if (udpLength < UDP_HEADER_BYTES || udpLength > total - ihl) {
    return fail(DhcpErrorCode.BAD_UDP_LENGTH, `UDP length ${udpLength} does not fit the IPv4 payload of ${total - ihl}`);
  }
  const checksum = u16At(packet, ihl + 6);
  if (checksum !== 0 && verify && options.udpChecksumPending !== true) {
    let sum = onesComplementSum(packet, 12, 20); // pseudo-header: source and destination
    sum += IPPROTO_UDP + udpLength;
    sum = onesComplementSum(packet, ihl, ihl + udpLength, sum);
    if (finishChecksum(sum) !== 0) {
      return fail(DhcpErrorCode.BAD_UDP_CHECKSUM, `UDP checksum 0x${checksum.toString(16)} does not verify`);
    }
  }
  const message = decodeDhcpMessage(packet.subarray(ihl + UDP_HEADER_BYTES, ihl + udpLength));
  if (!message.ok) return message;
  return ok({
    message: message.value,
    info: {
      srcMac: macs.srcMac,
      dstMac: macs.dstMac,
      srcIp: ipv4At(packet, 12),
      dstIp: ipv4At(packet, 16),
      srcPort,
      dstPort,
    },
  });
}

/** Decodes an Ethernet II frame (no FCS) carrying IPv4/UDP/DHCP. */
export function decodeDhcpFrame(input: Uint8Array, options: DecodeFrameOptions = {}): DhcpResult<DhcpFrame> {
  const frame = plainBytes(input);
  const at = ethernetPayload(frame);
  if (!at.ok) return at;
  return decodeDhcpIpv4Packet(frame.subarray(at.value), options, {
    dstMac: frame.slice(0, 6),
    srcMac: frame.slice(6, 12),
  });
}

/**
 * Whether an IPv4 packet is UDP to or from port 67/68, judged leniently from the fields that
 * say so (version, protocol, first fragment, ports) without checking lengths or checksums: the
 * capture decoder prints a line, possibly an error, for exactly these packets.
 */
export function isDhcpIpv4Candidate(packet: Uint8Array): boolean {
  if (packet.length < IPV4_MIN_HEADER_BYTES || (packet[0] as number) >> 4 !== 4) return false;
  const ihl = ((packet[0] as number) & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER_BYTES || packet[9] !== IPPROTO_UDP || (u16At(packet, 6) & 0x1fff) !== 0) return false;
  if (packet.length < ihl + 4) return false;
  const s = u16At(packet, ihl);
  const d = u16At(packet, ihl + 2);
  return s === DHCP_SERVER_PORT || s === DHCP_CLIENT_PORT || d === DHCP_SERVER_PORT || d === DHCP_CLIENT_PORT;
}

/** {@link isDhcpIpv4Candidate} for an Ethernet II frame. */
export function isDhcpFrameCandidate(frame: Uint8Array): boolean {
  const at = ethernetPayload(frame);
  return at.ok && isDhcpIpv4Candidate(frame.subarray(at.value));
}

/** Offsets inside the BOOTP message (RFC 2131 §2, figure 1). */
const BOOTP_XID_OFFSET = 4;
const BOOTP_CHADDR_OFFSET = 28;

/**
 * Whether an Ethernet frame surely answers another client's exchange: its BOOTP xid is not `xid`
 * or its chaddr does not begin with `mac`, read at fixed offsets (after VLAN tags and the IPv4
 * header length) without decoding anything else. False whenever the frame is too short or not
 * IPv4 to tell: the full decoder then judges it. A bound client uses this to drop the broadcast
 * OFFERs and ACKs of other clients' exchanges before paying for a decode (issue 13 C7).
 */
export function isFrameForAnotherExchange(frame: Uint8Array, xid: number, mac: Uint8Array): boolean {
  const at = ethernetPayload(frame);
  if (!at.ok || frame.length < at.value + IPV4_MIN_HEADER_BYTES) return false;
  const ihl = ((frame[at.value] as number) & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER_BYTES) return false;
  const bootp = at.value + ihl + UDP_HEADER_BYTES;
  if (frame.length < bootp + BOOTP_CHADDR_OFFSET + mac.length) return false;
  if (u32At(frame, bootp + BOOTP_XID_OFFSET) !== xid >>> 0) return true;
  for (let i = 0; i < mac.length; i++) if (frame[bootp + BOOTP_CHADDR_OFFSET + i] !== mac[i]) return true;
  return false;
}

/** Link and network addressing for {@link encodeDhcpFrame}. */
export interface FrameAddressing {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
}

/**
 * Encodes a message in UDP, IPv4 and Ethernet II headers, with both checksums computed. IPv4 id
 * 0, no flags, TTL 64, TOS 0: the datagram is never fragmented (RFC 6864 §4.1 lets atomic
 * datagrams carry any id).
 */
export function encodeDhcpFrame(msg: DhcpMessage, to: FrameAddressing): DhcpResult<Uint8Array> {
  if (to.srcMac.length !== 6 || to.dstMac.length !== 6) {
    return fail(DhcpErrorCode.UNENCODABLE, "Ethernet addresses must be 6 bytes");
  }
  const src = parseIpv4(to.srcIp);
  const dst = parseIpv4(to.dstIp);
  if (src === null || dst === null) {
    return fail(DhcpErrorCode.UNENCODABLE, `${JSON.stringify(to.srcIp)} → ${JSON.stringify(to.dstIp)} are not IPv4 addresses`);
  }
  for (const p of [to.srcPort, to.dstPort]) {
    if (!Number.isInteger(p) || p < 0 || p > 0xffff) return fail(DhcpErrorCode.UNENCODABLE, `UDP port ${p} is not in 0..65535`);
  }
  const payload = encodeDhcpMessage(msg);
  if (!payload.ok) return payload;
  const udpLength = UDP_HEADER_BYTES + payload.value.length;
  const total = IPV4_MIN_HEADER_BYTES + udpLength;
  if (total > 0xffff) return fail(DhcpErrorCode.UNENCODABLE, `IPv4 packet of ${total} bytes exceeds 65535`);
  const frame = new Uint8Array(ETHERNET_HEADER_BYTES + total);
  frame.set(to.dstMac, 0);
  frame.set(to.srcMac, 6);
  putU16(frame, 12, ETHERTYPE_IPV4);
  const ip = ETHERNET_HEADER_BYTES;
  frame[ip] = 0x45;
  putU16(frame, ip + 2, total);
  frame[ip + 8] = DEFAULT_TTL;
  frame[ip + 9] = IPPROTO_UDP;
  frame.set(src, ip + 12);
  frame.set(dst, ip + 16);
  putU16(frame, ip + 10, finishChecksum(onesComplementSum(frame, ip, ip + IPV4_MIN_HEADER_BYTES)));
  const udp = ip + IPV4_MIN_HEADER_BYTES;
  putU16(frame, udp, to.srcPort);
  putU16(frame, udp + 2, to.dstPort);
  putU16(frame, udp + 4, udpLength);
  frame.set(payload.value, udp + UDP_HEADER_BYTES);
  let sum = onesComplementSum(frame, ip + 12, ip + 20) + IPPROTO_UDP + udpLength;
  sum = onesComplementSum(frame, udp, udp + udpLength, sum);
  // RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
  putU16(frame, udp + 6, finishChecksum(sum) || 0xffff);
  return ok(frame);
}
