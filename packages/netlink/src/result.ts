/**
 * The decoder's result type. Decoding is total (STYLE.md 3): every byte string gives either a
 * typed value or one of these typed errors with a stable code; nothing throws.
 */

/** Stable codes for decode failures. */
export type NetlinkDecodeErrorCode =
  /** Fewer bytes than a header or fixed struct needs. */
  | "PADDOCK_E_NETLINK_TRUNCATED"
  /** A length field that cannot be right: below the header size, or past the end of its container. */
  | "PADDOCK_E_NETLINK_BAD_LENGTH"
  /** 1–3 bytes left after the last message or attribute: not a whole header, not padding. */
  | "PADDOCK_E_NETLINK_TRAILING_BYTES"
  /** A known attribute whose size or content does not match its kernel type. */
  | "PADDOCK_E_NETLINK_BAD_ATTRIBUTE"
  /** Attributes nested deeper than MAX_NEST_DEPTH. */
  | "PADDOCK_E_NETLINK_TOO_DEEP";

/** A decode failure: stable code, a sentence for humans, and where in the input it happened. */
export interface NetlinkDecodeError {
  readonly code: NetlinkDecodeErrorCode;
  readonly message: string;
  /** Byte offset in the input being decoded where the problem was found. */
  readonly offset: number;
}

/** A typed value or a typed error. */
export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: NetlinkDecodeError };

/** Wraps a value. */
export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

/** Builds a decode failure. */
export function fail<T>(code: NetlinkDecodeErrorCode, message: string, offset: number): Decoded<T> {
  return { ok: false, error: { code, message, offset } };
}
