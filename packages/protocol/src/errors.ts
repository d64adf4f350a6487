/** Stable error codes of the wire protocol. A peer that triggers one is disconnected. */
export type ProtocolErrorCode =
  | "PADDOCK_E_PROTO_TOO_MANY_SEGMENTS"
  | "PADDOCK_E_PROTO_EMPTY_MESSAGE"
  | "PADDOCK_E_PROTO_FRAME_TOO_LARGE"
  | "PADDOCK_E_PROTO_DECODE"
  | "PADDOCK_E_PROTO_BAD_REQUEST"
  /** The peer closed its side in the middle of a frame. */
  | "PADDOCK_E_PROTO_TRUNCATED"
  /** A partial frame was left incomplete for too long. */
  | "PADDOCK_E_PROTO_STALLED";

/** A violation of the protocol contract: a code that tests and logs can rely on, and what was wrong. */
export interface ProtocolError {
  code: ProtocolErrorCode;
  detail: string;
}

/** The result of every decoder in this package: a value or a typed error, never an exception. */
export type Result<T, E = ProtocolError> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail(code: ProtocolErrorCode, detail: string): { ok: false; error: ProtocolError } {
  return { ok: false, error: { code, detail } };
}
