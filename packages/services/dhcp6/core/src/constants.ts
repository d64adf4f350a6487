/**
 * DHCPv6 numbers from RFC 8415 (§7: addresses, ports, message types, transmission parameters;
 * §21: option codes; §21.13: status codes) and RFC 6603 (PD_EXCLUDE), and the bounds this core
 * puts on what it accepts, each with its reason.
 */

/** RFC 8415 §7.1: All_DHCP_Relay_Agents_and_Servers, where a client sends everything. */
export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS = "ff02::1:2";
/** RFC 8415 §7.2: clients listen on UDP port 546 … */
export const CLIENT_PORT = 546;
/** … and servers and relay agents on 547. */
export const SERVER_PORT = 547;

/** RFC 8415 §7.3 message types (the ones a client sends or receives; relay messages are not ours). */
export const MessageType = {
  SOLICIT: 1,
  ADVERTISE: 2,
  REQUEST: 3,
  CONFIRM: 4,
  RENEW: 5,
  REBIND: 6,
  REPLY: 7,
  RELEASE: 8,
  DECLINE: 9,
  RECONFIGURE: 10,
  INFORMATION_REQUEST: 11,
} as const;

/** One of the message type numbers in {@link MessageType}. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The name of each message type, for logs and errors. */
export const MESSAGE_TYPE_NAMES: Readonly<Record<MessageType, string>> = {
  1: "SOLICIT",
  2: "ADVERTISE",
  3: "REQUEST",
  4: "CONFIRM",
  5: "RENEW",
  6: "REBIND",
  7: "REPLY",
  8: "RELEASE",
  9: "DECLINE",
  10: "RECONFIGURE",
  11: "INFORMATION-REQUEST",
};

/** Option codes (RFC 8415 §21, RFC 3646, RFC 6603) this core decodes into typed values. */
export const OptionCode = {
  CLIENTID: 1,
  SERVERID: 2,
  IA_NA: 3,
  IAADDR: 5,
  ORO: 6,
  PREFERENCE: 7,
  ELAPSED_TIME: 8,
  AUTH: 11,
  STATUS_CODE: 13,
  RAPID_COMMIT: 14,
  RECONF_MSG: 19,
  RECONF_ACCEPT: 20,
  DNS_SERVERS: 23,
  DOMAIN_LIST: 24,
  IA_PD: 25,
  IAPREFIX: 26,
  INFORMATION_REFRESH_TIME: 32,
  PD_EXCLUDE: 67,
  SOL_MAX_RT: 82,
  INF_MAX_RT: 83,
} as const;

/** RFC 8415 §21.13 status codes. */
export const StatusCode = {
  SUCCESS: 0,
  UNSPEC_FAIL: 1,
  NO_ADDRS_AVAIL: 2,
  NO_BINDING: 3,
  NOT_ON_LINK: 4,
  USE_MULTICAST: 5,
  NO_PREFIX_AVAIL: 6,
} as const;

/** RFC 8415 §7.7: a lifetime or T1/T2 of all ones means "infinity". */
export const INFINITY = 0xffffffff;

/** RFC 8415 §21.8: the server preference that tells a client to take its Advertise at once. */
export const MAX_PREFERENCE = 255;

// ---- Bounds: what this core accepts from the network, and why each number.

/** The largest UDP payload over IPv6 without jumbograms (65535 − 8-byte UDP header). */
export const MAX_MESSAGE_BYTES = 65_527;
/** Message → IA → IAADDR/IAPREFIX → option inside (status, PD_EXCLUDE): deeper nesting has no meaning and only costs stack. */
export const MAX_OPTION_DEPTH = 3;
/** Options in one message, at every depth together: real servers send under 30; this bounds the work per datagram. */
export const MAX_OPTIONS_PER_MESSAGE = 512;
/** IA_NA + IA_PD options in one message: we ask for one of each; servers echo only ours (others are ignored). */
export const MAX_IAS_PER_MESSAGE = 8;
/** IAADDR (IAPREFIX) options in one IA: servers give one or a few; each becomes a kernel address or route we manage. */
export const MAX_LEASES_PER_IA = 16;
/** Addresses in DNS_SERVERS: resolv.conf uses 3; 16 leaves room for merging families without a huge store value. */
export const MAX_DNS_SERVERS = 16;
/** Names in DOMAIN_LIST: glibc reads 6 search domains (32 since 2.26); more only grows the store. */
export const MAX_DOMAINS = 32;
/** RFC 8415 §11.1: a DUID is at most 128 bytes after its 2-byte type. */
export const MAX_DUID_BYTES = 130;

// ---- RFC 8415 §7.6 transmission and retransmission parameters (milliseconds).

/** Parameters of one message type's retransmission (RFC 8415 §15). */
export interface RetransmitParameters {
  /** Random delay before the first transmission, at most this (0: none). */
  readonly maxDelayMs: number;
  /** IRT: initial retransmission time. */
  readonly initialMs: number;
  /** MRT: maximum retransmission time (0: none). */
  readonly maxMs: number;
  /** MRC: maximum transmissions (0: no limit). */
  readonly maxCount: number;
  /** MRD: maximum duration of the exchange (0: none; RENEW and REBIND get theirs from the lease). */
  readonly maxDurationMs: number;
}

/** RFC 8415 §7.6, per message type. */
export const RETRANSMIT = {
  SOLICIT: { maxDelayMs: 1_000, initialMs: 1_000, maxMs: 3_600_000, maxCount: 0, maxDurationMs: 0 },
  REQUEST: { maxDelayMs: 0, initialMs: 1_000, maxMs: 30_000, maxCount: 10, maxDurationMs: 0 },
  CONFIRM: { maxDelayMs: 1_000, initialMs: 1_000, maxMs: 4_000, maxCount: 0, maxDurationMs: 10_000 },
  RENEW: { maxDelayMs: 0, initialMs: 10_000, maxMs: 600_000, maxCount: 0, maxDurationMs: 0 },
  REBIND: { maxDelayMs: 0, initialMs: 10_000, maxMs: 600_000, maxCount: 0, maxDurationMs: 0 },
  INFORMATION_REQUEST: { maxDelayMs: 1_000, initialMs: 1_000, maxMs: 3_600_000, maxCount: 0, maxDurationMs: 0 },
  RELEASE: { maxDelayMs: 0, initialMs: 1_000, maxMs: 0, maxCount: 4, maxDurationMs: 0 },
  DECLINE: { maxDelayMs: 0, initialMs: 1_000, maxMs: 0, maxCount: 4, maxDurationMs: 0 },
} as const satisfies Record<string, RetransmitParameters>;

/** RFC 8415 §21.24/§21.25: SOL_MAX_RT and INF_MAX_RT from a server are used only within 60–86400 s. */
export const MIN_MAX_RT_SECONDS = 60;
/** See {@link MIN_MAX_RT_SECONDS}. */
export const MAX_MAX_RT_SECONDS = 86_400;
/** RFC 8415 §7.6 IRT_DEFAULT: refresh stateless information daily when the server says nothing. */
export const IRT_DEFAULT_SECONDS = 86_400;
/** RFC 8415 §7.6 IRT_MINIMUM: never refresh stateless information more often than every 10 min. */
export const IRT_MINIMUM_SECONDS = 600;
/** RFC 8415 §15: retransmission times are randomised by a uniform factor in ±0.1. */
export const RAND_SPREAD = 0.1;
