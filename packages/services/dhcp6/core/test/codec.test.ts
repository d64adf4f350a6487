/**
 * The DHCPv6 codec, one rule per test: each option's wire form, each bound with its code, and the
 * hostile inputs of issue 11 (PD_EXCLUDE overflowing, nested IA options of bogus lengths,
 * 10 000 addresses, DUID over-reads, compressed names).
 */

import { describe, expect, it } from "vitest";
import {
  Dhcp6ErrorCode,
  MAX_DNS_SERVERS,
  MAX_DOMAINS,
  MAX_IAS_PER_MESSAGE,
  MAX_LEASES_PER_IA,
  MAX_OPTIONS_PER_MESSAGE,
  decodeDhcp6Message,
  decodeDuid,
  duidFromUuid,
  encodeDuid,
  duidTimeFromUnixMs,
  encodeDhcp6Message,
  encodeDomainName,
  excludedPrefix,
  ipv6At,
  parseIpv6,
  type Dhcp6Option,
} from "../src/index.ts";
import { encoded, IAID } from "./fixtures.ts";

const u16 = (n: number) => [n >> 8, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** One option's wire bytes. */
const opt = (code: number, data: number[]) => [...u16(code), ...u16(data.length), ...data];
/** A REPLY (type 7, transaction id 0x123456) holding `options`. */
const reply = (...options: number[][]) => Uint8Array.from([7, 0x12, 0x34, 0x56, ...options.flat()]);
const addr = (text: string) => [...parseIpv6(text)!];

function decodeError(bytes: Uint8Array) {
  const d = decodeDhcp6Message(bytes);
  if (d.ok) throw new Error("decoded");
  return d.error;
}

function decodeOk(bytes: Uint8Array) {
  const d = decodeDhcp6Message(bytes);
  if (!d.ok) throw new Error(d.error.detail);
  return d.value;
}

describe("message header", () => {
  it("reads the type and the 24-bit transaction id", () => {
    expect(decodeOk(Uint8Array.of(2, 0xab, 0xcd, 0xef))).toEqual({ type: 2, transactionId: 0xabcdef, options: [] });
  });

  it.each([
    [[], Dhcp6ErrorCode.TRUNCATED],
    [[7, 1, 2], Dhcp6ErrorCode.TRUNCATED],
    [[0, 1, 2, 3], Dhcp6ErrorCode.BAD_MESSAGE_TYPE],
    [[12, 1, 2, 3], Dhcp6ErrorCode.BAD_MESSAGE_TYPE],
    [[13, 1, 2, 3], Dhcp6ErrorCode.BAD_MESSAGE_TYPE],
    [[255, 1, 2, 3], Dhcp6ErrorCode.BAD_MESSAGE_TYPE],
  ])("%j is refused with %s", (bytes, code) => {
    expect(decodeError(Uint8Array.from(bytes)).code).toBe(code);
  });

  it("refuses more than a UDP datagram can hold", () => {
    expect(decodeError(new Uint8Array(70_000).fill(7, 0, 1)).code).toBe(Dhcp6ErrorCode.TOO_LONG);
  });

  it("refuses an option header cut short and a length running past the end", () => {
    expect(decodeError(reply([0, 1, 0])).code).toBe(Dhcp6ErrorCode.TRUNCATED);
    expect(decodeError(reply([0, 23, 0, 32, ...addr("2001:db8::1")])).code).toBe(Dhcp6ErrorCode.OPTION_OVERRUN);
  });
});

describe("options", () => {
  it("decodes every typed option of a REPLY", () => {
    const m = decodeOk(
      reply(
        opt(1, [0, 3, 0, 1, 1, 2, 3, 4, 5, 6]),
        opt(2, [0, 1, 0, 1, ...u32(0x2edd0000), 9, 8, 7, 6, 5, 4]),
        opt(3, [...u32(IAID), ...u32(100), ...u32(200), ...opt(5, [...addr("2001:db8::5"), ...u32(300), ...u32(400)])]),
        opt(7, [42]),
        opt(13, [0, 0, ...[..."ok"].map((c) => c.charCodeAt(0))]),
        opt(14, []),
        opt(23, [...addr("2001:db8::53"), ...addr("2001:db8::54")]),
        opt(24, [7, ..."example".split("").map((c) => c.charCodeAt(0)), 3, 99, 111, 109, 0, 0]),
        opt(32, u32(7200)),
        opt(82, u32(600)),
        opt(83, u32(700)),
        opt(20, []),
        opt(19, [5]),
        opt(11, [3, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xaa, 0xbb]),
        opt(6, [0, 23, 0, 24]),
        opt(8, [0x12, 0x34]),
        opt(999, [1, 2, 3]),
      ),
    );
    expect(m.options).toEqual([
      { kind: "clientId", duid: { type: "ll", hardwareType: 1, linkLayer: Uint8Array.of(1, 2, 3, 4, 5, 6) } },
      { kind: "serverId", duid: { type: "llt", hardwareType: 1, time: 0x2edd0000, linkLayer: Uint8Array.of(9, 8, 7, 6, 5, 4) } },
      { kind: "iaNa", iaid: IAID, t1: 100, t2: 200, options: [{ kind: "iaAddr", address: "2001:db8::5", preferred: 300, valid: 400, options: [] }] },
      { kind: "preference", value: 42 },
      { kind: "statusCode", status: 0, message: "ok" },
      { kind: "rapidCommit" },
      { kind: "dnsServers", servers: ["2001:db8::53", "2001:db8::54"] },
      { kind: "domainList", domains: ["example.com", "."] },
      { kind: "informationRefreshTime", seconds: 7200 },
      { kind: "solMaxRt", seconds: 600 },
      { kind: "infMaxRt", seconds: 700 },
      { kind: "reconfAccept" },
      { kind: "reconfMsg", messageType: 5 },
      { kind: "auth", protocol: 3, algorithm: 1, rdm: 0, replayDetection: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), info: Uint8Array.of(0xaa, 0xbb) },
      { kind: "oro", codes: [23, 24] },
      { kind: "elapsedTime", hundredths: 0x1234 },
      { kind: "unknown", code: 999, data: Uint8Array.of(1, 2, 3) },
    ]);
  });

  it.each([
    [7, [], "PREFERENCE"],
    [8, [1], "ELAPSED_TIME"],
    [14, [0], "RAPID_COMMIT"],
    [20, [0], "RECONF_ACCEPT"],
    [19, [], "RECONF_MSG"],
    [6, [0], "ORO"],
    [13, [0], "STATUS_CODE"],
    [23, [1, 2, 3], "DNS_SERVERS"],
    [82, [0, 0, 1], "SOL_MAX_RT"],
    [83, [0], "INF_MAX_RT"],
    [32, [], "INFORMATION_REFRESH_TIME"],
    [11, [1, 2, 3], "AUTH"],
    [3, [1, 2, 3], "IA_NA"],
    [25, [1], "IA_PD"],
  ])("option %i of a wrong length (%j) is refused naming %s", (code, data, name) => {
    const e = decodeError(reply(opt(code, data)));
    expect(e.code).toBe(Dhcp6ErrorCode.BAD_OPTION_LENGTH);
    expect(e.detail).toContain(name);
  });

  it("keeps an unknown DUID type byte for byte; refuses DUIDs shorter than their type needs or over 130 bytes", () => {
    expect(decodeDuid(Uint8Array.of(0, 9, 1, 2))).toEqual({ ok: true, value: { type: "unknown", duidType: 9, data: Uint8Array.of(1, 2) } });
    // Type 0 is reserved: kept as unknown, and re-encoded (a property test found the encoder refusing it).
    const zero = decodeDuid(Uint8Array.of(0, 0, 7));
    expect(zero).toEqual({ ok: true, value: { type: "unknown", duidType: 0, data: Uint8Array.of(7) } });
    expect(zero.ok && encodeDuid(zero.value)).toEqual({ ok: true, value: Uint8Array.of(0, 0, 7) });
    for (const bad of [[0, 1, 0, 1, 0, 0, 0], [0, 2, 0, 0, 0], [0, 3, 0], [0, 4, ...new Array(15).fill(0)], [0, 3], new Array(131).fill(3)]) {
      expect(decodeDuid(Uint8Array.from(bad)).ok, JSON.stringify(bad)).toBe(false);
    }
    expect(decodeError(reply(opt(1, new Array(131).fill(3)))).code).toBe(Dhcp6ErrorCode.BAD_DUID);
  });

  it("DUID helpers: UUID text, DUID-LLT time since 2000", () => {
    expect(duidFromUuid("not-a-uuid")).toBeNull();
    expect(duidFromUuid(new Uint8Array(15))).toBeNull();
    expect(duidTimeFromUnixMs(Date.UTC(2024, 10, 28, 17, 56, 2))).toBe(0x2edb6b32);
  });

  it("refuses a compressed domain name, a label over 63 bytes, a name without its root label", () => {
    for (const data of [[3, 99, 111, 109, 0xc0, 0], [64, ...new Array(64).fill(97), 0], [3, 99, 111, 109]]) {
      expect(decodeError(reply(opt(24, data))).code).toBe(Dhcp6ErrorCode.BAD_DOMAIN_NAME);
    }
    const long = new Array(5).fill([63, ...new Array(63).fill(97)]).flat();
    expect(decodeError(reply(opt(24, [...long, 0]))).code).toBe(Dhcp6ErrorCode.BAD_DOMAIN_NAME);
  });

  it("escapes label bytes that could forge a resolv.conf line, and encodes the escapes back", () => {
    const m = decodeOk(reply(opt(24, [5, 97, 10, 98, 46, 92, 0])));
    expect(m.options[0]).toEqual({ kind: "domainList", domains: ["a\\010b\\.\\\\"] });
    expect(encodeDomainName("a\\010b\\.\\\\")).toEqual({ ok: true, value: Uint8Array.of(5, 97, 10, 98, 46, 92, 0) });
  });

  it("IPv6 text is RFC 5952's", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::", "::"],
      ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
      ["FE80::1", "fe80::1"],
    ];
    for (const [input, text] of cases) expect(ipv6At(parseIpv6(input)!)).toBe(text);
    for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "::1.2.3.256", "fe80::1%eth0", ""]) expect(parseIpv6(bad), bad).toBeNull();
  });
});

describe("hostile inputs", () => {
  /** An IAPREFIX of `prefix`/`length` holding `inner`. */
  const iaPrefix = (length: number, inner: number[]) => opt(26, [...u32(100), ...u32(200), length, ...addr("2001:db8:100::"), ...inner]);
  const iaPd = (...inner: number[][]) => opt(25, [...u32(IAID), ...u32(0), ...u32(0), ...inner.flat()]);

  it("a PD_EXCLUDE that fits its prefix is read (RFC 6603 §4.2 example: a /64 out of a /56 takes 1 byte)", () => {
    const m = decodeOk(reply(iaPd(iaPrefix(56, opt(67, [64, 0x01])))));
    const ia = m.options[0] as Extract<Dhcp6Option, { kind: "iaPd" }>;
    const p = ia.options[0] as Extract<Dhcp6Option, { kind: "iaPrefix" }>;
    expect(p.options).toEqual([{ kind: "pdExclude", prefixLength: 64, subnetId: Uint8Array.of(0x01) }]);
    expect(excludedPrefix(p.prefix, p.prefixLength, p.options[0] as never)).toEqual({ prefix: "2001:db8:100:1::", prefixLength: 64 });
  });

  it.each([
    ["an excluded prefix no longer than the delegated one", 56, [56, 0x01]],
    ["an excluded prefix shorter than the delegated one", 56, [48, 0x01]],
    ["an excluded length over 128", 56, [200, ...new Array(18).fill(0xff)]],
    ["a subnet ID longer than the lengths allow (dhcpcd's stack write)", 56, [64, ...new Array(200).fill(0xff)]],
    ["a subnet ID shorter than the lengths need", 48, [64, 0x01]],
    ["an exclude in a /0", 0, [128, ...new Array(15).fill(0xff)]],
  ])("PD_EXCLUDE with %s is refused", (_, delegated, exclude) => {
    expect(decodeError(reply(iaPd(iaPrefix(delegated as number, opt(67, exclude as number[]))))).code).toBe(Dhcp6ErrorCode.BAD_PREFIX);
  });

  it("excludedPrefix never writes past 16 bytes, whatever it is given", () => {
    expect(excludedPrefix("2001:db8::", 56, { kind: "pdExclude", prefixLength: 255, subnetId: new Uint8Array(1000) })).toBeNull();
    expect(excludedPrefix("2001:db8::", 129, { kind: "pdExclude", prefixLength: 130, subnetId: new Uint8Array(1) })).toBeNull();
    expect(excludedPrefix("2001:db8::", 127, { kind: "pdExclude", prefixLength: 128, subnetId: Uint8Array.of(0x80) })).toEqual({ prefix: "2001:db8::1", prefixLength: 128 });
  });

  it("an IAPREFIX over 128 bits is refused", () => {
    expect(decodeError(reply(iaPd(iaPrefix(129, [])))).code).toBe(Dhcp6ErrorCode.BAD_PREFIX);
  });

  it("nested IA options of bogus lengths are refused, never read past their parent", () => {
    // IAADDR claims 200 bytes inside an IA_NA of 40.
    const inner = [...u16(5), ...u16(200), ...addr("2001:db8::1"), ...u32(1), ...u32(2)];
    expect(decodeError(reply(opt(3, [...u32(1), ...u32(0), ...u32(0), ...inner]))).code).toBe(Dhcp6ErrorCode.OPTION_OVERRUN);
    // An IAADDR shorter than 24 bytes.
    expect(decodeError(reply(opt(3, [...u32(1), ...u32(0), ...u32(0), ...opt(5, [1, 2, 3])]))).code).toBe(Dhcp6ErrorCode.BAD_OPTION_LENGTH);
    // A status code inside an IAADDR that runs past it by one byte.
    const statusOver = [...u16(13), ...u16(3), 0, 0];
    expect(decodeError(reply(opt(3, [...u32(1), ...u32(0), ...u32(0), ...opt(5, [...addr("2001:db8::1"), ...u32(1), ...u32(2), ...statusOver])]))).code).toBe(Dhcp6ErrorCode.OPTION_OVERRUN);
  });

  it("options nested deeper than MAX_OPTION_DEPTH are refused", () => {
    let nested = opt(13, [0, 0]);
    for (let i = 0; i < 50; i++) nested = opt(3, [...u32(1), ...u32(0), ...u32(0), ...nested]);
    expect(decodeError(reply(nested)).code).toBe(Dhcp6ErrorCode.TOO_DEEP);
  });

  it("10 000 addresses: refused as too long for a datagram, and as too many for an IA when they fit", () => {
    const one = opt(5, [...addr("2001:db8::1"), ...u32(1), ...u32(2)]);
    const huge = reply(opt(3, [...u32(1), ...u32(0), ...u32(0)]), new Array(10_000).fill(one).flat());
    expect(decodeError(huge).code).toBe(Dhcp6ErrorCode.TOO_LONG);
    const many = Array.from({ length: MAX_LEASES_PER_IA + 1 }, () => one).flat();
    expect(decodeError(reply(opt(3, [...u32(1), ...u32(0), ...u32(0), ...many]))).code).toBe(Dhcp6ErrorCode.TOO_MANY_ADDRESSES);
    const fits = Array.from({ length: MAX_LEASES_PER_IA }, () => one).flat();
    expect(decodeOk(reply(opt(3, [...u32(1), ...u32(0), ...u32(0), ...fits]))).options).toHaveLength(1);
  });

  it("too many IAs, options, DNS servers or domains are refused with their own codes", () => {
    const ia = opt(3, [...u32(1), ...u32(0), ...u32(0)]);
    expect(decodeError(reply(...new Array(MAX_IAS_PER_MESSAGE + 1).fill(ia))).code).toBe(Dhcp6ErrorCode.TOO_MANY_IAS);
    expect(decodeError(reply(...new Array(MAX_OPTIONS_PER_MESSAGE + 1).fill(opt(14, [])))).code).toBe(Dhcp6ErrorCode.TOO_MANY_OPTIONS);
    expect(decodeError(reply(opt(23, new Array(MAX_DNS_SERVERS + 1).fill(addr("2001:db8::1")).flat()))).code).toBe(Dhcp6ErrorCode.TOO_MANY_DNS_SERVERS);
    expect(decodeError(reply(opt(24, new Array(MAX_DOMAINS + 1).fill([1, 97, 0]).flat()))).code).toBe(Dhcp6ErrorCode.TOO_MANY_DOMAINS);
  });

  it("65 000 zero-length options cost one bounded pass", () => {
    const flood = reply(new Array(16_000).fill(opt(14, [])).flat());
    expect(decodeError(flood).code).toBe(Dhcp6ErrorCode.TOO_MANY_OPTIONS);
  });
});

describe("encoder", () => {
  it("refuses what it cannot put on the wire, with UNENCODABLE", () => {
    const bad: Dhcp6Option[][] = [
      [{ kind: "iaNa", iaid: 2 ** 32, t1: 0, t2: 0, options: [] }],
      [{ kind: "iaAddr", address: "not an address", preferred: 0, valid: 0, options: [] }],
      [{ kind: "dnsServers", servers: Array.from({ length: MAX_DNS_SERVERS + 1 }, () => "2001:db8::1") }],
      [{ kind: "domainList", domains: ["bad..name"] }],
      [{ kind: "preference", value: 256 }],
      [{ kind: "unknown", code: 70_000, data: new Uint8Array(0) }],
    ];
    for (const options of bad) {
      const r = encodeDhcp6Message({ type: 1, transactionId: 1, options });
      expect(r.ok ? "ok" : r.error.code, JSON.stringify(options[0]?.kind)).toBe(Dhcp6ErrorCode.UNENCODABLE);
    }
    expect(encodeDhcp6Message({ type: 1, transactionId: 2 ** 24, options: [] }).ok).toBe(false);
  });

  it("writes a SOLICIT as RFC 8415 lays it out", () => {
    const bytes = encoded({ type: 1, transactionId: 0x3bbb85, options: [{ kind: "elapsedTime", hundredths: 0 }, { kind: "rapidCommit" }] });
    expect([...bytes]).toEqual([1, 0x3b, 0xbb, 0x85, 0, 8, 0, 2, 0, 0, 0, 14, 0, 0]);
  });
});
