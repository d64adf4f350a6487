/**
 * Test helpers: a pcap writer (for feeding frames to tshark and to the capture reader) and a
 * message that carries every option type the codec knows.
 */

import type { DhcpMessage } from "../src/index.ts";

/** A classic little-endian microsecond pcap file of Ethernet frames. */
export function writePcap(frames: readonly Uint8Array[], linkType = 1): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = new DataView(new ArrayBuffer(24));
  header.setUint32(0, 0xa1b2c3d4, true);
  header.setUint16(4, 2, true);
  header.setUint16(6, 4, true);
  header.setUint32(16, 65535, true);
  header.setUint32(20, linkType, true);
  parts.push(new Uint8Array(header.buffer));
  frames.forEach((f, i) => {
    const rec = new DataView(new ArrayBuffer(16));
    rec.setUint32(0, 1_700_000_000 + i, true);
    rec.setUint32(8, f.length, true);
    rec.setUint32(12, f.length, true);
    parts.push(new Uint8Array(rec.buffer), f);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An OFFER-like message with one of every typed option, and an unknown one, some long. */
export function everyOptionMessage(): DhcpMessage {
  return {
    op: 2,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0xf69f2a0d,
    secs: 3,
    flags: 0x8000,
    ciaddr: "0.0.0.0",
    yiaddr: "10.77.0.161",
    siaddr: "10.77.0.1",
    giaddr: "0.0.0.0",
    chaddr: Uint8Array.of(0x02, 0x77, 0xf4, 0xa9, 0x18, 0xe3),
    sname: "server",
    file: "boot/file",
    options: [
      { kind: "messageType", code: 53, type: 2 },
      { kind: "subnetMask", code: 1, mask: "255.255.255.0" },
      { kind: "routers", code: 3, addresses: ["10.77.0.1", "10.77.0.2"] },
      { kind: "dnsServers", code: 6, addresses: ["10.77.0.1"] },
      { kind: "hostname", code: 12, name: "host-1" },
      { kind: "domainName", code: 15, name: "anc.test" },
      { kind: "mtu", code: 26, mtu: 1400 },
      { kind: "broadcast", code: 28, address: "10.77.0.255" },
      { kind: "ntpServers", code: 42, addresses: ["10.77.0.5", "10.77.0.6"] },
      { kind: "requestedAddress", code: 50, address: "10.77.0.161" },
      { kind: "leaseTime", code: 51, seconds: 3600 },
      { kind: "serverId", code: 54, address: "10.77.0.1" },
      { kind: "parameterRequestList", code: 55, codes: [1, 3, 6, 15, 26, 119, 121] },
      { kind: "message", code: 56, text: "all good" },
      { kind: "maxMessageSize", code: 57, size: 1500 },
      { kind: "renewalTime", code: 58, seconds: 1800 },
      { kind: "rebindingTime", code: 59, seconds: 3150 },
      { kind: "vendorClass", code: 60, data: new TextEncoder().encode("paddock-test") },
      { kind: "clientId", code: 61, data: Uint8Array.of(1, 0x02, 0x77, 0xf4, 0xa9, 0x18, 0xe3) },
      { kind: "rapidCommit", code: 80 },
      { kind: "clientFqdn", code: 81, flags: 0x05, rcode1: 0, rcode2: 0, name: "host-1.anc.test" },
      { kind: "ipv6OnlyPreferred", code: 108, seconds: 1800 },
      { kind: "captivePortal", code: 114, uri: "https://portal.anc.test/" },
      { kind: "domainSearch", code: 119, names: ["anc.test", "lab.anc.test", "example.org"] },
      {
        kind: "classlessRoutes",
        code: 121,
        routes: [
          { destination: "10.0.0.0/8", router: "10.77.0.1" },
          { destination: "192.168.4.0/22", router: "10.77.0.2" },
          { destination: "0.0.0.0/0", router: "10.77.0.1" },
        ],
      },
      { kind: "forcerenewNonce", code: 145, data: Uint8Array.of(1) },
      // Longer than 255 bytes: split into two instances on the wire (RFC 3396).
      { kind: "unknown", code: 224, data: Uint8Array.from({ length: 300 }, (_, i) => i & 0xff) },
    ],
  };
}

/** A pcapng block: type, total length, body padded to 4, total length, in the given byte order. */
export function pcapngBlock(type: number, body: Uint8Array, little = true): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const total = 12 + padded;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, little);
  v.setUint32(4, total, little);
  out.set(body, 8);
  v.setUint32(total - 4, total, little);
  return out;
}

function bodyOf(fields: [number, 2 | 4, boolean][]): (little: boolean) => Uint8Array {
  return (little) => {
    const n = fields.reduce((a, [, w]) => a + w, 0);
    const out = new Uint8Array(n);
    const v = new DataView(out.buffer);
    let o = 0;
    for (const [val, w] of fields) {
      if (w === 2) v.setUint16(o, val, little);
      else v.setUint32(o, val, little);
      o += w;
    }
    return out;
  };
}

/** Concatenates byte arrays (test side; the package has its own). */
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A pcapng file with one Ethernet interface: SHB, IDB, then an EPB per frame. */
export function writePcapng(frames: readonly Uint8Array[], little = true, extraBlocks: Uint8Array[] = []): Uint8Array {
  const shb = pcapngBlock(0x0a0d0d0a, bodyOf([[0x1a2b3c4d, 4, true], [1, 2, true], [0, 2, true], [0xffffffff, 4, true], [0xffffffff, 4, true]])(little), little);
  const idb = pcapngBlock(1, bodyOf([[1, 2, true], [0, 2, true], [65535, 4, true]])(little), little);
  const epbs = frames.map((f, i) =>
    pcapngBlock(6, cat(bodyOf([[0, 4, true], [0, 4, true], [1_000_000 * (i + 1), 4, true], [f.length, 4, true], [f.length, 4, true]])(little), f), little),
  );
  return cat(shb, idb, ...extraBlocks, ...epbs);
}
