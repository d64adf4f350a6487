/**
 * Packet patterns: the one declarative description of "which frames" that a service's kernel
 * filters are built from. The same pattern (plain data) is
 *   - checked in TypeScript by the priv (`matchPacketPattern`, `matchEgressRules`),
 *   - compiled into the service's classic BPF socket filter (`compileSocketFilter`, ./filters.ts),
 *   - encoded into the config map of the service's tc egress program (`encodeEgressConfig`,
 *     native/bpf/egress_policy.bpf.c),
 * and all three give the same answer for every frame (tests compare them on random frames).
 *
 * Semantics, shared by the three implementations (offsets from the Ethernet header):
 *   - `arp`: ethertype 0x0806. Nothing else is looked at (the priv's own check does the rest).
 *   - `ipv4`: ethertype 0x0800, a whole 20-byte header in the frame, version 4, IHL ≥ 5,
 *     protocol = the pattern's, not a fragment (MF clear and offset 0: a fragment has no or an
 *     incomplete transport header, and nothing here reassembles). The transport header starts
 *     after IHL × 4 bytes.
 *   - `ipv6`: ethertype 0x86dd, a whole 40-byte header, version 6, Next Header = the pattern's
 *     protocol directly. Extension headers are not walked, so a packet carrying any (Hop-by-Hop,
 *     Fragment, …) does not match: walking them needs a variable-length loop in both BPF
 *     dialects, and the Fragment header in particular is how transport fields are hidden from a
 *     filter (RFC 7112). The services' packets (RS, DHCPv6, NTP) carry none.
 *   - Optional fields are checked only when named, and a named field matches only when its bytes
 *     are inside the frame: UDP source port at +0, destination port at +2, the first byte after
 *     the 8-byte UDP header at +8 (`firstPayloadByte`, e.g. BOOTP op, RFC 2131 §2), the ICMPv6
 *     type at +0 (RFC 4443 §2.1). A truncated frame never matches on bytes it does not have.
 */
import { endianness } from "node:os";

/** A UDP pattern over IPv4 or IPv6. Ports 1–65535; `firstPayloadByte` 0–255. */
export interface UdpPattern {
  family: "ipv4" | "ipv6";
  protocol: "udp";
  srcPort?: number;
  dstPort?: number;
  /** The first byte of the UDP payload (BOOTP op 1 = BOOTREQUEST, RFC 2131 §2). */
  firstPayloadByte?: number;
}

/** An ICMPv6 pattern (IPv6 only; RFC 4443). */
export interface Icmpv6Pattern {
  family: "ipv6";
  protocol: "icmpv6";
  /** ICMPv6 type, e.g. 133 Router Solicitation, 134 Router Advertisement (RFC 4861 §4). */
  icmpv6Type?: number;
}

/** Any ARP frame (for an RFC 5227 probe or announcement). */
export interface ArpPattern {
  family: "arp";
}

/** Which frames: see the module comment for the exact semantics. */
export type PacketPattern = UdpPattern | Icmpv6Pattern | ArpPattern;

/** One rule of an egress policy: a marked frame is sent if it matches any rule. */
export type EgressRule = PacketPattern;

/**
 * Most rules per egress policy. The tc program walks a fixed-size table in a bounded loop, so
 * the table size is the program's worst-case work per frame; a service that needs more than a
 * handful of shapes of outgoing frame is asking for a wider policy than this layer is for.
 */
export const MAX_EGRESS_RULES = 8;

/** Why a pattern or rule list was refused. */
export type PacketPatternErrorKind =
  | "not_a_list"
  | "empty_list"
  | "too_many_rules"
  | "not_an_object"
  | "bad_family"
  | "bad_protocol"
  | "unknown_field"
  | "bad_port"
  | "bad_byte";

/** Stable code of a PacketPatternError, e.g. `PADDOCK_E_NATIVE_PATTERN_BAD_PORT`. */
export type PacketPatternErrorCode = `PADDOCK_E_NATIVE_PATTERN_${Uppercase<PacketPatternErrorKind>}`;

/** A pattern (or a rule in a list) is invalid. Carries the rule's index and the field. */
export class PacketPatternError extends Error {
  /** Stable code, e.g. `PADDOCK_E_NATIVE_PATTERN_BAD_PORT`. */
  readonly code: PacketPatternErrorCode;

  constructor(
    readonly kind: PacketPatternErrorKind,
    /** Index of the offending rule in its list, or -1 for a single pattern or the list itself. */
    readonly index: number,
    /** The offending field ("" for the rule or list as a whole). */
    readonly field: string,
    reason: string,
  ) {
    super(`${index >= 0 ? `rule ${index}` : "pattern"}${field === "" ? "" : `.${field}`}: ${reason}`);
    this.name = "PacketPatternError";
    this.code = `PADDOCK_E_NATIVE_PATTERN_${kind.toUpperCase() as Uppercase<PacketPatternErrorKind>}`;
  }
}

/** Result of a check: the validated value (a fresh copy with only known fields) or an error. */
export type PatternResult<T> = { ok: true; value: T } | { ok: false; error: PacketPatternError };

const UDP_FIELDS = new Set(["family", "protocol", "srcPort", "dstPort", "firstPayloadByte"]);
const ICMPV6_FIELDS = new Set(["family", "protocol", "icmpv6Type"]);
const ARP_FIELDS = new Set(["family"]);

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

/**
 * Validates one pattern given as untrusted data (a service definition, a config file): known
 * family and protocol, no unknown fields (a misspelt `dstport` must not silently widen the
 * rule), ports 1–65535 (0 is not a port a datagram is sent from or to), bytes 0–255. Total.
 */
export function checkPacketPattern(input: unknown, index = -1): PatternResult<PacketPattern> {
  const fail = (kind: PacketPatternErrorKind, field: string, reason: string): PatternResult<PacketPattern> => ({
    ok: false,
    error: new PacketPatternError(kind, index, field, reason),
  });
  if (typeof input !== "object" || input === null || Array.isArray(input)) return fail("not_an_object", "", "must be an object");
  const r = input as Record<string, unknown>;
  let allowed: Set<string>;
  if (r.family === "arp") {
    allowed = ARP_FIELDS;
  } else if (r.family === "ipv4" || r.family === "ipv6") {
    if (r.protocol === "udp") allowed = UDP_FIELDS;
    else if (r.protocol === "icmpv6" && r.family === "ipv6") allowed = ICMPV6_FIELDS;
    else return fail("bad_protocol", "protocol", r.family === "ipv4" ? 'must be "udp"' : 'must be "udp" or "icmpv6"');
  } else {
    return fail("bad_family", "family", 'must be "ipv4", "ipv6" or "arp"');
  }
  for (const k of Object.keys(r)) {
    if (!allowed.has(k)) return fail("unknown_field", k, `is not a field of a ${String(r.family)}${r.protocol === undefined ? "" : `/${String(r.protocol)}`} pattern`);
  }
  if (r.family === "arp") return { ok: true, value: { family: "arp" } };
  if (r.protocol === "icmpv6") {
    if (r.icmpv6Type !== undefined && !isInt(r.icmpv6Type, 0, 255)) return fail("bad_byte", "icmpv6Type", "must be an integer 0..255");
    return { ok: true, value: { family: "ipv6", protocol: "icmpv6", ...(r.icmpv6Type === undefined ? {} : { icmpv6Type: r.icmpv6Type as number }) } };
  }
  for (const f of ["srcPort", "dstPort"] as const) {
    if (r[f] !== undefined && !isInt(r[f], 1, 65535)) return fail("bad_port", f, "must be an integer 1..65535");
  }
  if (r.firstPayloadByte !== undefined && !isInt(r.firstPayloadByte, 0, 255)) return fail("bad_byte", "firstPayloadByte", "must be an integer 0..255");
  const udp: UdpPattern = { family: r.family as "ipv4" | "ipv6", protocol: "udp" };
  if (r.srcPort !== undefined) udp.srcPort = r.srcPort as number;
  if (r.dstPort !== undefined) udp.dstPort = r.dstPort as number;
  if (r.firstPayloadByte !== undefined) udp.firstPayloadByte = r.firstPayloadByte as number;
  return { ok: true, value: udp };
}

/** Validates a rule list (0..MAX_EGRESS_RULES rules; an empty list lets no marked frame out). Total. */
export function checkEgressRules(input: unknown): PatternResult<readonly EgressRule[]> {
  if (!Array.isArray(input)) return { ok: false, error: new PacketPatternError("not_a_list", -1, "", "rules must be an array") };
  if (input.length > MAX_EGRESS_RULES) {
    return { ok: false, error: new PacketPatternError("too_many_rules", -1, "", `${input.length} rules; at most ${MAX_EGRESS_RULES}`) };
  }
  const out: EgressRule[] = [];
  for (let i = 0; i < input.length; i++) {
    const r = checkPacketPattern(input[i], i);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return { ok: true, value: out };
}

/** checkEgressRules, throwing its PacketPatternError. */
export function parseEgressRules(input: unknown): readonly EgressRule[] {
  const r = checkEgressRules(input);
  if (!r.ok) throw r.error;
  return r.value;
}

const ETH_HLEN = 14;
const IPV4_MIN_HLEN = 20;
const IPV6_HLEN = 40;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
/** IANA protocol numbers of the patterns' transports. */
export const IP_PROTOCOL = { udp: 17, icmpv6: 58 } as const;
/** Byte offsets of the optional fields from the start of the transport header. */
export const L4_FIELD_OFFSET = { srcPort: 0, dstPort: 2, firstPayloadByte: 8, icmpv6Type: 0 } as const;

/** The transport header of an IPv4/IPv6 frame: its protocol and offset, or undefined. */
function transport(frame: Uint8Array): { family: "ipv4" | "ipv6"; protocol: number; at: number } | undefined {
  if (frame.length < ETH_HLEN) return undefined;
  const ethertype = (frame[12]! << 8) | frame[13]!;
  if (ethertype === ETHERTYPE_IPV4) {
    if (frame.length < ETH_HLEN + IPV4_MIN_HLEN) return undefined;
    const vihl = frame[ETH_HLEN]!;
    if (vihl >> 4 !== 4 || (vihl & 0x0f) < 5) return undefined;
    if ((((frame[ETH_HLEN + 6]! << 8) | frame[ETH_HLEN + 7]!) & 0x3fff) !== 0) return undefined;
    return { family: "ipv4", protocol: frame[ETH_HLEN + 9]!, at: ETH_HLEN + (vihl & 0x0f) * 4 };
  }
  if (ethertype === ETHERTYPE_IPV6) {
    if (frame.length < ETH_HLEN + IPV6_HLEN) return undefined;
    if (frame[ETH_HLEN]! >> 4 !== 6) return undefined;
    return { family: "ipv6", protocol: frame[ETH_HLEN + 6]!, at: ETH_HLEN + IPV6_HLEN };
  }
  return undefined;
}

/** Whether a frame (from its Ethernet header) matches a valid pattern. Total; never throws. */
export function matchPacketPattern(p: PacketPattern, frame: Uint8Array): boolean {
  if (p.family === "arp") return frame.length >= ETH_HLEN && frame[12] === ETHERTYPE_ARP >> 8 && frame[13] === (ETHERTYPE_ARP & 0xff);
  const t = transport(frame);
  if (t === undefined || t.family !== p.family || t.protocol !== IP_PROTOCOL[p.protocol]) return false;
  const u16 = (off: number): number | undefined => (t.at + off + 2 <= frame.length ? (frame[t.at + off]! << 8) | frame[t.at + off + 1]! : undefined);
  const u8 = (off: number): number | undefined => (t.at + off + 1 <= frame.length ? frame[t.at + off]! : undefined);
  if (p.protocol === "icmpv6") return p.icmpv6Type === undefined || u8(L4_FIELD_OFFSET.icmpv6Type) === p.icmpv6Type;
  if (p.srcPort !== undefined && u16(L4_FIELD_OFFSET.srcPort) !== p.srcPort) return false;
  if (p.dstPort !== undefined && u16(L4_FIELD_OFFSET.dstPort) !== p.dstPort) return false;
  if (p.firstPayloadByte !== undefined && u8(L4_FIELD_OFFSET.firstPayloadByte) !== p.firstPayloadByte) return false;
  return true;
}

/** The index of the first rule the frame matches, or -1 (the priv's TypeScript egress check). */
export function matchEgressRules(rules: readonly EgressRule[], frame: Uint8Array): number {
  return rules.findIndex((r) => matchPacketPattern(r, frame));
}

/**
 * The DHCPv4 client's egress rule: UDP 68 → 67 carrying a BOOTREQUEST (RFC 2131 §4.1, §2).
 * The default of the deprecated mark-only `EgressPolicy.attach`; the DHCP service's definition
 * should name its rules itself.
 */
export const DHCP_CLIENT_EGRESS_RULES: readonly EgressRule[] = [
  { family: "ipv4", protocol: "udp", srcPort: 68, dstPort: 67, firstPayloadByte: 1 },
];

// The config map value of native/bpf/egress_policy.bpf.c (struct egress_config), host byte order.
const FAMILY_CODE = { ipv4: 1, ipv6: 2, arp: 3 } as const;
const MATCH_SRC_PORT = 1;
const MATCH_DST_PORT = 2;
const MATCH_PAYLOAD_BYTE = 4;
const MATCH_ICMPV6_TYPE = 8;
const CONFIG_HEADER_BYTES = 8; // __u32 mark, __u32 rule_count
const RULE_BYTES = 12; // struct egress_rule
/** Size of struct egress_config (the map's value_size; the kernel refuses any other size). */
export const EGRESS_CONFIG_BYTES = CONFIG_HEADER_BYTES + MAX_EGRESS_RULES * RULE_BYTES;

/**
 * Encodes a mark and a validated rule list as the tc program's config (struct egress_config).
 * Mark 0 means "unconfigured": the program then passes every frame on. Throws
 * PacketPatternError for invalid rules and RangeError for a mark outside 0..2^32-1.
 */
export function encodeEgressConfig(mark: number, rules: readonly EgressRule[]): Uint8Array {
  if (!isInt(mark, 0, 0xffffffff)) throw new RangeError("mark must be an integer 0..2^32-1");
  const valid = parseEgressRules(rules);
  const le = endianness() === "LE";
  const bytes = new Uint8Array(EGRESS_CONFIG_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, mark, le);
  v.setUint32(4, valid.length, le);
  valid.forEach((r, i) => {
    const o = CONFIG_HEADER_BYTES + i * RULE_BYTES;
    v.setUint8(o, FAMILY_CODE[r.family]);
    if (r.family === "arp") return;
    v.setUint8(o + 1, IP_PROTOCOL[r.protocol]);
    let flags = 0;
    if (r.protocol === "icmpv6") {
      if (r.icmpv6Type !== undefined) {
        flags |= MATCH_ICMPV6_TYPE;
        v.setUint8(o + 3, r.icmpv6Type);
      }
    } else {
      if (r.srcPort !== undefined) {
        flags |= MATCH_SRC_PORT;
        v.setUint16(o + 4, r.srcPort, le);
      }
      if (r.dstPort !== undefined) {
        flags |= MATCH_DST_PORT;
        v.setUint16(o + 6, r.dstPort, le);
      }
      if (r.firstPayloadByte !== undefined) {
        flags |= MATCH_PAYLOAD_BYTE;
        v.setUint8(o + 8, r.firstPayloadByte);
      }
    }
    v.setUint8(o + 2, flags);
  });
  return bytes;
}
