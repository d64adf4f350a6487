/**
 * The result type of the NTP codec and the stable error codes it returns.
 *
 * The codec parses bytes an untrusted network sent; it never throws (STYLE.md §3). Each kind of
 * malformation has its own code; the codes are part of the interface: add new ones, never rename
 * or reuse one.
 */

/** Every error code the NTP codec can return. */
export const NtpErrorCode = {
  /** Fewer bytes than the header (48 bytes; 12 for mode 6, 8 for mode 7) or a declared length needs. */
  TRUNCATED: "PADDOCK_E_NTP_TRUNCATED",
  /** Version 0, or above 4: no NTP version has that number (RFC 5905 §7.3). */
  BAD_VERSION: "PADDOCK_E_NTP_BAD_VERSION",
  /** An extension field whose length is below 16, not a multiple of 4, or past the end (RFC 7822 §3). */
  BAD_EXTENSION: "PADDOCK_E_NTP_BAD_EXTENSION",
  /** More extension fields than {@link MAX_EXTENSION_FIELDS}: refused to bound the work. */
  TOO_MANY_EXTENSIONS: "PADDOCK_E_NTP_TOO_MANY_EXTENSIONS",
  /** Bytes after the header (and extension fields) that are neither a MAC nor an extension field. */
  BAD_TRAILER: "PADDOCK_E_NTP_BAD_TRAILER",
  /** A datagram larger than {@link MAX_PACKET_BYTES}. */
  TOO_LONG: "PADDOCK_E_NTP_TOO_LONG",
  /** The encoder was given a value it cannot put on the wire (out of range, wrong length). */
  UNENCODABLE: "PADDOCK_E_NTP_UNENCODABLE",
} as const;

/** One of the stable error code strings in {@link NtpErrorCode}. */
export type NtpErrorCode = (typeof NtpErrorCode)[keyof typeof NtpErrorCode];

/** What went wrong, with a stable `code` for machines and a `detail` sentence for people. */
export interface NtpError {
  code: NtpErrorCode;
  detail: string;
}

/** A typed value or a typed error: what the codec returns instead of throwing. */
export type NtpResult<T> = { ok: true; value: T } | { ok: false; error: NtpError };

/** Wraps a value as a successful result. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Builds a failed result with a code and a detail sentence. */
export function fail(code: NtpErrorCode, detail: string): { ok: false; error: NtpError } {
  return { ok: false, error: { code, detail } };
}
