/**
 * DHCPv6 options (RFC 8415 §21, RFC 3646, RFC 6603) as a discriminated union, with an
 * `unknown` escape that keeps any other option byte for byte, and their total decoder and encoder.
 *
 * Encapsulating options (IA_NA, IA_PD, IAADDR, IAPREFIX) are decoded recursively, at most
 * {@link MAX_OPTION_DEPTH} deep, and every option counts toward {@link MAX_OPTIONS_PER_MESSAGE}:
 * hostile nesting costs bounded stack and work. Every read is preceded by a length check.
 */

import { copyOf, ipv6At, isUint, parseIpv6, pushUint, u16At, u32At, type Ipv6 } from "./bytes.ts";
import {
  MAX_DNS_SERVERS,
  MAX_DOMAINS,
  MAX_IAS_PER_MESSAGE,
  MAX_LEASES_PER_IA,
  MAX_OPTION_DEPTH,
  MAX_OPTIONS_PER_MESSAGE,
  OptionCode,
} from "./constants.ts";
import { decodeDomainNames, encodeDomainName } from "./domain.ts";
import { decodeDuid, encodeDuid, type Duid } from "./duid.ts";
import { Dhcp6ErrorCode, fail, ok, type Dhcp6Result } from "./result.ts";

/** One DHCPv6 option. Lifetimes, T1 and T2 are seconds, 0xffffffff meaning infinity (RFC 8415 §7.7). */
export type Dhcp6Option =
  /** §21.2 OPTION_CLIENTID. */
  | { kind: "clientId"; duid: Duid }
  /** §21.3 OPTION_SERVERID. */
  | { kind: "serverId"; duid: Duid }
  /** §21.4 OPTION_IA_NA: non-temporary addresses, with IAADDR and STATUS_CODE inside. */
  | { kind: "iaNa"; iaid: number; t1: number; t2: number; options: Dhcp6Option[] }
  /** §21.6 OPTION_IAADDR. */
  | { kind: "iaAddr"; address: Ipv6; preferred: number; valid: number; options: Dhcp6Option[] }
  /** §21.7 OPTION_ORO: option codes the client asks for. */
  | { kind: "oro"; codes: number[] }
  /** §21.8 OPTION_PREFERENCE: a server's preference, 0–255. */
  | { kind: "preference"; value: number }
  /** §21.9 OPTION_ELAPSED_TIME: hundredths of a second since the exchange began (0xffff saturates). */
  | { kind: "elapsedTime"; hundredths: number }
  /** §21.11 OPTION_AUTH: parsed and kept; this client never verifies it, so it never trusts it. */
  | { kind: "auth"; protocol: number; algorithm: number; rdm: number; replayDetection: Uint8Array; info: Uint8Array }
  /** §21.13 OPTION_STATUS_CODE: a status (see StatusCode) and a UTF-8 message for people. */
  | { kind: "statusCode"; status: number; message: string }
  /** §21.14 OPTION_RAPID_COMMIT. */
  | { kind: "rapidCommit" }
  /** §21.19 OPTION_RECONF_MSG: which message a RECONFIGURE asks for. */
  | { kind: "reconfMsg"; messageType: number }
  /** §21.20 OPTION_RECONF_ACCEPT (this client never sends it). */
  | { kind: "reconfAccept" }
  /** RFC 3646 §3 OPTION_DNS_SERVERS. */
  | { kind: "dnsServers"; servers: Ipv6[] }
  /** RFC 3646 §4 OPTION_DOMAIN_LIST: search domains in the text form of domain.ts. */
  | { kind: "domainList"; domains: string[] }
  /** §21.21 OPTION_IA_PD: delegated prefixes, with IAPREFIX and STATUS_CODE inside. */
  | { kind: "iaPd"; iaid: number; t1: number; t2: number; options: Dhcp6Option[] }
  /** §21.22 OPTION_IAPREFIX: `prefix`/`prefixLength`, with PD_EXCLUDE and STATUS_CODE inside. */
  | { kind: "iaPrefix"; preferred: number; valid: number; prefixLength: number; prefix: Ipv6; options: Dhcp6Option[] }
  /** §21.23 OPTION_INFORMATION_REFRESH_TIME. */
  | { kind: "informationRefreshTime"; seconds: number }
  /**
   * RFC 6603 §4.2 OPTION_PD_EXCLUDE: the excluded prefix's length and the bits after the
   * delegated prefix (`subnetId`, rounded up to whole bytes). Inside an IAPREFIX the decoder has
   * checked both against the delegated prefix; see {@link excludedPrefix}.
   */
  | { kind: "pdExclude"; prefixLength: number; subnetId: Uint8Array }
  /** §21.24 OPTION_SOL_MAX_RT. */
  | { kind: "solMaxRt"; seconds: number }
  /** §21.25 OPTION_INF_MAX_RT. */
  | { kind: "infMaxRt"; seconds: number }
  /** Any other option, kept byte for byte. */
  | { kind: "unknown"; code: number; data: Uint8Array };

/** The kind of each option a code decodes to. */
export type Dhcp6OptionKind = Dhcp6Option["kind"];

/** The option of one kind. */
export type OptionOf<K extends Dhcp6OptionKind> = Extract<Dhcp6Option, { kind: K }>;

/** Every option of `kind` in `options` (one level, not inside IAs). */
export function optionsOf<K extends Dhcp6OptionKind>(options: readonly Dhcp6Option[], kind: K): OptionOf<K>[] {
  return options.filter((o): o is OptionOf<K> => o.kind === kind);
}

/** The first option of `kind` in `options` (one level), or undefined. */
export function optionOf<K extends Dhcp6OptionKind>(options: readonly Dhcp6Option[], kind: K): OptionOf<K> | undefined {
  return options.find((o): o is OptionOf<K> => o.kind === kind);
}

/** The option code of a typed option. */
const CODE_OF: Readonly<Record<Exclude<Dhcp6OptionKind, "unknown">, number>> = {
  clientId: OptionCode.CLIENTID,
  serverId: OptionCode.SERVERID,
  iaNa: OptionCode.IA_NA,
  iaAddr: OptionCode.IAADDR,
  oro: OptionCode.ORO,
  preference: OptionCode.PREFERENCE,
  elapsedTime: OptionCode.ELAPSED_TIME,
  auth: OptionCode.AUTH,
  statusCode: OptionCode.STATUS_CODE,
  rapidCommit: OptionCode.RAPID_COMMIT,
  reconfMsg: OptionCode.RECONF_MSG,
  reconfAccept: OptionCode.RECONF_ACCEPT,
  dnsServers: OptionCode.DNS_SERVERS,
  domainList: OptionCode.DOMAIN_LIST,
  iaPd: OptionCode.IA_PD,
  iaPrefix: OptionCode.IAPREFIX,
  informationRefreshTime: OptionCode.INFORMATION_REFRESH_TIME,
  pdExclude: OptionCode.PD_EXCLUDE,
  solMaxRt: OptionCode.SOL_MAX_RT,
  infMaxRt: OptionCode.INF_MAX_RT,
};

/** The option code of `option`. */
export function optionCode(option: Dhcp6Option): number {
  return option.kind === "unknown" ? option.code : CODE_OF[option.kind];
}

const utf8Decoder = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** What the decoder carries down the nesting: the options counted so far. */
interface DecodeBudget {
  options: number;
}

const badLength = (name: string, length: number, expected: string) =>
  fail(Dhcp6ErrorCode.BAD_OPTION_LENGTH, `${name} option of ${length} bytes, where ${expected} are required`);

/**
 * Decodes the options that fill `data` exactly; `depth` is 1 for a message's own options.
 * An option's length running past `data` is an error, not a truncation to keep.
 */
export function decodeOptions(data: Uint8Array, depth = 1, budget: DecodeBudget = { options: 0 }): Dhcp6Result<Dhcp6Option[]> {
  if (depth > MAX_OPTION_DEPTH) return fail(Dhcp6ErrorCode.TOO_DEEP, `options nested deeper than ${MAX_OPTION_DEPTH} levels`);
  const out: Dhcp6Option[] = [];
  let pos = 0;
  let ias = 0;
  let leases = 0;
  while (pos < data.length) {
    if (pos + 4 > data.length) return fail(Dhcp6ErrorCode.TRUNCATED, `option header at offset ${pos} is cut short (${data.length - pos} of 4 bytes)`);
    const code = u16At(data, pos);
    const length = u16At(data, pos + 2);
    if (pos + 4 + length > data.length) return fail(Dhcp6ErrorCode.OPTION_OVERRUN, `option ${code} at offset ${pos} declares ${length} bytes but ${data.length - pos - 4} remain`);
    budget.options += 1;
    if (budget.options > MAX_OPTIONS_PER_MESSAGE) return fail(Dhcp6ErrorCode.TOO_MANY_OPTIONS, `more than ${MAX_OPTIONS_PER_MESSAGE} options in one message`);
    const decoded = decodeOption(code, data.subarray(pos + 4, pos + 4 + length), depth, budget);
    if (!decoded.ok) return decoded;
    const option = decoded.value;
    if (option.kind === "iaNa" || option.kind === "iaPd") {
      ias += 1;
      if (ias > MAX_IAS_PER_MESSAGE) return fail(Dhcp6ErrorCode.TOO_MANY_IAS, `more than ${MAX_IAS_PER_MESSAGE} IA_NA and IA_PD options in one message`);
    }
    if (option.kind === "iaAddr" || option.kind === "iaPrefix") {
      leases += 1;
      if (leases > MAX_LEASES_PER_IA) return fail(Dhcp6ErrorCode.TOO_MANY_ADDRESSES, `more than ${MAX_LEASES_PER_IA} addresses or prefixes in one IA`);
    }
    out.push(option);
    pos += 4 + length;
  }
  return ok(out);
}

/** Decodes one option's value (`data` is exactly its `length` bytes). */
function decodeOption(code: number, data: Uint8Array, depth: number, budget: DecodeBudget): Dhcp6Result<Dhcp6Option> {
  const n = data.length;
  switch (code) {
    case OptionCode.CLIENTID:
    case OptionCode.SERVERID: {
      const duid = decodeDuid(data);
      if (!duid.ok) return duid;
      return ok(code === OptionCode.CLIENTID ? { kind: "clientId", duid: duid.value } : { kind: "serverId", duid: duid.value });
    }
    case OptionCode.IA_NA:
    case OptionCode.IA_PD: {
      const name = code === OptionCode.IA_NA ? "IA_NA" : "IA_PD";
      if (n < 12) return badLength(name, n, "at least 12");
      const inner = decodeOptions(data.subarray(12), depth + 1, budget);
      if (!inner.ok) return inner;
      const ia = { iaid: u32At(data, 0), t1: u32At(data, 4), t2: u32At(data, 8), options: inner.value };
      return ok(code === OptionCode.IA_NA ? { kind: "iaNa", ...ia } : { kind: "iaPd", ...ia });
    }
    case OptionCode.IAADDR: {
      if (n < 24) return badLength("IAADDR", n, "at least 24");
      const inner = decodeOptions(data.subarray(24), depth + 1, budget);
      if (!inner.ok) return inner;
      return ok({ kind: "iaAddr", address: ipv6At(data, 0), preferred: u32At(data, 16), valid: u32At(data, 20), options: inner.value });
    }
    case OptionCode.IAPREFIX: {
      if (n < 25) return badLength("IAPREFIX", n, "at least 25");
      const prefixLength = data[8] as number;
      if (prefixLength > 128) return fail(Dhcp6ErrorCode.BAD_PREFIX, `IAPREFIX with a prefix length of ${prefixLength} bits, over 128`);
      const inner = decodeOptions(data.subarray(25), depth + 1, budget);
      if (!inner.ok) return inner;
      for (const exclude of optionsOf(inner.value, "pdExclude")) {
        const checked = checkExclude(prefixLength, exclude);
        if (!checked.ok) return checked;
      }
      return ok({ kind: "iaPrefix", preferred: u32At(data, 0), valid: u32At(data, 4), prefixLength, prefix: ipv6At(data, 9), options: inner.value });
    }
    case OptionCode.ORO: {
      if (n % 2 !== 0) return badLength("ORO", n, "an even number of");
      const codes: number[] = [];
      for (let i = 0; i < n; i += 2) codes.push(u16At(data, i));
      return ok({ kind: "oro", codes });
    }
    case OptionCode.PREFERENCE:
      if (n !== 1) return badLength("PREFERENCE", n, "1");
      return ok({ kind: "preference", value: data[0] as number });
    case OptionCode.ELAPSED_TIME:
      if (n !== 2) return badLength("ELAPSED_TIME", n, "2");
      return ok({ kind: "elapsedTime", hundredths: u16At(data, 0) });
    case OptionCode.AUTH:
      if (n < 11) return badLength("AUTH", n, "at least 11");
      return ok({ kind: "auth", protocol: data[0] as number, algorithm: data[1] as number, rdm: data[2] as number, replayDetection: copyOf(data, 3, 11), info: copyOf(data, 11, n) });
    case OptionCode.STATUS_CODE:
      if (n < 2) return badLength("STATUS_CODE", n, "at least 2");
      return ok({ kind: "statusCode", status: u16At(data, 0), message: utf8Decoder.decode(data.subarray(2)) });
    case OptionCode.RAPID_COMMIT:
      if (n !== 0) return badLength("RAPID_COMMIT", n, "0");
      return ok({ kind: "rapidCommit" });
    case OptionCode.RECONF_MSG:
      if (n !== 1) return badLength("RECONF_MSG", n, "1");
      return ok({ kind: "reconfMsg", messageType: data[0] as number });
    case OptionCode.RECONF_ACCEPT:
      if (n !== 0) return badLength("RECONF_ACCEPT", n, "0");
      return ok({ kind: "reconfAccept" });
    case OptionCode.DNS_SERVERS: {
      if (n % 16 !== 0) return badLength("DNS_SERVERS", n, "a multiple of 16");
      if (n / 16 > MAX_DNS_SERVERS) return fail(Dhcp6ErrorCode.TOO_MANY_DNS_SERVERS, `${n / 16} DNS servers in one option, over ${MAX_DNS_SERVERS}`);
      const servers: Ipv6[] = [];
      for (let i = 0; i < n; i += 16) servers.push(ipv6At(data, i));
      return ok({ kind: "dnsServers", servers });
    }
    case OptionCode.DOMAIN_LIST: {
      const domains = decodeDomainNames(data, MAX_DOMAINS);
      if (!domains.ok) return domains;
      return ok({ kind: "domainList", domains: domains.value });
    }
    case OptionCode.INFORMATION_REFRESH_TIME:
    case OptionCode.SOL_MAX_RT:
    case OptionCode.INF_MAX_RT: {
      const kind = code === OptionCode.SOL_MAX_RT ? "solMaxRt" : code === OptionCode.INF_MAX_RT ? "infMaxRt" : "informationRefreshTime";
      if (n !== 4) return badLength(kind === "solMaxRt" ? "SOL_MAX_RT" : kind === "infMaxRt" ? "INF_MAX_RT" : "INFORMATION_REFRESH_TIME", n, "4");
      return ok({ kind, seconds: u32At(data, 0) });
    }
    case OptionCode.PD_EXCLUDE:
      if (n < 2) return badLength("PD_EXCLUDE", n, "at least 2");
      return ok({ kind: "pdExclude", prefixLength: data[0] as number, subnetId: copyOf(data, 1, n) });
    default:
      return ok({ kind: "unknown", code, data: copyOf(data, 0, n) });
  }
}

/**
 * RFC 6603 §4.2: the excluded prefix is longer than the delegated one (and at most 128 bits), and
 * its subnet ID holds exactly ⌈(excluded − delegated) / 8⌉ bytes. dhcpcd's 2026 stack write came
 * from trusting these two lengths; here neither is used before both are checked.
 */
function checkExclude(delegatedLength: number, exclude: OptionOf<"pdExclude">): Dhcp6Result<void> {
  if (exclude.prefixLength <= delegatedLength || exclude.prefixLength > 128) {
    return fail(Dhcp6ErrorCode.BAD_PREFIX, `PD_EXCLUDE of a /${exclude.prefixLength} in a delegated /${delegatedLength}: it must be longer than the delegated prefix and at most 128 bits`);
  }
  const expected = Math.ceil((exclude.prefixLength - delegatedLength) / 8);
  if (exclude.subnetId.length !== expected) {
    return fail(Dhcp6ErrorCode.BAD_PREFIX, `PD_EXCLUDE subnet ID of ${exclude.subnetId.length} bytes for a /${exclude.prefixLength} in a /${delegatedLength}, where ${expected} are required`);
  }
  return ok(undefined);
}

/**
 * The prefix a PD_EXCLUDE takes out of a delegated prefix (RFC 6603 §4.2): the delegated
 * prefix's bits, then the subnet ID's bits up to the excluded length, the rest zero. Null when
 * the lengths do not fit (the decoder refuses those inside an IAPREFIX).
 */
export function excludedPrefix(delegated: Ipv6, delegatedLength: number, exclude: OptionOf<"pdExclude">): { prefix: Ipv6; prefixLength: number } | null {
  const base = parseIpv6(delegated);
  if (base === null || !isUint(delegatedLength, 8) || delegatedLength > 128 || !checkExclude(delegatedLength, exclude).ok) return null;
  const out = new Uint8Array(16);
  for (let bit = 0; bit < exclude.prefixLength; bit++) {
    const fromSubnet = bit - delegatedLength;
    const value = fromSubnet < 0 ? ((base[bit >> 3] as number) >> (7 - (bit & 7))) & 1 : ((exclude.subnetId[fromSubnet >> 3] as number) >> (7 - (fromSubnet & 7))) & 1;
    out[bit >> 3] = (out[bit >> 3] as number) | (value << (7 - (bit & 7)));
  }
  return { prefix: ipv6At(out, 0), prefixLength: exclude.prefixLength };
}

const unencodable = (detail: string) => fail(Dhcp6ErrorCode.UNENCODABLE, detail);

/** Appends the wire form of `options` to `out`, or says which value cannot be encoded. */
export function encodeOptions(options: readonly Dhcp6Option[], out: number[]): Dhcp6Result<void> {
  for (const option of options) {
    const value: number[] = [];
    const encoded = encodeOptionValue(option, value);
    if (!encoded.ok) return encoded;
    if (value.length > 0xffff) return unencodable(`option ${optionCode(option)} would be ${value.length} bytes, over 65535`);
    pushUint(out, optionCode(option), 2);
    pushUint(out, value.length, 2);
    for (const b of value) out.push(b);
  }
  return ok(undefined);
}

function pushAddress(out: number[], text: Ipv6): boolean {
  const bytes = parseIpv6(text);
  if (bytes === null) return false;
  for (const b of bytes) out.push(b);
  return true;
}

function encodeOptionValue(o: Dhcp6Option, out: number[]): Dhcp6Result<void> {
  const u32s = (...values: number[]) => values.every((v) => isUint(v, 32));
  switch (o.kind) {
    case "clientId":
    case "serverId": {
      const duid = encodeDuid(o.duid);
      if (!duid.ok) return duid;
      for (const b of duid.value) out.push(b);
      return ok(undefined);
    }
    case "iaNa":
    case "iaPd":
      if (!u32s(o.iaid, o.t1, o.t2)) return unencodable("an IA's IAID, T1 and T2 must fit 32 bits");
      pushUint(out, o.iaid, 4);
      pushUint(out, o.t1, 4);
      pushUint(out, o.t2, 4);
      return encodeOptions(o.options, out);
    case "iaAddr":
      if (!pushAddress(out, o.address)) return unencodable(`IAADDR address ${JSON.stringify(o.address)} is not IPv6 text`);
      if (!u32s(o.preferred, o.valid)) return unencodable("IAADDR lifetimes must fit 32 bits");
      pushUint(out, o.preferred, 4);
      pushUint(out, o.valid, 4);
      return encodeOptions(o.options, out);
    case "iaPrefix":
      if (!u32s(o.preferred, o.valid)) return unencodable("IAPREFIX lifetimes must fit 32 bits");
      if (!isUint(o.prefixLength, 8) || o.prefixLength > 128) return unencodable(`IAPREFIX prefix length ${o.prefixLength} is not 0–128`);
      pushUint(out, o.preferred, 4);
      pushUint(out, o.valid, 4);
      out.push(o.prefixLength);
      if (!pushAddress(out, o.prefix)) return unencodable(`IAPREFIX prefix ${JSON.stringify(o.prefix)} is not IPv6 text`);
      return encodeOptions(o.options, out);
    case "oro":
      if (!o.codes.every((c) => isUint(c, 16))) return unencodable("ORO codes must fit 16 bits");
      for (const c of o.codes) pushUint(out, c, 2);
      return ok(undefined);
    case "preference":
      if (!isUint(o.value, 8)) return unencodable(`preference ${o.value} is not 0–255`);
      out.push(o.value);
      return ok(undefined);
    case "elapsedTime":
      if (!isUint(o.hundredths, 16)) return unencodable(`elapsed time ${o.hundredths} is not 0–65535 hundredths`);
      pushUint(out, o.hundredths, 2);
      return ok(undefined);
    case "auth":
      if (![o.protocol, o.algorithm, o.rdm].every((v) => isUint(v, 8)) || o.replayDetection.length !== 8) return unencodable("AUTH needs 8-bit protocol, algorithm and RDM and an 8-byte replay detection field");
      out.push(o.protocol, o.algorithm, o.rdm, ...o.replayDetection, ...o.info);
      return ok(undefined);
    case "statusCode":
      if (!isUint(o.status, 16)) return unencodable(`status ${o.status} does not fit 16 bits`);
      pushUint(out, o.status, 2);
      for (const b of utf8Encoder.encode(o.message)) out.push(b);
      return ok(undefined);
    case "rapidCommit":
    case "reconfAccept":
      return ok(undefined);
    case "reconfMsg":
      if (!isUint(o.messageType, 8)) return unencodable(`RECONF_MSG type ${o.messageType} is not 0–255`);
      out.push(o.messageType);
      return ok(undefined);
    case "dnsServers":
      for (const s of o.servers) if (!pushAddress(out, s)) return unencodable(`DNS server ${JSON.stringify(s)} is not IPv6 text`);
      return ok(undefined);
    case "domainList":
      for (const d of o.domains) {
        const name = encodeDomainName(d);
        if (!name.ok) return name;
        for (const b of name.value) out.push(b);
      }
      return ok(undefined);
    case "informationRefreshTime":
    case "solMaxRt":
    case "infMaxRt":
      if (!isUint(o.seconds, 32)) return unencodable(`${o.kind} ${o.seconds} does not fit 32 bits`);
      pushUint(out, o.seconds, 4);
      return ok(undefined);
    case "pdExclude":
      if (!isUint(o.prefixLength, 8)) return unencodable(`PD_EXCLUDE prefix length ${o.prefixLength} is not 0–255`);
      out.push(o.prefixLength, ...o.subnetId);
      return ok(undefined);
    case "unknown":
      if (!isUint(o.code, 16)) return unencodable(`option code ${o.code} does not fit 16 bits`);
      for (const b of o.data) out.push(b);
      return ok(undefined);
  }
}
