/**
 * Test support: fast-check arbitraries for packet patterns and for frames near them, shared by
 * the classic filter compiler's tests and the tc egress program's.
 */
import fc from "fast-check";

import type { PacketPattern } from "../lib/egress-rules.ts";

const portish = fc.oneof(
  { arbitrary: fc.constantFrom(67, 68, 123, 546, 547), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 65535 }), weight: 1 },
);
const byteish = fc.oneof({ arbitrary: fc.constantFrom(1, 2, 133, 134), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

/** Random valid patterns, with field values drawn mostly from the same small sets as the frames. */
export const patternArb: fc.Arbitrary<PacketPattern> = fc.oneof(
  fc
    .record({ family: fc.constantFrom("ipv4" as const, "ipv6" as const), srcPort: opt(portish), dstPort: opt(portish), firstPayloadByte: opt(byteish) })
    .map(({ family, srcPort, dstPort, firstPayloadByte }) => ({
      family,
      protocol: "udp" as const,
      ...(srcPort === undefined ? {} : { srcPort }),
      ...(dstPort === undefined ? {} : { dstPort }),
      ...(firstPayloadByte === undefined ? {} : { firstPayloadByte }),
    })),
  opt(byteish).map((t) => ({ family: "ipv6" as const, protocol: "icmpv6" as const, ...(t === undefined ? {} : { icmpv6Type: t }) })),
  fc.constant({ family: "arp" as const }),
);

/** Random valid receive lists: 1..4 patterns (a socket filter ORs them). */
export const patternListArb: fc.Arbitrary<PacketPattern[]> = fc.array(patternArb, { minLength: 1, maxLength: 4 });

/**
 * Structured frames near the patterns: IPv4, IPv6, ARP or another ethertype, with version, IHL,
 * fragment field, protocol, ports, ICMPv6 type and first payload byte free to take near-miss or
 * random values, and a random cut.
 */
export const nearFrameArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    kind: fc.constantFrom("ipv4", "ipv4", "ipv6", "ipv6", "arp", "other"),
    otherType: fc.integer({ min: 0, max: 0xffff }),
    versionIhl: fc.oneof({ arbitrary: fc.constantFrom(0x45, 0x46, 0x4f, 0x44, 0x55), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
    v6: fc.oneof({ arbitrary: fc.constantFrom(0x60, 0x6f, 0x45), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
    flagsFragment: fc.oneof({ arbitrary: fc.constantFrom(0, 0x4000, 0x2000, 0x0001), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
    protocol: fc.oneof({ arbitrary: fc.constantFrom(17, 17, 58, 58, 0, 44, 6), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
    sport: portish,
    dport: portish,
    icmpType: byteish,
    payloadByte: byteish,
    noise: fc.uint8Array({ minLength: 40, maxLength: 40 }),
    cut: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 130 }), weight: 1 }),
  })
  .map((r) => {
    const f = new Uint8Array(14 + 60 + 8 + 40);
    const ethertype = { ipv4: 0x0800, ipv6: 0x86dd, arp: 0x0806, other: r.otherType }[r.kind]!;
    f[12] = ethertype >> 8;
    f[13] = ethertype & 0xff;
    let l4: number;
    if (r.kind === "ipv6") {
      f[14] = r.v6;
      f[20] = r.protocol;
      l4 = 54;
    } else {
      f[14] = r.versionIhl;
      f[20] = r.flagsFragment >> 8;
      f[21] = r.flagsFragment & 0xff;
      f[23] = r.protocol;
      f.set(r.noise, 34);
      l4 = 14 + (r.versionIhl & 0x0f) * 4;
    }
    if (r.protocol === 58) {
      f[l4] = r.icmpType;
    } else {
      f[l4] = r.sport >> 8;
      f[l4 + 1] = r.sport & 0xff;
      f[l4 + 2] = r.dport >> 8;
      f[l4 + 3] = r.dport & 0xff;
    }
    f[l4 + 8] = r.payloadByte;
    return r.cut === 0 ? f : f.subarray(0, r.cut);
  });
