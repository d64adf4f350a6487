import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, MAX_SEND_TAG, type DataMessage } from "../src/index.ts";

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const message: fc.Arbitrary<DataMessage> = fc.oneof(
  fc.record({ kind: fc.constant("frame" as const), data: fc.uint8Array({ maxLength: 1600 }), rxTimeNs: u64 }),
  fc.record({
    kind: fc.constant("datagram" as const),
    data: fc.uint8Array({ maxLength: 600 }),
    peerAddress: fc.ipV4(),
    peerPort: fc.integer({ min: 0, max: 65535 }),
    rxTimeNs: u64,
    // Absent, never 0: decoding gives no sendTag for 0 ("none").
    sendTag: fc.integer({ min: 1, max: MAX_SEND_TAG }),
  }, { requiredKeys: ["kind", "data", "peerAddress", "peerPort", "rxTimeNs"] }),
  fc.record({ kind: fc.constant("link" as const), up: fc.boolean(), carrier: fc.boolean(), mtu: fc.nat({ max: 0xffffffff }) }),
  fc.record({ kind: fc.constant("txTime" as const), sendTag: fc.nat({ max: MAX_SEND_TAG }), txTimeNs: u64 }),
);

/**
 * A datagram as the schema before sendTag and txTime encoded it (capnp-ts 0.9.3, generated code of
 * commit 1bd9770): data 01 02 03 from 192.0.2.1:123 at 1700000000123456789 ns.
 */
const DATAGRAM_BEFORE_SEND_TAG =
  "000000000a0000000000000001000100010000000000000000000000020002007b0000000000000015cd853dfe9c9717050000001a000000050000005200000001020300000000003139322e302e322e3100000000000000";

describe("data-path messages", () => {
  it("round-trip", () => {
    fc.assert(fc.property(message, (m) => {
      expect(decodeDataMessage(encodeDataMessage(m))).toEqual({ ok: true, value: m });
    }));
  });

  it("reads a datagram encoded before sendTag existed as untagged, and a tag of 0 as none", () => {
    const old = new Uint8Array(Buffer.from(DATAGRAM_BEFORE_SEND_TAG, "hex"));
    const want: DataMessage = { kind: "datagram", data: new Uint8Array([1, 2, 3]), peerAddress: "192.0.2.1", peerPort: 123, rxTimeNs: 1_700_000_000_123_456_789n };
    expect(decodeDataMessage(old)).toEqual({ ok: true, value: want });
    // The new field sits in the old struct's padding: an untagged datagram encodes to the same bytes.
    expect(Buffer.from(encodeDataMessage(want)).toString("hex")).toBe(DATAGRAM_BEFORE_SEND_TAG);
    expect(decodeDataMessage(encodeDataMessage({ ...want, sendTag: 0 }))).toEqual({ ok: true, value: want });
    expect(decodeDataMessage(encodeDataMessage({ ...want, sendTag: 7 }))).toEqual({ ok: true, value: { ...want, sendTag: 7 } });
  });

  it("a full-size Ethernet frame fits the data-path frame limit", () => {
    const f = encodeDataMessage({ kind: "frame", data: new Uint8Array(1518), rxTimeNs: 1n });
    expect(f.length).toBeLessThan(MAX_DATA_FRAME_BYTES);
  });

  it("decode arbitrary and mutated bytes to a message or a typed error", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const r = decodeDataMessage(b);
      if (!r.ok) expect(r.error.code).toMatch(/^PADDOCK_E_PROTO_/);
    }), { numRuns: 3000 });
    fc.assert(fc.property(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (m, flips) => {
      const bytes = encodeDataMessage(m);
      for (const [at, v] of flips) bytes[at % bytes.length] = v;
      for (const f of new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES }).push(bytes).frames) {
        const r = decodeDataMessage(f);
        if (!r.ok) expect(r.error.code).toMatch(/^PADDOCK_E_PROTO_/);
      }
    }), { numRuns: 3000 });
  });
});
