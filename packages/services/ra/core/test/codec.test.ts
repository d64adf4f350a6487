/**
 * The ND codec rule by rule: the RA header and each option, the option framing errors that
 * invalidate a message, the RFC 4861 §6.1 packet checks, and the Router Solicitation frame the
 * client sends, byte by byte.
 */

import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ALL_ROUTERS,
  MAX_ND_PACKET_BYTES,
  RaErrorCode,
  decodeNdMessage,
  decodeNdPacket,
  decodeRouterAdvertisement,
  decodeRouterSolicitation,
  encodeNdMessage,
  encodeIcmpv6Frame,
  encodeNdOption,
  encodeRouterSolicitationFrame,
  formatIpv6,
  ipv6Bytes,
  parseIpv6Address,
  type NdOption,
  type RaResult,
} from "../src/index.ts";
import { HOST_LL, HOST_MAC, ROUTER, bytesOf, checksum, frameAround, frameOf, icmpOf, richRa } from "./fixtures.ts";

/** The error code of a failed result (or "ok"). */
const codeOf = (r: RaResult<unknown>) => (r.ok ? "ok" : r.error.code);

/** An RA header (16 bytes) followed by raw option bytes. */
function raWith(...optionBytes: number[][]): Uint8Array {
  const header = icmpOf(richRa({ options: [] }));
  return Uint8Array.from([...header, ...optionBytes.flat()]);
}

/** Decodes an RA holding raw option bytes and returns its one option. */
function oneOption(bytes: number[]): NdOption {
  const r = decodeRouterAdvertisement(raWith(bytes));
  if (!r.ok) throw new Error(r.error.detail);
  expect(r.value.options).toHaveLength(1);
  return r.value.options[0]!;
}

describe("IPv6 text", () => {
  it.each([
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["FE80::A", "fe80::a"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
  ])("%s is %s in RFC 5952 form", (text, canonical) => {
    expect(parseIpv6Address(text)).toEqual({ ok: true, value: canonical });
  });

  it.each(["", ":", ":::", "1:", ":1", "1::2:", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "1::2::3", "12345::", "g::1", "::1.2.3.4", " ::1", "fe80::1%eth0"])("%j is refused", (text) => {
    expect(codeOf(parseIpv6Address(text))).toBe(RaErrorCode.BAD_ADDRESS);
  });
});

describe("IPv6 text against the WHATWG URL parser (an independent RFC 5952 serializer)", () => {
  test.prop([fc.ipV6()], { numRuns: 3000 })("parse and format agree with new URL()", (text) => {
    const bytes = ipv6Bytes(text);
    // Dotted IPv4 tails are refused on purpose: ND never carries them as text.
    if (text.includes(".")) expect(bytes).toBeNull();
    else expect(bytes && formatIpv6(bytes)).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
  });
});

describe("Router Advertisement header", () => {
  it("decodes cur hop limit, M, O, H, P, lifetimes and timers", () => {
    const icmp = icmpOf(richRa({ options: [] }));
    icmp[4] = 13;
    icmp[5] = 0x80 | 0x20 | 0x18 | 0x04; // M, H, preference 11 (low), P
    const r = decodeRouterAdvertisement(icmp);
    expect(r).toMatchObject({ ok: true, value: { curHopLimit: 13, managed: true, other: false, homeAgent: true, preference: "low", proxy: true, routerLifetime: 1800, reachableTime: 30_000, retransTimer: 1_000 } });
  });

  it.each([
    [0b00, "medium"],
    [0b01, "high"],
    [0b11, "low"],
    [0b10, "medium"], // RFC 4191 §2.2: the reserved value is read as medium
  ])("router preference bits %i read as %s", (bits, preference) => {
    const icmp = icmpOf(richRa({ options: [] }));
    icmp[5] = bits << 3;
    expect(decodeRouterAdvertisement(icmp)).toMatchObject({ ok: true, value: { preference } });
  });

  it("refuses fewer than 16 bytes, another type and a non-zero code", () => {
    expect(codeOf(decodeNdMessage(icmpOf(richRa({ options: [] })).subarray(0, 15)))).toBe(RaErrorCode.TRUNCATED);
    expect(codeOf(decodeNdMessage(Uint8Array.of(134, 0, 0)))).toBe(RaErrorCode.TRUNCATED);
    expect(codeOf(decodeNdMessage(Uint8Array.of(135, 0, 0, 0, 0, 0, 0, 0)))).toBe(RaErrorCode.WRONG_TYPE);
    const coded = icmpOf(richRa({ options: [] }));
    coded[1] = 1;
    expect(codeOf(decodeNdMessage(coded))).toBe(RaErrorCode.BAD_CODE);
    expect(codeOf(decodeRouterAdvertisement(icmpOf({ kind: "rs", options: [] })))).toBe(RaErrorCode.WRONG_TYPE);
    expect(codeOf(decodeRouterSolicitation(icmpOf(richRa())))).toBe(RaErrorCode.WRONG_TYPE);
  });

  it("round-trips the advertisement with every option kind", () => {
    const ra = richRa();
    expect(decodeNdMessage(icmpOf(ra))).toEqual({ ok: true, value: ra });
  });
});

describe("option framing", () => {
  it("a zero-length option invalidates the message (RFC 4861 §6.1.2)", () => {
    expect(codeOf(decodeNdMessage(raWith([1, 1, 2, 0, 0, 0, 0, 1], [3, 0, 0, 0, 0, 0, 0, 0])))).toBe(RaErrorCode.ZERO_LENGTH_OPTION);
  });

  it("an option running past the end invalidates the message", () => {
    expect(codeOf(decodeNdMessage(raWith([5, 2, 0, 0, 0, 0, 5, 0])))).toBe(RaErrorCode.OPTION_PAST_END);
    expect(codeOf(decodeNdMessage(raWith([5])))).toBe(RaErrorCode.OPTION_PAST_END);
  });

  it("1000 options are all decoded, in order", () => {
    const options = Array.from({ length: 1000 }, (_, i) => [200, 1, i >> 8, i & 0xff, 0, 0, 0, 0]);
    const r = decodeRouterAdvertisement(raWith(...options));
    if (!r.ok) throw new Error(r.error.detail);
    expect(r.value.options).toHaveLength(1000);
    expect(r.value.options[999]).toEqual({ kind: "unknown", type: 200, bytes: Uint8Array.of(999 >> 8, 999 & 0xff, 0, 0, 0, 0) });
  });

  it("an unknown option is kept as type and bytes, and re-encodes as sent", () => {
    const option = oneOption([77, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(option).toEqual({ kind: "unknown", type: 77, bytes: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14) });
    expect(encodeNdOption(option)).toEqual({ ok: true, value: Uint8Array.of(77, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14) });
  });
});

/** The bytes of a prefix after an option's fixed part. */
const prefixBytes = (text: string, count = 16) => [...bytesOf(text).subarray(0, count)];

describe("options", () => {
  it("source link-layer address (1)", () => {
    expect(oneOption([1, 1, 0xc2, 0, 0x54, 0xf5, 0, 0])).toEqual({ kind: "sourceLinkLayer", address: Uint8Array.of(0xc2, 0, 0x54, 0xf5, 0, 0) });
  });

  it("MTU (5); a wrong length is malformed, not fatal", () => {
    expect(oneOption([5, 1, 0, 0, 0, 0, 0x05, 0xdc])).toEqual({ kind: "mtu", mtu: 1500 });
    expect(oneOption([5, 2, 0, 0, 0, 0, 0x05, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0])).toMatchObject({ kind: "malformed", type: 5, error: { code: RaErrorCode.BAD_OPTION } });
  });

  it("Prefix Information (3): prefix length, L, A, R, lifetimes, prefix", () => {
    const bytes = [3, 4, 64, 0xe0, 0, 0x27, 0x8d, 0, 0, 0, 0x0e, 0x10, 0, 0, 0, 0, ...prefixBytes("2001:db8:0:1::")];
    expect(oneOption(bytes)).toEqual({ kind: "prefix", prefixLength: 64, onLink: true, autonomous: true, routerAddress: true, validLifetime: 2_592_000, preferredLifetime: 3600, prefix: "2001:db8:0:1::" });
    expect(oneOption([3, 4, 129, ...bytes.slice(3)])).toMatchObject({ kind: "malformed", type: 3 });
    expect(oneOption([3, 3, ...bytes.slice(2, 24)])).toMatchObject({ kind: "malformed", type: 3 });
  });

  it("Route Information (24): the lengths RFC 4191 §2.3 allows for each prefix length", () => {
    const rio = (units: number, prefixLength: number, flags = 0x08) => {
      const body = [24, units, prefixLength, flags, 0, 0, 0x0e, 0x10, ...prefixBytes("2001:db8:aaaa:bbbb:cccc::1")];
      return oneOption(body.slice(0, units * 8));
    };
    expect(rio(1, 0)).toEqual({ kind: "route", prefixLength: 0, preference: "high", lifetime: 3600, prefix: "::" });
    expect(rio(2, 0)).toMatchObject({ kind: "route", prefixLength: 0, prefix: "::" });
    expect(rio(2, 48)).toEqual({ kind: "route", prefixLength: 48, preference: "high", lifetime: 3600, prefix: "2001:db8:aaaa::" });
    expect(rio(2, 64)).toMatchObject({ prefix: "2001:db8:aaaa:bbbb::" });
    expect(rio(3, 64)).toMatchObject({ prefix: "2001:db8:aaaa:bbbb::" });
    expect(rio(3, 80)).toMatchObject({ prefix: "2001:db8:aaaa:bbbb:cccc::" });
    expect(rio(3, 128)).toMatchObject({ prefix: "2001:db8:aaaa:bbbb:cccc::1" });
    expect(rio(1, 1)).toMatchObject({ kind: "malformed", type: 24 });
    expect(rio(2, 65)).toMatchObject({ kind: "malformed", type: 24 });
    expect(rio(3, 129)).toMatchObject({ kind: "malformed", type: 24 });
    expect(oneOption([24, 4, 0, 0, 0, 0, 0, 1, ...new Array<number>(24).fill(0)])).toMatchObject({ kind: "malformed", type: 24 });
    expect(rio(2, 48, 0x10)).toMatchObject({ kind: "route", preference: "reserved" });
    expect(rio(2, 48, 0x18)).toMatchObject({ kind: "route", preference: "low" });
  });

  it("RDNSS (25): one or more servers; an even length is malformed", () => {
    const one = [25, 3, 0, 0, 0, 0, 0x0e, 0x10, ...prefixBytes("2001:db8::53")];
    expect(oneOption(one)).toEqual({ kind: "rdnss", lifetime: 3600, servers: ["2001:db8::53"] });
    expect(oneOption([25, 5, ...one.slice(2), ...prefixBytes("fe80::1")])).toEqual({ kind: "rdnss", lifetime: 3600, servers: ["2001:db8::53", "fe80::1"] });
    expect(oneOption([25, 2, 0, 0, 0, 0, 0x0e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0])).toMatchObject({ kind: "malformed", type: 25 });
    expect(oneOption([25, 1, 0, 0, 0, 0, 0x0e, 0x10])).toMatchObject({ kind: "malformed", type: 25 });
  });

  /** A DNSSL option around the given name bytes, padded. */
  const dnssl = (names: number[]) => {
    const body = [31, 0, 0, 0, 0, 0, 0x0e, 0x10, ...names];
    while (body.length % 8 !== 0) body.push(0);
    body[1] = body.length / 8;
    return body;
  };
  const wire = (...labels: string[]) => [...labels.flatMap((l) => [l.length, ...[...l].map((c) => c.charCodeAt(0))]), 0];

  it("DNSSL (31): names in wire form, zero padding", () => {
    expect(oneOption(dnssl([...wire("example", "com"), ...wire("lab", "example", "org")]))).toEqual({ kind: "dnssl", lifetime: 3600, names: ["example.com", "lab.example.org"] });
  });

  it.each([
    ["a compression pointer", [...wire("example", "com"), 3, 0x6c, 0x61, 0x62, 0xc0, 0x00]],
    ["an extended label type", [0x41, ...new Array<number>(10).fill(0x61), 0]],
    ["a label past the end of the option", [60, 0x61]],
    ["a name without its root label", [3, 0x61, 0x62, 0x63, 3, 0x61, 0x62, 0x63]],
    ["a space in a label", [...wire("exa mple", "com")]],
    ["a newline in a label", [...wire("x\nnameserver 1", "com")]],
    ["a dot in a label", [...wire("a.b", "com")]],
    ["no name at all", []],
    ["bytes after the padding began", [...wire("example", "com"), 0, 1]],
  ])("DNSSL with %s is malformed", (_what, names) => {
    expect(oneOption(dnssl(names))).toMatchObject({ kind: "malformed", type: 31, error: { code: RaErrorCode.BAD_OPTION } });
  });

  it("DNSSL: a name longer than 255 bytes is malformed", () => {
    const long = wire(...new Array<string>(5).fill("a".repeat(63)));
    expect(oneOption(dnssl(long))).toMatchObject({ kind: "malformed", type: 31 });
    expect(oneOption(dnssl(wire(...new Array<string>(3).fill("a".repeat(63)), "a".repeat(61))))).toMatchObject({ kind: "dnssl" });
  });

  it("PREF64 (38): scaled lifetime × 8 and each Prefix Length Code", () => {
    const pref64 = (scaled: number, plc: number) => oneOption([38, 2, ((scaled << 3) | plc) >> 8, ((scaled << 3) | plc) & 0xff, ...prefixBytes("64:ff9b:1:2:3:4:5:6", 12)]);
    expect(pref64(225, 0)).toEqual({ kind: "pref64", lifetime: 1800, prefixLength: 96, prefix: "64:ff9b:1:2:3:4::" });
    expect([1, 2, 3, 4, 5].map((plc) => (pref64(1, plc) as { prefixLength: number }).prefixLength)).toEqual([64, 56, 48, 40, 32]);
    expect(pref64(1, 5)).toMatchObject({ prefix: "64:ff9b::" });
    expect(pref64(8191, 0)).toMatchObject({ lifetime: 65_528 });
    expect(pref64(1, 6)).toMatchObject({ kind: "malformed", type: 38 });
    expect(oneOption([38, 3, ...new Array<number>(22).fill(0)])).toMatchObject({ kind: "malformed", type: 38 });
  });
});

describe("option encoder", () => {
  it.each<[string, NdOption]>([
    ["a link-layer address that is not 8n-2 bytes", { kind: "sourceLinkLayer", address: new Uint8Array(4) }],
    ["a prefix length above 128", { kind: "prefix", prefixLength: 129, onLink: true, autonomous: true, routerAddress: false, validLifetime: 1, preferredLifetime: 1, prefix: formatIpv6(new Uint8Array(16)) }],
    ["a lifetime above 32 bits", { kind: "route", prefixLength: 0, preference: "medium", lifetime: 2 ** 32, prefix: formatIpv6(new Uint8Array(16)) }],
    ["no DNS server", { kind: "rdnss", lifetime: 1, servers: [] }],
    ["a search name with a space", { kind: "dnssl", lifetime: 1, names: ["a b"] }],
    ["an empty label", { kind: "dnssl", lifetime: 1, names: ["a..b"] }],
    ["a PREF64 length not in the table", { kind: "pref64", lifetime: 8, prefixLength: 60, prefix: formatIpv6(new Uint8Array(16)) }],
    ["a PREF64 lifetime not a multiple of 8", { kind: "pref64", lifetime: 9, prefixLength: 96, prefix: formatIpv6(new Uint8Array(16)) }],
    ["an unknown option of 7 bytes", { kind: "unknown", type: 99, bytes: new Uint8Array(5) }],
  ])("refuses %s", (_what, option) => {
    expect(codeOf(encodeNdOption(option))).toBe(RaErrorCode.UNENCODABLE);
  });

  it("refuses header fields out of range", () => {
    expect(codeOf(encodeNdMessage(richRa({ routerLifetime: 65_536 })))).toBe(RaErrorCode.UNENCODABLE);
    expect(codeOf(encodeNdMessage(richRa({ curHopLimit: 256 })))).toBe(RaErrorCode.UNENCODABLE);
  });
});

describe("packet checks (RFC 4861 §6.1)", () => {
  it("accepts a well-formed advertisement and reports its addressing", () => {
    const r = decodeNdPacket(frameOf(richRa()), "ethernet");
    expect(r).toMatchObject({ ok: true, value: { source: ROUTER, destination: "ff02::1", hopLimit: 255, message: richRa() } });
  });

  it("accepts a bare IPv6 packet, and ignores Ethernet padding after the payload", () => {
    const frame = frameOf(richRa());
    expect(decodeNdPacket(frame.subarray(14), "ipv6")).toMatchObject({ ok: true, value: { sourceMac: undefined } });
    expect(decodeNdPacket(Uint8Array.from([...frame, 0, 0, 0, 0]), "ethernet").ok).toBe(true);
  });

  it("refuses a source that is not link-local", () => {
    expect(codeOf(decodeNdPacket(frameOf(richRa(), { source: "2001:db8::1" }), "ethernet"))).toBe(RaErrorCode.NOT_LINK_LOCAL);
    expect(codeOf(decodeNdPacket(frameOf(richRa(), { source: "::" }), "ethernet"))).toBe(RaErrorCode.NOT_LINK_LOCAL);
    expect(codeOf(decodeNdPacket(frameOf(richRa(), { source: "fec0::1" }), "ethernet"))).toBe(RaErrorCode.NOT_LINK_LOCAL);
    expect(codeOf(decodeNdPacket(frameOf(richRa(), { source: "febf::1" }), "ethernet"))).toBe("ok");
  });

  it.each([0, 1, 64, 254])("refuses hop limit %i", (hopLimit) => {
    expect(codeOf(decodeNdPacket(frameOf(richRa(), { hopLimit }), "ethernet"))).toBe(RaErrorCode.BAD_HOP_LIMIT);
  });

  it("refuses a bad checksum and a non-zero code", () => {
    const frame = frameOf(richRa());
    frame[57]! ^= 1;
    expect(codeOf(decodeNdPacket(frame, "ethernet"))).toBe(RaErrorCode.BAD_CHECKSUM);
    const icmp = icmpOf(richRa());
    icmp[1] = 7;
    expect(codeOf(decodeNdPacket(frameAround(icmp), "ethernet"))).toBe(RaErrorCode.BAD_CODE);
  });

  it("refuses a zero-length or overlong option inside a correctly checksummed packet", () => {
    expect(codeOf(decodeNdPacket(frameAround(raWith([25, 0, 0, 0, 0, 0, 0, 0])), "ethernet"))).toBe(RaErrorCode.ZERO_LENGTH_OPTION);
    expect(codeOf(decodeNdPacket(frameAround(raWith([25, 255, 0, 0, 0, 0, 0, 0])), "ethernet"))).toBe(RaErrorCode.OPTION_PAST_END);
  });

  it("refuses what is not ICMPv6 in IPv6, a payload length past the end, and a truncated header", () => {
    const frame = frameOf(richRa());
    const ipv4 = frame.slice();
    ipv4[12] = 0x08;
    ipv4[13] = 0x00;
    expect(codeOf(decodeNdPacket(ipv4, "ethernet"))).toBe(RaErrorCode.NOT_ICMPV6);
    const version = frame.slice();
    version[14] = 0x40;
    expect(codeOf(decodeNdPacket(version, "ethernet"))).toBe(RaErrorCode.NOT_ICMPV6);
    const hopByHop = frame.slice();
    hopByHop[20] = 0;
    expect(codeOf(decodeNdPacket(hopByHop, "ethernet"))).toBe(RaErrorCode.NOT_ICMPV6);
    const long = frame.slice();
    long[19]! += 8;
    expect(codeOf(decodeNdPacket(long, "ethernet"))).toBe(RaErrorCode.TRUNCATED);
    expect(codeOf(decodeNdPacket(frame.subarray(0, 50), "ethernet"))).toBe(RaErrorCode.TRUNCATED);
    expect(codeOf(decodeNdPacket(frame.subarray(0, 10), "ethernet"))).toBe(RaErrorCode.TRUNCATED);
    expect(codeOf(decodeNdPacket(new Uint8Array(MAX_ND_PACKET_BYTES + 15), "ethernet"))).toBe(RaErrorCode.TOO_LONG);
    expect(codeOf(decodeNdPacket(new Uint8Array(MAX_ND_PACKET_BYTES + 1), "ipv6"))).toBe(RaErrorCode.TOO_LONG);
  });

  it("encodeIcmpv6Frame frames any ICMPv6 bytes (what a hostile router sends) but not an impossible packet", () => {
    const to = { sourceMac: HOST_MAC, destinationMac: HOST_MAC, source: ROUTER, destination: "ff02::1" };
    expect(codeOf(encodeIcmpv6Frame(new Uint8Array(3), to))).toBe(RaErrorCode.UNENCODABLE);
    expect(codeOf(encodeIcmpv6Frame(new Uint8Array(8), { ...to, source: "fe80::1::" }))).toBe(RaErrorCode.UNENCODABLE);
    expect(codeOf(encodeIcmpv6Frame(new Uint8Array(8), { ...to, sourceMac: new Uint8Array(7) }))).toBe(RaErrorCode.UNENCODABLE);
    expect(codeOf(encodeIcmpv6Frame(new Uint8Array(8), { ...to, hopLimit: 256 }))).toBe(RaErrorCode.UNENCODABLE);
    const icmp = raWith([25, 0, 0, 0, 0, 0, 0, 0]);
    const frame = encodeIcmpv6Frame(icmp, to);
    expect(frame.ok && [...frame.value.subarray(58)]).toEqual([...icmp.subarray(4)]);
  });

  it("refuses a solicitation from :: that carries a link-layer address (§6.1.1)", () => {
    const rs = frameOf({ kind: "rs", options: [{ kind: "sourceLinkLayer", address: HOST_MAC }] }, { source: "::", destination: ALL_ROUTERS });
    expect(codeOf(decodeNdPacket(rs, "ethernet"))).toBe(RaErrorCode.BAD_SOURCE);
  });
});

describe("Router Solicitation frame", () => {
  it("is Ethernet to 33:33:00:00:00:02, IPv6 from the link-local address to ff02::2, hop limit 255, with the MAC as option", () => {
    const r = encodeRouterSolicitationFrame(HOST_MAC, HOST_LL);
    if (!r.ok) throw new Error(r.error.detail);
    const f = r.value;
    expect(f.length).toBe(14 + 40 + 16);
    expect([...f.subarray(0, 14)]).toEqual([0x33, 0x33, 0, 0, 0, 2, ...HOST_MAC, 0x86, 0xdd]);
    expect([...f.subarray(14, 22)]).toEqual([0x60, 0, 0, 0, 0, 16, 58, 255]);
    expect(f.subarray(22, 38)).toEqual(bytesOf(HOST_LL));
    expect(f.subarray(38, 54)).toEqual(bytesOf("ff02::2"));
    expect([...f.subarray(54, 56)]).toEqual([133, 0]);
    expect([...f.subarray(58, 70)]).toEqual([0, 0, 0, 0, 1, 1, ...HOST_MAC]);
    const icmp = f.slice(54);
    const sent = (icmp[2]! << 8) | icmp[3]!;
    icmp[2] = icmp[3] = 0;
    expect(sent).toBe(checksum(f.subarray(22, 38), f.subarray(38, 54), icmp));
    expect(decodeNdPacket(f, "ethernet")).toMatchObject({ ok: true, value: { message: { kind: "rs" } } });
  });

  it("before the host has a link-local address, comes from :: without the option (RFC 4861 §4.1)", () => {
    const r = encodeRouterSolicitationFrame(HOST_MAC, undefined);
    if (!r.ok) throw new Error(r.error.detail);
    expect(r.value.length).toBe(14 + 40 + 8);
    expect(r.value.subarray(22, 38)).toEqual(new Uint8Array(16));
    expect(decodeNdPacket(r.value, "ethernet")).toMatchObject({ ok: true, value: { source: "::", message: { kind: "rs", options: [] } } });
  });

  it("refuses a MAC that is not 6 bytes and a source that is not link-local", () => {
    expect(codeOf(encodeRouterSolicitationFrame(new Uint8Array(5), HOST_LL))).toBe(RaErrorCode.BAD_ADDRESS);
    expect(codeOf(encodeRouterSolicitationFrame(HOST_MAC, "2001:db8::1"))).toBe(RaErrorCode.BAD_ADDRESS);
    expect(codeOf(encodeRouterSolicitationFrame(HOST_MAC, "nonsense"))).toBe(RaErrorCode.BAD_ADDRESS);
  });
});
