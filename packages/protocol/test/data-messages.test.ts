import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, type DataMessage } from "../src/index.ts";

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const message: fc.Arbitrary<DataMessage> = fc.oneof(
  fc.record({ kind: fc.constant("frame" as const), data: fc.uint8Array({ maxLength: 1600 }), rxTimeNs: u64 }),
  fc.record({
    kind: fc.constant("datagram" as const),
    data: fc.uint8Array({ maxLength: 600 }),
    peerAddress: fc.ipV4(),
    peerPort: fc.integer({ min: 0, max: 65535 }),
    rxTimeNs: u64,
  }),
  fc.record({ kind: fc.constant("link" as const), up: fc.boolean(), carrier: fc.boolean(), mtu: fc.nat({ max: 0xffffffff }) }),
);

describe("data-path messages", () => {
  it("round-trip", () => {
    fc.assert(fc.property(message, (m) => {
      expect(decodeDataMessage(encodeDataMessage(m))).toEqual({ ok: true, value: m });
    }));
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
