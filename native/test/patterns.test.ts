import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { run } from "../lib/cbpf.ts";
import {
  checkEgressRules,
  checkPacketPattern,
  DHCP_CLIENT_EGRESS_RULES,
  EGRESS_CONFIG_BYTES,
  encodeEgressConfig,
  matchEgressRules,
  matchPacketPattern,
  MAX_EGRESS_RULES,
  PacketPatternError,
  parseEgressRules,
  type PacketPattern,
} from "../lib/egress-rules.ts";
import { checkSocketMatch, compileSocketFilter, DHCP_CLIENT_FILTER, matchSocketMatch, socketMatchProtocol, type SocketMatch } from "../lib/filters.ts";
import { frameKit, mac } from "./frames.ts";
import { nearFrameArb, patternArb, patternListArb } from "./pattern-arbs.ts";

const kit = frameKit(mac("02:00:00:00:00:01"));

function accepts(p: SocketMatch, frame: Uint8Array): boolean {
  const r = run(compileSocketFilter(p).insns, frame);
  if (!r.ok) throw new Error(r.reason);
  return r.accept > 0;
}

/** Both the TypeScript matcher and the compiled classic filter, which must agree. */
function verdicts(p: PacketPattern, frame: Uint8Array): { ts: boolean; cbpf: boolean } {
  return { ts: matchPacketPattern(p, frame), cbpf: accepts(p, frame) };
}

const YES = { ts: true, cbpf: true };
const NO = { ts: false, cbpf: false };

describe("packet patterns: validation", () => {
  it("accepts well-formed patterns and returns a copy with only known fields", () => {
    expect(checkPacketPattern({ family: "ipv4", protocol: "udp", dstPort: 68 })).toEqual({
      ok: true,
      value: { family: "ipv4", protocol: "udp", dstPort: 68 },
    });
    expect(checkPacketPattern({ family: "ipv6", protocol: "icmpv6", icmpv6Type: 133 }).ok).toBe(true);
    expect(checkPacketPattern({ family: "arp" })).toEqual({ ok: true, value: { family: "arp" } });
    expect(checkPacketPattern({ family: "ipv6", protocol: "udp", srcPort: 546, dstPort: 547, firstPayloadByte: 0 }).ok).toBe(true);
    expect(parseEgressRules([])).toEqual([]);
    expect(parseEgressRules(DHCP_CLIENT_EGRESS_RULES)).toEqual(DHCP_CLIENT_EGRESS_RULES);
  });

  it("refuses bad input with a typed error naming the rule and field", () => {
    const cases: [unknown, string, number, string][] = [
      ["not a list", "PADDOCK_E_NATIVE_PATTERN_NOT_A_LIST", -1, ""],
      [Array.from({ length: MAX_EGRESS_RULES + 1 }, () => ({ family: "arp" })), "PADDOCK_E_NATIVE_PATTERN_TOO_MANY_RULES", -1, ""],
      [[null], "PADDOCK_E_NATIVE_PATTERN_NOT_AN_OBJECT", 0, ""],
      [[{ family: "arp" }, []], "PADDOCK_E_NATIVE_PATTERN_NOT_AN_OBJECT", 1, ""],
      [[{ family: "ipx" }], "PADDOCK_E_NATIVE_PATTERN_BAD_FAMILY", 0, "family"],
      [[{ family: "ipv4", protocol: "icmpv6" }], "PADDOCK_E_NATIVE_PATTERN_BAD_PROTOCOL", 0, "protocol"],
      [[{ family: "ipv4", protocol: "tcp" }], "PADDOCK_E_NATIVE_PATTERN_BAD_PROTOCOL", 0, "protocol"],
      [[{ family: "ipv6" }], "PADDOCK_E_NATIVE_PATTERN_BAD_PROTOCOL", 0, "protocol"],
      [[{ family: "ipv4", protocol: "udp", dstport: 67 }], "PADDOCK_E_NATIVE_PATTERN_UNKNOWN_FIELD", 0, "dstport"],
      [[{ family: "arp", protocol: "udp" }], "PADDOCK_E_NATIVE_PATTERN_UNKNOWN_FIELD", 0, "protocol"],
      [[{ family: "ipv6", protocol: "icmpv6", dstPort: 1 }], "PADDOCK_E_NATIVE_PATTERN_UNKNOWN_FIELD", 0, "dstPort"],
      [[{ family: "ipv4", protocol: "udp", icmpv6Type: 1 }], "PADDOCK_E_NATIVE_PATTERN_UNKNOWN_FIELD", 0, "icmpv6Type"],
      [[{ family: "ipv4", protocol: "udp", dstPort: 0 }], "PADDOCK_E_NATIVE_PATTERN_BAD_PORT", 0, "dstPort"],
      [[{ family: "ipv4", protocol: "udp", srcPort: 65536 }], "PADDOCK_E_NATIVE_PATTERN_BAD_PORT", 0, "srcPort"],
      [[{ family: "ipv4", protocol: "udp", srcPort: 67.5 }], "PADDOCK_E_NATIVE_PATTERN_BAD_PORT", 0, "srcPort"],
      [[{ family: "ipv4", protocol: "udp", srcPort: "67" }], "PADDOCK_E_NATIVE_PATTERN_BAD_PORT", 0, "srcPort"],
      [[{ family: "ipv4", protocol: "udp", firstPayloadByte: 256 }], "PADDOCK_E_NATIVE_PATTERN_BAD_BYTE", 0, "firstPayloadByte"],
      [[{ family: "ipv6", protocol: "icmpv6", icmpv6Type: -1 }], "PADDOCK_E_NATIVE_PATTERN_BAD_BYTE", 0, "icmpv6Type"],
    ];
    for (const [input, code, index, field] of cases) {
      const r = checkEgressRules(input);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.error).toBeInstanceOf(PacketPatternError);
      expect({ code: r.error.code, index: r.error.index, field: r.error.field }).toEqual({ code, index, field });
    }
    expect(() => parseEgressRules([{ family: "ipv4", protocol: "udp", dstPort: 0 }])).toThrow(PacketPatternError);
    expect(() => compileSocketFilter({ family: "ipv4", protocol: "udp", dstPort: 70000 })).toThrow(/dstPort: must be an integer 1..65535/);
    expect(() => encodeEgressConfig(2 ** 32, [])).toThrow(RangeError);
  });

  it("never throws on arbitrary input: a value or a typed error", () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        const r = checkEgressRules(input);
        if (!r.ok) expect(r.error).toBeInstanceOf(PacketPatternError);
      }),
      { numRuns: 2000 },
    );
  });

  it("encodes the config map value in the layout of struct egress_config", () => {
    const b = encodeEgressConfig(0x5add, [
      { family: "ipv4", protocol: "udp", srcPort: 68, dstPort: 67, firstPayloadByte: 1 },
      { family: "ipv6", protocol: "icmpv6", icmpv6Type: 133 },
      { family: "arp" },
    ]);
    expect(b.length).toBe(EGRESS_CONFIG_BYTES);
    const v = new DataView(b.buffer);
    const le = true; // these machines are little-endian; encode follows the host
    expect([v.getUint32(0, le), v.getUint32(4, le)]).toEqual([0x5add, 3]);
    // rule 0: family 1, protocol 17, flags src|dst|byte, icmp type 0, ports 68/67, byte 1
    expect(Array.from(b.subarray(8, 20))).toEqual([1, 17, 7, 0, 68, 0, 67, 0, 1, 0, 0, 0]);
    expect(Array.from(b.subarray(20, 32))).toEqual([2, 58, 8, 133, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(b.subarray(32, 44))).toEqual([3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(b.subarray(44).every((x) => x === 0)).toBe(true);
  });
});

describe("compileSocketFilter and matchPacketPattern", () => {
  it("IPv4 UDP: ports and first payload byte, any IHL; near misses drop", () => {
    const bootreq: PacketPattern = { family: "ipv4", protocol: "udp", srcPort: 68, dstPort: 67, firstPayloadByte: 1 };
    expect(verdicts(bootreq, kit.dhcpRequest(1))).toEqual(YES);
    expect(verdicts(bootreq, kit.udp(68, 67))).toEqual(NO); // op 2
    expect(verdicts(bootreq, kit.udp(67, 68))).toEqual(NO);
    expect(verdicts(bootreq, kit.tcp(68, 67))).toEqual(NO);
    expect(verdicts(bootreq, kit.dhcpRequest(1).subarray(0, 14 + 20 + 8))).toEqual(NO); // op byte cut off
    expect(verdicts(bootreq, kit.ipv6UdpFrom(68, 67))).toEqual(NO);
    const ntp: PacketPattern = { family: "ipv4", protocol: "udp", dstPort: 123 };
    for (const ihl of [5, 6, 15]) {
      expect(verdicts(ntp, kit.ipv4({ protocol: 17, ihl }, Uint8Array.of(0x30, 0x39, 0, 123, 0, 8, 0, 0)))).toEqual(YES);
    }
    expect(verdicts(ntp, kit.udp(123, 124))).toEqual(NO);
    expect(verdicts(ntp, kit.udp(1, 123, { flagsFragment: 0x2000 }))).toEqual(NO); // first fragment
    expect(verdicts(ntp, kit.udp(1, 123, { flagsFragment: 0x4000 }))).toEqual(YES); // DF is fine
    const anyUdp: PacketPattern = { family: "ipv4", protocol: "udp" };
    expect(verdicts(anyUdp, kit.udp(9, 9))).toEqual(YES);
    expect(verdicts(anyUdp, kit.udp(9, 9).subarray(0, 34))).toEqual(YES); // the fields it names are there
    expect(verdicts(anyUdp, kit.udp(9, 9).subarray(0, 33))).toEqual(NO); // the IPv4 header is not whole
    expect(verdicts(anyUdp, kit.icmpEcho())).toEqual(NO);
    expect(verdicts(anyUdp, kit.arpRequest())).toEqual(NO);
  });

  it("IPv6 UDP and ICMPv6: fixed header only, extension headers do not match", () => {
    const dhcp6: PacketPattern = { family: "ipv6", protocol: "udp", srcPort: 546, dstPort: 547 };
    expect(verdicts(dhcp6, kit.ipv6UdpFrom(546, 547))).toEqual(YES);
    expect(verdicts(dhcp6, kit.ipv6UdpFrom(547, 546))).toEqual(NO);
    expect(verdicts(dhcp6, kit.ipv6Udp(547))).toEqual(NO); // from 547
    expect(verdicts(dhcp6, kit.udp(546, 547))).toEqual(NO); // IPv4
    const ra: PacketPattern = { family: "ipv6", protocol: "icmpv6", icmpv6Type: 134 };
    expect(verdicts(ra, kit.icmpv6(134))).toEqual(YES);
    expect(verdicts(ra, kit.icmpv6(133))).toEqual(NO);
    expect(verdicts(ra, kit.icmpv6AfterHopByHop(134))).toEqual(NO);
    expect(verdicts(ra, kit.icmpv6(134).subarray(0, 54))).toEqual(NO); // type byte cut off
    expect(verdicts({ family: "ipv6", protocol: "icmpv6" }, kit.icmpv6(134).subarray(0, 54))).toEqual(YES);
    expect(verdicts(ra, kit.ipv6(17, Uint8Array.of(134, 0, 0, 0, 0, 8, 0, 0)))).toEqual(NO); // UDP, not ICMPv6
    const v5 = kit.icmpv6(134);
    v5[14] = 0x50;
    expect(verdicts(ra, v5)).toEqual(NO);
  });

  it("ARP: the ethertype", () => {
    const arp: PacketPattern = { family: "arp" };
    expect(verdicts(arp, kit.arpRequest())).toEqual(YES);
    expect(verdicts(arp, kit.udp(1, 2))).toEqual(NO);
    expect(verdicts(arp, new Uint8Array(13))).toEqual(NO);
  });

  it("DHCP_CLIENT_FILTER is the compiled IPv4 UDP dstPort 68 match", () => {
    expect(DHCP_CLIENT_FILTER.bytes).toEqual(compileSocketFilter({ family: "ipv4", protocol: "udp", dstPort: 68 }).bytes);
  });

  it("matchEgressRules returns the first matching rule", () => {
    const rules: PacketPattern[] = [{ family: "arp" }, { family: "ipv4", protocol: "udp", dstPort: 67 }, { family: "ipv4", protocol: "udp" }];
    expect(matchEgressRules(rules, kit.udp(68, 67))).toBe(1);
    expect(matchEgressRules(rules, kit.udp(68, 69))).toBe(2);
    expect(matchEgressRules(rules, kit.tcp(68, 67))).toBe(-1);
    expect(matchEgressRules([], kit.arpRequest())).toBe(-1);
  });
});

describe("compiled socket filters: properties", () => {
  it("property: arbitrary bytes never make a compiled program accept a frame that does not match", () => {
    fc.assert(
      fc.property(patternArb, fc.uint8Array({ maxLength: 120 }), (p, f) => {
        expect(accepts(p, f)).toBe(matchPacketPattern(p, f));
      }),
      { numRuns: 3000 },
    );
  });

  it("property: on near-miss frames the compiled program and the TypeScript matcher agree", () => {
    let matched = 0;
    fc.assert(
      fc.property(patternArb, nearFrameArb, (p, f) => {
        const want = matchPacketPattern(p, f);
        if (want) matched++;
        expect(accepts(p, f)).toBe(want);
      }),
      { numRuns: 5000 },
    );
    // Both outcomes must be common, or the property proves little.
    expect(matched).toBeGreaterThan(100);
  });
});

describe("receive lists: one classic program ORing its patterns", () => {
  const dhcpAndArp: SocketMatch = [{ family: "ipv4", protocol: "udp", dstPort: 68 }, { family: "arp" }];

  it("accepts what any pattern accepts, in either order, and binds to ETH_P_ALL unless all are IPv4", () => {
    for (const list of [dhcpAndArp, [...(dhcpAndArp as PacketPattern[])].reverse()]) {
      expect(accepts(list, kit.udp(67, 68))).toBe(true);
      expect(accepts(list, kit.arpRequest())).toBe(true);
      expect(accepts(list, kit.udp(67, 69))).toBe(false);
      expect(accepts(list, kit.icmpv6(134))).toBe(false);
      expect(accepts(list, new Uint8Array(13))).toBe(false);
    }
    // A frame too short for the first pattern's loads still reaches the second one.
    const shortArp = kit.arpRequest().subarray(0, 20);
    expect(accepts([{ family: "ipv6", protocol: "icmpv6", icmpv6Type: 134 }, { family: "arp" }], shortArp)).toBe(true);
    expect(socketMatchProtocol(dhcpAndArp)).toBe(0x0003);
    expect(socketMatchProtocol({ family: "ipv4", protocol: "udp" })).toBe(0x0800);
    expect(socketMatchProtocol([{ family: "ipv4", protocol: "udp", dstPort: 68 }, { family: "ipv4", protocol: "udp", dstPort: 123 }])).toBe(0x0800);
  });

  it("refuses an empty list, a list that is too long, and a bad pattern, naming it", () => {
    const empty = checkSocketMatch([]);
    expect(empty.ok ? "" : empty.error.code).toBe("PADDOCK_E_NATIVE_PATTERN_EMPTY_LIST");
    const long = checkSocketMatch(Array.from({ length: MAX_EGRESS_RULES + 1 }, () => ({ family: "arp" })));
    expect(long.ok ? "" : long.error.code).toBe("PADDOCK_E_NATIVE_PATTERN_TOO_MANY_RULES");
    expect(() => compileSocketFilter([{ family: "arp" }, { family: "ipv4", protocol: "udp", dstPort: 0 }])).toThrow(/rule 1\.dstPort/);
    expect(checkSocketMatch({ family: "arp" })).toEqual({ ok: true, value: [{ family: "arp" }] });
  });

  it("property: on arbitrary bytes the compiled list accepts exactly what some pattern matches", () => {
    fc.assert(
      fc.property(patternListArb, fc.uint8Array({ maxLength: 120 }), (ps, f) => {
        expect(accepts(ps, f)).toBe(ps.some((p) => matchPacketPattern(p, f)));
      }),
      { numRuns: 3000 },
    );
  });

  it("property: on near-miss frames the compiled list and matchPacketPattern agree, both outcomes common", () => {
    let matched = 0;
    fc.assert(
      fc.property(patternListArb, nearFrameArb, (ps, f) => {
        const want = ps.some((p) => matchPacketPattern(p, f));
        expect(matchSocketMatch(ps, f)).toBe(want);
        if (want) matched++;
        expect(accepts(ps, f)).toBe(want);
      }),
      { numRuns: 5000 },
    );
    expect(matched).toBeGreaterThan(100);
    expect(matched).toBeLessThan(4900);
  });
});
