/**
 * NTP packets as the codec returns them (RFC 5905 §7.3, RFC 7822, and the mode 6/7 headers of
 * RFC 1305 appendix B and ntpd's mode 7), and the constants their fields take.
 */

import type { NtpTimestamp } from "./time.ts";

/** The association modes of RFC 5905 §7.3 (figure 10). */
export const NtpMode = {
  RESERVED: 0,
  SYMMETRIC_ACTIVE: 1,
  SYMMETRIC_PASSIVE: 2,
  CLIENT: 3,
  SERVER: 4,
  BROADCAST: 5,
  /** NTP control messages (RFC 1305 appendix B, ntpq): never answered or used here. */
  CONTROL: 6,
  /** ntpd's private mode (ntpdc): never answered or used here. */
  PRIVATE: 7,
} as const;

/** The leap indicator (RFC 5905 §7.3, figure 9). */
export const LeapIndicator = {
  NONE: 0,
  /** The last minute of the day has 61 seconds. */
  INSERT: 1,
  /** The last minute of the day has 59 seconds. */
  DELETE: 2,
  /** The clock is unsynchronized ("alarm condition"). */
  UNSYNCHRONIZED: 3,
} as const;

/** One of the four leap indicator values. */
export type LeapIndicator = (typeof LeapIndicator)[keyof typeof LeapIndicator];

/** An extension field (RFC 7822 §3), kept as it came: `value` holds its padding too. */
export interface NtpExtensionField {
  readonly fieldType: number;
  readonly value: Uint8Array;
}

/** A message authentication code (RFC 5905 §7.3): key identifier and digest, not verified here. */
export interface NtpMac {
  readonly keyId: number;
  readonly digest: Uint8Array;
}

/** A packet of modes 0–5: the 48-byte header, extension fields and an optional MAC. */
export interface NtpTimePacket {
  readonly kind: "time";
  readonly leap: LeapIndicator;
  /** 1–4. */
  readonly version: number;
  /** 0–5 (6 and 7 are {@link NtpControlPacket} and {@link NtpPrivatePacket}). */
  readonly mode: number;
  /** 0 (unspecified or a kiss-o'-death), 1 (primary), 2–15 (secondary), 16 (unsynchronized), above reserved. */
  readonly stratum: number;
  /** log2 of the poll interval in seconds, signed. */
  readonly poll: number;
  /** log2 of the sender clock's precision in seconds, signed (−20 is about a microsecond). */
  readonly precision: number;
  /** Round-trip delay to the reference clock, seconds (short format, exact). */
  readonly rootDelay: number;
  /** Dispersion to the reference clock, seconds (short format, exact). */
  readonly rootDispersion: number;
  /** Four bytes: a reference identifier, an IPv4 address, a hash of an IPv6 address or a kiss code. */
  readonly referenceId: Uint8Array;
  /** At stratum 0, the reference identifier as four ASCII characters (RFC 5905 §7.4), e.g. "RATE". */
  readonly kissCode?: string;
  readonly referenceTime: NtpTimestamp;
  readonly originTime: NtpTimestamp;
  readonly receiveTime: NtpTimestamp;
  readonly transmitTime: NtpTimestamp;
  /** Extension fields (version 4 only), in order; the client skips them. */
  readonly extensions: readonly NtpExtensionField[];
  readonly mac?: NtpMac;
}

/** A mode 6 (control) packet's header; the client ignores such packets. */
export interface NtpControlPacket {
  readonly kind: "control";
  readonly leap: LeapIndicator;
  readonly version: number;
  readonly mode: 6;
  readonly response: boolean;
  readonly error: boolean;
  readonly more: boolean;
  readonly opcode: number;
  readonly sequence: number;
  readonly status: number;
  readonly associationId: number;
  readonly offset: number;
  readonly count: number;
  /** Everything after the 12-byte header, as it came. */
  readonly data: Uint8Array;
}

/** A mode 7 (ntpd private) packet's header; the client ignores such packets. */
export interface NtpPrivatePacket {
  readonly kind: "private";
  readonly version: number;
  readonly mode: 7;
  readonly response: boolean;
  readonly more: boolean;
  readonly authenticated: boolean;
  readonly sequence: number;
  readonly implementation: number;
  readonly requestCode: number;
  /** The 4-bit error code. */
  readonly error: number;
  readonly itemCount: number;
  /** The 4 must-be-zero bits before the item size, kept so that re-encoding is exact. */
  readonly mbz: number;
  readonly itemSize: number;
  /** Everything after the 8-byte header, as it came. */
  readonly data: Uint8Array;
}

/** Whatever an NTP datagram decodes to. */
export type NtpPacket = NtpTimePacket | NtpControlPacket | NtpPrivatePacket;
