/**
 * The result type of every codec in this package, and the stable error codes it returns.
 *
 * Codecs parse bytes that an untrusted network sent; they never throw (STYLE.md §3). Each kind of
 * malformation has its own code so that tests, logs and `paddock dhcp decode` can name it; the
 * codes are part of the interface: add new ones, never rename or reuse one.
 */

/** Every error code a DHCP codec, the capture reader or the frame decoder can return. */
export const DhcpErrorCode = {
  /** Fewer bytes than a header or a declared length needs (which layer is in the detail). */
  TRUNCATED: "PADDOCK_E_DHCP_TRUNCATED",
  /** The Ethernet frame carries something other than IPv4 (after at most two VLAN tags). */
  NOT_IPV4: "PADDOCK_E_DHCP_NOT_IPV4",
  /** IPv4 version is not 4, IHL < 5, or total length shorter than the header. */
  BAD_IP_HEADER: "PADDOCK_E_DHCP_BAD_IP_HEADER",
  /** IPv4 header checksum does not verify (RFC 791 §3.1). */
  BAD_IP_CHECKSUM: "PADDOCK_E_DHCP_BAD_IP_CHECKSUM",
  /** An IPv4 fragment (MF set or non-zero offset): DHCP messages are never reassembled here. */
  FRAGMENT: "PADDOCK_E_DHCP_FRAGMENT",
  /** The IPv4 payload is not UDP. */
  NOT_UDP: "PADDOCK_E_DHCP_NOT_UDP",
  /** UDP length field below 8 or beyond the IPv4 payload (RFC 768). */
  BAD_UDP_LENGTH: "PADDOCK_E_DHCP_BAD_UDP_LENGTH",
  /** A non-zero UDP checksum does not verify (RFC 768). */
  BAD_UDP_CHECKSUM: "PADDOCK_E_DHCP_BAD_UDP_CHECKSUM",
  /** Neither UDP port is 67 or 68 (RFC 2131 §4.1). */
  NOT_DHCP_PORT: "PADDOCK_E_DHCP_NOT_DHCP_PORT",
  /** The four bytes after the BOOTP header are not 99.130.83.99, or are missing (RFC 2131 §3). */
  BAD_COOKIE: "PADDOCK_E_DHCP_BAD_COOKIE",
  /** An option's length field runs past the end of the field that holds it (RFC 2132 §2). */
  OPTION_OVERRUN: "PADDOCK_E_DHCP_OPTION_OVERRUN",
  /** An option's (concatenated) length does not fit its type, e.g. a subnet mask of 3 bytes. */
  BAD_OPTION_LENGTH: "PADDOCK_E_DHCP_BAD_OPTION_LENGTH",
  /** Option 52 with a value other than 1, 2 or 3 (RFC 2132 §9.3). */
  BAD_OVERLOAD: "PADDOCK_E_DHCP_BAD_OVERLOAD",
  /** A DNS name (options 81, 119) that is malformed: label > 63, name > 255, bad pointer. */
  BAD_DOMAIN_NAME: "PADDOCK_E_DHCP_BAD_DOMAIN_NAME",
  /** Option 121 with a prefix width above 32 or a truncated route (RFC 3442). */
  BAD_CLASSLESS_ROUTE: "PADDOCK_E_DHCP_BAD_CLASSLESS_ROUTE",
  /** The Ethernet frame is not ARP (ethertype 0x0806), for the ARP decoder. */
  NOT_ARP: "PADDOCK_E_DHCP_NOT_ARP",
  /** An ARP packet that is not Ethernet/IPv4 (htype 1, ptype 0x0800, 6/4-byte addresses) or whose operation is neither request nor reply (RFC 826). */
  BAD_ARP: "PADDOCK_E_DHCP_BAD_ARP",
  /** The encoder was given a value it cannot put on the wire (out of range, too long). */
  UNENCODABLE: "PADDOCK_E_DHCP_UNENCODABLE",
  /** A capture file whose header is not pcap or pcapng. */
  NOT_A_CAPTURE: "PADDOCK_E_DHCP_NOT_A_CAPTURE",
  /** A pcap/pcapng structure that is inconsistent (block length, record length, section). */
  BAD_CAPTURE: "PADDOCK_E_DHCP_BAD_CAPTURE",
  /** A capture whose link type this reader does not decode. */
  UNSUPPORTED_LINK_TYPE: "PADDOCK_E_DHCP_UNSUPPORTED_LINK_TYPE",
} as const;

/** One of the stable error code strings in {@link DhcpErrorCode}. */
export type DhcpErrorCode = (typeof DhcpErrorCode)[keyof typeof DhcpErrorCode];

/** What went wrong, with a stable `code` for machines and a `detail` sentence for people. */
export interface DhcpError {
  code: DhcpErrorCode;
  detail: string;
}

/** A typed value or a typed error: what every codec here returns instead of throwing. */
export type DhcpResult<T> = { ok: true; value: T } | { ok: false; error: DhcpError };

/** Wraps a value as a successful result. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Builds a failed result with a code and a detail sentence. */
export function fail(code: DhcpErrorCode, detail: string): { ok: false; error: DhcpError } {
  return { ok: false, error: { code, detail } };
}
