import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FrameReader,
  MAX_CALF_FRAME_BYTES,
  MAX_SEGMENTS,
  decodeKvRequest,
  encodeKvRequest,
  readFrameHeader,
} from "../src/index.ts";

const limits = { maxFrameBytes: MAX_CALF_FRAME_BYTES };
const te = new TextEncoder();

function sample(id = 1) {
  return encodeKvRequest({ id, path: ["ip"], op: { kind: "write", value: te.encode("10.1.2.3/24") } });
}

describe("readFrameHeader", () => {
  it("rejects a 16-byte header claiming 0xB0000000 segments after its first word", () => {
    const hostile = new Uint8Array(16);
    new DataView(hostile.buffer).setUint32(0, 0xb0000000 - 1, true);
    const r = readFrameHeader(hostile.subarray(0, 4), limits);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("PADDOCK_E_PROTO_TOO_MANY_SEGMENTS");
  });

  it("rejects a segment size that would exceed the frame limit before the segment arrives", () => {
    const hdr = new Uint8Array(8);
    new DataView(hdr.buffer).setUint32(4, 0xffffffff, true);
    const r = readFrameHeader(hdr, limits);
    expect(r.ok || r.error.code).toBe("PADDOCK_E_PROTO_FRAME_TOO_LARGE");
  });

  it("rejects a frame with no segment data", () => {
    const r = readFrameHeader(new Uint8Array(8), limits);
    expect(r.ok || r.error.code).toBe("PADDOCK_E_PROTO_EMPTY_MESSAGE");
  });

  it("asks for more bytes on a partial header", () => {
    const hdr = new Uint8Array(4);
    new DataView(hdr.buffer).setUint32(0, 3, true); // four segments: 20 header bytes needed
    expect(readFrameHeader(hdr, limits)).toEqual({ ok: true, value: null });
  });

  it("accepts the largest allowed segment count", () => {
    const n = MAX_SEGMENTS;
    const hdr = new Uint8Array(Math.ceil((4 + 4 * n) / 8) * 8);
    const v = new DataView(hdr.buffer);
    v.setUint32(0, n - 1, true);
    for (let i = 0; i < n; i++) v.setUint32(4 + 4 * i, 1, true);
    const r = readFrameHeader(hdr, limits);
    expect(r.ok && r.value?.totalBytes).toBe(hdr.length + 8 * n);
  });
});

describe("FrameReader", () => {
  it("reassembles frames split at every byte boundary, and pipelined frames in one chunk", () => {
    const frames = [sample(1), sample(2), sample(3)];
    const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) { stream.set(f, at); at += f.length; }
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new FrameReader(limits);
      const a = reader.push(stream.slice(0, cut));
      const b = reader.push(stream.slice(cut));
      const got = [...a.frames, ...b.frames].map((f) => decodeKvRequest(f));
      expect(got.map((r) => r.ok && r.value.id)).toEqual([1, 2, 3]);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  it("stays broken after a violation and returns the same error", () => {
    const reader = new FrameReader(limits);
    const first = reader.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    expect(first.error?.code).toBe("PADDOCK_E_PROTO_TOO_MANY_SEGMENTS");
    const again = reader.push(sample());
    expect(again.frames).toEqual([]);
    expect(again.error?.code).toBe("PADDOCK_E_PROTO_TOO_MANY_SEGMENTS");
  });

  it("never throws and never returns a frame over the limit, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const reader = new FrameReader({ maxFrameBytes: 512 });
        for (const c of chunks) {
          const r = reader.push(c);
          for (const f of r.frames) expect(f.length).toBeLessThanOrEqual(512);
          if (r.error) expect(r.error.code).toMatch(/^PADDOCK_E_PROTO_/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
