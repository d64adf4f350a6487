/**
 * Socket filters built with ./cbpf.ts at module load, so the locked socket filter needs
 * nothing at run time. Offsets are from the start of the Ethernet header (AF_PACKET
 * SOCK_RAW hands the filter the frame from its MAC header).
 */
import { assemble, bpf, type ClassicProgram, type Insn } from "./cbpf.ts";
import {
  checkEgressRules,
  checkPacketPattern,
  IP_PROTOCOL,
  L4_FIELD_OFFSET,
  matchPacketPattern,
  MAX_EGRESS_RULES,
  PacketPatternError,
  type PacketPattern,
  type PatternResult,
} from "./egress-rules.ts";

const ETH_HLEN = 14; // Ethernet II header: destination, source, ethertype
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
/** The pseudo-ethertype of every protocol (sockets.ts's ETH_P_ALL; this module loads no addon). */
const ETH_P_ALL = 0x0003;
const IPV4_MIN_HLEN = 20;
const IPV6_HLEN = 40;
/** Accepted frames are kept whole up to 256 KiB (tcpdump's default snap length). */
const ACCEPT_BYTES = 0x40000;

/**
 * What a socket filter accepts: one packet pattern, or a short list of them (a frame matching
 * any one is accepted; ./egress-rules.ts has the exact semantics of a pattern). A list holds
 * 1..MAX_RECEIVE_PATTERNS patterns, e.g. DHCP replies and ARP for an RFC 5227 client.
 */
export type SocketMatch = PacketPattern | readonly PacketPattern[];

/** Most patterns in one socket filter: the same bound as an egress policy's rules. */
export const MAX_RECEIVE_PATTERNS = MAX_EGRESS_RULES;

/**
 * Validates a socket match given as untrusted data: a valid pattern, or a list of
 * 1..MAX_RECEIVE_PATTERNS valid patterns (an empty list would accept nothing, which no receive
 * channel means). Returns the list form. Total.
 */
export function checkSocketMatch(match: unknown): PatternResult<readonly PacketPattern[]> {
  if (!Array.isArray(match)) {
    const one = checkPacketPattern(match);
    return one.ok ? { ok: true, value: [one.value] } : one;
  }
  if (match.length === 0) return { ok: false, error: new PacketPatternError("empty_list", -1, "", "a receive list needs at least one pattern") };
  return checkEgressRules(match);
}

/** Whether a frame matches a socket match (any of its patterns): what the compiled filter answers. Total. */
export function matchSocketMatch(match: SocketMatch, frame: Uint8Array): boolean {
  return Array.isArray(match) ? match.some((p) => matchPacketPattern(p, frame)) : matchPacketPattern(match as PacketPattern, frame);
}

/**
 * The ethertype to bind a packet socket with this match to: ETH_P_IP (0x0800) when every pattern
 * is IPv4, otherwise ETH_P_ALL (0x0003; the filter alone decides). Throws PacketPatternError for
 * an invalid match.
 */
export function socketMatchProtocol(match: SocketMatch): number {
  const checked = checkSocketMatch(match);
  if (!checked.ok) throw checked.error;
  return checked.value.every((p) => p.family === "ipv4") ? ETHERTYPE_IPV4 : ETH_P_ALL;
}

/**
 * The classic BPF source accepting exactly the frames `match` describes (the same answer as
 * matchSocketMatch for every frame; tested on random frames). Patterns are tried in order, each
 * one's failure jumping to the next one's start and the last one's to the drop; all jumps are
 * forward, so the program stays one loop-free classic program. Throws PacketPatternError for an
 * invalid match.
 */
export function socketFilterSource(match: SocketMatch): Insn[] {
  const checked = checkSocketMatch(match);
  if (!checked.ok) throw checked.error;
  const patterns = checked.value;
  const out: Insn[] = [];
  patterns.forEach((p, i) => {
    const miss = i === patterns.length - 1 ? "drop" : `pattern${i + 1}`;
    if (i > 0) out.push(bpf.label(`pattern${i}`));
    out.push(...patternSource(p, miss));
  });
  out.push(bpf.label("accept"), bpf.ret(ACCEPT_BYTES), bpf.label("drop"), bpf.ret(0));
  return out;
}

/**
 * One pattern, jumping to `miss` when the frame does not match and to "accept" when it does.
 * IPv4: ethertype, a whole fixed header, version 4, IHL ≥ 5, protocol, not a fragment, then the
 * transport fields after the variable-length header (`ldx 4*([14]&0xf)`). IPv6: ethertype, a
 * whole 40-byte header, version 6, Next Header, transport fields at 54. ARP: ethertype. An
 * out-of-frame load ends the whole program with 0 (the kernel's rule), which is the right answer
 * only for the last pattern: so every earlier pattern first checks the frame is long enough for
 * its loads, and a field whose bytes are missing never matches.
 */
function patternSource(p: PacketPattern, miss: string): Insn[] {
  const out: Insn[] = [];
  // Bytes this pattern loads at fixed offsets; loads after the IPv4 header's variable length
  // are guarded with X below.
  const guardLength = (bytes: number): void => {
    out.push(bpf.ldLen(), bpf.jge(bytes, "next", miss));
  };
  if (p.family === "arp") {
    guardLength(ETH_HLEN);
    out.push(bpf.ld("h", 12), bpf.jeq(ETHERTYPE_ARP, "accept", miss));
    return out;
  }
  if (p.family === "ipv4") {
    guardLength(ETH_HLEN + IPV4_MIN_HLEN);
    out.push(
      bpf.ld("h", 12), // ethertype
      bpf.jeq(ETHERTYPE_IPV4, "next", miss),
      bpf.ld("b", ETH_HLEN), // version and IHL
      bpf.alu("and", 0xf0),
      bpf.jeq(0x40, "next", miss), // version 4
      bpf.ld("b", ETH_HLEN),
      bpf.alu("and", 0x0f),
      bpf.jge(5, "next", miss), // IHL ≥ 5 words (RFC 791 §3.1)
      bpf.ld("b", ETH_HLEN + 9), // protocol
      bpf.jeq(IP_PROTOCOL[p.protocol], "next", miss),
      bpf.ld("h", ETH_HLEN + 6), // flags and fragment offset
      bpf.jset(0x3fff, miss, "next"), // MF or offset ≠ 0
      bpf.ldxMsh(ETH_HLEN), // X = IPv4 header length in bytes
    );
  } else {
    guardLength(ETH_HLEN + IPV6_HLEN);
    out.push(
      bpf.ld("h", 12), // ethertype
      bpf.jeq(ETHERTYPE_IPV6, "next", miss),
      bpf.ld("b", ETH_HLEN), // version and traffic class
      bpf.alu("and", 0xf0),
      bpf.jeq(0x60, "next", miss), // version 6
      bpf.ld("b", ETH_HLEN + 6), // Next Header: the transport itself, no extension headers
      bpf.jeq(IP_PROTOCOL[p.protocol], "next", miss),
      bpf.ldxImm(IPV6_HLEN), // X = fixed header length, so both families load at X + 14 + field
    );
  }
  const fields: Array<{ size: "h" | "b"; offset: number; value: number }> = [];
  if (p.protocol === "icmpv6") {
    if (p.icmpv6Type !== undefined) fields.push({ size: "b", offset: L4_FIELD_OFFSET.icmpv6Type, value: p.icmpv6Type });
  } else {
    if (p.srcPort !== undefined) fields.push({ size: "h", offset: L4_FIELD_OFFSET.srcPort, value: p.srcPort });
    if (p.dstPort !== undefined) fields.push({ size: "h", offset: L4_FIELD_OFFSET.dstPort, value: p.dstPort });
    if (p.firstPayloadByte !== undefined) fields.push({ size: "b", offset: L4_FIELD_OFFSET.firstPayloadByte, value: p.firstPayloadByte });
  }
  if (fields.length > 0) {
    // len ≥ X + 14 + the end of the last field, as A = len - X (X ≤ 60): a frame shorter than
    // its IPv4 header wraps A past 2^31 (frames are far shorter), which misses too.
    const end = Math.max(...fields.map((f) => f.offset + (f.size === "h" ? 2 : 1)));
    out.push(bpf.ldLen(), bpf.aluX("sub"), bpf.jset(0x80000000, miss, "next"), bpf.jge(ETH_HLEN + end, "next", miss));
  }
  for (const f of fields) out.push(bpf.ldInd(f.size, ETH_HLEN + f.offset), bpf.jeq(f.value, "next", miss));
  out.push(bpf.ja("accept"));
  return out;
}

/**
 * Compiles a declarative match into an assembled socket filter (`.bytes` goes to
 * openPacketSocket({ filter })), e.g. `{ family: "ipv4", protocol: "udp", dstPort: 68 }`,
 * `{ family: "ipv6", protocol: "icmpv6", icmpv6Type: 134 }`, `{ family: "arp" }`, or a list:
 * `[{ family: "ipv4", protocol: "udp", dstPort: 68 }, { family: "arp" }]`.
 * Throws PacketPatternError for an invalid match.
 */
export function compileSocketFilter(match: SocketMatch): ClassicProgram {
  return build(`compileSocketFilter(${JSON.stringify(match)})`, socketFilterSource(match));
}

/**
 * The DHCP client filter: Ethernet II, IPv4 (version 4, header length ≥ 20 bytes), protocol
 * UDP, not a fragment (MF clear and fragment offset 0: a fragment's UDP header is absent or
 * incomplete, and we do not reassemble), UDP destination port 68 (RFC 2131 §4.1: servers send
 * to the client's port 68) found after a variable-length IPv4 header. Everything else returns 0
 * (dropped in the kernel).
 */
export const DHCP_CLIENT_FILTER_SOURCE: readonly Insn[] = socketFilterSource({ family: "ipv4", protocol: "udp", dstPort: 68 });

/** A program that accepts every frame (a "filter off" baseline for benchmarks). */
export const ACCEPT_ALL_SOURCE: readonly Insn[] = [bpf.ret(ACCEPT_BYTES)];

/** A program that accepts nothing: a send-only packet socket. */
export const DROP_ALL_SOURCE: readonly Insn[] = [bpf.ret(0)];

function build(name: string, source: readonly Insn[]): ClassicProgram {
  const r = assemble(source);
  // A fixed program that does not assemble is a bug in this file, caught by any test run.
  if (!r.ok) throw new Error(`${name} does not assemble: ${JSON.stringify(r.error)}`);
  return r.program;
}

/** The assembled DHCP client filter; `.bytes` goes to openPacketSocket({ filter }). */
export const DHCP_CLIENT_FILTER: ClassicProgram = build("DHCP_CLIENT_FILTER", DHCP_CLIENT_FILTER_SOURCE);
/** The assembled accept-all program. */
export const ACCEPT_ALL_FILTER: ClassicProgram = build("ACCEPT_ALL_FILTER", ACCEPT_ALL_SOURCE);
/** The assembled drop-all program. */
export const DROP_ALL_FILTER: ClassicProgram = build("DROP_ALL_FILTER", DROP_ALL_SOURCE);
