/**
 * Validators for the canonical text forms of KV values. A value is UTF-8 text that reads like a
 * config file line ("10.0.0.5/24", "1400", "example.com"); each validator accepts exactly one
 * spelling of a value (no leading zeros, lower-case hex), so equal values are equal strings and
 * the audit log is unambiguous. Every rule says where it comes from.
 *
 * Values reach system files (resolv.conf, hostname) and netlink requests: nothing accepted here
 * may contain whitespace where a separator is not expected, a control character, or a Unicode line
 * terminator, so a value can never inject a line into a file.
 */

/** The outcome of a validator: accepted, or refused with one sentence that says why. */
export type Validation = { ok: true } | { ok: false; reason: string };

/** A validator checks one canonical text value. */
export type Validator = (value: string) => Validation;

const OK: Validation = { ok: true };
const no = (reason: string): Validation => ({ ok: false, reason });

/** Resolvers (glibc's historical MAXDNSRCH) read at most 6 search domains. */
export const MAX_SEARCH_DOMAINS = 6;
/** glibc's resolv.conf search line limit (historical MAXDNSRCH × … = 256 bytes). */
export const MAX_SEARCH_BYTES = 256;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 as dotted text. */
export const MAX_DOMAIN_BYTES = 253;
/** RFC 1035 §2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_BYTES = 63;
/** Linux HOST_NAME_MAX: sethostname() refuses longer names. */
export const MAX_HOSTNAME_BYTES = 64;

// Anything a line-oriented file could mistake for a separator or a line end (C0, DEL, C1,
// U+2028/U+2029 line and paragraph separators, U+0085 next line).
const CONTROL_OR_LINE_BREAK = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/** True when the text holds a control character or a Unicode line terminator. */
export function hasControlOrLineBreak(text: string): boolean {
  return CONTROL_OR_LINE_BREAK.test(text);
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parses a canonical dotted quad into its 32-bit value, or null. */
export function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const p of parts) {
    if (!DECIMAL_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

/** An IPv4 address in canonical dotted-quad form ("10.0.0.1"; no leading zeros). */
export const ipv4: Validator = (v) => (parseIpv4(v) === null ? no(`${q(v)} is not an IPv4 address in dotted-quad form`) : OK);

/**
 * An address a host can be given or talk to: not 0.0.0.0/8 (this network), 127.0.0.0/8
 * (loopback), 224.0.0.0/4 (multicast) or 240.0.0.0/4 (reserved, including broadcast); RFC 1122 §3.2.1.3.
 */
export const ipv4Unicast: Validator = (v) => {
  const n = parseIpv4(v);
  if (n === null) return no(`${q(v)} is not an IPv4 address in dotted-quad form`);
  const first = n >>> 24;
  if (first === 0 || first === 127 || first >= 224) return no(`${v} is not a unicast host address`);
  return OK;
};

/** An interface address with its prefix length ("10.0.0.5/24"): a unicast address, prefix 1–32. */
export const ipv4Cidr: Validator = (v) => {
  const slash = v.indexOf("/");
  if (slash < 0) return no(`${q(v)} is not an address with a prefix length (like 10.0.0.5/24)`);
  const addr = ipv4Unicast(v.slice(0, slash));
  if (!addr.ok) return addr;
  const len = v.slice(slash + 1);
  if (!/^([1-9]|[12][0-9]|3[0-2])$/.test(len)) return no(`prefix length ${q(len)} is not 1–32`);
  return OK;
};

/** A network ("10.0.0.0/8", "0.0.0.0/0"): prefix 0–32 and no host bits set (RFC 4632 §3.1). */
export const ipv4Network: Validator = (v) => {
  const slash = v.indexOf("/");
  if (slash < 0) return no(`${q(v)} is not a network with a prefix length (like 10.0.0.0/8)`);
  const n = parseIpv4(v.slice(0, slash));
  const lenText = v.slice(slash + 1);
  if (n === null) return no(`${q(v.slice(0, slash))} is not an IPv4 address in dotted-quad form`);
  if (!/^(0|[1-9]|[12][0-9]|3[0-2])$/.test(lenText)) return no(`prefix length ${q(lenText)} is not 0–32`);
  const len = Number(lenText);
  const hostBits = len === 32 ? 0 : n % 2 ** (32 - len);
  if (hostBits !== 0) return no(`${v} has host bits set`);
  return OK;
};

/** A static route, "DESTINATION ROUTER" ("10.0.0.0/8 10.0.0.1"); router 0.0.0.0 means on-link (RFC 3442). */
export const ipv4Route: Validator = (v) => {
  const parts = v.split(" ");
  if (parts.length !== 2) return no(`${q(v)} is not "network router" (like "10.0.0.0/8 10.0.0.1")`);
  const dst = ipv4Network(parts[0]!);
  if (!dst.ok) return dst;
  if (parts[1] === "0.0.0.0") return OK;
  return ipv4Unicast(parts[1]!);
};

/** One of a fixed set of words, e.g. "true" / "false". */
export function oneOf(...words: string[]): Validator {
  return (v) => (words.includes(v) ? OK : no(`${q(v)} is not one of ${words.join(", ")}`));
}

/** A MAC address in lower-case colon form ("02:77:f4:a9:18:e3"). */
export const mac: Validator = (v) =>
  /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(v) ? OK : no(`${q(v)} is not a MAC address like 02:00:00:00:00:01 (lower case)`);

/** A decimal integer in [min, max], canonical (no sign, no leading zeros). */
export function intRange(min: number, max: number): Validator {
  return (v) => {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(v)) return no(`${q(v)} is not a decimal integer`);
    const n = Number(v);
    return n >= min && n <= max ? OK : no(`${v} is outside ${min}–${max}`);
  };
}

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * A domain name in dotted text ("lab.example.com"), RFC 1035 §2.3.1 letters-digits-hyphens,
 * plus '_' which real zones use (RFC 2782 service labels). No trailing dot, no empty label,
 * labels ≤ 63, the name ≤ 253 bytes.
 */
export const domainName: Validator = (v) => {
  if (hasControlOrLineBreak(v)) return no("the name contains a control character or a line break");
  if (v.length === 0) return no("the name is empty");
  if (v.length > MAX_DOMAIN_BYTES) return no(`the name is longer than ${MAX_DOMAIN_BYTES} bytes`);
  for (const label of v.split(".")) {
    if (label.length === 0) return no(`${q(v)} has an empty label`);
    if (label.length > MAX_LABEL_BYTES) return no(`${q(v)} has a label longer than ${MAX_LABEL_BYTES} bytes`);
    if (!LABEL.test(label)) return no(`${q(v)} has a label with characters other than letters, digits, '-' and '_'`);
  }
  return OK;
};

/** A search list: 1–6 domain names separated by single spaces, ≤ 256 bytes in all. */
export const searchList: Validator = (v) => {
  if (hasControlOrLineBreak(v)) return no("the search list contains a control character or a line break");
  if (v.length > MAX_SEARCH_BYTES) return no(`the search list is longer than ${MAX_SEARCH_BYTES} bytes`);
  const names = v.split(" ");
  if (names.length > MAX_SEARCH_DOMAINS) return no(`the search list has ${names.length} names, limit ${MAX_SEARCH_DOMAINS}`);
  for (const n of names) {
    const r = domainName(n);
    if (!r.ok) return r;
  }
  return OK;
};

/** A host name for sethostname(): a domain name of at most 64 bytes (HOST_NAME_MAX). */
export const hostname: Validator = (v) => {
  if (v.length > MAX_HOSTNAME_BYTES) return no(`the host name is longer than ${MAX_HOSTNAME_BYTES} bytes`);
  return domainName(v);
};

/** Opaque UTF-8 text of a calf's own state: anything but NUL, bounded by the schema's size limit. */
export const stateText: Validator = (v) => (v.includes("\u0000") ? no("the value contains a NUL byte") : OK);

function q(v: string): string {
  return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
}
