/**
 * Socket filters built with ./cbpf.ts at module load, so the locked socket filter needs
 * nothing at run time. Offsets are from the start of the Ethernet header (AF_PACKET
 * SOCK_RAW hands the filter the frame from its MAC header).
 */
import { assemble, bpf, type ClassicProgram, type Insn } from "./cbpf.ts";

const ETH_HLEN = 14; // Ethernet II header: destination, source, ethertype
const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_UDP = 17;
const DHCP_CLIENT_PORT = 68; // RFC 2131 §4.1: servers send to the client's port 68
/** Accepted frames are kept whole up to 256 KiB (tcpdump's default snap length). */
const ACCEPT_BYTES = 0x40000;

/**
 * The DHCP client filter: Ethernet II, IPv4 (version 4, header length ≥ 20 bytes), protocol
 * UDP, not a fragment (MF clear and fragment offset 0: a fragment's UDP header is absent or
 * incomplete, and we do not reassemble), UDP destination port 68 found after a variable-length
 * IPv4 header (ldx msh). Everything else returns 0 (dropped in the kernel).
 */
export const DHCP_CLIENT_FILTER_SOURCE: readonly Insn[] = [
  bpf.ld("h", 12), // ethertype
  bpf.jeq(ETHERTYPE_IPV4, "next", "drop"),
  bpf.ld("b", ETH_HLEN), // version and IHL
  bpf.alu("and", 0xf0),
  bpf.jeq(0x40, "next", "drop"), // version 4
  bpf.ld("b", ETH_HLEN),
  bpf.alu("and", 0x0f),
  bpf.jge(5, "next", "drop"), // IHL ≥ 5 words (RFC 791 §3.1)
  bpf.ld("b", ETH_HLEN + 9), // protocol
  bpf.jeq(IPPROTO_UDP, "next", "drop"),
  bpf.ld("h", ETH_HLEN + 6), // flags and fragment offset
  bpf.jset(0x3fff, "drop", "next"), // MF or offset ≠ 0
  bpf.ldxMsh(ETH_HLEN), // X = IPv4 header length in bytes
  bpf.ldInd("h", ETH_HLEN + 2), // UDP destination port at 14 + X + 2
  bpf.jeq(DHCP_CLIENT_PORT, "next", "drop"),
  bpf.ret(ACCEPT_BYTES),
  bpf.label("drop"),
  bpf.ret(0),
];

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
