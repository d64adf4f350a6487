/**
 * Cap'n Proto standard stream framing (the "segment table"), validated before decoding.
 *
 * A frame is: uint32 LE (segment count - 1), then one uint32 LE size in words per segment, padding
 * to a word boundary, then the segments. The reader checks the count and the total size against
 * its limits as soon as the header bytes are in, so a header claiming 0xB0000000 segments or a
 * 4 GiB segment is rejected after 4 (or 4 + 4n) bytes, without buffering or allocating for it.
 */
import { fail, ok, type ProtocolError, type Result } from "./errors.ts";
import { MAX_SEGMENTS, WORD_BYTES } from "./limits.ts";

/** What a frame header says, once validated. */
export interface FrameHeader {
  segmentCount: number;
  /** Header bytes including padding. */
  headerBytes: number;
  /** Header plus all segments. */
  totalBytes: number;
}

/** Limits a reader applies to every frame. */
export interface FrameLimits {
  maxFrameBytes: number;
  maxSegments?: number;
}

/**
 * Reads the segment table at the start of `buf`. Returns `ok(null)` when more bytes are needed
 * to decide, the header when it is complete and within limits, an error as soon as it is not.
 */
export function readFrameHeader(buf: Uint8Array, limits: FrameLimits): Result<FrameHeader | null> {
  const maxSegments = limits.maxSegments ?? MAX_SEGMENTS;
  if (buf.length < 4) return ok(null);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // The count is stored minus one; read as a float so 0xFFFFFFFF + 1 does not wrap.
  const segmentCount = view.getUint32(0, true) + 1;
  if (segmentCount > maxSegments) {
    return fail("PADDOCK_E_PROTO_TOO_MANY_SEGMENTS", `frame claims ${segmentCount} segments, limit ${maxSegments}`);
  }
  const headerBytes = Math.ceil((4 + 4 * segmentCount) / WORD_BYTES) * WORD_BYTES;
  if (headerBytes > limits.maxFrameBytes) {
    return fail("PADDOCK_E_PROTO_FRAME_TOO_LARGE", `frame header of ${headerBytes} bytes exceeds ${limits.maxFrameBytes}`);
  }
  // Check the running total as each size arrives, so an oversized first segment fails early.
  let totalBytes = headerBytes;
  for (let i = 0; i < segmentCount; i++) {
    const at = 4 + 4 * i;
    if (buf.length < at + 4) return ok(null);
    totalBytes += view.getUint32(at, true) * WORD_BYTES;
    if (totalBytes > limits.maxFrameBytes) {
      return fail("PADDOCK_E_PROTO_FRAME_TOO_LARGE", `frame of at least ${totalBytes} bytes exceeds ${limits.maxFrameBytes}`);
    }
  }
  if (totalBytes === headerBytes) {
    return fail("PADDOCK_E_PROTO_EMPTY_MESSAGE", "frame has no segment data (a message needs a root pointer)");
  }
  if (buf.length < headerBytes) return ok(null);
  return ok({ segmentCount, headerBytes, totalBytes });
}

/**
 * Splits a byte stream into validated frames. Feed it chunks as they arrive; it returns the
 * complete frames (each a copy the caller owns) and, on the first violation, an error after
 * which it refuses everything: a peer that broke the framing is not resynchronised, it is dropped.
 */
export class FrameReader {
  private buffered: Uint8Array = new Uint8Array(0);
  private broken: ProtocolError | null = null;

  constructor(private readonly limits: FrameLimits) {}

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered.length;
  }

  push(chunk: Uint8Array): { frames: Uint8Array[]; error: ProtocolError | null } {
    if (this.broken) return { frames: [], error: this.broken };
    this.buffered = this.buffered.length === 0 ? chunk : concat(this.buffered, chunk);
    const frames: Uint8Array[] = [];
    for (;;) {
      const header = readFrameHeader(this.buffered, this.limits);
      if (!header.ok) {
        this.broken = header.error;
        this.buffered = new Uint8Array(0);
        return { frames, error: header.error };
      }
      if (header.value === null || this.buffered.length < header.value.totalBytes) break;
      frames.push(this.buffered.slice(0, header.value.totalBytes));
      this.buffered = this.buffered.subarray(header.value.totalBytes);
    }
    // Keep the remainder in its own buffer so a retained tail does not pin a large chunk.
    if (this.buffered.length > 0 && this.buffered.byteOffset !== 0) this.buffered = this.buffered.slice();
    return { frames, error: null };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
