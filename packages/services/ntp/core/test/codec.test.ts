/**
 * Codec unit tests: the client request, kiss codes, eras, the short format, extension fields and
 * MACs (RFC 7822's rule for telling them apart), mode 6/7 headers, and every error code.
 */

import { describe, expect, it } from "vitest";
import {
  NtpErrorCode,
  RFC4330_PIVOT,
  MAX_EXTENSION_FIELDS,
  MAX_PACKET_BYTES,
  addSeconds,
  decodeNtpPacket,
  diffSeconds,
  encodeClientRequest,
  encodeNtpPacket,
  instantFromTimestamp,
  instantFromUnix,
  timestampFromInstant,
  unixFromInstant,
} from "../src/index.ts";
import { encoded, serverReply } from "./fixtures.ts";

const reply = serverReply;
const encode = encoded;

describe("the client request", () => {
  it("is 48 bytes of zero but for version 4, mode 3 and the nonce as transmit timestamp", () => {
    const b = encodeClientRequest({ seconds: 0xdeadbeef, fraction: 0x01020304 });
    expect(b.length).toBe(48);
    expect(b[0]).toBe(0x23);
    expect([...b.subarray(1, 40)].every((x) => x === 0)).toBe(true);
    expect([...b.subarray(40)]).toEqual([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    const d = decodeNtpPacket(b);
    expect(d.ok && d.value.kind === "time" && d.value.mode).toBe(3);
  });
});

describe("decoding", () => {
  it("reads back every header field", () => {
    const p = reply({ leap: 1, poll: -3, precision: -20 });
    expect(decodeNtpPacket(encode(p))).toEqual({ ok: true, value: p });
  });

  it("names kiss codes at stratum 0 only", () => {
    const rate = decodeNtpPacket(encode(reply({ stratum: 0, referenceId: new TextEncoder().encode("RATE") })));
    expect(rate.ok && rate.value.kind === "time" && rate.value.kissCode).toBe("RATE");
    const padded = decodeNtpPacket(encode(reply({ stratum: 0, referenceId: Uint8Array.of(0x41, 0x42, 0, 0) })));
    expect(padded.ok && padded.value.kind === "time" && padded.value.kissCode).toBe("AB");
    for (const referenceId of [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0x41, 0, 0x42, 0), Uint8Array.of(0x41, 0x42, 0x43, 0x80)]) {
      const d = decodeNtpPacket(encode(reply({ stratum: 0, referenceId })));
      expect(d.ok && d.value.kind === "time" && "kissCode" in d.value).toBe(false);
    }
    const s2 = decodeNtpPacket(encode(reply({ referenceId: new TextEncoder().encode("DENY") })));
    expect(s2.ok && s2.value.kind === "time" && "kissCode" in s2.value).toBe(false);
  });

  it("skips extension fields and keeps them, then a MAC (RFC 7822)", () => {
    const ef1 = { fieldType: 0x0104, value: new Uint8Array(28).fill(7) };
    const ef2 = { fieldType: 0x0204, value: new Uint8Array(12).fill(9) };
    const mac = { keyId: 42, digest: new Uint8Array(20).fill(1) };
    const p = reply({ extensions: [ef1, ef2], mac });
    const b = encode(p);
    expect(b.length).toBe(48 + 32 + 16 + 24);
    expect(decodeNtpPacket(b)).toEqual({ ok: true, value: p });
  });

  it("takes a tail of 24 bytes or less as a MAC, a longer one as an extension field", () => {
    const b = new Uint8Array(48 + 20);
    b.set(encode(reply()));
    b[51] = 0x10; // were this an extension field, its length would be 16
    const d = decodeNtpPacket(b);
    expect(d.ok && d.value.kind === "time" && d.value.mac?.digest.length).toBe(16);
    expect(d.ok && d.value.kind === "time" && d.value.extensions).toEqual([]);
    const crypoNak = decodeNtpPacket(Uint8Array.of(...encode(reply()), 0, 0, 0, 0));
    expect(crypoNak.ok && crypoNak.value.kind === "time" && crypoNak.value.mac).toEqual({ keyId: 0, digest: new Uint8Array(0) });
  });

  it("refuses malformed trailers and extension fields with their own codes", () => {
    const head = encode(reply());
    const withTail = (...tail: number[]) => decodeNtpPacket(Uint8Array.of(...head, ...tail));
    const code = (r: ReturnType<typeof decodeNtpPacket>) => (r.ok ? "ok" : r.error.code);
    expect(code(withTail(1, 2, 3))).toBe(NtpErrorCode.BAD_TRAILER);
    expect(code(withTail(...new Array(6).fill(0)))).toBe(NtpErrorCode.BAD_TRAILER);
    // 28 bytes: an extension field whose length says 12 (below 16), 20, 30, and 64 (past the end).
    for (const length of [12, 30, 64, 0]) {
      const ef = new Array(28).fill(0);
      ef[3] = length;
      expect(code(withTail(...ef)), `length ${length}`).toBe(NtpErrorCode.BAD_EXTENSION);
    }
    const many = new Uint8Array(48 + (MAX_EXTENSION_FIELDS + 1) * 16 + 12);
    many.set(head);
    for (let i = 0; i <= MAX_EXTENSION_FIELDS; i++) many[48 + i * 16 + 3] = 16;
    many[48 + (MAX_EXTENSION_FIELDS + 1) * 16 + 3] = 16;
    expect(code(decodeNtpPacket(many))).toBe(NtpErrorCode.TOO_MANY_EXTENSIONS);
    expect(code(decodeNtpPacket(new Uint8Array(MAX_PACKET_BYTES + 1)))).toBe(NtpErrorCode.TOO_LONG);
    expect(code(decodeNtpPacket(new Uint8Array(0)))).toBe(NtpErrorCode.TRUNCATED);
    expect(code(decodeNtpPacket(head.subarray(0, 47)))).toBe(NtpErrorCode.TRUNCATED);
    expect(code(decodeNtpPacket(Uint8Array.of(0x16, 0, 0, 0)))).toBe(NtpErrorCode.TRUNCATED);
    expect(code(decodeNtpPacket(Uint8Array.of(0x17, 0, 0)))).toBe(NtpErrorCode.TRUNCATED);
    for (const version of [0, 5, 6, 7]) {
      const b = head.slice();
      b[0] = (version << 3) | 4;
      expect(code(decodeNtpPacket(b)), `version ${version}`).toBe(NtpErrorCode.BAD_VERSION);
    }
  });

  it("reports mode 6 and mode 7 packets as such", () => {
    const ctrl = decodeNtpPacket(Uint8Array.of(0x16, 0x82, 0, 3, 0x06, 0x15, 0x4a, 0xef, 0, 0, 0, 4, 1, 2, 3, 4));
    expect(ctrl).toMatchObject({ ok: true, value: { kind: "control", mode: 6, response: true, opcode: 2, sequence: 3, status: 0x0615, associationId: 0x4aef, count: 4 } });
    const priv = decodeNtpPacket(Uint8Array.of(0x97, 0x85, 3, 42, 0x10, 0x02, 0x00, 0x48));
    expect(priv).toMatchObject({ ok: true, value: { kind: "private", mode: 7, response: true, authenticated: true, sequence: 5, implementation: 3, requestCode: 42, error: 1, itemCount: 2, itemSize: 0x48 } });
  });

  it("keeps the extension field rule when encoding: one that would read back as a MAC is refused", () => {
    const short = { fieldType: 1, value: new Uint8Array(12) };
    const r = encodeNtpPacket(reply({ extensions: [short] }));
    expect(r.ok ? "ok" : r.error.code).toBe(NtpErrorCode.UNENCODABLE);
    const v3 = encodeNtpPacket(reply({ version: 3, extensions: [{ fieldType: 1, value: new Uint8Array(28) }] }));
    expect(v3.ok ? "ok" : v3.error.code).toBe(NtpErrorCode.UNENCODABLE);
    const delay = encodeNtpPacket(reply({ rootDelay: 0.1 }));
    expect(delay.ok ? "ok" : delay.error.code).toBe(NtpErrorCode.UNENCODABLE);
  });
});

describe("NTP time", () => {
  it("puts a timestamp in the era nearest to the pivot (RFC 5905 §6)", () => {
    const now = instantFromUnix(Date.UTC(2035, 11, 31) / 1000);
    // 2036-02-08: the seconds field has wrapped to a small number, but the instant is after `now`.
    const after = timestampFromInstant(instantFromUnix(Date.UTC(2036, 1, 8) / 1000));
    expect(after.seconds).toBeLessThan(2 ** 20);
    expect(unixFromInstant(instantFromTimestamp(after, now))).toBe(Date.UTC(2036, 1, 8) / 1000);
    // RFC 4330 §3: top bit set is era 0, clear is era 1.
    expect(instantFromTimestamp({ seconds: 2 ** 31, fraction: 0 }, RFC4330_PIVOT).seconds).toBe(2 ** 31);
    expect(instantFromTimestamp({ seconds: 2 ** 31 - 1, fraction: 0 }, RFC4330_PIVOT).seconds).toBe(2 ** 32 + 2 ** 31 - 1);
  });

  it("differences of instants are exact where one double would not be", () => {
    const a = instantFromUnix(1_800_000_000, 1);
    const b = instantFromUnix(1_800_000_000, 0);
    expect(diffSeconds(a, b)).toBeCloseTo(1e-9, 15);
    expect(diffSeconds(addSeconds(a, -0.25), a)).toBe(-0.25);
    const t = timestampFromInstant(addSeconds(a, 0.5));
    expect(diffSeconds(instantFromTimestamp(t, a), a)).toBeCloseTo(0.5, 9);
  });
});
