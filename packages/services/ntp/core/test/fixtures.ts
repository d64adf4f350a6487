/** Test support: packets as servers send them. */

import { encodeNtpPacket, type NtpTimePacket } from "../src/index.ts";

/** A server reply (mode 4, stratum 2, as chrony sends one), with fields replaced by `over`. */
export function serverReply(over: Partial<NtpTimePacket> = {}): NtpTimePacket {
  return {
    kind: "time",
    leap: 0,
    version: 4,
    mode: 4,
    stratum: 2,
    poll: 6,
    precision: -24,
    rootDelay: 0.015625,
    rootDispersion: 0.0009765625,
    referenceId: Uint8Array.of(192, 0, 2, 1),
    referenceTime: { seconds: 0xeb000000, fraction: 0 },
    originTime: { seconds: 0x12345678, fraction: 0x9abcdef0 },
    receiveTime: { seconds: 0xeb000010, fraction: 0x80000000 },
    transmitTime: { seconds: 0xeb000010, fraction: 0x80001000 },
    extensions: [],
    ...over,
  };
}

/** The bytes of a packet the encoder must accept. */
export function encoded(p: NtpTimePacket): Uint8Array {
  const r = encodeNtpPacket(p);
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}
