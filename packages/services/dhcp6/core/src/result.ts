/**
 * The result type of the DHCPv6 codec and the stable error codes it returns.
 *
 * The codec parses bytes an untrusted network sent; it never throws (STYLE.md §3). Each kind of
 * malformation has its own code; the codes are part of the interface: add new ones, never rename
 * or reuse one.
 */

/** Every error code the DHCPv6 codec and client configuration can return. */
export const Dhcp6ErrorCode = {
  /** Fewer bytes than the 4-byte header, an option header or a fixed option field needs. */
  TRUNCATED: "PADDOCK_E_DHCP6_TRUNCATED",
  /** A datagram larger than {@link MAX_MESSAGE_BYTES}. */
  TOO_LONG: "PADDOCK_E_DHCP6_TOO_LONG",
  /** A message type this client core does not decode (0, relay messages, types above 11). */
  BAD_MESSAGE_TYPE: "PADDOCK_E_DHCP6_BAD_MESSAGE_TYPE",
  /** An option whose length field runs past the end of the data holding it (RFC 8415 §21.1). */
  OPTION_OVERRUN: "PADDOCK_E_DHCP6_OPTION_OVERRUN",
  /** An option whose length does not fit its type, e.g. an ELAPSED_TIME of 3 bytes. */
  BAD_OPTION_LENGTH: "PADDOCK_E_DHCP6_BAD_OPTION_LENGTH",
  /** A DUID shorter than its type needs or longer than 130 bytes (RFC 8415 §11.1). */
  BAD_DUID: "PADDOCK_E_DHCP6_BAD_DUID",
  /** A domain name that is malformed: label > 63, name > 255, cut short, or compressed (RFC 8415 §10). */
  BAD_DOMAIN_NAME: "PADDOCK_E_DHCP6_BAD_DOMAIN_NAME",
  /** An IAPREFIX longer than 128 bits, or a PD_EXCLUDE that does not fit its prefix (RFC 6603 §4.2). */
  BAD_PREFIX: "PADDOCK_E_DHCP6_BAD_PREFIX",
  /** Options nested deeper than {@link MAX_OPTION_DEPTH}. */
  TOO_DEEP: "PADDOCK_E_DHCP6_TOO_DEEP",
  /** More options in one message than {@link MAX_OPTIONS_PER_MESSAGE}. */
  TOO_MANY_OPTIONS: "PADDOCK_E_DHCP6_TOO_MANY_OPTIONS",
  /** More IA_NA/IA_PD options than {@link MAX_IAS_PER_MESSAGE}. */
  TOO_MANY_IAS: "PADDOCK_E_DHCP6_TOO_MANY_IAS",
  /** More IAADDR/IAPREFIX options in one IA than {@link MAX_LEASES_PER_IA}. */
  TOO_MANY_ADDRESSES: "PADDOCK_E_DHCP6_TOO_MANY_ADDRESSES",
  /** More DNS servers than {@link MAX_DNS_SERVERS}. */
  TOO_MANY_DNS_SERVERS: "PADDOCK_E_DHCP6_TOO_MANY_DNS_SERVERS",
  /** More search domains than {@link MAX_DOMAINS}. */
  TOO_MANY_DOMAINS: "PADDOCK_E_DHCP6_TOO_MANY_DOMAINS",
  /** The encoder was given a value it cannot put on the wire (out of range, too long). */
  UNENCODABLE: "PADDOCK_E_DHCP6_UNENCODABLE",
  /** The client was configured with a value it cannot use (bad IAID, DUID, mode). */
  BAD_CONFIG: "PADDOCK_E_DHCP6_BAD_CONFIG",
} as const;

/** One of the stable error code strings in {@link Dhcp6ErrorCode}. */
export type Dhcp6ErrorCode = (typeof Dhcp6ErrorCode)[keyof typeof Dhcp6ErrorCode];

/** What went wrong, with a stable `code` for machines and a `detail` sentence for people. */
export interface Dhcp6Error {
  code: Dhcp6ErrorCode;
  detail: string;
}

/** A typed value or a typed error: what the codec returns instead of throwing. */
export type Dhcp6Result<T> = { ok: true; value: T } | { ok: false; error: Dhcp6Error };

/** Wraps a value as a successful result. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Builds a failed result with a code and a detail sentence. */
export function fail(code: Dhcp6ErrorCode, detail: string): { ok: false; error: Dhcp6Error } {
  return { ok: false, error: { code, detail } };
}
