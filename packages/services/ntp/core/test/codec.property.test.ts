/**
 * Property tests: the decoder is total on arbitrary bytes and on real packets with random
 * mutations (flips, cuts, insertions), whatever it accepts re-encodes to the same bytes, and
 * encode → decode is the identity on arbitrary valid packets.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { readCapture } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import { NtpErrorCode, decodeNtpPacket, encodeNtpPacket, type NtpResult, type NtpTimePacket } from "../src/index.ts";
import { udpOf } from "./udp-payload.ts";

const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public/zeek");
const realPayloads = ["ntp-NTP-digest", "ntp-NTP_sync", "ntp-misordered-ntp", "ntp-ntp-no-extensions-mac", "ntp-ntp", "ntp-ntp2", "ntp-ntpmode67"].flatMap((f) => {
  const c = readCapture(new Uint8Array(readFileSync(join(PUBLIC, `${f}.pcap`))));
  if (!c.ok) return [];
  return c.value.packets.flatMap((p) => {
    const u = udpOf(p.linkType, p.data);
    return u !== undefined && (u.srcPort === 123 || u.dstPort === 123) ? [u.payload.slice()] : [];
  });
});

const CODES = new Set<string>(Object.values(NtpErrorCode));

/** A result is well-formed: a value, or an error with a known code and a detail sentence. */
function wellFormed(r: NtpResult<unknown>): boolean {
  return r.ok || (CODES.has(r.error.code) && r.error.detail.length > 0);
}

/** Whatever decodes re-encodes to exactly the bytes it came from. */
function roundTrips(bytes: Uint8Array): boolean {
  const d = decodeNtpPacket(bytes);
  if (!wellFormed(d)) return false;
  if (!d.ok) return true;
  const e = encodeNtpPacket(d.value);
  return e.ok && e.value.length === bytes.length && e.value.every((b, i) => b === bytes[i]);
}

type Mutation = { kind: "flip"; at: number; xor: number } | { kind: "cut"; at: number } | { kind: "insert"; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
);

function mutate(input: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = input.slice();
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === "flip" && at < b.length) b[at]! ^= m.xor;
    else if (m.kind === "cut") b = b.slice(0, at);
    else if (m.kind === "insert") b = Uint8Array.of(...b.subarray(0, at), ...m.bytes, ...b.subarray(at));
  }
  return b;
}

/** Bytes that look like NTP: a version 1–4 header byte and a length near the real ones. */
const ntpish = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ minLength: 0, maxLength: 160 }))
  .map(([vn, mode, li, rest]) => Uint8Array.of((li << 6) | (vn << 3) | mode, ...rest));

const timestamp = fc.record({ seconds: fc.nat({ max: 0xffffffff }), fraction: fc.nat({ max: 0xffffffff }) });
const extension = fc
  .tuple(fc.nat({ max: 0xffff }), fc.integer({ min: 3, max: 20 }))
  .chain(([fieldType, words]) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 }).map((value) => ({ fieldType, value })));

const timePacket: fc.Arbitrary<NtpTimePacket> = fc
  .record({
    leap: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
    version: fc.integer({ min: 1, max: 4 }),
    mode: fc.integer({ min: 0, max: 5 }),
    stratum: fc.nat({ max: 255 }),
    poll: fc.integer({ min: -128, max: 127 }),
    precision: fc.integer({ min: -128, max: 127 }),
    rootDelay: fc.nat({ max: 0xffffffff }).map((r) => r / 65536),
    rootDispersion: fc.nat({ max: 0xffffffff }).map((r) => r / 65536),
    referenceId: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    referenceTime: timestamp,
    originTime: timestamp,
    receiveTime: timestamp,
    transmitTime: timestamp,
    extensions: fc.array(extension, { maxLength: 4 }),
    mac: fc.option(fc.record({ keyId: fc.nat({ max: 0xffffffff }), digest: fc.constantFrom(0, 16, 20).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) }), { nil: undefined }),
  })
  .map((p) => {
    const out: NtpTimePacket = { kind: "time", ...p, extensions: p.version === 4 ? p.extensions : [] };
    if (p.mac === undefined) delete (out as { mac?: unknown }).mac;
    return out;
  })
  // RFC 7822 §7.5: an extension field must start more than 24 bytes (a MAC's most) before the end.
  .filter((p) => {
    let remaining = (p.mac === undefined ? 0 : 4 + p.mac.digest.length) + p.extensions.reduce((n, e) => n + 4 + e.value.length, 0);
    for (const e of p.extensions) {
      if (remaining <= 24) return false;
      remaining -= 4 + e.value.length;
    }
    return true;
  });

describe("the NTP decoder is total", () => {
  it("has real packets to mutate", () => {
    expect(realPayloads.length).toBeGreaterThan(140);
  });

  it("arbitrary bytes: a typed result, and what it accepts re-encodes to the same bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), roundTrips), { numRuns: 3000 });
    fc.assert(fc.property(ntpish, roundTrips), { numRuns: 3000 });
  });

  it("mutated real packets: a typed result, and what it accepts re-encodes to the same bytes", () => {
    const real = fc.constantFrom(...realPayloads);
    fc.assert(fc.property(real, fc.array(mutation, { minLength: 1, maxLength: 4 }), (p, ms) => roundTrips(mutate(p, ms))), { numRuns: 3000 });
  });

  it("every real packet round-trips", () => {
    for (const p of realPayloads) expect(roundTrips(p)).toBe(true);
  });
});

describe("the NTP encoder", () => {
  it("encode → decode is the identity on valid packets", () => {
    fc.assert(
      fc.property(timePacket, (p) => {
        const e = encodeNtpPacket(p);
        if (!e.ok) return false;
        const d = decodeNtpPacket(e.value);
        if (!d.ok || d.value.kind !== "time") return false;
        const { kissCode: _k, ...rest } = d.value;
        expect(rest).toEqual(p);
        return true;
      }),
      { numRuns: 1000 },
    );
  });
});
