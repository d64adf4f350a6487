/**
 * DNS names in DHCP options: the RFC 1035 §3.1 wire form, with §4.1.4 compression pointers for
 * option 119 (RFC 3397 §2: pointers are offsets into the concatenated option data) and without
 * them for option 81 (RFC 4702 §2.3.1).
 *
 * Text form: labels joined by ".", no trailing dot, the root name as ".". A label byte that would
 * make the text ambiguous or unprintable is escaped as in a zone file (RFC 1035 §5.1): "\." and
 * "\\" for a dot or backslash inside a label, "\DDD" (three decimal digits) for bytes ≤ 0x20 and
 * ≥ 0x7f. So any wire name has exactly one text form, and the encoder reverses it.
 */

import { DhcpErrorCode, fail, ok, type DhcpResult } from "./result.ts";

/** RFC 1035 §2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_BYTES = 63;
/** RFC 1035 §2.3.4: a name is at most 255 octets in wire form (length bytes and root included). */
export const MAX_NAME_BYTES = 255;
/** Largest offset a compression pointer can hold (14 bits, RFC 1035 §4.1.4). */
const MAX_POINTER_OFFSET = 0x3fff;

function labelText(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number;
    if (b === 0x2e) s += "\\.";
    else if (b === 0x5c) s += "\\\\";
    else if (b <= 0x20 || b >= 0x7f) s += "\\" + b.toString().padStart(3, "0");
    else s += String.fromCharCode(b);
  }
  return s;
}

/** Where a parsed name ends in the original data, and its text. */
interface ParsedName {
  text: string;
  /** Offset just after the name's last byte in the data as laid out (not after pointer targets). */
  next: number;
}

/**
 * Reads one name starting at `start`. Compression pointers are followed only when `compression`
 * is set, and only to a target before the run of labels that led to the pointer: the start of
 * each run strictly decreases, so a hostile loop cannot make this run forever (and a name is
 * capped at 255 bytes besides). A real compressor only points at names written earlier, which
 * always satisfies this. `partialOk` accepts data that ends
 * without the root label (RFC 4702 §2.3.1 partial names in option 81).
 */
function readName(
  data: Uint8Array,
  start: number,
  compression: boolean,
  partialOk: boolean,
): DhcpResult<ParsedName> {
  const labels: string[] = [];
  let pos = start;
  let next = -1; // set at the first pointer: the name continues elsewhere but ends here
  let wireBytes = 1; // the terminating root label
  let segmentStart = start; // where the labels being read began (the name, or the last jump target)
  for (;;) {
    if (pos >= data.length) {
      if (partialOk && next < 0) return ok({ text: labels.join("."), next: pos });
      return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `domain name at offset ${start} runs past the end of the option`);
    }
    const len = data[pos] as number;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return ok({ text: labels.length === 0 ? "." : labels.join("."), next });
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (!compression) {
        return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `compression pointer at offset ${pos} where none is allowed`);
      }
      if (pos + 1 >= data.length) {
        return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `compression pointer at offset ${pos} is cut short`);
      }
      const target = ((len & 0x3f) << 8) | (data[pos + 1] as number);
      if (target >= segmentStart) {
        return fail(
          DhcpErrorCode.BAD_DOMAIN_NAME,
          `compression pointer at offset ${pos} points to ${target}, not before the labels that lead to it`,
        );
      }
      if (next < 0) next = pos + 2;
      pos = target;
      segmentStart = target;
      continue;
    }
    if (kind !== 0) {
      return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `label type 0x${kind.toString(16)} at offset ${pos} is not defined`);
    }
    if (pos + 1 + len > data.length) {
      return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `label at offset ${pos} runs past the end of the option`);
    }
    wireBytes += 1 + len;
    if (wireBytes > MAX_NAME_BYTES) {
      return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `domain name at offset ${start} is longer than ${MAX_NAME_BYTES} bytes`);
    }
    labels.push(labelText(data, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
}

/**
 * Decodes a sequence of names filling `data` entirely (option 119, RFC 3397 §2), following
 * compression pointers.
 */
export function decodeDnsNameList(data: Uint8Array): DhcpResult<string[]> {
  const names: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    const r = readName(data, pos, true, false);
    if (!r.ok) return r;
    names.push(r.value.text);
    pos = r.value.next;
  }
  return ok(names);
}

/**
 * Decodes one uncompressed name filling `data` (option 81 with the E flag, RFC 4702 §2.3.1); a
 * partial name (no root label) is accepted. Empty data is the empty name "".
 */
export function decodeDnsName(data: Uint8Array): DhcpResult<string> {
  if (data.length === 0) return ok("");
  const r = readName(data, 0, false, true);
  if (!r.ok) return r;
  if (r.value.next !== data.length) {
    return fail(DhcpErrorCode.BAD_DOMAIN_NAME, `${data.length - r.value.next} bytes follow the domain name`);
  }
  return ok(r.value.text);
}

/** Splits name text into wire labels, undoing the escapes; null when it cannot be a name. */
function textToLabels(text: string): Uint8Array[] | null {
  if (text === ".") return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  const utf8 = new TextEncoder();
  let wire = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === ".") {
      if (cur.length === 0) return null;
      labels.push(Uint8Array.from(cur));
      cur = [];
      continue;
    }
    if (c === "\\") {
      const d = text.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d)) {
        const n = Number(d);
        if (n > 255) return null;
        cur.push(n);
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(...utf8.encode(text[i + 1] as string));
        i += 1;
      } else return null;
      continue;
    }
    cur.push(...utf8.encode(c));
  }
  if (cur.length === 0) {
    // "a." (trailing dot) and "" both end without a final label
    if (text.length > 0 && !text.endsWith(".")) return null;
  } else labels.push(Uint8Array.from(cur));
  for (const l of labels) {
    if (l.length > MAX_LABEL_BYTES) return null;
    wire += 1 + l.length;
  }
  if (wire > MAX_NAME_BYTES) return null;
  return labels;
}

function labelsKey(labels: readonly Uint8Array[], from: number): string {
  return labels
    .slice(from)
    .map((l) => Array.from(l, (b) => String.fromCharCode(b)).join(""))
    .join("\u0000");
}

/**
 * Encodes names for option 119 (RFC 3397), compressing repeated suffixes with pointers into the
 * option data (RFC 1035 §4.1.4). Suffixes compare byte for byte (a case-insensitive match would be
 * legal, but keeping case makes decode∘encode the identity).
 */
export function encodeDnsNameList(names: readonly string[]): DhcpResult<Uint8Array> {
  const out: number[] = [];
  const seen = new Map<string, number>();
  for (const name of names) {
    const labels = textToLabels(name);
    if (labels === null || name === "") {
      return fail(DhcpErrorCode.UNENCODABLE, `"${name}" is not a domain name`);
    }
    let i = 0;
    for (; i < labels.length; i++) {
      const key = labelsKey(labels, i);
      const at = seen.get(key);
      if (at !== undefined) break;
      if (out.length <= MAX_POINTER_OFFSET) seen.set(key, out.length);
      const l = labels[i] as Uint8Array;
      out.push(l.length, ...l);
    }
    if (i < labels.length) {
      const at = seen.get(labelsKey(labels, i)) as number;
      out.push(0xc0 | (at >> 8), at & 0xff);
    } else out.push(0);
  }
  return ok(Uint8Array.from(out));
}

/**
 * Encodes one name without compression, always fully qualified (ends with the root label), as a
 * client sends it in option 81 (RFC 4702 §2.3.1). The empty name encodes to no bytes.
 */
export function encodeDnsName(name: string): DhcpResult<Uint8Array> {
  if (name === "") return ok(new Uint8Array(0));
  const labels = textToLabels(name);
  if (labels === null) return fail(DhcpErrorCode.UNENCODABLE, `"${name}" is not a domain name`);
  const out: number[] = [];
  for (const l of labels) out.push(l.length, ...l);
  out.push(0);
  return ok(Uint8Array.from(out));
}
