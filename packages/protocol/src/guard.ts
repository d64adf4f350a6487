/**
 * The one place where capnp-ts reads untrusted bytes.
 */
import { fail, type Result } from "./errors.ts";
import { readFrameHeader } from "./framing.ts";

/**
 * Runs a capnp-ts read on one frame, turning anything it throws on a hostile message into a typed
 * error. The segment table is checked first, whoever the caller is: capnp-ts trusts it.
 */
export function guarded<T>(what: string, frame: Uint8Array, read: () => Result<T>): Result<T> {
  const header = readFrameHeader(frame, { maxFrameBytes: frame.length });
  if (!header.ok) return header;
  if (header.value === null || header.value.totalBytes !== frame.length) {
    return fail("PADDOCK_E_PROTO_DECODE", `${what}: segment table does not match the ${frame.length}-byte frame`);
  }
  const shape = checkPointers(frame, header.value.headerBytes, header.value.segmentCount);
  if (shape !== null) return fail("PADDOCK_E_PROTO_DECODE", `${what}: ${shape}`);
  try {
    return read();
  } catch (err) {
    return fail("PADDOCK_E_PROTO_DECODE", `${what}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
}


/**
 * Deepest pointer nesting our messages have (Request → Commit → List(Change) → Change → path
 * List(Text) → Text is 5); 16 leaves room for new fields and stops a hostile chain early.
 */
export const MAX_POINTER_DEPTH = 16;

const WORD = 8;

/**
 * Walks every pointer of a one-segment message, bounded, before capnp-ts sees it: what our encoder
 * never writes is refused here, cheaply — far pointers (a far pointer to itself made capnp-ts
 * recurse until the stack overflowed, ~5–20 ms of CPU per 40-byte message), capability pointers,
 * more than one segment, targets outside the segment, nesting deeper than MAX_POINTER_DEPTH, and
 * more pointers than the message has words (no pointer graph of ours revisits a word). Null when
 * the shape is fine; otherwise one sentence.
 */
export function checkPointers(frame: Uint8Array, headerBytes: number, segmentCount: number): string | null {
  if (segmentCount !== 1) return `${segmentCount} segments (our messages have one)`;
  const words = (frame.length - headerBytes) / WORD;
  const view = new DataView(frame.buffer, frame.byteOffset + headerBytes, frame.length - headerBytes);
  let budget = words;
  // Each entry: the word index of a pointer, and its depth.
  const stack: Array<[number, number]> = [[0, 0]];
  while (stack.length > 0) {
    const [at, depth] = stack.pop()!;
    if (--budget < 0) return "more pointers than the message has words";
    if (depth > MAX_POINTER_DEPTH) return `pointers nested deeper than ${MAX_POINTER_DEPTH}`;
    const lo = view.getUint32(at * WORD, true);
    const hi = view.getUint32(at * WORD + 4, true);
    if (lo === 0 && hi === 0) continue; // null
    const kind = lo & 3;
    if (kind === 2) return "a far pointer (our messages have none)";
    if (kind === 3) return "a capability pointer (our messages have none)";
    const target = at + 1 + (lo >> 2); // signed 30-bit word offset
    if (kind === 0) {
      const dataWords = hi & 0xffff;
      const pointers = hi >>> 16;
      if (target < 0 || target + dataWords + pointers > words) return "a struct outside the segment";
      for (let i = 0; i < pointers; i++) stack.push([target + dataWords + i, depth + 1]);
      continue;
    }
    // A list: element size (3 bits), element count (29 bits; for composite lists, words).
    const size = hi & 7;
    const count = hi >>> 3;
    if (target < 0) return "a list outside the segment";
    if (size === 7) {
      if (target + 1 + count > words) return "a list outside the segment";
      const tagLo = view.getUint32(target * WORD, true);
      const tagHi = view.getUint32(target * WORD + 4, true);
      if ((tagLo & 3) !== 0) return "a composite list whose tag is not a struct";
      const elements = tagLo >>> 2;
      const dataWords = tagHi & 0xffff;
      const pointers = tagHi >>> 16;
      if (elements * (dataWords + pointers) > count) return "a composite list larger than its words";
      for (let e = 0; e < elements; e++) {
        const base = target + 1 + e * (dataWords + pointers);
        for (let i = 0; i < pointers; i++) stack.push([base + dataWords + i, depth + 1]);
      }
      continue;
    }
    const bits = [0, 1, 8, 16, 32, 64, 64][size]!;
    const listWords = Math.ceil((count * bits) / 64);
    if (target + listWords > words) return "a list outside the segment";
    if (size === 6) for (let i = 0; i < count; i++) stack.push([target + i, depth + 1]);
  }
  return null;
}
