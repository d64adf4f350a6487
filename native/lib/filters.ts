/**
 * Socket filters built with ./cbpf.ts at module load, so the locked socket filter needs
 * nothing at run time. Offsets are from the start of the Ethernet header (AF_PACKET
 * SOCK_RAW hands the filter the frame from its MAC header).
 */
import { assemble, bpf, type ClassicProgram, type Insn } from "./cbpf.ts";
import { checkPacketPattern, IP_PROTOCOL, L4_FIELD_OFFSET, type PacketPattern } from "./egress-rules.ts";

const ETH_HLEN = 14; // Ethernet II header: destination, source, ethertype
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
const IPV4_MIN_HLEN = 20;
const IPV6_HLEN = 40;
/** Accepted frames are kept whole up to 256 KiB (tcpdump's default snap length). */
const ACCEPT_BYTES = 0x40000;

/** What a socket filter accepts: a packet pattern (./egress-rules.ts has the exact semantics). */
export type SocketMatch = PacketPattern;

/**
 * The classic BPF source accepting exactly the frames `match` describes (the same answer as
 * matchPacketPattern for every frame; tested on random frames). IPv4: ethertype, a whole fixed
 * header, version 4, IHL ≥ 5, protocol, not a fragment, then the transport fields after the
 * variable-length header (`ldx 4*([14]&0xf)`). IPv6: ethertype, a whole 40-byte header, version
 * 6, Next Header, transport fields at 54. ARP: ethertype. An out-of-frame load drops, so a field
 * whose bytes are missing never matches. Throws PacketPatternError for an invalid match.
 */
export function socketFilterSource(match: SocketMatch): Insn[] {
  const checked = checkPacketPattern(match);
  if (!checked.ok) throw checked.error;
  const p = checked.value;
  const out: Insn[] = [bpf.ld("h", 12)]; // ethertype
  if (p.family === "arp") {
    out.push(bpf.jeq(ETHERTYPE_ARP, "next", "drop"));
  } else if (p.family === "ipv4") {
    out.push(
      bpf.jeq(ETHERTYPE_IPV4, "next", "drop"),
      bpf.ld("b", ETH_HLEN + IPV4_MIN_HLEN - 1), // the whole fixed header is in the frame
      bpf.ld("b", ETH_HLEN), // version and IHL
      bpf.alu("and", 0xf0),
      bpf.jeq(0x40, "next", "drop"), // version 4
      bpf.ld("b", ETH_HLEN),
      bpf.alu("and", 0x0f),
      bpf.jge(5, "next", "drop"), // IHL ≥ 5 words (RFC 791 §3.1)
      bpf.ld("b", ETH_HLEN + 9), // protocol
      bpf.jeq(IP_PROTOCOL[p.protocol], "next", "drop"),
      bpf.ld("h", ETH_HLEN + 6), // flags and fragment offset
      bpf.jset(0x3fff, "drop", "next"), // MF or offset ≠ 0
      bpf.ldxMsh(ETH_HLEN), // X = IPv4 header length in bytes
    );
  } else {
    out.push(
      bpf.jeq(ETHERTYPE_IPV6, "next", "drop"),
      bpf.ld("b", ETH_HLEN + IPV6_HLEN - 1), // the whole header is in the frame
      bpf.ld("b", ETH_HLEN), // version and traffic class
      bpf.alu("and", 0xf0),
      bpf.jeq(0x60, "next", "drop"), // version 6
      bpf.ld("b", ETH_HLEN + 6), // Next Header: the transport itself, no extension headers
      bpf.jeq(IP_PROTOCOL[p.protocol], "next", "drop"),
      bpf.ldxImm(IPV6_HLEN), // X = fixed header length, so both families load at X + 14 + field
    );
  }
  if (p.family !== "arp") {
    const field = (size: "h" | "b", offset: number, value: number): void => {
      out.push(bpf.ldInd(size, ETH_HLEN + offset), bpf.jeq(value, "next", "drop"));
    };
    if (p.protocol === "icmpv6") {
      if (p.icmpv6Type !== undefined) field("b", L4_FIELD_OFFSET.icmpv6Type, p.icmpv6Type);
    } else {
      if (p.srcPort !== undefined) field("h", L4_FIELD_OFFSET.srcPort, p.srcPort);
      if (p.dstPort !== undefined) field("h", L4_FIELD_OFFSET.dstPort, p.dstPort);
      if (p.firstPayloadByte !== undefined) field("b", L4_FIELD_OFFSET.firstPayloadByte, p.firstPayloadByte);
    }
  }
  out.push(bpf.ret(ACCEPT_BYTES), bpf.label("drop"), bpf.ret(0));
  return out;
}

/**
 * Compiles a declarative match into an assembled socket filter (`.bytes` goes to
 * openPacketSocket({ filter })), e.g. `{ family: "ipv4", protocol: "udp", dstPort: 68 }`,
 * `{ family: "ipv6", protocol: "icmpv6", icmpv6Type: 134 }`, `{ family: "arp" }`.
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
