import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FrameReader,
  MAX_COMMIT_CHANGES,
  decodeKvRequest,
  decodeKvResponse,
  encodeKvRequest,
  encodeKvResponse,
  type KvRequest,
  type KvResponse,
} from "../src/index.ts";

const segment = fc.string({ minLength: 1, maxLength: 12 });
const change = fc.record({
  path: fc.array(segment, { maxLength: 6 }),
  value: fc.option(fc.uint8Array({ maxLength: 32 }), { nil: null }),
});
const op = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((value) => ({ kind: "write" as const, value })),
  fc.constant({ kind: "read" as const }),
  fc.constant({ kind: "delete" as const }),
  fc.constant({ kind: "list" as const }),
  fc.constant({ kind: "watch" as const }),
  fc.nat({ max: 0xffffffff }).map((tail) => ({ kind: "audit" as const, tail })),
  fc.constant({ kind: "info" as const }),
  fc.array(change, { maxLength: 12 }).map((changes) => ({ kind: "commit" as const, changes })),
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

  it("round-trips a commit of MAX_COMMIT_CHANGES changes, and rejects one more", () => {
    const changes = Array.from({ length: MAX_COMMIT_CHANGES }, (_, i) => ({ path: ["route", String(i).padStart(3, "0")], value: i % 2 ? null : new Uint8Array([i]) }));
    const full: KvRequest = { id: 5, path: [], op: { kind: "commit", changes } };
    expect(decodeKvRequest(encodeKvRequest(full))).toEqual({ ok: true, value: full });
    const over = encodeKvRequest({ id: 5, path: [], op: { kind: "commit", changes: [...changes, { path: ["ip"], value: null }] } });
    const r = decodeKvRequest(over);
    expect(r.ok || r.error).toEqual({ code: "PADDOCK_E_PROTO_BAD_REQUEST", detail: `commit has ${MAX_COMMIT_CHANGES + 1} changes, limit ${MAX_COMMIT_CHANGES}` });
  });

  it("applies the path limits to every change of a commit", () => {
    for (const path of [Array(9).fill("a"), ["x".repeat(65)], Array(8).fill("y".repeat(40))]) {
      const r = decodeKvRequest(encodeKvRequest({ id: 1, path: [], op: { kind: "commit", changes: [{ path: ["ip"], value: null }, { path, value: null }] } }));
      expect(r.ok || r.error.code).toBe("PADDOCK_E_PROTO_BAD_REQUEST");
      expect(r.ok || r.error.detail).toMatch(/^change 1: /);
    }
  });

  it.each([
    ["2^29 - 1", 0x1fffffff],
    ["129", MAX_COMMIT_CHANGES + 1],
    ["a negative", -1], // capnp-ts reads the tag's count as a signed 30-bit offset
  ])("refuses %s change count in a list of zero-sized changes before reading it", (_name, count) => {
    // A composite list of zero-sized structs may claim 2^29 elements in no words at all, and
    // capnp-ts would copy it into count × sizeof(Change) bytes: the count is refused first.
    const frame = encodeKvRequest({ id: 1, path: [], op: { kind: "commit", changes: [{ path: [], value: null }] } });
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const SEGMENT = 8; // one-segment frame: the segment table is one word
    let patched = false;
    for (let at = SEGMENT; at + 8 <= frame.length; at += 8) {
      const lo = view.getUint32(at, true);
      const hi = view.getUint32(at + 4, true);
      if ((lo & 3) !== 1 || (hi & 7) !== 7) continue; // a list pointer of composite elements
      const tag = at + 8 + (lo >> 2) * 8;
      view.setUint32(at + 4, 7, true); // no words of content
      view.setUint32(tag, ((count & 0x3fffffff) << 2) >>> 0, true); // element count in the tag's offset field
      view.setUint32(tag + 4, 0, true); // zero data words, zero pointers per element
      patched = true;
      break;
    }
    expect(patched).toBe(true);
    const r = decodeKvRequest(frame);
    expect(r.ok || r.error).toEqual({ code: "PADDOCK_E_PROTO_BAD_REQUEST", detail: `commit has ${count} changes, limit ${MAX_COMMIT_CHANGES}` });
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

describe("the pointer walk before capnp-ts (issue 13 C4)", () => {
  /** A one-segment frame holding `words` (little-endian u32 pairs). */
  function frameOf(words: Array<[number, number]>): Uint8Array {
    const f = new Uint8Array(8 + words.length * 8);
    const dv = new DataView(f.buffer);
    dv.setUint32(0, 0, true);
    dv.setUint32(4, words.length, true);
    words.forEach(([lo, hi], i) => {
      dv.setUint32(8 + i * 8, lo >>> 0, true);
      dv.setUint32(12 + i * 8, hi >>> 0, true);
    });
    return f;
  }

  it("refuses a far pointer to itself (capnp-ts recursed on it until the stack overflowed)", () => {
    const r = decodeKvRequest(frameOf([[2, 0], [0, 0], [0, 0], [0, 0]]));
    expect(r).toMatchObject({ ok: false, error: { code: "PADDOCK_E_PROTO_DECODE", detail: "request: a far pointer (our messages have none)" } });
  });

  it("refuses capability pointers, targets outside the segment, and chains deeper than the limit", () => {
    expect(decodeKvRequest(frameOf([[3, 0], [0, 0]]))).toMatchObject({ ok: false, error: { detail: expect.stringContaining("capability pointer") } });
    // A struct pointer whose target runs past the segment.
    expect(decodeKvRequest(frameOf([[0, (1 << 16) | 4], [0, 0]]))).toMatchObject({ ok: false, error: { detail: expect.stringContaining("outside the segment") } });
    // A chain of structs, each holding one pointer to the next word.
    const chain: Array<[number, number]> = [];
    for (let i = 0; i < 40; i++) chain.push([0, 1 << 16]);
    chain.push([0, 0]);
    expect(decodeKvRequest(frameOf(chain))).toMatchObject({ ok: false, error: { detail: expect.stringContaining("nested deeper") } });
  });

  it("lets every message our encoder writes through", () => {
    const req = encodeKvRequest({ id: 7, path: [], op: { kind: "commit", changes: Array.from({ length: 64 }, (_, i) => ({ path: ["nameserver", String(i).padStart(3, "0")], value: i % 2 ? null : new TextEncoder().encode("10.0.0.1") })) } });
    expect(decodeKvRequest(req).ok).toBe(true);
  });
});
