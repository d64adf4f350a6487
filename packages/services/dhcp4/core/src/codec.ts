/**
 * The BOOTP/DHCP message codec (RFC 2131 §2 and §3, RFC 2132, RFC 3396): the UDP payload of a
 * DHCP packet to a {@link DhcpMessage} and back. Total: every input yields a message or a typed
 * error; every read is preceded by a length check.
 */

import {
  bytesOf,
  concatBytes,
  ipv4At,
  parseIpv4,
  plainBytes,
  putU16,
  putU32,
  textOf,
  u16At,
  u32At,
} from "./bytes.ts";
import type { DhcpMessage, DhcpOption } from "./message.ts";
import { decodeOption, encodeOption, OptionCode } from "./options.ts";
import { DhcpErrorCode, fail, ok, type DhcpResult } from "./result.ts";

/** RFC 2131 §2: the fixed BOOTP header is 236 bytes (op … file). */
export const BOOTP_HEADER_BYTES = 236;
/** RFC 2131 §3: 99.130.83.99 starts the options field. */
export const MAGIC_COOKIE = Uint8Array.of(99, 130, 83, 99);
/** RFC 951's 64-byte vend field makes 300 bytes; RFC 1542 §2.1 relays may drop shorter messages. */
export const MIN_BOOTP_BYTES = 300;
/** RFC 2132 §2: an option's length is one byte, so one instance carries at most 255 bytes. */
export const MAX_OPTION_INSTANCE_BYTES = 255;

const SNAME_OFFSET = 44;
const SNAME_BYTES = 64;
const FILE_OFFSET = 108;
const FILE_BYTES = 128;
const CHADDR_OFFSET = 28;
const CHADDR_BYTES = 16;
const OPTIONS_OFFSET = BOOTP_HEADER_BYTES + MAGIC_COOKIE.length;

/**
 * Options without which a message cannot even be classified or attributed: its type (53) and its
 * server (54); option 52 (overload) decides where the others are. One of these that does not
 * decode makes the whole message an error. Any other known option that does not decode is kept as
 * `malformed` (the client drops it alone, docs/dhcp4-client.md).
 */
const MESSAGE_DEFINING_CODES: ReadonlySet<number> = new Set([OptionCode.OVERLOAD, OptionCode.MESSAGE_TYPE, OptionCode.SERVER_ID]);

/** One option instance as it appears on the wire, before RFC 3396 concatenation. */
interface RawOption {
  code: number;
  start: number;
  end: number;
}

/**
 * Scans one option-bearing field (options, file or sname) into instances. Pad is skipped; end
 * stops the scan; a field that runs out without an end option is accepted (the field's end is a
 * clear boundary, and a missing end is a common real-world slip that costs no ambiguity).
 */
function scanOptions(bytes: Uint8Array, start: number, end: number, where: string, out: RawOption[]): DhcpResult<null> {
  let pos = start;
  while (pos < end) {
    const code = bytes[pos] as number;
    if (code === OptionCode.PAD) {
      pos++;
      continue;
    }
    if (code === OptionCode.END) return ok(null);
    if (pos + 1 >= end) {
      return fail(DhcpErrorCode.OPTION_OVERRUN, `option ${code} at ${where} offset ${pos - start} has no length byte`);
    }
    const len = bytes[pos + 1] as number;
    if (pos + 2 + len > end) {
      return fail(
        DhcpErrorCode.OPTION_OVERRUN,
        `option ${code} at ${where} offset ${pos - start} declares ${len} bytes but ${end - pos - 2} remain`,
      );
    }
    out.push({ code, start: pos + 2, end: pos + 2 + len });
    pos += 2 + len;
  }
  return ok(null);
}

/** Text of a NUL-terminated fixed field (sname, file). */
function fieldText(bytes: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && bytes[end] !== 0) end++;
  return textOf(bytes.subarray(start, end));
}

/**
 * Decodes a BOOTP/DHCP message (the UDP payload). Options in `file` and `sname` are read when
 * option 52 says so (RFC 2131 §4.1: options field, then file, then sname); instances of the same
 * code anywhere in those fields are concatenated in that order (RFC 3396 §7) and appear at the
 * position of the first one. Bytes after the end option are ignored (they are padding). A known
 * option whose (concatenated) bytes do not fit its type becomes `malformed`, except 52, 53 and 54,
 * which fail the message.
 */
export function decodeDhcpMessage(input: Uint8Array): DhcpResult<DhcpMessage> {
  const bytes = plainBytes(input);
  if (bytes.length < BOOTP_HEADER_BYTES) {
    return fail(DhcpErrorCode.TRUNCATED, `BOOTP message is ${bytes.length} bytes, the header alone is ${BOOTP_HEADER_BYTES}`);
  }
  if (bytes.length < OPTIONS_OFFSET) {
    return fail(DhcpErrorCode.BAD_COOKIE, `BOOTP message of ${bytes.length} bytes ends before the magic cookie`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[BOOTP_HEADER_BYTES + i] !== MAGIC_COOKIE[i]) {
      return fail(DhcpErrorCode.BAD_COOKIE, `magic cookie is ${ipv4At(bytes, BOOTP_HEADER_BYTES)}, expected 99.130.83.99`);
    }
  }
  const raw: RawOption[] = [];
  const main = scanOptions(bytes, OPTIONS_OFFSET, bytes.length, "options", raw);
  if (!main.ok) return main;

  // Option 52 is read from the options field only (RFC 2131 §4.1); a copy inside file or sname
  // would be concatenated with it below and fail the length check.
  let overload = 0;
  const overloadParts = raw.filter((r) => r.code === OptionCode.OVERLOAD);
  if (overloadParts.length > 0) {
    const data = concatBytes(overloadParts.map((r) => bytes.subarray(r.start, r.end)));
    const o = decodeOption(OptionCode.OVERLOAD, data);
    if (!o.ok) return o;
    overload = o.value.kind === "overload" ? o.value.value : 0;
  }
  if (overload & 1) {
    const r = scanOptions(bytes, FILE_OFFSET, FILE_OFFSET + FILE_BYTES, "file", raw);
    if (!r.ok) return r;
  }
  if (overload & 2) {
    const r = scanOptions(bytes, SNAME_OFFSET, SNAME_OFFSET + SNAME_BYTES, "sname", raw);
    if (!r.ok) return r;
  }

  // RFC 3396 §7: concatenate every instance of a code, in the order found.
  const order: number[] = [];
  const parts = new Map<number, Uint8Array[]>();
  for (const r of raw) {
    let list = parts.get(r.code);
    if (list === undefined) {
      list = [];
      parts.set(r.code, list);
      order.push(r.code);
    }
    list.push(bytes.subarray(r.start, r.end));
  }
  const options: DhcpOption[] = [];
  for (const code of order) {
    const list = parts.get(code) as Uint8Array[];
    const data = list.length === 1 ? (list[0] as Uint8Array) : concatBytes(list);
    const o = decodeOption(code, data);
    if (o.ok) options.push(o.value);
    else if (MESSAGE_DEFINING_CODES.has(code)) return o;
    else options.push({ kind: "malformed", code, data: data.slice(), error: o.error });
  }

  const hlen = bytes[2] as number;
  return ok({
    op: bytes[0] as number,
    htype: bytes[1] as number,
    hlen,
    hops: bytes[3] as number,
    xid: u32At(bytes, 4),
    secs: u16At(bytes, 8),
    flags: u16At(bytes, 10),
    ciaddr: ipv4At(bytes, 12),
    yiaddr: ipv4At(bytes, 16),
    siaddr: ipv4At(bytes, 20),
    giaddr: ipv4At(bytes, 24),
    // hlen above 16 is kept as sent, but only the 16 bytes the field holds can be returned.
    chaddr: bytes.slice(CHADDR_OFFSET, CHADDR_OFFSET + Math.min(hlen, CHADDR_BYTES)),
    sname: overload & 2 ? "" : fieldText(bytes, SNAME_OFFSET, SNAME_BYTES),
    file: overload & 1 ? "" : fieldText(bytes, FILE_OFFSET, FILE_BYTES),
    options,
  });
}

function checkUint(value: number, max: number, what: string): DhcpResult<null> {
  return Number.isInteger(value) && value >= 0 && value <= max
    ? ok(null)
    : fail(DhcpErrorCode.UNENCODABLE, `${what} ${value} is not an integer in 0..${max}`);
}

/**
 * Encodes a message as a BOOTP/DHCP payload: header, magic cookie, options in the given order
 * (each longer than 255 bytes split into consecutive instances, RFC 3396 §4), end, and pad up to
 * {@link MIN_BOOTP_BYTES}. Every option goes in the options field: option 52 (overload) is
 * decoded but never produced, so a message that carries it is refused.
 */
export function encodeDhcpMessage(msg: DhcpMessage): DhcpResult<Uint8Array> {
  const header = new Uint8Array(OPTIONS_OFFSET);
  const checks: [number, number, string][] = [
    [msg.op, 0xff, "op"],
    [msg.htype, 0xff, "htype"],
    [msg.hlen, 0xff, "hlen"],
    [msg.hops, 0xff, "hops"],
    [msg.xid, 0xffffffff, "xid"],
    [msg.secs, 0xffff, "secs"],
    [msg.flags, 0xffff, "flags"],
  ];
  for (const [v, max, what] of checks) {
    const c = checkUint(v, max, what);
    if (!c.ok) return c;
  }
  header[0] = msg.op;
  header[1] = msg.htype;
  header[2] = msg.hlen;
  header[3] = msg.hops;
  putU32(header, 4, msg.xid);
  putU16(header, 8, msg.secs);
  putU16(header, 10, msg.flags);
  const addrs: [string, number, string][] = [
    [msg.ciaddr, 12, "ciaddr"],
    [msg.yiaddr, 16, "yiaddr"],
    [msg.siaddr, 20, "siaddr"],
    [msg.giaddr, 24, "giaddr"],
  ];
  for (const [text, at, what] of addrs) {
    const a = parseIpv4(text);
    if (a === null) return fail(DhcpErrorCode.UNENCODABLE, `${what} ${JSON.stringify(text)} is not an IPv4 address`);
    header.set(a, at);
  }
  if (msg.chaddr.length > CHADDR_BYTES) {
    return fail(DhcpErrorCode.UNENCODABLE, `chaddr has ${msg.chaddr.length} bytes, the field holds ${CHADDR_BYTES}`);
  }
  header.set(msg.chaddr, CHADDR_OFFSET);
  const sname = bytesOf(msg.sname);
  const file = bytesOf(msg.file);
  // One byte is kept for the terminating NUL that makes the field read back as the same text.
  if (sname.length >= SNAME_BYTES || sname.includes(0)) {
    return fail(DhcpErrorCode.UNENCODABLE, `sname must be under ${SNAME_BYTES} bytes without NUL`);
  }
  if (file.length >= FILE_BYTES || file.includes(0)) {
    return fail(DhcpErrorCode.UNENCODABLE, `file must be under ${FILE_BYTES} bytes without NUL`);
  }
  header.set(sname, SNAME_OFFSET);
  header.set(file, FILE_OFFSET);
  header.set(MAGIC_COOKIE, BOOTP_HEADER_BYTES);

  const body: Uint8Array[] = [header];
  const seen = new Set<number>();
  for (const option of msg.options) {
    if (option.code === OptionCode.OVERLOAD) {
      return fail(DhcpErrorCode.UNENCODABLE, "option 52 (overload) is not produced by this encoder");
    }
    if (seen.has(option.code)) {
      // Two entries would be read back as one concatenated option (RFC 3396 §7).
      return fail(DhcpErrorCode.UNENCODABLE, `option ${option.code} appears twice`);
    }
    seen.add(option.code);
    const e = encodeOption(option);
    if (!e.ok) return e;
    const { code, data } = e.value;
    if (data.length === 0) body.push(Uint8Array.of(code, 0));
    for (let i = 0; i < data.length; i += MAX_OPTION_INSTANCE_BYTES) {
      const chunk = data.subarray(i, i + MAX_OPTION_INSTANCE_BYTES);
      body.push(Uint8Array.of(code, chunk.length), chunk);
    }
  }
  body.push(Uint8Array.of(OptionCode.END));
  const out = concatBytes(body);
  if (out.length >= MIN_BOOTP_BYTES) return ok(out);
  const padded = new Uint8Array(MIN_BOOTP_BYTES);
  padded.set(out);
  return ok(padded);
}
