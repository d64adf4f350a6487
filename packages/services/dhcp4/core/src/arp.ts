/**
 * ARP over Ethernet for IPv4 (RFC 826), both ways: what an RFC 5227 client reads (other hosts'
 * requests and replies, to find a conflict) and sends (its probes and announcements).
 *
 * The decoder is total: any byte string is an ArpPacket or a typed error, never an exception.
 * It accepts only what RFC 5227 reasons about — Ethernet hardware (htype 1, hlen 6), IPv4
 * protocol addresses (ptype 0x0800, plen 4), request or reply — and ignores the padding short
 * frames carry on the wire (a minimum Ethernet frame is 60 bytes, an ARP frame 42).
 */

import { ipv4At, parseIpv4, plainBytes, putU16, u16At } from "./bytes.ts";
import type { Ipv4 } from "./message.ts";
import { DhcpErrorCode, fail, ok, type DhcpResult } from "./result.ts";

export const ETHERTYPE_ARP = 0x0806;
/** RFC 826 operations. */
export const ArpOp = { REQUEST: 1, REPLY: 2 } as const;
export type ArpOp = (typeof ArpOp)[keyof typeof ArpOp];

const ETHERNET_HEADER_BYTES = 14;
const ARP_BYTES = 28;
/** An ARP frame without padding: Ethernet header + the 28-byte Ethernet/IPv4 ARP packet. */
export const ARP_FRAME_BYTES = ETHERNET_HEADER_BYTES + ARP_BYTES;
const HTYPE_ETHERNET = 1;
const PTYPE_IPV4 = 0x0800;

/** An Ethernet/IPv4 ARP packet and the Ethernet source it came from. */
export interface ArpPacket {
  op: ArpOp;
  /** The Ethernet header's source address (a host may send ARP from another MAC than it names). */
  ethernetSource: Uint8Array;
  senderMac: Uint8Array;
  senderIp: Ipv4;
  targetMac: Uint8Array;
  targetIp: Ipv4;
}

/** Decodes an Ethernet frame carrying ARP. Total. */
export function decodeArpFrame(frame: Uint8Array): DhcpResult<ArpPacket> {
  const f = plainBytes(frame);
  if (f.length < ETHERNET_HEADER_BYTES) return fail(DhcpErrorCode.TRUNCATED, `a ${f.length}-byte frame has no Ethernet header`);
  const ethertype = u16At(f, 12);
  if (ethertype !== ETHERTYPE_ARP) return fail(DhcpErrorCode.NOT_ARP, `ethertype 0x${ethertype.toString(16).padStart(4, "0")} is not ARP`);
  if (f.length < ARP_FRAME_BYTES) return fail(DhcpErrorCode.TRUNCATED, `a ${f.length}-byte frame is shorter than an Ethernet/IPv4 ARP frame (${ARP_FRAME_BYTES})`);
  const a = ETHERNET_HEADER_BYTES;
  const htype = u16At(f, a);
  const ptype = u16At(f, a + 2);
  if (htype !== HTYPE_ETHERNET || ptype !== PTYPE_IPV4 || f[a + 4] !== 6 || f[a + 5] !== 4) {
    return fail(DhcpErrorCode.BAD_ARP, `ARP for hardware ${htype}/${f[a + 4]} bytes, protocol 0x${ptype.toString(16)}/${f[a + 5]} bytes is not Ethernet/IPv4`);
  }
  const op = u16At(f, a + 6);
  if (op !== ArpOp.REQUEST && op !== ArpOp.REPLY) return fail(DhcpErrorCode.BAD_ARP, `ARP operation ${op} is neither request nor reply`);
  return ok({
    op,
    ethernetSource: f.slice(6, 12),
    senderMac: f.slice(a + 8, a + 14),
    senderIp: ipv4At(f, a + 14),
    targetMac: f.slice(a + 18, a + 24),
    targetIp: ipv4At(f, a + 24),
  });
}

/**
 * Whether an ARP frame names neither `address` as its sender IP nor as its target IP, read from
 * fixed offsets without decoding: such a packet can be no RFC 5227 conflict for `address`, so a
 * client drops it before paying for a decode (every host's ARP broadcasts reach it). False for a
 * frame too short to tell: the decoder then judges it.
 */
export function isArpForAnotherAddress(frame: Uint8Array, address: Ipv4): boolean {
  const ip = parseIpv4(address);
  if (ip === null || frame.length < ARP_FRAME_BYTES) return false;
  const at = (offset: number): boolean => frame[offset] === ip[0] && frame[offset + 1] === ip[1] && frame[offset + 2] === ip[2] && frame[offset + 3] === ip[3];
  return !at(ETHERNET_HEADER_BYTES + 14) && !at(ETHERNET_HEADER_BYTES + 24);
}

/** What {@link encodeArpFrame} sends: a request, from `senderMac`, broadcast on the link. */
export interface ArpRequest {
  senderMac: Uint8Array;
  senderIp: Ipv4;
  targetIp: Ipv4;
}

/**
 * Encodes an ARP request in a broadcast Ethernet frame from `senderMac` (RFC 5227 §2.1.1: the
 * target hardware address of probes and announcements is all zeroes). 42 bytes; the driver pads.
 */
export function encodeArpFrame(req: ArpRequest): DhcpResult<Uint8Array> {
  const sender = parseIpv4(req.senderIp);
  const target = parseIpv4(req.targetIp);
  if (req.senderMac.length !== 6 || sender === null || target === null) {
    return fail(DhcpErrorCode.UNENCODABLE, "an ARP request needs a 6-byte MAC and two IPv4 addresses");
  }
  const f = new Uint8Array(ARP_FRAME_BYTES);
  f.fill(0xff, 0, 6);
  f.set(req.senderMac, 6);
  putU16(f, 12, ETHERTYPE_ARP);
  const a = ETHERNET_HEADER_BYTES;
  putU16(f, a, HTYPE_ETHERNET);
  putU16(f, a + 2, PTYPE_IPV4);
  f[a + 4] = 6;
  f[a + 5] = 4;
  putU16(f, a + 6, ArpOp.REQUEST);
  f.set(req.senderMac, a + 8);
  f.set(sender, a + 14);
  f.set(target, a + 24);
  return ok(f);
}
