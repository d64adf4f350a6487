/**
 * Table-driven tests: one bad input per error code (each named), and the good inputs the RFCs
 * describe (overload, long options, name compression, classless routes, capture formats).
 */

import { describe, expect, it } from "vitest";
import {
  DhcpErrorCode,
  decodeCapture,
  decodeDhcpFrame,
  decodeDhcpMessage,
  decodeDnsNameList,
  encodeDhcpFrame,
  encodeDhcpMessage,
  finishChecksumForTest,
  readCapture,
  type DhcpMessage,
  type DhcpOption,
  type DhcpResult,
} from "./helpers.ts";
import { cat, everyOptionMessage, pcapngBlock, writePcap, writePcapng } from "./fixtures.ts";
import { decodeArpFrame } from "../src/arp.ts";

const MAC = Uint8Array.of(2, 0, 0, 0, 0, 9);
const BCAST = Uint8Array.of(255, 255, 255, 255, 255, 255);

function base(options: DhcpOption[] = [{ kind: "messageType", code: 53, type: 1 }]): DhcpMessage {
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x1234, secs: 0, flags: 0,
    ciaddr: "0.0.0.0", yiaddr: "0.0.0.0", siaddr: "0.0.0.0", giaddr: "0.0.0.0",
    chaddr: MAC, sname: "", file: "", options,
  };
}

function must<T>(r: DhcpResult<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.detail}`);
  return r.value;
}

/** A valid BOOTP payload whose options field is exactly `opts` (then end). */
function payloadWith(opts: number[], fill?: (b: Uint8Array) => void): Uint8Array {
  const head = must(encodeDhcpMessage(base([]))).slice(0, 240);
  fill?.(head);
  return cat(head, Uint8Array.from(opts));
}

function frame(): Uint8Array {
  return must(encodeDhcpFrame(base(), { srcMac: MAC, dstMac: BCAST, srcIp: "0.0.0.0", dstIp: "255.255.255.255", srcPort: 68, dstPort: 67 }));
}

/** Rewrites the IPv4 header checksum after an edit, so only the intended fault remains. */
function fixIpChecksum(f: Uint8Array): Uint8Array {
  f[24] = 0;
  f[25] = 0;
  const c = finishChecksumForTest(f.subarray(14, 34));
  f[24] = c >> 8;
  f[25] = c & 0xff;
  return f;
}

const code = (r: DhcpResult<unknown>) => (r.ok ? "ok" : r.error.code);

/**
 * The error of the one malformed option in a message that decodes: an optional option that does
 * not fit its type is kept as `malformed` (the message still decodes), carrying the codec's error.
 */
function malformedIn(payload: Uint8Array): DhcpResult<unknown> {
  const m = decodeDhcpMessage(payload);
  if (!m.ok) return m;
  const bad = m.value.options.find((o) => o.kind === "malformed");
  return bad?.kind === "malformed" ? { ok: false, error: bad.error } : { ok: true, value: m.value };
}

describe("each error code has an input that produces it", () => {
  const table: [string, () => DhcpResult<unknown>, string][] = [
    ["payload shorter than the BOOTP header", () => decodeDhcpMessage(new Uint8Array(100)), DhcpErrorCode.TRUNCATED],
    ["frame shorter than Ethernet", () => decodeDhcpFrame(new Uint8Array(10)), DhcpErrorCode.TRUNCATED],
    ["IPv4 total length beyond the captured bytes", () => decodeDhcpFrame(frame().subarray(0, 200)), DhcpErrorCode.TRUNCATED],
    ["EtherType IPv6", () => { const f = frame(); f[12] = 0x86; f[13] = 0xdd; return decodeDhcpFrame(f); }, DhcpErrorCode.NOT_IPV4],
    ["IP version 6 in an IPv4 frame", () => { const f = frame(); f[14] = 0x65; return decodeDhcpFrame(f); }, DhcpErrorCode.BAD_IP_HEADER],
    ["IHL of 16 bytes", () => { const f = frame(); f[14] = 0x44; return decodeDhcpFrame(f); }, DhcpErrorCode.BAD_IP_HEADER],
    ["IPv4 header checksum off by one", () => { const f = frame(); f[25] = (f[25] as number) ^ 1; return decodeDhcpFrame(f); }, DhcpErrorCode.BAD_IP_CHECKSUM],
    ["more-fragments flag", () => { const f = frame(); f[20] = 0x20; return decodeDhcpFrame(fixIpChecksum(f)); }, DhcpErrorCode.FRAGMENT],
    ["non-zero fragment offset", () => { const f = frame(); f[21] = 0x10; return decodeDhcpFrame(fixIpChecksum(f)); }, DhcpErrorCode.FRAGMENT],
    ["TCP instead of UDP", () => { const f = frame(); f[23] = 6; return decodeDhcpFrame(fixIpChecksum(f)); }, DhcpErrorCode.NOT_UDP],
    ["UDP length 4", () => { const f = frame(); f[38] = 0; f[39] = 4; return decodeDhcpFrame(f); }, DhcpErrorCode.BAD_UDP_LENGTH],
    ["UDP length beyond the IPv4 payload", () => { const f = frame(); f[38] = 0xff; return decodeDhcpFrame(f); }, DhcpErrorCode.BAD_UDP_LENGTH],
    ["payload byte changed under the UDP checksum", () => { const f = frame(); f[50] = (f[50] as number) ^ 0x40; return decodeDhcpFrame(f); }, DhcpErrorCode.BAD_UDP_CHECKSUM],
    ["DNS ports", () => { const f = frame(); f[35] = 53; f[37] = 53; return decodeDhcpFrame(f); }, DhcpErrorCode.NOT_DHCP_PORT],
    ["magic cookie zeroed", () => decodeDhcpMessage(payloadWith([255], (h) => h.fill(0, 236, 240))), DhcpErrorCode.BAD_COOKIE],
    ["BOOTP message ending before the cookie", () => decodeDhcpMessage(new Uint8Array(238)), DhcpErrorCode.BAD_COOKIE],
    ["option length past the end", () => decodeDhcpMessage(payloadWith([53, 1, 1, 12, 10, 0x61])), DhcpErrorCode.OPTION_OVERRUN],
    ["option code without a length byte", () => decodeDhcpMessage(payloadWith([53, 1, 1, 12])), DhcpErrorCode.OPTION_OVERRUN],
    ["subnet mask of 3 bytes", () => malformedIn(payloadWith([1, 3, 255, 255, 255, 255])), DhcpErrorCode.BAD_OPTION_LENGTH],
    ["router list of 5 bytes", () => malformedIn(payloadWith([3, 5, 10, 0, 0, 1, 2, 255])), DhcpErrorCode.BAD_OPTION_LENGTH],
    ["rapid commit with a value", () => malformedIn(payloadWith([80, 1, 0, 255])), DhcpErrorCode.BAD_OPTION_LENGTH],
    ["message type twice (concatenated to 2 bytes, RFC 3396)", () => decodeDhcpMessage(payloadWith([53, 1, 1, 53, 1, 3, 255])), DhcpErrorCode.BAD_OPTION_LENGTH],
    ["client FQDN of 2 bytes", () => malformedIn(payloadWith([81, 2, 0, 0, 255])), DhcpErrorCode.BAD_OPTION_LENGTH],
    ["overload value 4", () => decodeDhcpMessage(payloadWith([52, 1, 4, 255])), DhcpErrorCode.BAD_OVERLOAD],
    ["option 119 pointer forward", () => malformedIn(payloadWith([119, 4, 0xc0, 2, 1, 0x61, 255])), DhcpErrorCode.BAD_DOMAIN_NAME],
    ["option 119 pointer to itself", () => malformedIn(payloadWith([119, 2, 0xc0, 0, 255])), DhcpErrorCode.BAD_DOMAIN_NAME],
    ["option 119 loop through an earlier label", () => malformedIn(payloadWith([119, 4, 1, 0x61, 0xc0, 0, 255])), DhcpErrorCode.BAD_DOMAIN_NAME],
    ["option 119 label type 0x40", () => malformedIn(payloadWith([119, 2, 0x41, 0, 255])), DhcpErrorCode.BAD_DOMAIN_NAME],
    ["option 119 name without its root label", () => malformedIn(payloadWith([119, 2, 1, 0x61, 255])), DhcpErrorCode.BAD_DOMAIN_NAME],
    ["option 81 wire name with a compression pointer", () => malformedIn(payloadWith([81, 5, 4, 0, 0, 0xc0, 0, 255])), DhcpErrorCode.BAD_DOMAIN_NAME],
    ["option 121 width 33", () => malformedIn(payloadWith([121, 9, 33, 10, 0, 0, 0, 10, 0, 0, 1, 255])), DhcpErrorCode.BAD_CLASSLESS_ROUTE],
    ["option 121 route cut short", () => malformedIn(payloadWith([121, 4, 8, 10, 0, 0, 255])), DhcpErrorCode.BAD_CLASSLESS_ROUTE],
    ["encoding an address that is not one", () => encodeDhcpMessage({ ...base(), ciaddr: "10.0.0.256" }), DhcpErrorCode.UNENCODABLE],
    ["encoding a negative xid", () => encodeDhcpMessage({ ...base(), xid: -1 }), DhcpErrorCode.UNENCODABLE],
    ["encoding one code twice", () => encodeDhcpMessage(base([{ kind: "messageType", code: 53, type: 1 }, { kind: "messageType", code: 53, type: 3 }])), DhcpErrorCode.UNENCODABLE],
    ["encoding option 52", () => encodeDhcpMessage(base([{ kind: "overload", code: 52, value: 1 }])), DhcpErrorCode.UNENCODABLE],
    ["encoding a 64-byte sname", () => encodeDhcpMessage({ ...base(), sname: "x".repeat(64) }), DhcpErrorCode.UNENCODABLE],
    ["encoding an MTU of 70000", () => encodeDhcpMessage(base([{ kind: "mtu", code: 26, mtu: 70000 }])), DhcpErrorCode.UNENCODABLE],
    ["encoding a search name with an empty label", () => encodeDhcpMessage(base([{ kind: "domainSearch", code: 119, names: ["a..b"] }])), DhcpErrorCode.UNENCODABLE],
    ["encoding a 64-byte label", () => encodeDhcpMessage(base([{ kind: "domainSearch", code: 119, names: ["x".repeat(64)] }])), DhcpErrorCode.UNENCODABLE],
    ["encoding a route to a /33", () => encodeDhcpMessage(base([{ kind: "classlessRoutes", code: 121, routes: [{ destination: "10.0.0.0/33", router: "10.0.0.1" }] }])), DhcpErrorCode.UNENCODABLE],
    ["encoding a frame with a 5-byte MAC", () => encodeDhcpFrame(base(), { srcMac: MAC.subarray(1), dstMac: BCAST, srcIp: "0.0.0.0", dstIp: "255.255.255.255", srcPort: 68, dstPort: 67 }), DhcpErrorCode.UNENCODABLE],
    ["an IPv4 frame given to the ARP decoder", () => decodeArpFrame(frame()), DhcpErrorCode.NOT_ARP],
    ["ARP for IPv6 addresses", () => decodeArpFrame(Uint8Array.of(...BCAST, ...MAC, 8, 6, 0, 1, 0x86, 0xdd, 6, 16, 0, 1, ...new Uint8Array(60))), DhcpErrorCode.BAD_ARP],
    ["a text file", () => readCapture(new TextEncoder().encode("hello, world\n")), DhcpErrorCode.NOT_A_CAPTURE],
    ["an empty file", () => readCapture(new Uint8Array(0)), DhcpErrorCode.NOT_A_CAPTURE],
    ["a pcap header cut short", () => readCapture(writePcap([]).subarray(0, 20)), DhcpErrorCode.NOT_A_CAPTURE],
    ["a pcap record claiming 1 GiB", () => { const f = writePcap([frame()]); new DataView(f.buffer).setUint32(24 + 8, 2 ** 30, true); return readCapture(f); }, DhcpErrorCode.BAD_CAPTURE],
    ["a pcapng block with mismatched trailing length", () => { const f = writePcapng([frame()]); f[f.length - 4] = 0; return readCapture(f); }, DhcpErrorCode.BAD_CAPTURE],
    ["a pcapng packet for an undefined interface", () => { const f = writePcapng([frame()]); f[28 + 20 + 8] = 5; return readCapture(f); }, DhcpErrorCode.BAD_CAPTURE],
    ["a capture of 802.11 frames", () => decodeCapture(writePcap([frame()], 105)), DhcpErrorCode.UNSUPPORTED_LINK_TYPE],
  ];
  for (const [what, run, expected] of table) {
    it(`${expected}: ${what}`, () => expect(code(run())).toBe(expected));
  }

  it("covers every error code", () => {
    const covered = new Set(table.map(([, , c]) => c));
    const all = Object.values(DhcpErrorCode) as string[];
    expect(all.filter((c) => !covered.has(c))).toEqual([]);
  });

  it("the unmodified inputs of the table decode", () => {
    expect(code(decodeDhcpFrame(frame()))).toBe("ok");
    expect(code(decodeDhcpMessage(payloadWith([53, 1, 1, 255])))).toBe("ok");
    expect(code(readCapture(writePcapng([frame()])))).toBe("ok");
  });
});

describe("decoding what the RFCs describe", () => {
  it("reads options from file and sname when option 52 says so, in RFC 2131 §4.1 order", () => {
    const p = payloadWith([53, 1, 2, 52, 1, 3, 255], (h) => {
      h.set([3, 4, 10, 0, 0, 1, 255], 108); // file: routers
      h.set([15, 3, 0x61, 0x62, 0x63, 255], 44); // sname: domain name
    });
    const m = must(decodeDhcpMessage(p));
    expect(m.options.map((o) => o.code)).toEqual([53, 52, 3, 15]);
    expect(m.options[2]).toEqual({ kind: "routers", code: 3, addresses: ["10.0.0.1"] });
    expect(m.options[3]).toEqual({ kind: "domainName", code: 15, name: "abc" });
    expect([m.file, m.sname]).toEqual(["", ""]);
  });

  it("keeps file and sname as text when they are not overloaded", () => {
    const m = must(decodeDhcpMessage(payloadWith([255], (h) => { h.set([0x62, 0x6f, 0x6f, 0x74], 108); h.set([0x73, 0x72, 0x76], 44); })));
    expect([m.file, m.sname]).toEqual(["boot", "srv"]);
  });

  it("concatenates split instances of an option across options and file (RFC 3396 §7)", () => {
    const p = payloadWith([6, 4, 10, 0, 0, 1, 52, 1, 1, 53, 1, 5, 255], (h) => h.set([6, 4, 10, 0, 0, 2, 255], 108));
    const m = must(decodeDhcpMessage(p));
    expect(m.options[0]).toEqual({ kind: "dnsServers", code: 6, addresses: ["10.0.0.1", "10.0.0.2"] });
  });

  it("splits an option longer than 255 bytes and reads it back whole", () => {
    const names = Array.from({ length: 40 }, (_, i) => `host${i}.zone${i}.example.test`);
    const bytes = must(encodeDhcpMessage(base([{ kind: "domainSearch", code: 119, names }])));
    // two 119 instances on the wire, the first full
    expect(bytes[240]).toBe(119);
    expect(bytes[241]).toBe(255);
    expect(bytes[240 + 2 + 255]).toBe(119);
    expect(must(decodeDhcpMessage(bytes)).options[0]).toEqual({ kind: "domainSearch", code: 119, names });
  });

  it("decodes the RFC 3397 §2 example of compressed search names", () => {
    // "eng.apple.com." and "marketing.apple.com." with the second compressed
    const data = Uint8Array.of(3, ...Buffer.from("eng"), 5, ...Buffer.from("apple"), 3, ...Buffer.from("com"), 0,
      9, ...Buffer.from("marketing"), 0xc0, 4);
    expect(must(decodeDnsNameList(data))).toEqual(["eng.apple.com", "marketing.apple.com"]);
  });

  it("escapes label bytes that would be ambiguous in text", () => {
    expect(must(decodeDnsNameList(Uint8Array.of(3, 0x61, 0x2e, 0x20, 0)))).toEqual(["a\\.\\032"]);
    const m = base([{ kind: "domainSearch", code: 119, names: ["a\\.\\032.b"] }]);
    expect(must(decodeDhcpMessage(must(encodeDhcpMessage(m)))).options).toEqual(m.options);
  });

  it("decodes the RFC 3442 widths: /0, /8, /22, /32, and masks host bits", () => {
    const p = payloadWith([121, 28, 0, 10, 0, 0, 1, 8, 10, 10, 0, 0, 2, 22, 192, 168, 7, 10, 0, 0, 3, 32, 1, 2, 3, 4, 10, 0, 0, 4, 255]);
    const m = must(decodeDhcpMessage(p));
    expect(m.options[0]).toEqual({
      kind: "classlessRoutes",
      code: 121,
      routes: [
        { destination: "0.0.0.0/0", router: "10.0.0.1" },
        { destination: "10.0.0.0/8", router: "10.0.0.2" },
        { destination: "192.168.4.0/22", router: "10.0.0.3" },
        { destination: "1.2.3.4/32", router: "10.0.0.4" },
      ],
    });
  });

  it("reads option 81 in wire form and in the deprecated ASCII form", () => {
    const wire = must(decodeDhcpMessage(payloadWith([81, 10, 4, 0, 0, 1, 0x61, 3, 0x62, 0x63, 0x64, 0, 255])));
    expect(wire.options[0]).toEqual({ kind: "clientFqdn", code: 81, flags: 4, rcode1: 0, rcode2: 0, name: "a.bcd" });
    const ascii = must(decodeDhcpMessage(payloadWith([81, 7, 0, 0xff, 0xff, 0x61, 0x2e, 0x62, 0, 255])));
    expect(ascii.options[0]).toEqual({ kind: "clientFqdn", code: 81, flags: 0, rcode1: 255, rcode2: 255, name: "a.b" });
    const dotted = must(decodeDhcpMessage(payloadWith([81, 7, 0, 0, 0, 0x61, 0x2e, 0x62, 0x2e, 255])));
    expect(dotted.options[0]).toMatchObject({ name: "a.b" });
  });

  it("keeps unknown options with their bytes, and accepts a missing end option", () => {
    const m = must(decodeDhcpMessage(payloadWith([53, 1, 1, 0, 0, 200, 2, 0xab, 0xcd])));
    expect(m.options).toEqual([
      { kind: "messageType", code: 53, type: 1 },
      { kind: "unknown", code: 200, data: Uint8Array.of(0xab, 0xcd) },
    ]);
  });

  it("returns chaddr of hlen bytes, at most 16", () => {
    const m = must(decodeDhcpMessage(payloadWith([255], (h) => { h[2] = 40; h.fill(7, 28, 44); })));
    expect([m.hlen, m.chaddr.length]).toEqual([40, 16]);
  });

  it("strips up to two VLAN tags and ignores Ethernet padding", () => {
    const f = frame();
    const tagged = cat(f.subarray(0, 12), Uint8Array.of(0x88, 0xa8, 0, 10, 0x81, 0, 0, 20), f.subarray(12), new Uint8Array(6));
    expect(code(decodeDhcpFrame(tagged))).toBe("ok");
    const three = cat(f.subarray(0, 12), Uint8Array.of(0x81, 0, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3), f.subarray(12));
    expect(code(decodeDhcpFrame(three))).toBe(DhcpErrorCode.NOT_IPV4);
  });

  it("accepts a zero UDP checksum (none computed, RFC 768)", () => {
    const f = frame();
    f[40] = 0;
    f[41] = 0;
    expect(code(decodeDhcpFrame(f))).toBe("ok");
  });
});

describe("encoding", () => {
  it("pads short messages to 300 bytes and ends the options", () => {
    const b = must(encodeDhcpMessage(base()));
    expect(b.length).toBe(300);
    expect([...b.subarray(236, 244)]).toEqual([99, 130, 83, 99, 53, 1, 1, 255]);
  });

  it("frames a message with valid checksums and the given addressing", () => {
    const f = must(encodeDhcpFrame(everyOptionMessage(), { srcMac: MAC, dstMac: BCAST, srcIp: "10.0.0.2", dstIp: "10.0.0.1", srcPort: 68, dstPort: 67 }));
    const d = must(decodeDhcpFrame(f));
    expect(d.message).toEqual(everyOptionMessage());
    expect(d.info).toEqual({ srcMac: MAC, dstMac: BCAST, srcIp: "10.0.0.2", dstIp: "10.0.0.1", srcPort: 68, dstPort: 67 });
  });
});

describe("capture formats", () => {
  const frames = [frame(), frame()];

  it("reads big-endian pcap with nanosecond timestamps", () => {
    const le = writePcap(frames);
    const be = new Uint8Array(le.length);
    const src = new DataView(le.buffer);
    const dst = new DataView(be.buffer);
    dst.setUint32(0, 0xa1b23c4d, false);
    for (const [at, w] of [[4, 2], [6, 2], [8, 4], [12, 4], [16, 4], [20, 4]] as const) {
      if (w === 2) dst.setUint16(at, src.getUint16(at, true), false);
      else dst.setUint32(at, src.getUint32(at, true), false);
    }
    let pos = 24;
    while (pos < le.length) {
      for (let i = 0; i < 16; i += 4) dst.setUint32(pos + i, src.getUint32(pos + i, true), false);
      dst.setUint32(pos + 4, 500_000_000, false);
      const n = src.getUint32(pos + 8, true);
      be.set(le.subarray(pos + 16, pos + 16 + n), pos + 16);
      pos += 16 + n;
    }
    const c = must(readCapture(be));
    expect(c.packets.map((p) => p.data)).toEqual(frames);
    expect(c.packets[0]?.timestamp).toBe(1_700_000_000.5);
  });

  it("reads pcapng in both byte orders, skipping unknown blocks", () => {
    for (const little of [true, false]) {
      const unknown = pcapngBlock(0x0bad, Uint8Array.of(1, 2, 3), little);
      const c = must(readCapture(writePcapng(frames, little, [unknown])));
      expect(c.format).toBe("pcapng");
      expect(c.packets.map((p) => p.data)).toEqual(frames);
      expect(c.packets[1]?.timestamp).toBe(2);
    }
  });

  it("reads a pcapng simple packet block", () => {
    const f = frame();
    const full = writePcapng([]);
    const spbBody = cat(Uint8Array.of(f.length & 0xff, f.length >> 8, 0, 0), f);
    const c = must(readCapture(cat(full, pcapngBlock(3, spbBody))));
    expect(c.packets.map((p) => p.data)).toEqual([f]);
  });

  it("returns the packets before a cut, with the cut reported", () => {
    const whole = writePcap(frames);
    const c = must(readCapture(whole.subarray(0, whole.length - 10)));
    expect(c.packets.length).toBe(1);
    expect(c.truncated?.code).toBe(DhcpErrorCode.TRUNCATED);
  });

  it("decodes Linux cooked captures (SLL and SLL2)", () => {
    const ip = frame().subarray(14);
    const sll = cat(Uint8Array.of(0, 4, 0, 1, 0, 6, ...MAC, 0, 0, 0x08, 0), ip);
    const sll2 = cat(Uint8Array.of(0x08, 0, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, ...MAC, 0, 0), ip);
    for (const [bytes, lt] of [[sll, 113], [sll2, 276]] as const) {
      const d = must(decodeCapture(writePcap([bytes], lt)));
      expect(d.lines).toHaveLength(1);
      expect(d.lines[0]).toMatchObject({ op: 1, xid: 0x1234, messageType: 1 });
    }
  });

  it("prints lines only for UDP 67/68 packets, and errors for broken ones among them", () => {
    const f = frame();
    const dns = frame();
    dns[35] = 53;
    dns[37] = 53;
    const cut = frame();
    cut[250] = 0; // inside chaddr/sname: still DHCP
    const badCookie = frame();
    badCookie[14 + 28 + 236] = 0;
    const d = must(decodeCapture(writePcap([f, dns, badCookie, f.subarray(0, 100)])));
    expect(d.lines.map((l) => ("error" in l ? l.error : "ok"))).toEqual(["ok", DhcpErrorCode.BAD_COOKIE, DhcpErrorCode.TRUNCATED]);
  });
});
