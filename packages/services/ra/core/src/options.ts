/**
 * Neighbor Discovery options (RFC 4861 §4.6 and the RFCs that add types): a union with an
 * `unknown` escape for types this codec does not read (kept, not dropped) and a `malformed` one
 * for a known type whose contents break its RFC (that option alone is ignored, as each RFC says).
 *
 * Framing errors are different: an option of length 0 or one that runs past the end of the
 * message make the whole message invalid (RFC 4861 §6.1.2 says to discard it), so
 * {@link decodeNdOptions} returns an error for them. Each option is at least 8 bytes, so the loop
 * runs at most length / 8 times.
 */

import { IPV6_BYTES, formatIpv6, ipv6Bytes, maskPrefix, putU16, putU32, u16At, u32At, type Ipv6Address } from "./ipv6.ts";
import { RaErrorCode, fail, ok, type RaError, type RaResult } from "./result.ts";

/** Option type numbers, as IANA's "IPv6 Neighbor Discovery Option Formats" registry names them. */
export const NdOptionType = {
  SOURCE_LINK_LAYER_ADDRESS: 1,
  TARGET_LINK_LAYER_ADDRESS: 2,
  PREFIX_INFORMATION: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
  ROUTE_INFORMATION: 24,
  RDNSS: 25,
  DNSSL: 31,
  PREF64: 38,
} as const;

/**
 * RFC 4191 §2.1 preference values. On the wire 01 is high, 00 medium, 11 low; 10 is reserved:
 * a Router Advertisement's reserved preference is read as medium (§2.2), a Route Information
 * option with it is ignored (§3.1), so only routes carry `"reserved"`.
 */
export type Preference = "high" | "medium" | "low";

/** RFC 4861 §4.6.1: the sender's link-layer address (6 bytes on Ethernet, more on other links). */
export interface SourceLinkLayerOption {
  kind: "sourceLinkLayer";
  /** The option's data after type and length, padding included (6 bytes for Ethernet). */
  address: Uint8Array;
}

/** RFC 4861 §4.6.2 Prefix Information. */
export interface PrefixOption {
  kind: "prefix";
  /** 0–128. */
  prefixLength: number;
  /** L: the prefix is on-link. */
  onLink: boolean;
  /** A: the prefix may be used for stateless address autoconfiguration (RFC 4862). */
  autonomous: boolean;
  /** R (RFC 6275 §7.2): `prefix` holds the router's whole address. */
  routerAddress: boolean;
  /** Seconds; {@link INFINITE_LIFETIME} is infinity. */
  validLifetime: number;
  /** Seconds; {@link INFINITE_LIFETIME} is infinity. */
  preferredLifetime: number;
  /** The 128-bit field as sent (not masked: with R set it is a whole address). */
  prefix: Ipv6Address;
}

/** RFC 4861 §4.6.4: the link's MTU. */
export interface MtuOption {
  kind: "mtu";
  mtu: number;
}

/** RFC 4191 §2.3 Route Information: a more specific route through the advertising router. */
export interface RouteOption {
  kind: "route";
  /** 0–128. */
  prefixLength: number;
  /** `"reserved"` is the wire value 10: RFC 4191 §3.1 says to ignore the option. */
  preference: Preference | "reserved";
  /** Seconds; {@link INFINITE_LIFETIME} is infinity. */
  lifetime: number;
  /** The prefix, bits past `prefixLength` cleared (the RFC says they are ignored). */
  prefix: Ipv6Address;
}

/** RFC 8106 §5.1 Recursive DNS Server. */
export interface RdnssOption {
  kind: "rdnss";
  /** Seconds; {@link INFINITE_LIFETIME} is infinity, 0 withdraws the servers. */
  lifetime: number;
  /** At least one. */
  servers: Ipv6Address[];
}

/** RFC 8106 §5.2 DNS Search List. */
export interface DnsslOption {
  kind: "dnssl";
  /** Seconds; {@link INFINITE_LIFETIME} is infinity, 0 withdraws the names. */
  lifetime: number;
  /** At least one; text form, labels joined by ".", no trailing dot. */
  names: string[];
}

/** RFC 8781 PREF64: the NAT64 prefix. */
export interface Pref64Option {
  kind: "pref64";
  /** Seconds: the 13-bit scaled lifetime × 8 (so a multiple of 8, at most 65528). */
  lifetime: number;
  /** 96, 64, 56, 48, 40 or 32 (the Prefix Length Code 0–5). */
  prefixLength: number;
  /** The prefix, bits past `prefixLength` cleared. */
  prefix: Ipv6Address;
}

/** An option type this codec does not read, kept as sent. */
export interface UnknownOption {
  kind: "unknown";
  type: number;
  /** The option's data after type and length. */
  bytes: Uint8Array;
}

/** A known option type whose contents break its RFC: ignored by the client, kept for logs and re-encoding. */
export interface MalformedOption {
  kind: "malformed";
  type: number;
  /** The option's data after type and length. */
  bytes: Uint8Array;
  error: RaError;
}

/** One ND option. */
export type NdOption =
  | SourceLinkLayerOption
  | PrefixOption
  | MtuOption
  | RouteOption
  | RdnssOption
  | DnsslOption
  | Pref64Option
  | UnknownOption
  | MalformedOption;

/** RFC 4191 §2.1: the 2-bit field, 10 (reserved) reported as such. */
export function preferenceFromBits(bits: number): Preference | "reserved" {
  return (["medium", "high", "reserved", "low"] as const)[bits & 3]!;
}

/** RFC 4191 §2.1: the 2-bit field for a preference. */
export function preferenceBits(p: Preference | "reserved"): number {
  return { medium: 0, high: 1, reserved: 2, low: 3 }[p];
}

/** RFC 8781 §4: Prefix Length Code → prefix length. */
const PREF64_LENGTHS = [96, 64, 56, 48, 40, 32] as const;

/** RFC 1035 §2.3.4: a name is at most 255 bytes in wire form. */
const MAX_NAME_WIRE_BYTES = 255;
/** RFC 1035 §2.3.4: a label is at most 63 bytes. */
const MAX_LABEL_BYTES = 63;

/**
 * The bytes a search-list label may hold: letters, digits, hyphen, underscore (RFC 952/1123 host
 * names plus the underscore some zones use). Anything else (space, newline, ".", "\") could change
 * the meaning of resolv.conf, so a name holding it makes the DNSSL option malformed.
 */
const isSearchLabelByte = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f;

/** RFC 8106 §5.2: names in wire form, uncompressed, then zero padding. */
function decodeSearchNames(data: Uint8Array): RaResult<string[]> {
  const bad = (detail: string) => fail(RaErrorCode.BAD_OPTION, detail);
  const names: string[] = [];
  let at = 0;
  while (at < data.length && data[at] !== 0) {
    const start = at;
    const labels: string[] = [];
    for (;;) {
      if (at >= data.length) return bad("A DNSSL name runs past the end of the option.");
      const length = data[at]!;
      if (length === 0) {
        at++;
        break;
      }
      if (length >= 0xc0) return bad("A DNSSL name uses a compression pointer, which RFC 8106 §5.2 does not allow.");
      if (length > MAX_LABEL_BYTES) return bad(`A DNSSL label is ${length} bytes long; a label has at most 63.`);
      if (at + 1 + length > data.length) return bad("A DNSSL label runs past the end of the option.");
      const label = data.subarray(at + 1, at + 1 + length);
      if (!label.every(isSearchLabelByte)) return bad("A DNSSL label holds a byte other than a letter, digit, hyphen or underscore.");
      labels.push(String.fromCharCode(...label));
      at += 1 + length;
      if (at + 1 - start > MAX_NAME_WIRE_BYTES) return bad("A DNSSL name is longer than 255 bytes.");
    }
    names.push(labels.join("."));
  }
  if (names.length === 0) return bad("A DNSSL option holds no name.");
  for (; at < data.length; at++) if (data[at] !== 0) return bad("A DNSSL option has bytes after its padding began.");
  return ok(names);
}

/** The wire form of search names (uncompressed), or an error naming the first unencodable one. */
function encodeSearchNames(names: readonly string[]): RaResult<Uint8Array> {
  const out: number[] = [];
  for (const name of names) {
    const labels = name.split(".");
    let wire = 1;
    for (const label of labels) {
      const bytes = [...label].map((c) => c.charCodeAt(0));
      if (bytes.length === 0 || bytes.length > MAX_LABEL_BYTES || !bytes.every(isSearchLabelByte)) {
        return fail(RaErrorCode.UNENCODABLE, `${JSON.stringify(name.slice(0, 300))} is not a search name (labels of 1–63 letters, digits, hyphens or underscores).`);
      }
      out.push(bytes.length, ...bytes);
      wire += 1 + bytes.length;
    }
    if (wire > MAX_NAME_WIRE_BYTES) return fail(RaErrorCode.UNENCODABLE, `The search name ${JSON.stringify(name.slice(0, 300))} is longer than 255 bytes.`);
    out.push(0);
  }
  return ok(Uint8Array.from(out));
}

/** Decodes one option's contents (`data` is everything after type and length). */
function decodeOption(type: number, data: Uint8Array): NdOption {
  const malformed = (detail: string): MalformedOption => ({ kind: "malformed", type, bytes: data, error: { code: RaErrorCode.BAD_OPTION, detail } });
  const units = (data.length + 2) / 8;
  switch (type) {
    case NdOptionType.SOURCE_LINK_LAYER_ADDRESS:
      return { kind: "sourceLinkLayer", address: data };
    case NdOptionType.PREFIX_INFORMATION: {
      if (units !== 4) return malformed(`A Prefix Information option has length ${units}; RFC 4861 §4.6.2 says 4.`);
      const prefixLength = data[0]!;
      if (prefixLength > 128) return malformed(`A Prefix Information option has prefix length ${prefixLength}, above 128.`);
      const flags = data[1]!;
      return {
        kind: "prefix",
        prefixLength,
        onLink: (flags & 0x80) !== 0,
        autonomous: (flags & 0x40) !== 0,
        routerAddress: (flags & 0x20) !== 0,
        validLifetime: u32At(data, 2),
        preferredLifetime: u32At(data, 6),
        prefix: formatIpv6(data, 14),
      };
    }
    case NdOptionType.MTU:
      if (units !== 1) return malformed(`An MTU option has length ${units}; RFC 4861 §4.6.4 says 1.`);
      return { kind: "mtu", mtu: u32At(data, 2) };
    case NdOptionType.ROUTE_INFORMATION: {
      const prefixLength = data[0]!;
      // RFC 4191 §2.3: length 1 carries no prefix bytes, 2 carries 8, 3 carries 16.
      if (prefixLength > 128) return malformed(`A Route Information option has prefix length ${prefixLength}, above 128.`);
      if (units > 3 || (prefixLength > 64 && units < 3) || (prefixLength > 0 && units < 2)) {
        return malformed(`A Route Information option has length ${units}, which cannot hold a /${prefixLength} prefix (RFC 4191 §2.3).`);
      }
      const prefix = new Uint8Array(IPV6_BYTES);
      prefix.set(data.subarray(6));
      return {
        kind: "route",
        prefixLength,
        preference: preferenceFromBits(data[1]! >> 3),
        lifetime: u32At(data, 2),
        prefix: formatIpv6(maskPrefix(prefix, prefixLength)),
      };
    }
    case NdOptionType.RDNSS: {
      if (units < 3 || units % 2 === 0) return malformed(`An RDNSS option has length ${units}; RFC 8106 §5.1 says an odd number of at least 3.`);
      const servers: Ipv6Address[] = [];
      for (let at = 6; at + IPV6_BYTES <= data.length; at += IPV6_BYTES) servers.push(formatIpv6(data, at));
      return { kind: "rdnss", lifetime: u32At(data, 2), servers };
    }
    case NdOptionType.DNSSL: {
      if (units < 2) return malformed(`A DNSSL option has length ${units}; RFC 8106 §5.2 says at least 2.`);
      const names = decodeSearchNames(data.subarray(6));
      if (!names.ok) return malformed(names.error.detail);
      return { kind: "dnssl", lifetime: u32At(data, 2), names: names.value };
    }
    case NdOptionType.PREF64: {
      if (units !== 2) return malformed(`A PREF64 option has length ${units}; RFC 8781 §4 says 2.`);
      const field = u16At(data, 0);
      const prefixLength = PREF64_LENGTHS[field & 7];
      if (prefixLength === undefined) return malformed(`A PREF64 option has Prefix Length Code ${field & 7}; RFC 8781 §4 defines 0–5.`);
      const prefix = new Uint8Array(IPV6_BYTES);
      prefix.set(data.subarray(2, 14));
      return { kind: "pref64", lifetime: (field >> 3) * 8, prefixLength, prefix: formatIpv6(maskPrefix(prefix, prefixLength)) };
    }
    default:
      return { kind: "unknown", type, bytes: data };
  }
}

/**
 * Decodes the options that fill `message` from `start` to its end. An option of length 0, or one
 * that runs past the end, fails the whole message (RFC 4861 §6.1.2); a malformed known option
 * does not (it comes back as `{ kind: "malformed" }`).
 */
export function decodeNdOptions(message: Uint8Array, start: number): RaResult<NdOption[]> {
  const options: NdOption[] = [];
  let at = start;
  while (at < message.length) {
    if (at + 2 > message.length) return fail(RaErrorCode.OPTION_PAST_END, `An option header at byte ${at} runs past the end of the ${message.length}-byte message.`);
    const type = message[at]!;
    const units = message[at + 1]!;
    if (units === 0) return fail(RaErrorCode.ZERO_LENGTH_OPTION, `Option ${type} at byte ${at} has length 0; RFC 4861 §6.1.2 says to discard the message.`);
    const end = at + units * 8;
    if (end > message.length) return fail(RaErrorCode.OPTION_PAST_END, `Option ${type} at byte ${at} is ${units * 8} bytes long and runs past the end of the ${message.length}-byte message.`);
    options.push(decodeOption(type, message.slice(at + 2, end)));
    at = end;
  }
  return ok(options);
}

/** An option's wire form: type, length in 8-byte units, then `data` (whose length + 2 is a multiple of 8). */
function frame(type: number, data: Uint8Array): RaResult<Uint8Array> {
  const total = data.length + 2;
  if (total % 8 !== 0 || total > 255 * 8) {
    return fail(RaErrorCode.UNENCODABLE, `Option ${type} would be ${total} bytes long; an option is a multiple of 8 bytes, at most 2040.`);
  }
  const out = new Uint8Array(total);
  out[0] = type;
  out[1] = total / 8;
  out.set(data, 2);
  return ok(out);
}

const isU32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** The bytes of an address text, or an UNENCODABLE error. */
function addressBytes(text: string, what: string): RaResult<Uint8Array> {
  const bytes = ipv6Bytes(text);
  return bytes === null ? fail(RaErrorCode.UNENCODABLE, `${what} ${JSON.stringify(text.slice(0, 64))} is not an IPv6 address.`) : ok(bytes);
}

/** Encodes one option; what {@link decodeNdOptions} decoded re-encodes to the same value. */
export function encodeNdOption(option: NdOption): RaResult<Uint8Array> {
  const unencodable = (detail: string) => fail(RaErrorCode.UNENCODABLE, detail);
  switch (option.kind) {
    case "sourceLinkLayer":
      return frame(NdOptionType.SOURCE_LINK_LAYER_ADDRESS, option.address);
    case "prefix": {
      const { prefixLength, validLifetime, preferredLifetime } = option;
      if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) return unencodable(`Prefix length ${prefixLength} is not 0–128.`);
      if (!isU32(validLifetime) || !isU32(preferredLifetime)) return unencodable("A prefix lifetime is not a 32-bit number of seconds.");
      const prefix = addressBytes(option.prefix, "The prefix");
      if (!prefix.ok) return prefix;
      const data = new Uint8Array(30);
      data[0] = prefixLength;
      data[1] = (option.onLink ? 0x80 : 0) | (option.autonomous ? 0x40 : 0) | (option.routerAddress ? 0x20 : 0);
      putU32(data, 2, validLifetime);
      putU32(data, 6, preferredLifetime);
      data.set(prefix.value, 14);
      return frame(NdOptionType.PREFIX_INFORMATION, data);
    }
    case "mtu": {
      if (!isU32(option.mtu)) return unencodable(`MTU ${option.mtu} is not a 32-bit number.`);
      const data = new Uint8Array(6);
      putU32(data, 2, option.mtu);
      return frame(NdOptionType.MTU, data);
    }
    case "route": {
      const { prefixLength, lifetime } = option;
      if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) return unencodable(`Prefix length ${prefixLength} is not 0–128.`);
      if (!isU32(lifetime)) return unencodable(`Route lifetime ${lifetime} is not a 32-bit number of seconds.`);
      const prefix = addressBytes(option.prefix, "The route prefix");
      if (!prefix.ok) return prefix;
      // RFC 4191 §2.3: the shortest length that holds the prefix.
      const prefixBytes = prefixLength === 0 ? 0 : prefixLength <= 64 ? 8 : 16;
      const data = new Uint8Array(6 + prefixBytes);
      data[0] = prefixLength;
      data[1] = preferenceBits(option.preference) << 3;
      putU32(data, 2, lifetime);
      data.set(maskPrefix(prefix.value, prefixLength).subarray(0, prefixBytes), 6);
      return frame(NdOptionType.ROUTE_INFORMATION, data);
    }
    case "rdnss": {
      if (!isU32(option.lifetime)) return unencodable(`RDNSS lifetime ${option.lifetime} is not a 32-bit number of seconds.`);
      if (option.servers.length === 0) return unencodable("An RDNSS option needs at least one server.");
      const data = new Uint8Array(6 + IPV6_BYTES * option.servers.length);
      putU32(data, 2, option.lifetime);
      for (const [i, server] of option.servers.entries()) {
        const bytes = addressBytes(server, "The DNS server");
        if (!bytes.ok) return bytes;
        data.set(bytes.value, 6 + IPV6_BYTES * i);
      }
      return frame(NdOptionType.RDNSS, data);
    }
    case "dnssl": {
      if (!isU32(option.lifetime)) return unencodable(`DNSSL lifetime ${option.lifetime} is not a 32-bit number of seconds.`);
      if (option.names.length === 0) return unencodable("A DNSSL option needs at least one name.");
      const names = encodeSearchNames(option.names);
      if (!names.ok) return names;
      const data = new Uint8Array(6 + names.value.length + ((8 - ((8 + names.value.length) % 8)) % 8));
      putU32(data, 2, option.lifetime);
      data.set(names.value, 6);
      return frame(NdOptionType.DNSSL, data);
    }
    case "pref64": {
      const code = PREF64_LENGTHS.indexOf(option.prefixLength as (typeof PREF64_LENGTHS)[number]);
      if (code < 0) return unencodable(`PREF64 prefix length ${option.prefixLength} is not one of 96, 64, 56, 48, 40, 32.`);
      if (!Number.isInteger(option.lifetime) || option.lifetime < 0 || option.lifetime % 8 !== 0 || option.lifetime > 8191 * 8) {
        return unencodable(`PREF64 lifetime ${option.lifetime} is not a multiple of 8 seconds up to 65528.`);
      }
      const prefix = addressBytes(option.prefix, "The PREF64 prefix");
      if (!prefix.ok) return prefix;
      const data = new Uint8Array(14);
      putU16(data, 0, ((option.lifetime / 8) << 3) | code);
      data.set(maskPrefix(prefix.value, option.prefixLength).subarray(0, 12), 2);
      return frame(NdOptionType.PREF64, data);
    }
    case "unknown":
    case "malformed":
      if (!Number.isInteger(option.type) || option.type < 0 || option.type > 255) return unencodable(`Option type ${option.type} is not 0–255.`);
      return frame(option.type, option.bytes);
  }
}
