/**
 * The NTP codec: a total decoder for any datagram that claims to be NTP, an encoder for every
 * packet the decoder returns (so decode → encode is the identity), and the client request.
 *
 * Layouts: RFC 5905 §7.3 (header), RFC 7822 (extension fields and how they are told apart from a
 * MAC), RFC 1305 appendix B (mode 6), ntpd's mode 7 header. The decoder checks the remaining
 * length before every read, never throws, and does work linear in the datagram's length.
 */

import {
  LeapIndicator,
  NtpMode,
  type NtpControlPacket,
  type NtpExtensionField,
  type NtpMac,
  type NtpPacket,
  type NtpPrivatePacket,
  type NtpTimePacket,
} from "./packet.ts";
import { NtpErrorCode, fail, ok, type NtpResult } from "./result.ts";
import { secondsToShort, shortToSeconds, type NtpTimestamp } from "./time.ts";

/** RFC 5905 §7.3: the header of modes 0–5 is 48 bytes. */
export const NTP_HEADER_BYTES = 48;
/** RFC 1305 appendix B: a mode 6 header is 12 bytes. */
export const CONTROL_HEADER_BYTES = 12;
/** ntpd's mode 7 request/response header is 8 bytes. */
export const PRIVATE_HEADER_BYTES = 8;
/**
 * Largest datagram decoded: 4 KiB. An NTS reply (RFC 8915) carries a few cookies of ~100 bytes;
 * nothing a client uses comes near this, and refusing more caps the work of a hostile sender.
 */
export const MAX_PACKET_BYTES = 4096;
/**
 * Most extension fields walked: 32. RFC 8915's NTS replies, the largest users, carry about ten;
 * a longer chain is not a packet worth reading.
 */
export const MAX_EXTENSION_FIELDS = 32;
/** RFC 7822 §7.5: a legacy MAC (key id + SHA-1) is at most 24 bytes, so a longer tail is an extension field. */
export const MAX_MAC_BYTES = 24;
/** RFC 7822 §3: an extension field is at least 16 bytes (type, length, 12 bytes of value). */
export const MIN_EXTENSION_FIELD_BYTES = 16;
/** The highest protocol version that exists (RFC 5905). */
export const NTP_VERSION = 4;

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
}

function int8(v: number): number {
  return v >= 128 ? v - 256 : v;
}

function timestampAt(b: Uint8Array, at: number): NtpTimestamp {
  return { seconds: u32(b, at), fraction: u32(b, at + 4) };
}

/** RFC 5905 §7.4: at stratum 0 the reference id is a four-character ASCII kiss code (NUL-padded). */
function kissCodeOf(refid: Uint8Array): string | undefined {
  let text = "";
  let ended = false;
  for (const c of refid) {
    if (c === 0 && text.length > 0) ended = true;
    else if (c >= 0x20 && c <= 0x7e && !ended) text += String.fromCharCode(c);
    else return undefined;
  }
  return text;
}

/** Decodes one NTP datagram (UDP payload). Never throws. */
export function decodeNtpPacket(input: Uint8Array): NtpResult<NtpPacket> {
  if (input.length > MAX_PACKET_BYTES) return fail(NtpErrorCode.TOO_LONG, `datagram of ${input.length} bytes is longer than the ${MAX_PACKET_BYTES} accepted`);
  if (input.length < 1) return fail(NtpErrorCode.TRUNCATED, "datagram is empty");
  const b = input.slice();
  const version = (b[0]! >> 3) & 7;
  const mode = b[0]! & 7;
  if (version === 0 || version > NTP_VERSION) return fail(NtpErrorCode.BAD_VERSION, `version ${version} is not an NTP version (1 to 4)`);
  if (mode === NtpMode.CONTROL) return decodeControl(b, version);
  if (mode === NtpMode.PRIVATE) return decodePrivate(b, version);
  if (b.length < NTP_HEADER_BYTES) return fail(NtpErrorCode.TRUNCATED, `mode ${mode} packet of ${b.length} bytes is shorter than the ${NTP_HEADER_BYTES}-byte header`);
  const stratum = b[1]!;
  const referenceId = b.slice(12, 16);
  const trailer = decodeTrailer(b, version);
  if (!trailer.ok) return trailer;
  const kissCode = stratum === 0 ? kissCodeOf(referenceId) : undefined;
  const packet: NtpTimePacket = {
    kind: "time",
    leap: (b[0]! >> 6) as LeapIndicator,
    version,
    mode,
    stratum,
    poll: int8(b[2]!),
    precision: int8(b[3]!),
    rootDelay: shortToSeconds(u32(b, 4)),
    rootDispersion: shortToSeconds(u32(b, 8)),
    referenceId,
    ...(kissCode === undefined ? {} : { kissCode }),
    referenceTime: timestampAt(b, 16),
    originTime: timestampAt(b, 24),
    receiveTime: timestampAt(b, 32),
    transmitTime: timestampAt(b, 40),
    extensions: trailer.value.extensions,
    ...(trailer.value.mac === undefined ? {} : { mac: trailer.value.mac }),
  };
  return ok(packet);
}

/**
 * What follows the header. Version 4 (RFC 7822 §7.5): while more than 24 bytes remain, the next
 * thing is an extension field; a tail of 4 to 24 bytes (a multiple of 4) is a MAC (4 is a
 * crypto-NAK). Versions 1–3 have no extension fields: a tail of 4 or more bytes is a key id and
 * a digest of whatever length it has.
 */
function decodeTrailer(b: Uint8Array, version: number): NtpResult<{ extensions: NtpExtensionField[]; mac: NtpMac | undefined }> {
  const extensions: NtpExtensionField[] = [];
  let at = NTP_HEADER_BYTES;
  if (version === NTP_VERSION) {
    while (b.length - at > MAX_MAC_BYTES) {
      if (extensions.length === MAX_EXTENSION_FIELDS) return fail(NtpErrorCode.TOO_MANY_EXTENSIONS, `more than ${MAX_EXTENSION_FIELDS} extension fields`);
      const length = u16(b, at + 2);
      if (length < MIN_EXTENSION_FIELD_BYTES || length % 4 !== 0 || length > b.length - at) {
        return fail(NtpErrorCode.BAD_EXTENSION, `extension field at byte ${at} has length ${length}, which is below 16, not a multiple of 4 or past the end`);
      }
      extensions.push({ fieldType: u16(b, at), value: b.slice(at + 4, at + length) });
      at += length;
    }
  }
  const rest = b.length - at;
  if (rest === 0) return ok({ extensions, mac: undefined });
  if (rest < 4 || (version === NTP_VERSION && rest % 4 !== 0)) {
    return fail(NtpErrorCode.BAD_TRAILER, `${rest} bytes after the header are neither a MAC nor an extension field`);
  }
  return ok({ extensions, mac: { keyId: u32(b, at), digest: b.slice(at + 4) } });
}

function decodeControl(b: Uint8Array, version: number): NtpResult<NtpControlPacket> {
  if (b.length < CONTROL_HEADER_BYTES) return fail(NtpErrorCode.TRUNCATED, `mode 6 packet of ${b.length} bytes is shorter than its ${CONTROL_HEADER_BYTES}-byte header`);
  return ok({
    kind: "control",
    leap: (b[0]! >> 6) as LeapIndicator,
    version,
    mode: NtpMode.CONTROL,
    response: (b[1]! & 0x80) !== 0,
    error: (b[1]! & 0x40) !== 0,
    more: (b[1]! & 0x20) !== 0,
    opcode: b[1]! & 0x1f,
    sequence: u16(b, 2),
    status: u16(b, 4),
    associationId: u16(b, 6),
    offset: u16(b, 8),
    count: u16(b, 10),
    data: b.slice(CONTROL_HEADER_BYTES),
  });
}

function decodePrivate(b: Uint8Array, version: number): NtpResult<NtpPrivatePacket> {
  if (b.length < PRIVATE_HEADER_BYTES) return fail(NtpErrorCode.TRUNCATED, `mode 7 packet of ${b.length} bytes is shorter than its ${PRIVATE_HEADER_BYTES}-byte header`);
  return ok({
    kind: "private",
    version,
    mode: NtpMode.PRIVATE,
    response: (b[0]! & 0x80) !== 0,
    more: (b[0]! & 0x40) !== 0,
    authenticated: (b[1]! & 0x80) !== 0,
    sequence: b[1]! & 0x7f,
    implementation: b[2]!,
    requestCode: b[3]!,
    error: b[4]! >> 4,
    itemCount: u16(b, 4) & 0xfff,
    mbz: b[6]! >> 4,
    itemSize: u16(b, 6) & 0xfff,
    data: b.slice(PRIVATE_HEADER_BYTES),
  });
}

// ---------------------------------------------------------------------------------------------
// Encoding

const inRange = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;

function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v & 0xff;
}

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function validTimestamp(t: NtpTimestamp): boolean {
  return inRange(t.seconds, 0, 0xffffffff) && inRange(t.fraction, 0, 0xffffffff);
}

/** Encodes a packet the decoder returned (or one built alike). Refuses values that do not fit. */
export function encodeNtpPacket(p: NtpPacket): NtpResult<Uint8Array> {
  const bad = (what: string) => fail(NtpErrorCode.UNENCODABLE, `${what} does not fit its field`);
  if (!inRange(p.version, 1, NTP_VERSION)) return bad(`version ${p.version}`);
  if (p.kind === "control") {
    if (![inRange(p.opcode, 0, 0x1f), inRange(p.sequence, 0, 0xffff), inRange(p.status, 0, 0xffff), inRange(p.associationId, 0, 0xffff), inRange(p.offset, 0, 0xffff), inRange(p.count, 0, 0xffff), inRange(p.leap, 0, 3)].every(Boolean)) {
      return bad("a mode 6 header field");
    }
    const b = new Uint8Array(CONTROL_HEADER_BYTES + p.data.length);
    b[0] = (p.leap << 6) | (p.version << 3) | NtpMode.CONTROL;
    b[1] = (p.response ? 0x80 : 0) | (p.error ? 0x40 : 0) | (p.more ? 0x20 : 0) | p.opcode;
    putU16(b, 2, p.sequence);
    putU16(b, 4, p.status);
    putU16(b, 6, p.associationId);
    putU16(b, 8, p.offset);
    putU16(b, 10, p.count);
    b.set(p.data, CONTROL_HEADER_BYTES);
    return ok(b);
  }
  if (p.kind === "private") {
    if (![inRange(p.sequence, 0, 0x7f), inRange(p.implementation, 0, 0xff), inRange(p.requestCode, 0, 0xff), inRange(p.error, 0, 0xf), inRange(p.itemCount, 0, 0xfff), inRange(p.mbz, 0, 0xf), inRange(p.itemSize, 0, 0xfff)].every(Boolean)) {
      return bad("a mode 7 header field");
    }
    const b = new Uint8Array(PRIVATE_HEADER_BYTES + p.data.length);
    b[0] = (p.response ? 0x80 : 0) | (p.more ? 0x40 : 0) | (p.version << 3) | NtpMode.PRIVATE;
    b[1] = (p.authenticated ? 0x80 : 0) | p.sequence;
    b[2] = p.implementation;
    b[3] = p.requestCode;
    putU16(b, 4, (p.error << 12) | p.itemCount);
    putU16(b, 6, (p.mbz << 12) | p.itemSize);
    b.set(p.data, PRIVATE_HEADER_BYTES);
    return ok(b);
  }
  const rootDelay = secondsToShort(p.rootDelay);
  const rootDispersion = secondsToShort(p.rootDispersion);
  if (rootDelay === undefined) return bad(`root delay ${p.rootDelay}`);
  if (rootDispersion === undefined) return bad(`root dispersion ${p.rootDispersion}`);
  if (!inRange(p.mode, 0, 5)) return bad(`mode ${p.mode}`);
  if (!inRange(p.leap, 0, 3) || !inRange(p.stratum, 0, 255) || !inRange(p.poll, -128, 127) || !inRange(p.precision, -128, 127)) return bad("a header field");
  if (p.referenceId.length !== 4) return bad(`a reference id of ${p.referenceId.length} bytes`);
  const times = [p.referenceTime, p.originTime, p.receiveTime, p.transmitTime];
  if (!times.every(validTimestamp)) return bad("a timestamp");
  if (p.extensions.length > 0 && p.version !== NTP_VERSION) return bad("an extension field in a version 1-3 packet");
  let length = NTP_HEADER_BYTES;
  for (const e of p.extensions) {
    const l = e.value.length + 4;
    if (!inRange(e.fieldType, 0, 0xffff) || l < MIN_EXTENSION_FIELD_BYTES || l % 4 !== 0 || l > 0xffff) return bad(`extension field of type ${e.fieldType} and ${e.value.length} bytes`);
    length += l;
  }
  if (p.mac !== undefined) {
    const l = 4 + p.mac.digest.length;
    if (!inRange(p.mac.keyId, 0, 0xffffffff) || (p.version === NTP_VERSION && (l % 4 !== 0 || l > MAX_MAC_BYTES))) return bad(`a MAC of ${l} bytes`);
    length += l;
  }
  // The decoder must read back what we write: an extension field that starts 24 bytes or less
  // before the end would be taken for a MAC (RFC 7822 §7.5 asks a last field without a MAC to be
  // 28 bytes for that reason).
  let remaining = length - NTP_HEADER_BYTES;
  for (const e of p.extensions) {
    if (remaining <= MAX_MAC_BYTES) return bad("an extension field that starts 24 bytes or less before the end");
    remaining -= e.value.length + 4;
  }
  if (length > MAX_PACKET_BYTES) return bad(`a packet of ${length} bytes`);
  const b = new Uint8Array(length);
  b[0] = (p.leap << 6) | (p.version << 3) | p.mode;
  b[1] = p.stratum;
  b[2] = p.poll & 0xff;
  b[3] = p.precision & 0xff;
  putU32(b, 4, rootDelay);
  putU32(b, 8, rootDispersion);
  b.set(p.referenceId, 12);
  times.forEach((t, i) => {
    putU32(b, 16 + 8 * i, t.seconds);
    putU32(b, 20 + 8 * i, t.fraction);
  });
  let at = NTP_HEADER_BYTES;
  for (const e of p.extensions) {
    putU16(b, at, e.fieldType);
    putU16(b, at + 2, e.value.length + 4);
    b.set(e.value, at + 4);
    at += e.value.length + 4;
  }
  if (p.mac !== undefined) {
    putU32(b, at, p.mac.keyId);
    b.set(p.mac.digest, at + 4);
  }
  return ok(b);
}

/**
 * A client request (mode 3, version 4) carrying nothing but `nonce` as its transmit timestamp:
 * draft-ietf-ntp-data-minimization §3 leaves every other field zero, so a request reveals
 * neither our clock nor our state, and a server must echo the nonce as its origin timestamp
 * (RFC 5905 §8), which is how a reply is matched to its request.
 */
export function encodeClientRequest(nonce: NtpTimestamp): Uint8Array {
  const b = new Uint8Array(NTP_HEADER_BYTES);
  b[0] = (LeapIndicator.NONE << 6) | (NTP_VERSION << 3) | NtpMode.CLIENT;
  putU32(b, 40, nonce.seconds >>> 0);
  putU32(b, 44, nonce.fraction >>> 0);
  return b;
}
