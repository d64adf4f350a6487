/**
 * Property tests: the decoders are total on arbitrary bytes and on real and encoder-made frames
 * with random mutations (flips, cuts, insertions, length bytes zeroed or raised), and encode →
 * decode is the identity on arbitrary valid messages and frames.
 */

import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { describe, expect } from "vitest";
import { RaErrorCode, decodeNdMessage, decodeNdPacket, encodeNdMessage, encodeNdPacket, type RaResult } from "../src/index.ts";
import { linkLocal, routerAdvertisement, routerSolicitation } from "./arbitraries.ts";
import { ROUTER_MAC, captureFrames, frameAround, frameOf, richRa } from "./fixtures.ts";

const CODES = new Set<string>(Object.values(RaErrorCode));

/** A result is well-formed: a value, or an error with a known code and a detail sentence. */
const wellFormed = (r: RaResult<unknown>) => r.ok || (CODES.has(r.error.code) && r.error.detail.length > 0);

/** Real Router Advertisements and Solicitations, and ours with every option kind. */
const seeds = [
  ...["icmp6-router-advert", "icmp6-router-solicit", "icmp6-nd-options"].flatMap((f) => captureFrames(f)).filter((f) => decodeNdPacket(f, "ethernet").ok),
  frameOf(richRa()),
];

/** One mutation of a frame: flip bits, cut, insert, or rewrite a byte (often an option length). */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0, 1, 2, 3, 255) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(frame: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = frame.slice();
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === "flip") b[at]! ^= m.mask;
    else if (m.kind === "set") b[at] = m.value;
    else if (m.kind === "cut") b = b.slice(0, at);
    else b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
  }
  return b;
}

/** Whatever decodes, re-encodes to a message that decodes to the same value. */
function stableThroughEncoder(icmp: Uint8Array): boolean {
  const d = decodeNdMessage(icmp);
  if (!wellFormed(d)) return false;
  if (!d.ok) return true;
  const e = encodeNdMessage(d.value);
  if (!e.ok) return false;
  const again = decodeNdMessage(e.value);
  expect(again).toEqual(d);
  return true;
}

describe("decoders are total", () => {
  test.prop([fc.uint8Array({ maxLength: 600 })], { numRuns: 2000 })("arbitrary bytes as a frame, a packet and a message", (bytes) => {
    expect(wellFormed(decodeNdPacket(bytes, "ethernet"))).toBe(true);
    expect(wellFormed(decodeNdPacket(bytes, "ipv6"))).toBe(true);
    expect(stableThroughEncoder(bytes)).toBe(true);
  });

  test.prop([fc.constantFrom(133, 134), fc.uint8Array({ minLength: 14, maxLength: 400 })], { numRuns: 2000 })(
    "arbitrary option bytes behind a valid header and checksum reach the option parser",
    (type, rest) => {
      const icmp = Uint8Array.from([type, 0, 0, 0, ...rest]);
      const r = decodeNdPacket(frameAround(icmp), "ethernet");
      expect(wellFormed(r)).toBe(true);
      expect(r.ok || (r.error.code !== RaErrorCode.BAD_CHECKSUM && r.error.code !== RaErrorCode.NOT_LINK_LOCAL)).toBe(true);
      expect(stableThroughEncoder(icmp)).toBe(true);
    },
  );

  test.prop([fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 6 })], { numRuns: 3000 })("mutated real advertisements", (seed, ms) => {
    const frame = mutate(seed, ms);
    expect(wellFormed(decodeNdPacket(frame, "ethernet"))).toBe(true);
    // The same mutations with the checksum put right, so the option parser sees them.
    if (frame.length >= 58) {
      const payload = frame.subarray(54);
      expect(wellFormed(decodeNdPacket(frameAround(payload), "ethernet"))).toBe(true);
      expect(stableThroughEncoder(payload)).toBe(true);
    }
  });
});

describe("encode → decode is the identity", () => {
  test.prop([routerAdvertisement])("Router Advertisements", (ra) => {
    const bytes = encodeNdMessage(ra);
    if (!bytes.ok) throw new Error(bytes.error.detail);
    expect(decodeNdMessage(bytes.value)).toEqual({ ok: true, value: ra });
  });

  test.prop([routerSolicitation])("Router Solicitations", (rs) => {
    const bytes = encodeNdMessage(rs);
    if (!bytes.ok) throw new Error(bytes.error.detail);
    expect(decodeNdMessage(bytes.value)).toEqual({ ok: true, value: rs });
  });

  test.prop([routerAdvertisement, linkLocal])("whole frames pass the RFC 4861 §6.1 checks", (ra, source) => {
    const frame = encodeNdPacket(ra, { sourceMac: ROUTER_MAC, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), source, destination: "ff02::1" });
    if (!frame.ok) throw new Error(frame.error.detail);
    expect(decodeNdPacket(frame.value, "ethernet")).toMatchObject({ ok: true, value: { source, hopLimit: 255, message: ra } });
  });
});
