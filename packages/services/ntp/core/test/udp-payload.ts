/**
 * Test support: the UDP payload of a captured packet (Ethernet with up to two VLAN tags, BSD
 * loopback (DLT_NULL), raw IP; IPv4 or IPv6 with no extension headers). The NTP core takes UDP
 * payloads from a socket, so it has no frame decoder of its own; this is only for captures.
 */

import { LinkType } from "@paddock/dhcp4";

/** BSD loopback (tcpdump.org/linktypes.html), which the DHCP capture reader has no use for. */
const LINKTYPE_NULL = 0;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;

function fromIp(b: Uint8Array, at: number): UdpDatagram | undefined {
  const version = (b[at] ?? 0) >> 4;
  let udpAt: number;
  if (version === 4) {
    if ((b[at + 9] ?? 0) !== 17) return undefined;
    udpAt = at + ((b[at]! & 0xf) * 4);
  } else if (version === 6) {
    if ((b[at + 6] ?? 0) !== 17) return undefined;
    udpAt = at + 40;
  } else return undefined;
  if (udpAt + 8 > b.length) return undefined;
  const length = u16(b, udpAt + 4);
  return { srcPort: u16(b, udpAt), dstPort: u16(b, udpAt + 2), payload: b.subarray(udpAt + 8, Math.min(b.length, udpAt + length)) };
}

/** The UDP datagram in a captured packet, or undefined when it holds something else. */
export function udpOf(linkType: number, data: Uint8Array): UdpDatagram | undefined {
  if (linkType === LINKTYPE_NULL) return fromIp(data, 4);
  if (linkType === LinkType.RAW) return fromIp(data, 0);
  if (linkType !== LinkType.ETHERNET || data.length < 14) return undefined;
  let typeAt = 12;
  for (let tags = 0; tags < 2 && (u16(data, typeAt) === 0x8100 || u16(data, typeAt) === 0x88a8); tags++) typeAt += 4;
  const type = u16(data, typeAt);
  return type === 0x0800 || type === 0x86dd ? fromIp(data, typeAt + 2) : undefined;
}
