/**
 * The result type of the ND codec and the RA core, and the stable error codes they return.
 *
 * The codec parses bytes an untrusted network sent; it never throws (STYLE.md §3). Each kind of
 * malformation has its own code; the codes are part of the interface: add new ones, never rename
 * or reuse one.
 */

/** Every error code the ND codec, the RA client and the interface identifier helpers can return. */
export const RaErrorCode = {
  /** Fewer bytes than a header, a field or a declared length needs. */
  TRUNCATED: "PADDOCK_E_RA_TRUNCATED",
  /** More bytes than {@link MAX_ND_PACKET_BYTES}: no IPv6 packet without a jumbogram is that long. */
  TOO_LONG: "PADDOCK_E_RA_TOO_LONG",
  /** Not an IPv6 packet (EtherType, or IP version), or not ICMPv6 directly after the IPv6 header. */
  NOT_ICMPV6: "PADDOCK_E_RA_NOT_ICMPV6",
  /** An ICMPv6 type other than the one asked for (133 Router Solicitation, 134 Router Advertisement). */
  WRONG_TYPE: "PADDOCK_E_RA_WRONG_TYPE",
  /** RFC 4861 §6.1.2: ICMPv6 code is not 0. */
  BAD_CODE: "PADDOCK_E_RA_BAD_CODE",
  /** RFC 4861 §6.1.2: the IPv6 hop limit is not 255, so the packet may come from off the link. */
  BAD_HOP_LIMIT: "PADDOCK_E_RA_BAD_HOP_LIMIT",
  /** RFC 4861 §6.1.2: a Router Advertisement whose IPv6 source is not link-local (fe80::/10). */
  NOT_LINK_LOCAL: "PADDOCK_E_RA_NOT_LINK_LOCAL",
  /** RFC 4861 §6.1.1: a Router Solicitation from the unspecified address with a link-layer address option. */
  BAD_SOURCE: "PADDOCK_E_RA_BAD_SOURCE",
  /** The ICMPv6 checksum (over the RFC 8200 §8.1 pseudo-header) does not match. */
  BAD_CHECKSUM: "PADDOCK_E_RA_BAD_CHECKSUM",
  /** RFC 4861 §6.1.2: an option with length 0; the RFC says to discard the whole packet. */
  ZERO_LENGTH_OPTION: "PADDOCK_E_RA_ZERO_LENGTH_OPTION",
  /** An option whose declared length runs past the end of the message. */
  OPTION_PAST_END: "PADDOCK_E_RA_OPTION_PAST_END",
  /**
   * An option of a known type whose contents break its RFC (a Route Information prefix length
   * above 128, an RDNSS option of even length, a compressed DNSSL name, …). Only that option is
   * ignored (kept as `{ kind: "malformed" }`); the rest of the message still counts.
   */
  BAD_OPTION: "PADDOCK_E_RA_BAD_OPTION",
  /** The encoder was given a value it cannot put on the wire (out of range, wrong length). */
  UNENCODABLE: "PADDOCK_E_RA_UNENCODABLE",
  /** A text that is not an IPv6 address, or a MAC that is not 6 bytes. */
  BAD_ADDRESS: "PADDOCK_E_RA_BAD_ADDRESS",
  /** An RFC 7217 secret shorter than {@link MIN_SECRET_BYTES}, or another unusable identifier input. */
  BAD_SECRET: "PADDOCK_E_RA_BAD_SECRET",
  /** No usable interface identifier after {@link MAX_IID_ATTEMPTS} counter values (all reserved). */
  NO_IID: "PADDOCK_E_RA_NO_IID",
  /** A client configuration the core cannot run with. */
  BAD_CONFIG: "PADDOCK_E_RA_BAD_CONFIG",
} as const;

/** One of the stable error code strings in {@link RaErrorCode}. */
export type RaErrorCode = (typeof RaErrorCode)[keyof typeof RaErrorCode];

/** What went wrong, with a stable `code` for machines and a `detail` sentence for people. */
export interface RaError {
  code: RaErrorCode;
  detail: string;
}

/** A typed value or a typed error: what the codec returns instead of throwing. */
export type RaResult<T> = { ok: true; value: T } | { ok: false; error: RaError };

/** Wraps a value as a successful result. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Builds a failed result with a code and a detail sentence. */
export function fail(code: RaErrorCode, detail: string): { ok: false; error: RaError } {
  return { ok: false, error: { code, detail } };
}
