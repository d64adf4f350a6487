/**
 * The typed form of a DHCPv4 message (RFC 2131 §2, RFC 2132 options): what the codec decodes
 * untrusted bytes into, what the client core reasons about, and what the encoder writes.
 *
 * Addresses are dotted-quad strings ("10.0.0.1"): they print, compare and serialise as they read
 * in a capture or a config file. Only the codec builds them from bytes, so they are always valid.
 */

import type { DhcpError } from "./result.ts";

/** A dotted-quad IPv4 address made by the codec, e.g. "10.0.0.1". */
export type Ipv4 = string;

/** BOOTP `op` (RFC 951). */
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

/** DHCP message types, option 53 (RFC 2132 §9.6, RFC 4039 has none of its own). */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** A classless static route, option 121 (RFC 3442). `router` "0.0.0.0" means on-link. */
export interface ClasslessRoute {
  /** CIDR text, e.g. "10.0.0.0/8"; "0.0.0.0/0" is a default route. */
  destination: string;
  router: Ipv4;
}

/**
 * One decoded option. Known codes get their own variant; everything else is kept, not dropped,
 * as `unknown` with its raw bytes (after RFC 3396 concatenation of split instances). A known code
 * whose bytes do not fit its type (a 3-byte subnet mask, a looping option 119 pointer) is kept as
 * `malformed`, with its bytes and why it did not decode: the client drops it alone, not the whole
 * message (docs/dhcp4-client.md, "Malformed options").
 */
export type DhcpOption =
  | { kind: "subnetMask"; code: 1; mask: Ipv4 }
  | { kind: "routers"; code: 3; addresses: Ipv4[] }
  | { kind: "dnsServers"; code: 6; addresses: Ipv4[] }
  | { kind: "hostname"; code: 12; name: string }
  | { kind: "domainName"; code: 15; name: string }
  | { kind: "mtu"; code: 26; mtu: number }
  | { kind: "broadcast"; code: 28; address: Ipv4 }
  | { kind: "ntpServers"; code: 42; addresses: Ipv4[] }
  | { kind: "requestedAddress"; code: 50; address: Ipv4 }
  | { kind: "leaseTime"; code: 51; seconds: number }
  | { kind: "overload"; code: 52; value: 1 | 2 | 3 }
  | { kind: "messageType"; code: 53; type: number }
  | { kind: "serverId"; code: 54; address: Ipv4 }
  | { kind: "parameterRequestList"; code: 55; codes: number[] }
  | { kind: "message"; code: 56; text: string }
  | { kind: "maxMessageSize"; code: 57; size: number }
  | { kind: "renewalTime"; code: 58; seconds: number }
  | { kind: "rebindingTime"; code: 59; seconds: number }
  | { kind: "vendorClass"; code: 60; data: Uint8Array }
  | { kind: "clientId"; code: 61; data: Uint8Array }
  | { kind: "rapidCommit"; code: 80 }
  | { kind: "clientFqdn"; code: 81; flags: number; rcode1: number; rcode2: number; name: string }
  | { kind: "ipv6OnlyPreferred"; code: 108; seconds: number }
  | { kind: "captivePortal"; code: 114; uri: string }
  | { kind: "domainSearch"; code: 119; names: string[] }
  | { kind: "classlessRoutes"; code: 121; routes: ClasslessRoute[] }
  | { kind: "forcerenewNonce"; code: 145; data: Uint8Array }
  | { kind: "unknown"; code: number; data: Uint8Array }
  | { kind: "malformed"; code: number; data: Uint8Array; error: DhcpError };

/** A BOOTP/DHCP message (RFC 2131 §2, figure 1). */
export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: Ipv4;
  yiaddr: Ipv4;
  siaddr: Ipv4;
  giaddr: Ipv4;
  /** The first `hlen` bytes of the 16-byte chaddr field (at most 16). */
  chaddr: Uint8Array;
  /** `sname` as text up to its first NUL, when not used for options (overload). */
  sname: string;
  /** `file` as text up to its first NUL, when not used for options (overload). */
  file: string;
  /** Options in wire order, split instances (RFC 3396) joined, pad and end excluded. */
  options: DhcpOption[];
}

/** What a received DHCP packet carries besides the message itself, from its IPv4/UDP headers. */
export interface DhcpPacketInfo {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: Ipv4;
  dstIp: Ipv4;
  srcPort: number;
  dstPort: number;
}
