import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FrameReader,
  decodeKvRequest,
  decodeKvResponse,
  encodeKvRequest,
  encodeKvResponse,
  type KvRequest,
  type KvResponse,
} from "../src/index.ts";

const segment = fc.string({ minLength: 1, maxLength: 12 });
const op = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((value) => ({ kind: "write" as const, value })),
  fc.constant({ kind: "read" as const }),
  fc.constant({ kind: "delete" as const }),
  fc.constant({ kind: "list" as const }),
  fc.constant({ kind: "watch" as const }),
  fc.nat({ max: 0xffffffff }).map((tail) => ({ kind: "audit" as const, tail })),
);
const request: fc.Arbitrary<KvRequest> = fc.record({
  id: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  path: fc.array(segment, { maxLength: 6 }),
  op,
});
const response: fc.Arbitrary<KvResponse> = fc.record({
  id: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  result: fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((value) => ({ kind: "ok" as const, value })),
    fc.string({ maxLength: 40 }).map((message) => ({ kind: "error" as const, message })),
    fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }).map((paths) => ({ kind: "paths" as const, paths })),
    fc.record({
      seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      path: fc.array(segment, { maxLength: 4 }),
      change: fc.oneof(
        fc.uint8Array({ maxLength: 16 }).map((value) => ({ kind: "written" as const, value })),
        fc.constant({ kind: "deleted" as const }),
      ),
    }).map((event) => ({ kind: "event" as const, event })),
  ),
});

describe("KV messages", () => {
  it("round-trips every request", () => {
    fc.assert(fc.property(request, (req) => {
      expect(decodeKvRequest(encodeKvRequest(req))).toEqual({ ok: true, value: req });
    }));
  });

  it("round-trips every response", () => {
    fc.assert(fc.property(response, (res) => {
      expect(decodeKvResponse(encodeKvResponse(res))).toEqual({ ok: true, value: res });
    }));
  });

  it("rejects a path deeper than the limit", () => {
    const r = decodeKvRequest(encodeKvRequest({ id: 1, path: Array(9).fill("a"), op: { kind: "read" } }));
    expect(r.ok || r.error.code).toBe("PADDOCK_E_PROTO_BAD_REQUEST");
  });

  it("rejects an overlong segment", () => {
    const r = decodeKvRequest(encodeKvRequest({ id: 1, path: ["x".repeat(65)], op: { kind: "read" } }));
    expect(r.ok || r.error.code).toBe("PADDOCK_E_PROTO_BAD_REQUEST");
  });

  it("decodes arbitrary bytes to a request or a typed error, never an exception", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const r = decodeKvRequest(bytes);
      if (!r.ok) expect(r.error.code).toMatch(/^PADDOCK_E_PROTO_/);
      const s = decodeKvResponse(bytes);
      if (!s.ok) expect(s.error.code).toMatch(/^PADDOCK_E_PROTO_/);
    }), { numRuns: 5000 });
  });

  it("survives mutated valid messages (framed first, as the server does)", () => {
    fc.assert(fc.property(request, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (req, flips) => {
      const frame = encodeKvRequest(req);
      for (const [at, v] of flips) frame[at % frame.length] = v;
      const { frames, error } = new FrameReader({ maxFrameBytes: 4096 }).push(frame);
      if (error) expect(error.code).toMatch(/^PADDOCK_E_PROTO_/);
      for (const f of frames) {
        const r = decodeKvRequest(f);
        if (!r.ok) expect(r.error.code).toMatch(/^PADDOCK_E_PROTO_/);
      }
    }), { numRuns: 5000 });
  });
});
