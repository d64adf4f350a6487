/**
 * Domain names in DHCPv6 options: RFC 1035 §3.1 wire form, uncompressed (RFC 8415 §10 forbids
 * compression, so a pointer is an error, not something to follow).
 *
 * Text form: labels joined by ".", no trailing dot, the root name as ".". A label byte that would
 * make the text ambiguous or unprintable is escaped as in a zone file (RFC 1035 §5.1): "\." and
 * "\\" for a dot or backslash inside a label, "\DDD" for bytes ≤ 0x20 and ≥ 0x7f. So a wire name
 * has exactly one text form (no newline can reach resolv.conf), and the encoder reverses it.
 */

import { Dhcp6ErrorCode, fail, ok, type Dhcp6Result } from "./result.ts";

/** RFC 1035 §2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_BYTES = 63;
/** RFC 1035 §2.3.4: a name is at most 255 octets in wire form, length bytes and root included. */
export const MAX_NAME_BYTES = 255;

function escapeLabel(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number;
    if (b === 0x2e || b === 0x5c) s += "\\" + String.fromCharCode(b);
    else if (b <= 0x20 || b >= 0x7f) s += "\\" + String(b).padStart(3, "0");
    else s += String.fromCharCode(b);
  }
  return s;
}

/**
 * Decodes the names that fill `data` exactly (DOMAIN_LIST, RFC 8415 §10 / RFC 3646 §4): each
 * ends with the root label; nothing may follow the last one. Stops with an error after `max` names.
 */
export function decodeDomainNames(data: Uint8Array, max: number): Dhcp6Result<string[]> {
  const names: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (names.length === max) return fail(Dhcp6ErrorCode.TOO_MANY_DOMAINS, `more than ${max} domain names in one option`);
    const start = pos;
    const labels: string[] = [];
    for (;;) {
      if (pos >= data.length) return fail(Dhcp6ErrorCode.BAD_DOMAIN_NAME, `domain name at offset ${start} runs past the end of the option`);
      const len = data[pos] as number;
      if (len === 0) {
        pos += 1;
        break;
      }
      if (len > MAX_LABEL_BYTES) {
        return fail(Dhcp6ErrorCode.BAD_DOMAIN_NAME, len >= 0xc0 ? `compression pointer at offset ${pos}, which DHCPv6 does not allow` : `label length ${len} at offset ${pos} is over ${MAX_LABEL_BYTES}`);
      }
      if (pos + 1 + len > data.length) return fail(Dhcp6ErrorCode.BAD_DOMAIN_NAME, `label at offset ${pos} runs past the end of the option`);
      labels.push(escapeLabel(data, pos + 1, pos + 1 + len));
      pos += 1 + len;
      if (pos - start + 1 > MAX_NAME_BYTES) return fail(Dhcp6ErrorCode.BAD_DOMAIN_NAME, `domain name at offset ${start} is longer than ${MAX_NAME_BYTES} bytes`);
    }
    names.push(labels.length === 0 ? "." : labels.join("."));
  }
  return ok(names);
}

/** The wire form of one name in the text form above, or why it has none. */
export function encodeDomainName(text: string): Dhcp6Result<Uint8Array> {
  const out: number[] = [];
  if (text !== ".") {
    let label: number[] = [];
    const endLabel = (): boolean => {
      if (label.length === 0 || label.length > MAX_LABEL_BYTES) return false;
      out.push(label.length, ...label);
      label = [];
      return true;
    };
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x2e) {
        if (!endLabel()) return fail(Dhcp6ErrorCode.UNENCODABLE, `domain name ${JSON.stringify(text)} has an empty label or one over ${MAX_LABEL_BYTES} bytes`);
      } else if (c === 0x5c) {
        const digits = /^\d{3}/.exec(text.slice(i + 1, i + 4));
        if (digits !== null && Number(digits[0]) <= 255) {
          label.push(Number(digits[0]));
          i += 3;
        } else if (i + 1 < text.length && text.charCodeAt(i + 1) > 0x20 && text.charCodeAt(i + 1) < 0x7f) {
          label.push(text.charCodeAt(i + 1));
          i += 1;
        } else return fail(Dhcp6ErrorCode.UNENCODABLE, `domain name ${JSON.stringify(text)} has a backslash not followed by a printable character or three digits up to 255`);
      } else if (c > 0x20 && c < 0x7f) label.push(c);
      else return fail(Dhcp6ErrorCode.UNENCODABLE, `domain name ${JSON.stringify(text)} holds a character that must be escaped`);
    }
    if (!endLabel()) return fail(Dhcp6ErrorCode.UNENCODABLE, `domain name ${JSON.stringify(text)} has an empty label or one over ${MAX_LABEL_BYTES} bytes`);
  }
  out.push(0);
  if (out.length > MAX_NAME_BYTES) return fail(Dhcp6ErrorCode.UNENCODABLE, `domain name ${JSON.stringify(text.slice(0, 64))}… is longer than ${MAX_NAME_BYTES} bytes`);
  return ok(Uint8Array.from(out));
}
