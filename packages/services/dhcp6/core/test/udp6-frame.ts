/**
 * Test support: a DHCPv6 message wrapped in IPv6 and UDP (raw IP, pcap link type 101), so that
 * tshark can decode what the encoder writes.
 */

import { parseIpv6 } from "../src/index.ts";

/** RFC 8200 / RFC 768: the IPv6 packet carrying `payload` from `src`:`srcPort` to `dst`:`dstPort`, UDP checksum set. */
export function udp6Packet(payload: Uint8Array, src = "fe80::5054:ff:fe8a:3e1c", dst = "ff02::1:2", srcPort = 546, dstPort = 547): Uint8Array {
  const udpLength = 8 + payload.length;
  const out = new Uint8Array(40 + udpLength);
  out[0] = 0x60;
  out[4] = udpLength >> 8;
  out[5] = udpLength & 0xff;
  out[6] = 17;
  out[7] = 1;
  out.set(parseIpv6(src)!, 8);
  out.set(parseIpv6(dst)!, 24);
  out[40] = srcPort >> 8;
  out[41] = srcPort & 0xff;
  out[42] = dstPort >> 8;
  out[43] = dstPort & 0xff;
  out[44] = udpLength >> 8;
  out[45] = udpLength & 0xff;
  out.set(payload, 48);
  // RFC 8200 §8.1: the checksum covers a pseudo-header of both addresses, the length and next header 17.
  let sum = 17 + udpLength;
  const add = (bytes: Uint8Array, from: number, to: number) => {
    for (let i = from; i < to; i += 2) sum += (bytes[i]! << 8) | (i + 1 < to ? bytes[i + 1]! : 0);
  };
  add(out, 8, 40);
  add(out, 40, out.length);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  const checksum = ~sum & 0xffff || 0xffff;
  out[46] = checksum >> 8;
  out[47] = checksum & 0xff;
  return out;
}
