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
  try {
    return read();
  } catch (err) {
    return fail("PADDOCK_E_PROTO_DECODE", `${what}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
}

