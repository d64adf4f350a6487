/**
 * Test support: hand-built Ethernet frames (IPv4/UDP/TCP/ICMP, ARP, IPv6, fragments) for the
 * filter tests, the namespace tests and the benchmark.
 */

/** Parses "aa:bb:cc:dd:ee:ff". */
export function mac(text: string): Uint8Array {
  return Uint8Array.from(text.split(":").map((h) => parseInt(h, 16)));
}

/** The broadcast MAC address. */
export const BROADCAST = mac("ff:ff:ff:ff:ff:ff");

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet II frame. */
export function ethernet(dst: Uint8Array, src: Uint8Array, ethertype: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(14);
  h.set(dst, 0);
  h.set(src, 6);
  h[12] = ethertype >> 8;
  h[13] = ethertype & 0xff;
  return concat(h, payload);
}

/** IPv4 header options for ipv4(). */
export interface Ipv4Options {
  protocol: number;
  src?: string;
  dst?: string;
  /** Header length in 32-bit words (5..15); options are padded with NOP (1). */
  ihl?: number;
  /** The 16-bit flags+fragment-offset field (0x2000 = MF, low 13 bits = offset / 8). */
  flagsFragment?: number;
  id?: number;
  ttl?: number;
}

function ipBytes(text: string): number[] {
  return text.split(".").map(Number);
}

/** An IPv4 packet with a correct header checksum. */
export function ipv4(o: Ipv4Options, payload: Uint8Array): Uint8Array {
  const ihl = o.ihl ?? 5;
  const h = new Uint8Array(ihl * 4).fill(1, 20);
  const total = h.length + payload.length;
  h[0] = 0x40 | ihl;
  h[2] = total >> 8;
  h[3] = total & 0xff;
  h[4] = (o.id ?? 1) >> 8;
  h[5] = (o.id ?? 1) & 0xff;
  h[6] = (o.flagsFragment ?? 0) >> 8;
  h[7] = (o.flagsFragment ?? 0) & 0xff;
  h[8] = o.ttl ?? 64;
  h[9] = o.protocol;
  h.set(ipBytes(o.src ?? "0.0.0.0"), 12);
  h.set(ipBytes(o.dst ?? "255.255.255.255"), 16);
  const c = checksum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return concat(h, payload);
}

/** A UDP datagram (checksum 0: optional over IPv4, RFC 768). */
export function udp(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(8);
  const len = 8 + payload.length;
  h[0] = sport >> 8;
  h[1] = sport & 0xff;
  h[2] = dport >> 8;
  h[3] = dport & 0xff;
  h[4] = len >> 8;
  h[5] = len & 0xff;
  return concat(h, payload);
}

/** A TCP SYN segment header (no options). */
export function tcpSyn(sport: number, dport: number): Uint8Array {
  const h = new Uint8Array(20);
  h[0] = sport >> 8;
  h[1] = sport & 0xff;
  h[2] = dport >> 8;
  h[3] = dport & 0xff;
  h[12] = 5 << 4;
  h[13] = 0x02;
  h[14] = 0xff;
  return h;
}

/** A minimal BOOTP message (RFC 2131 §2): op, xid; the rest zero plus the magic cookie. */
export function bootp(op: 1 | 2, xid: number): Uint8Array {
  const b = new Uint8Array(240);
  b[0] = op;
  b[1] = 1;
  b[2] = 6;
  new DataView(b.buffer).setUint32(4, xid);
  b.set([99, 130, 83, 99], 236);
  return b;
}

/** Reads the xid of a frame built by dhcpFrame (IHL-aware). */
export function xidOf(frame: Uint8Array): number {
  const ihl = (frame[14]! & 0x0f) * 4;
  return new DataView(frame.buffer, frame.byteOffset).getUint32(14 + ihl + 8 + 4);
}

/** A 40-byte IPv6 header (fe80::1 → ff02::1, hop limit 255) followed by `payload`. */
export function ipv6Header(nextHeader: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(40);
  h[0] = 0x60;
  h[4] = payload.length >> 8;
  h[5] = payload.length & 0xff;
  h[6] = nextHeader;
  h[7] = 255;
  h[8] = 0xfe;
  h[9] = 0x80;
  h[23] = 1;
  h[24] = 0xff;
  h[25] = 0x02;
  h[39] = 1;
  return concat(h, payload);
}

/** Frame builders for one sender. */
export function frameKit(srcMac: Uint8Array, dstMac: Uint8Array = BROADCAST) {
  const ip = (o: Ipv4Options, payload: Uint8Array) => ethernet(dstMac, srcMac, 0x0800, ipv4(o, payload));
  return {
    /** A DHCP server's reply to the client port (op 2, 67 → 68). */
    dhcpToClient: (xid: number, ihl = 5) =>
      ip({ protocol: 17, src: "10.9.0.1", ihl }, udp(67, 68, bootp(2, xid))),
    /** A client's BOOTREQUEST (68 → 67): the egress pattern. */
    dhcpRequest: (xid: number) => ip({ protocol: 17, src: "0.0.0.0" }, udp(68, 67, bootp(1, xid))),
    udp: (sport: number, dport: number, o: Partial<Ipv4Options> = {}) =>
      ip({ protocol: 17, src: "10.9.0.1", ...o }, udp(sport, dport, bootp(2, 1))),
    tcp: (sport: number, dport: number) => ip({ protocol: 6, src: "10.9.0.1" }, tcpSyn(sport, dport)),
    icmpEcho: () => {
      const icmp = new Uint8Array(16);
      icmp[0] = 8;
      const c = checksum(icmp);
      icmp[2] = c >> 8;
      icmp[3] = c & 0xff;
      return ip({ protocol: 1, src: "10.9.0.1", dst: "10.9.0.2" }, icmp);
    },
    arpRequest: () => {
      const arp = Uint8Array.from([0, 1, 8, 0, 6, 4, 0, 1, ...srcMac, 10, 9, 0, 1, 0, 0, 0, 0, 0, 0, 10, 9, 0, 2]);
      return ethernet(BROADCAST, srcMac, 0x0806, arp);
    },
    /** IPv6 UDP to the given port (e.g. 68 or 546): IPv6 is never the DHCPv4 client's. */
    ipv6Udp: (dport: number) => {
      const h = new Uint8Array(40);
      const payload = udp(547, dport, bootp(2, 1));
      h[0] = 0x60;
      h[4] = payload.length >> 8;
      h[5] = payload.length & 0xff;
      h[6] = 17;
      h[7] = 64;
      h[8] = 0xfe;
      h[9] = 0x80;
      h[24] = 0xff;
      h[25] = 0x02;
      h[39] = 1;
      return ethernet(mac("33:33:00:00:00:01"), srcMac, 0x86dd, concat(h, payload));
    },
    /** An IPv6 packet with the given Next Header and payload (fe80::/ff02::1, no extension headers). */
    ipv6: (nextHeader: number, payload: Uint8Array, dst: Uint8Array = mac("33:33:00:00:00:01")) =>
      ethernet(dst, srcMac, 0x86dd, ipv6Header(nextHeader, payload)),
    /** IPv6 UDP from `sport` to `dport` carrying `payload`. */
    ipv6UdpFrom: (sport: number, dport: number, payload: Uint8Array = bootp(1, 1)) =>
      ethernet(mac("33:33:00:01:00:02"), srcMac, 0x86dd, ipv6Header(17, udp(sport, dport, payload))),
    /** An ICMPv6 message of the given type (e.g. 133 RS, 134 RA), 8 bytes of body. */
    icmpv6: (type: number) => ethernet(mac("33:33:00:00:00:02"), srcMac, 0x86dd, ipv6Header(58, Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0))),
    /** IPv6 with a Hop-by-Hop extension header (8 bytes) before an ICMPv6 message. */
    icmpv6AfterHopByHop: (type: number) =>
      ethernet(mac("33:33:00:00:00:16"), srcMac, 0x86dd, ipv6Header(0, Uint8Array.of(58, 0, 5, 2, 0, 0, 1, 0, type, 0, 0, 0, 0, 0, 0, 0))),
    /** First fragment (MF set) of a UDP datagram to port 68. */
    firstFragmentTo68: () => ip({ protocol: 17, src: "10.9.0.1", flagsFragment: 0x2000 }, udp(67, 68, bootp(2, 1))),
    /** A later fragment (offset ≠ 0) whose payload happens to look like UDP to port 68. */
    laterFragmentTo68: () => ip({ protocol: 17, src: "10.9.0.1", flagsFragment: 0x0010 }, udp(67, 68, bootp(2, 1))),
    /** A raw IPv4 frame with arbitrary protocol and payload. */
    ipv4: ip,
  };
}

/** The header fields the filter property tests vary, each free to take any value. */
export interface NearMissFields {
  ethertype: number;
  versionIhl: number;
  flagsFragment: number;
  protocol: number;
  sport: number;
  dport: number;
  /** 40 bytes after the fixed IPv4 header: IP options when IHL > 5, else the start of UDP. */
  noise: Uint8Array;
  /** BOOTP op, at UDP + 8 (0: left zero). */
  op?: number;
}

/**
 * A frame with only the fields the DHCP filters look at set (Ethernet type, IPv4 version/IHL,
 * flags and fragment offset, protocol, UDP ports, BOOTP op), the rest zero; `payload` bytes of
 * room after the largest IPv4 header and the UDP header.
 */
export function nearMissFrame(r: NearMissFields, payload: number): Uint8Array {
  const f = new Uint8Array(14 + 60 + 8 + payload);
  f[12] = r.ethertype >> 8;
  f[13] = r.ethertype & 0xff;
  f[14] = r.versionIhl;
  f[20] = r.flagsFragment >> 8;
  f[21] = r.flagsFragment & 0xff;
  f[23] = r.protocol;
  f.set(r.noise, 34);
  const udpAt = 14 + (r.versionIhl & 0x0f) * 4;
  f[udpAt] = r.sport >> 8;
  f[udpAt + 1] = r.sport & 0xff;
  f[udpAt + 2] = r.dport >> 8;
  f[udpAt + 3] = r.dport & 0xff;
  if (r.op !== undefined) f[udpAt + 8] = r.op;
  return f;
}
