/**
 * Property tests on the DHCPv6 codec: arbitrary bytes and mutated real messages never throw and
 * always give a value or an error with a known code; whatever decodes re-encodes to something that
 * decodes the same; encode → decode is the identity on arbitrary valid messages.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { readCapture } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import { Dhcp6ErrorCode, OptionCode, decodeDhcp6Message, encodeDhcp6Message, ipv6At, type Dhcp6Message, type Dhcp6Option, type Duid } from "../src/index.ts";
import { udpOf } from "../../../ntp/core/test/udp-payload.ts";

const ZEEK = join(import.meta.dirname, "../../../../../../shared/pcaps/public/zeek");
const REAL: Uint8Array[] = ["dhcpv6-freebsd-ntpservers", "dhcpv6-freebsd-rapid-commit", "dhcpv6-freebsd-vendorclass"].flatMap((f) => {
  const c = readCapture(new Uint8Array(readFileSync(join(ZEEK, `${f}.pcap`))));
  if (!c.ok) return [];
  return c.value.packets.flatMap((p) => {
    const u = udpOf(p.linkType, p.data);
    return u !== undefined && (u.srcPort === 547 || u.dstPort === 547) ? [u.payload.slice()] : [];
  });
});

const CODES = new Set<string>(Object.values(Dhcp6ErrorCode));
const KNOWN_OPTION_CODES = new Set<number>(Object.values(OptionCode));

/** Decodes without throwing, to a value or a known error; a value re-encodes to bytes that decode the same. */
function totalAndStable(bytes: Uint8Array): void {
  const d = decodeDhcp6Message(bytes);
  if (!d.ok) {
    expect(CODES.has(d.error.code), d.error.code).toBe(true);
    expect(d.error.detail.length).toBeGreaterThan(0);
    return;
  }
  const e = encodeDhcp6Message(d.value);
  if (!e.ok) throw new Error(e.error.detail);
  expect(decodeDhcp6Message(e.value)).toEqual(d);
}

/** A byte edit of a real message: overwrite, cut, insert. */
type Edit = { kind: "set"; at: number; value: number } | { kind: "cut"; at: number } | { kind: "insert"; at: number; bytes: Uint8Array };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
);

function applyEdits(input: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let b = Array.from(input);
  for (const e of edits) {
    const at = e.at % (b.length + 1);
    if (e.kind === "set") {
      if (at < b.length) b[at] = e.value;
    } else if (e.kind === "cut") b = b.slice(0, at);
    else b.splice(at, 0, ...e.bytes);
  }
  return Uint8Array.from(b);
}

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const address = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ipv6At(b));
const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const domain = fc.oneof(fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join(".")), fc.constant("."));
const duid: fc.Arbitrary<Duid> = fc.oneof(
  fc.record({ type: fc.constant("llt" as const), hardwareType: u16, time: u32, linkLayer: fc.uint8Array({ maxLength: 20 }) }),
  fc.record({ type: fc.constant("en" as const), enterprise: u32, identifier: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ type: fc.constant("ll" as const), hardwareType: u16, linkLayer: fc.uint8Array({ minLength: 0, maxLength: 20 }) }),
  fc.record({ type: fc.constant("uuid" as const), uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
  fc.record({ type: fc.constant("unknown" as const), duidType: fc.oneof(fc.constant(0), fc.integer({ min: 5, max: 0xffff })), data: fc.uint8Array({ minLength: 1, maxLength: 60 }) }),
);

const status: fc.Arbitrary<Dhcp6Option> = fc.record({ kind: fc.constant("statusCode" as const), status: u16, message: fc.string({ unit: "grapheme", maxLength: 20 }) });
const leaf: fc.Arbitrary<Dhcp6Option> = fc.oneof(
  fc.record({ kind: fc.constant("oro" as const), codes: fc.array(u16, { maxLength: 8 }) }),
  fc.record({ kind: fc.constant("preference" as const), value: u8 }),
  fc.record({ kind: fc.constant("elapsedTime" as const), hundredths: u16 }),
  fc.record({ kind: fc.constant("auth" as const), protocol: u8, algorithm: u8, rdm: u8, replayDetection: fc.uint8Array({ minLength: 8, maxLength: 8 }), info: fc.uint8Array({ maxLength: 24 }) }),
  status,
  fc.constant({ kind: "rapidCommit" as const }),
  fc.constant({ kind: "reconfAccept" as const }),
  fc.record({ kind: fc.constant("reconfMsg" as const), messageType: u8 }),
  fc.record({ kind: fc.constant("dnsServers" as const), servers: fc.array(address, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant("domainList" as const), domains: fc.array(domain, { maxLength: 4 }) }),
  fc.record({ kind: fc.constantFrom("informationRefreshTime" as const, "solMaxRt" as const, "infMaxRt" as const), seconds: u32 }),
  fc.record({ kind: fc.constant("clientId" as const), duid }),
  fc.record({ kind: fc.constant("serverId" as const), duid }),
  fc.record({ kind: fc.constant("unknown" as const), code: u16.filter((c) => !KNOWN_OPTION_CODES.has(c)), data: fc.uint8Array({ maxLength: 24 }) }),
);
const iaAddr: fc.Arbitrary<Dhcp6Option> = fc.record({ kind: fc.constant("iaAddr" as const), address, preferred: u32, valid: u32, options: fc.array(status, { maxLength: 1 }) });
/** An IAPREFIX, with a PD_EXCLUDE that fits it when there is room. */
const iaPrefix: fc.Arbitrary<Dhcp6Option> = fc
  .record({ preferred: u32, valid: u32, prefixLength: fc.integer({ min: 0, max: 128 }), prefix: address, excludeBy: fc.integer({ min: 0, max: 64 }), subnet: fc.uint8Array({ minLength: 16, maxLength: 16 }) })
  .map(({ excludeBy, subnet, ...p }) => {
    const excluded = p.prefixLength + excludeBy;
    const options: Dhcp6Option[] = excludeBy > 0 && excluded <= 128 ? [{ kind: "pdExclude", prefixLength: excluded, subnetId: subnet.slice(0, Math.ceil(excludeBy / 8)) }] : [];
    return { kind: "iaPrefix" as const, ...p, options };
  });
const ia: fc.Arbitrary<Dhcp6Option> = fc.oneof(
  fc.record({ kind: fc.constant("iaNa" as const), iaid: u32, t1: u32, t2: u32, options: fc.array(fc.oneof(iaAddr, status), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant("iaPd" as const), iaid: u32, t1: u32, t2: u32, options: fc.array(fc.oneof(iaPrefix, status), { maxLength: 4 }) }),
);
const message: fc.Arbitrary<Dhcp6Message> = fc.record({
  type: fc.integer({ min: 1, max: 11 }) as fc.Arbitrary<Dhcp6Message["type"]>,
  transactionId: fc.integer({ min: 0, max: 0xffffff }),
  // At most MAX_IAS_PER_MESSAGE (8) options, so never too many IAs.
  options: fc.array(fc.oneof(leaf, ia), { maxLength: 8 }),
});

/** Bounds a hang only: each property takes 1–3 s here, several times that beside stress-ng on 2 shared cores. */
const PROPERTY_TIMEOUT_MS = 120_000;

describe("the DHCPv6 codec is total", () => {
  it("arbitrary bytes give a value or a known error, never an exception", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => totalAndStable(b)), { numRuns: 3000 });
  }, PROPERTY_TIMEOUT_MS);

  it("bytes shaped like DHCPv6 (a reply type, plausible option headers) too", () => {
    const optionish = fc.tuple(fc.constantFrom(1, 2, 3, 5, 13, 23, 24, 25, 26, 67, 82), fc.uint8Array({ maxLength: 60 }), fc.integer({ min: -3, max: 3 })).map(([code, data, skew]) => {
      const length = Math.max(0, data.length + skew);
      return [code >> 8, code & 0xff, length >> 8, length & 0xff, ...data];
    });
    const shaped = fc.tuple(fc.constantFrom(2, 7, 10), fc.array(optionish, { maxLength: 12 })).map(([type, opts]) => Uint8Array.from([type, 1, 2, 3, ...opts.flat()]));
    fc.assert(fc.property(shaped, (b) => totalAndStable(b)), { numRuns: 3000 });
  }, PROPERTY_TIMEOUT_MS);

  it("the captures' messages, mutated, never make it throw", () => {
    expect(REAL.length).toBeGreaterThan(10);
    fc.assert(fc.property(fc.constantFrom(...REAL), fc.array(edit, { minLength: 1, maxLength: 6 }), (raw, edits) => totalAndStable(applyEdits(raw, edits))), { numRuns: 3000 });
  }, PROPERTY_TIMEOUT_MS);
});

describe("encode → decode", () => {
  it("is the identity on arbitrary valid messages", () => {
    fc.assert(
      fc.property(message, (m) => {
        const e = encodeDhcp6Message(m);
        if (!e.ok) throw new Error(e.error.detail);
        expect(decodeDhcp6Message(e.value)).toEqual({ ok: true, value: m });
      }),
      { numRuns: 1500 },
    );
  }, PROPERTY_TIMEOUT_MS);
});
