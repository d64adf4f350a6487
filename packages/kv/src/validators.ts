/**
 * Parsers for the canonical text forms of KV values. A value is UTF-8 text that reads like a
 * config file line ("10.0.0.5/24", "1400", "example.com"); each parser accepts exactly one
 * spelling of a value (no leading zeros, lower-case hex), so equal values are equal strings and
 * the audit log is unambiguous, and returns the value as a branded type (STYLE.md 4): an
 * `Ipv4Cidr`, a `DomainName`, … can only be built here, so a handler that holds one holds a value
 * that passed its schema. Every rule says where it comes from.
 *
 * Values reach system files (resolv.conf, hostname) and netlink requests: nothing accepted here
 * may contain whitespace where a separator is not expected, a control character, or a Unicode line
 * terminator, so a value can never inject a line into a file.
 *
 * The store runs a key's parser once, when the value is written or loaded, and keeps the parsed
 * value next to the text (`KvStore.parsed`); handlers read the parsed values and never parse again.
 */

/** The outcome of a parser: the parsed value, or a refusal with one sentence that says why. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/**
 * The outcome of a validator that only checks (an older form, still accepted): the value, when
 * accepted, is its text.
 */
export type Validation = { readonly ok: true; readonly value?: undefined } | { readonly ok: false; readonly reason: string };

/**
 * A schema key's parser: canonical text in, the typed value (or a refusal) out. A validator that
 * returns `{ ok: true }` with no value is accepted for string-valued keys; the key's parsed value
 * is then the text itself.
 */
export type Validator<T = unknown> = (text: string) => Parsed<T> | CheckedOnly<T>;

/**
 * `{ ok: true }` without a value, allowed only when the text itself can be the value (T accepts a
 * string): for any other T the mapped member demands a property no object literal has. (Written as
 * a mapped type rather than a plain conditional so that `Validator<T>` stays covariant in T.)
 */
type CheckedOnly<T> = Validation & { readonly [K in string extends T ? never : "a parsed value is required"]: never };

/** A parser proper: it always returns the parsed value (every parser of this module is one). */
export type Parser<T> = (text: string) => Parsed<T>;

/** The type a validator parses to (its text, for a validator that only checks). */
export type ParsedValue<V> = V extends (text: string) => infer R
  ? [Extract<R, { ok: true; value: unknown }>] extends [never]
    ? string
    : Extract<R, { ok: true; value: unknown }> extends { value: infer T }
      ? T
      : never
  : never;

/** Runs a validator and returns its parsed value: the validator's own, or the text when it returned none. */
export function parseWith<T>(validate: Validator<T>, text: string): Parsed<T> {
  const r = validate(text) as Parsed<T> | Validation;
  if (!r.ok) return r;
  return r.value === undefined ? { ok: true, value: text as T } : (r as Parsed<T>);
}

declare const brand: unique symbol;
/** A value of type T that only a parser of this module has built. */
type Branded<T, B extends string> = T & { readonly [brand]: { readonly [K in B]: true } };

/** An IPv4 address in canonical dotted-quad form ("10.0.0.1"; no leading zeros). */
export type Ipv4Address = Branded<string, "Ipv4Address">;
/** An IPv4 address a host can be given or talk to (see `ipv4Unicast`); also an `Ipv4Address`. */
export type Ipv4Unicast = Branded<string, "Ipv4Address" | "Ipv4Unicast">;
/** A network: address with no host bits set, prefix 0–32 ("10.0.0.0/8", "0.0.0.0/0"). */
export type Ipv4Network = Branded<{ readonly address: Ipv4Address; readonly prefixLength: number; readonly text: string }, "Ipv4Network">;
/** An interface address with its prefix length ("10.0.0.5/24"), and the network it is on ("10.0.0.0/24"). */
export type Ipv4Cidr = Branded<
  { readonly address: Ipv4Unicast; readonly prefixLength: number; readonly text: string; readonly network: Ipv4Network },
  "Ipv4Cidr"
>;
/** A static route: a destination network and a router, null for on-link (RFC 3442 router 0.0.0.0). */
export type Ipv4Route = Branded<{ readonly destination: Ipv4Network; readonly gateway: Ipv4Unicast | null; readonly text: string }, "Ipv4Route">;
/** A domain name in dotted text ("lab.example.com"; see `domainName`). */
export type DomainName = Branded<string, "DomainName">;
/** A host name for sethostname(): a domain name of at most 64 bytes; also a `DomainName`. */
export type HostName = Branded<string, "DomainName" | "HostName">;
/** A resolver search list: 1–6 domain names; its text is the names joined by single spaces. */
export type SearchList = Branded<readonly DomainName[], "SearchList">;
/** A MAC address in lower-case colon form ("02:77:f4:a9:18:e3"). */
export type MacAddress = Branded<string, "MacAddress">;

const no = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });
/** The one place a branded value is made: the parsers below, after their checks. */
const yes = <T>(value: unknown): Parsed<T> => ({ ok: true, value: value as T });

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

/**
 * The 32-bit value of an address. Total: the brand guarantees a canonical dotted quad, so this is
 * arithmetic on a parsed value, not a second validation.
 */
export function ipv4Bits(address: Ipv4Address): number {
  return parseIpv4(address) ?? 0;
}

/** The netmask of a prefix length 0–32 as an unsigned 32-bit number. */
function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** Whether `address` is inside `network` (an `Ipv4Network`, or an `Ipv4Cidr`'s network). */
export function ipv4NetworkContains(network: Ipv4Network, address: Ipv4Address): boolean {
  const mask = maskOf(network.prefixLength);
  return ((ipv4Bits(address) & mask) >>> 0) === ((ipv4Bits(network.address) & mask) >>> 0);
}

/** Dotted-quad text of a 32-bit value. */
function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** An IPv4 address in canonical dotted-quad form ("10.0.0.1"; no leading zeros). */
export const ipv4: Parser<Ipv4Address> = (v) =>
  parseIpv4(v) === null ? no(`${q(v)} is not an IPv4 address in dotted-quad form`) : yes<Ipv4Address>(v);

/**
 * An address a host can be given or talk to: not 0.0.0.0/8 (this network), 127.0.0.0/8
 * (loopback), 224.0.0.0/4 (multicast) or 240.0.0.0/4 (reserved, including broadcast); RFC 1122 §3.2.1.3.
 */
export const ipv4Unicast: Parser<Ipv4Unicast> = (v) => {
  const n = parseIpv4(v);
  if (n === null) return no(`${q(v)} is not an IPv4 address in dotted-quad form`);
  const first = n >>> 24;
  if (first === 0 || first === 127 || first >= 224) return no(`${v} is not a unicast host address`);
  return yes<Ipv4Unicast>(v);
};

/** Builds the network of `bits`/`prefixLength` (host bits cleared). */
function networkOf(bits: number, prefixLength: number): Ipv4Network {
  const address = formatIpv4((bits & maskOf(prefixLength)) >>> 0) as Ipv4Address;
  return Object.freeze({ address, prefixLength, text: `${address}/${prefixLength}` }) as Ipv4Network;
}

/** An interface address with its prefix length ("10.0.0.5/24"): a unicast address, prefix 1–32. */
export const ipv4Cidr: Parser<Ipv4Cidr> = (v) => {
  const slash = v.indexOf("/");
  if (slash < 0) return no(`${q(v)} is not an address with a prefix length (like 10.0.0.5/24)`);
  const addr = ipv4Unicast(v.slice(0, slash));
  if (!addr.ok) return addr;
  const len = v.slice(slash + 1);
  if (!/^([1-9]|[12][0-9]|3[0-2])$/.test(len)) return no(`prefix length ${q(len)} is not 1–32`);
  const prefixLength = Number(len);
  return yes<Ipv4Cidr>(Object.freeze({ address: addr.value, prefixLength, text: v, network: networkOf(ipv4Bits(addr.value), prefixLength) }));
};

/** A network ("10.0.0.0/8", "0.0.0.0/0"): prefix 0–32 and no host bits set (RFC 4632 §3.1). */
export const ipv4Network: Parser<Ipv4Network> = (v) => {
  const slash = v.indexOf("/");
  if (slash < 0) return no(`${q(v)} is not a network with a prefix length (like 10.0.0.0/8)`);
  const n = parseIpv4(v.slice(0, slash));
  const lenText = v.slice(slash + 1);
  if (n === null) return no(`${q(v.slice(0, slash))} is not an IPv4 address in dotted-quad form`);
  if (!/^(0|[1-9]|[12][0-9]|3[0-2])$/.test(lenText)) return no(`prefix length ${q(lenText)} is not 0–32`);
  const len = Number(lenText);
  const hostBits = len === 32 ? 0 : n % 2 ** (32 - len);
  if (hostBits !== 0) return no(`${v} has host bits set`);
  return yes<Ipv4Network>(networkOf(n, len));
};

/** A static route, "DESTINATION ROUTER" ("10.0.0.0/8 10.0.0.1"); router 0.0.0.0 means on-link (RFC 3442). */
export const ipv4Route: Parser<Ipv4Route> = (v) => {
  const parts = v.split(" ");
  if (parts.length !== 2) return no(`${q(v)} is not "network router" (like "10.0.0.0/8 10.0.0.1")`);
  const destination = ipv4Network(parts[0]!);
  if (!destination.ok) return destination;
  if (parts[1] === "0.0.0.0") return yes<Ipv4Route>(Object.freeze({ destination: destination.value, gateway: null, text: v }));
  const gateway = ipv4Unicast(parts[1]!);
  if (!gateway.ok) return gateway;
  return yes<Ipv4Route>(Object.freeze({ destination: destination.value, gateway: gateway.value, text: v }));
};

/** One of a fixed set of words, e.g. "true" / "false"; parses to the word. */
export function oneOf<const W extends string>(...words: W[]): Parser<W> {
  return (v) => ((words as string[]).includes(v) ? yes<W>(v) : no(`${q(v)} is not one of ${words.join(", ")}`));
}

/** A MAC address in lower-case colon form ("02:77:f4:a9:18:e3"). */
export const mac: Parser<MacAddress> = (v) =>
  /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(v) ? yes<MacAddress>(v) : no(`${q(v)} is not a MAC address like 02:00:00:00:00:01 (lower case)`);

/** A decimal integer in [min, max], canonical (no sign, no leading zeros); parses to the number. */
export function intRange(min: number, max: number): Parser<number> {
  return (v) => {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(v)) return no(`${q(v)} is not a decimal integer`);
    const n = Number(v);
    return n >= min && n <= max ? yes<number>(n) : no(`${v} is outside ${min}–${max}`);
  };
}

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * A domain name in dotted text ("lab.example.com"), RFC 1035 §2.3.1 letters-digits-hyphens,
 * plus '_' which real zones use (RFC 2782 service labels). No trailing dot, no empty label,
 * labels ≤ 63, the name ≤ 253 bytes.
 */
export const domainName: Parser<DomainName> = (v) => {
  if (hasControlOrLineBreak(v)) return no("the name contains a control character or a line break");
  if (v.length === 0) return no("the name is empty");
  if (v.length > MAX_DOMAIN_BYTES) return no(`the name is longer than ${MAX_DOMAIN_BYTES} bytes`);
  for (const label of v.split(".")) {
    if (label.length === 0) return no(`${q(v)} has an empty label`);
    if (label.length > MAX_LABEL_BYTES) return no(`${q(v)} has a label longer than ${MAX_LABEL_BYTES} bytes`);
    if (!LABEL.test(label)) return no(`${q(v)} has a label with characters other than letters, digits, '-' and '_'`);
  }
  return yes<DomainName>(v);
};

/** A search list: 1–6 domain names separated by single spaces, ≤ 256 bytes in all; parses to the names. */
export const searchList: Parser<SearchList> = (v) => {
  if (hasControlOrLineBreak(v)) return no("the search list contains a control character or a line break");
  if (v.length > MAX_SEARCH_BYTES) return no(`the search list is longer than ${MAX_SEARCH_BYTES} bytes`);
  const texts = v.split(" ");
  if (texts.length > MAX_SEARCH_DOMAINS) return no(`the search list has ${texts.length} names, limit ${MAX_SEARCH_DOMAINS}`);
  const names: DomainName[] = [];
  for (const n of texts) {
    const r = domainName(n);
    if (!r.ok) return r;
    names.push(r.value);
  }
  return yes<SearchList>(Object.freeze(names));
};

/** A host name for sethostname(): a domain name of at most 64 bytes (HOST_NAME_MAX). */
export const hostname: Parser<HostName> = (v) => {
  if (v.length > MAX_HOSTNAME_BYTES) return no(`the host name is longer than ${MAX_HOSTNAME_BYTES} bytes`);
  const r = domainName(v);
  return r.ok ? yes<HostName>(v) : r;
};

/**
 * A calf's own state, opaque to the priv: printable text, one line — no C0 control (tab and line
 * feed included), no DEL, no C1 control (U+0085 included), no U+2028/U+2029 — bounded by the
 * schema's size limit. State that is not text goes in base64 (RFC 4648 §4, no line breaks), which
 * is printable text and so accepted as it is; JSON from `JSON.stringify` without indentation is
 * too (it escapes C0 itself; DEL, C1 and U+2028/2029 in its strings are refused, so a calf
 * escapes them or uses base64). Why: the value is kept in the store file and the audit log and
 * shown by `paddock kv get/ls/watch`; refused here, a control character can neither inflate the
 * store file (U+0001 costs six bytes as JSON) nor reach an operator's terminal.
 */
export const stateText: Parser<string> = (v) => {
  const m = CONTROL_OR_LINE_BREAK.exec(v);
  if (m) return no(`the value contains ${codePointName(m[0])} at character ${m.index}: state is printable text (binary state goes in base64)`);
  return yes<string>(v);
};

/** "U+0001" for a character. */
function codePointName(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

function q(v: string): string {
  return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
}
