/**
 * The DHCP client's deeper egress check, run by the priv after the service's declarative rules
 * (UDP 68 → 67, BOOTREQUEST) matched: the rules say which frames, this says whose.
 *
 * It reads only fixed header fields (Ethernet, IPv4, UDP, the BOOTP op/htype/hlen/chaddr); it
 * never parses a DHCP payload (invariant 1). ARP frames (RFC 5227 probes and announcements) are
 * checked by ./arp-egress.ts.
 */

import { egressRejection as reject, macText, type EgressCheck } from "@paddock/runtime";
import { checkArpEgress } from "./arp-egress.ts";

const ETHERTYPE_ARP = 0x0806;

/** What the DHCP client policy compares against: the interface's identity and the leased address. */
export interface DhcpClientEgressContext {
  /** The interface MAC (6 bytes). */
  mac: Uint8Array;
  /** The address currently leased (dotted quad) or undefined; 0.0.0.0 is always allowed. */
  leasedAddress: () => string | undefined;
  /**
   * The client identifier (option 61 data) the priv fixed; every message must carry exactly it.
   * Null: the client sends none, and a message carrying one is refused. Undefined: not checked.
   */
  clientId?: Uint8Array | null;
}

/** RFC 2131 §2: BOOTP field offsets from the start of the message. */
const HOPS = 3;
const CIADDR = 12;
const GIADDR = 24;
const CHADDR = 28;
/** RFC 2131 §3: the options start after the fixed fields and the magic cookie. */
const OPTIONS = 240;
const OPTION_PAD = 0;
const OPTION_END = 255;
const OPTION_CLIENT_ID = 61;
/** RFC 3046: the relay agent information option, which only a relay may add. */
const OPTION_RELAY_AGENT = 82;
/** RFC 2131 §4.1: option 52 (overload) would put options into sname/file, where this scan does not look: refused. */
const OPTION_OVERLOAD = 52;

/**
 * The options of a BOOTREQUEST, scanned without decoding: option 61's data (undefined if absent),
 * and whether option 82 or 52 appears. A length running past the message is an error. The scan
 * is bounded by the message, itself bounded by MAX_DHCP_CLIENT_FRAME_BYTES.
 */
function scanOptions(f: Uint8Array, from: number, end: number): { clientId: Uint8Array | undefined; relay: boolean; overload: boolean } | string {
  let clientId: Uint8Array | undefined;
  let relay = false;
  let overload = false;
  for (let at = from; at < end; ) {
    const code = f[at]!;
    if (code === OPTION_PAD) {
      at++;
      continue;
    }
    if (code === OPTION_END) return { clientId, relay, overload };
    if (at + 1 >= end || at + 2 + f[at + 1]! > end) return `option ${code} runs past the message`;
    const len = f[at + 1]!;
    if (code === OPTION_CLIENT_ID) {
      if (clientId !== undefined) return "option 61 appears twice";
      clientId = f.subarray(at + 2, at + 2 + len);
    }
    if (code === OPTION_RELAY_AGENT) relay = true;
    if (code === OPTION_OVERLOAD) overload = true;
    at += 2 + len;
  }
  return "the options have no end option";
}

const ETH_HEADER = 14;
const IPV4_MIN_HEADER = 20;
const UDP_HEADER = 8;
/** RFC 2131 §2: the fixed BOOTP fields (236 bytes) plus the magic cookie. */
const BOOTP_MIN = 240;
/** The smallest legitimate client frame: Ethernet + IPv4 + UDP + BOOTP + cookie. */
export const MIN_DHCP_CLIENT_FRAME_BYTES = ETH_HEADER + IPV4_MIN_HEADER + UDP_HEADER + BOOTP_MIN;
/**
 * The largest: a 1500-byte IP packet in an untagged Ethernet frame. The client asks for at most
 * 1500-byte messages (option 57) and never needs jumbo frames.
 */
export const MAX_DHCP_CLIENT_FRAME_BYTES = ETH_HEADER + 1500;

function ipText(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function equalBytes(a: Uint8Array, aAt: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[aAt + i] !== b[i]) return false;
  return true;
}

/**
 * The DHCP client's egress policy: an Ethernet frame from the interface's MAC, IPv4 with a
 * 20-byte header (no options, no fragments, header checksum valid), from 0.0.0.0 or the leased
 * address, UDP 68 → 67 with a consistent length, carrying a BOOTREQUEST for Ethernet (htype 1,
 * hlen 6, hops 0, giaddr 0 — only a relay sets those) whose chaddr is the interface's MAC, whose
 * ciaddr is 0 or the leased address, and whose options hold the client identifier the priv fixed
 * and no relay agent information (option 82) — so a compromised calf can neither speak for
 * another client (release its lease, exhaust the pool) nor pose as a relay.
 */
export function dhcpClientEgress(ctx: DhcpClientEgressContext): EgressCheck {
  return (f) => {
    // The Ethernet header first, so a refusal names what the frame is (ARP, IPv6, a forged MAC).
    if (f.length < ETH_HEADER) return reject("TOO_SHORT", `a ${f.length}-byte frame has no Ethernet header`);
    if (!equalBytes(f, 6, ctx.mac)) return reject("SOURCE_MAC", `source MAC ${macText(f, 6)} is not the interface's ${macText(ctx.mac)}`);
    const ethertype = (f[12]! << 8) | f[13]!;
    if (ethertype === ETHERTYPE_ARP) return checkArpEgress(f, ctx.mac, ctx.leasedAddress());
    if (ethertype !== 0x0800) return reject("NOT_IPV4", `ethertype 0x${ethertype.toString(16).padStart(4, "0")} is not IPv4`);
    if (f.length < MIN_DHCP_CLIENT_FRAME_BYTES) return reject("TOO_SHORT", `a ${f.length}-byte frame is shorter than the smallest DHCP message frame (${MIN_DHCP_CLIENT_FRAME_BYTES})`);
    if (f.length > MAX_DHCP_CLIENT_FRAME_BYTES) return reject("TOO_LONG", `a ${f.length}-byte frame exceeds ${MAX_DHCP_CLIENT_FRAME_BYTES} bytes`);
    const ip = ETH_HEADER;
    const version = f[ip]! >> 4;
    const ihl = (f[ip]! & 0x0f) * 4;
    if (version !== 4 || ihl !== IPV4_MIN_HEADER) return reject("BAD_IPV4", `IPv4 version ${version}, header length ${ihl} (a client sends no IP options)`);
    const totalLength = (f[ip + 2]! << 8) | f[ip + 3]!;
    if (totalLength < ihl + UDP_HEADER + BOOTP_MIN || ip + totalLength > f.length) return reject("BAD_IPV4", `IPv4 total length ${totalLength} does not fit the frame`);
    const fragment = ((f[ip + 6]! << 8) | f[ip + 7]!) & 0x3fff; // MF flag and fragment offset
    if (fragment !== 0) return reject("FRAGMENT", "IPv4 fragments are not sent");
    if (f[ip + 9] !== 17) return reject("NOT_UDP", `IP protocol ${f[ip + 9]} is not UDP`);
    if (ipv4HeaderSum(f, ip, ihl) !== 0xffff) return reject("BAD_IPV4", "IPv4 header checksum is wrong");
    const src = ipText(f, ip + 12);
    if (src !== "0.0.0.0" && src !== ctx.leasedAddress()) return reject("SOURCE_IP", `source address ${src} is neither 0.0.0.0 nor the leased address`);
    const udp = ip + ihl;
    const sport = (f[udp]! << 8) | f[udp + 1]!;
    const dport = (f[udp + 2]! << 8) | f[udp + 3]!;
    if (sport !== 68 || dport !== 67) return reject("PORTS", `UDP ${sport} → ${dport} is not 68 → 67`);
    const udpLength = (f[udp + 4]! << 8) | f[udp + 5]!;
    if (udpLength !== totalLength - ihl) return reject("BAD_UDP", `UDP length ${udpLength} disagrees with the IPv4 length`);
    const bootp = udp + UDP_HEADER;
    if (f[bootp] !== 1) return reject("NOT_BOOTREQUEST", `BOOTP op ${f[bootp]} is not BOOTREQUEST`);
    if (f[bootp + 1] !== 1 || f[bootp + 2] !== 6) return reject("BAD_HARDWARE", `htype ${f[bootp + 1]}/hlen ${f[bootp + 2]} is not Ethernet`);
    if (!equalBytes(f, bootp + CHADDR, ctx.mac)) return reject("CHADDR", `chaddr ${macText(f, bootp + CHADDR)} is not the interface's MAC`);
    if (f[bootp + HOPS] !== 0) return reject("RELAY_FIELDS", `hops ${f[bootp + HOPS]} is not 0 (only a relay counts hops)`);
    const giaddr = ipText(f, bootp + GIADDR);
    if (giaddr !== "0.0.0.0") return reject("RELAY_FIELDS", `giaddr ${giaddr} is not 0.0.0.0 (only a relay sets it)`);
    const ciaddr = ipText(f, bootp + CIADDR);
    if (ciaddr !== "0.0.0.0" && ciaddr !== ctx.leasedAddress()) return reject("CIADDR", `ciaddr ${ciaddr} is neither 0.0.0.0 nor the leased address`);
    const scanned = scanOptions(f, bootp + OPTIONS, ip + totalLength);
    if (typeof scanned === "string") return reject("BAD_OPTIONS", scanned);
    if (scanned.relay) return reject("RELAY_FIELDS", "option 82 (relay agent information) is a relay's, not a client's");
    if (scanned.overload) return reject("BAD_OPTIONS", "option 52 (overload) is not sent");
    if (ctx.clientId === null && scanned.clientId !== undefined) return reject("CLIENT_ID", "the message carries a client identifier (option 61), and this client sends none");
    if (ctx.clientId && (scanned.clientId === undefined || !equalBytes(scanned.clientId, 0, ctx.clientId) || scanned.clientId.length !== ctx.clientId.length)) {
      return reject("CLIENT_ID", scanned.clientId === undefined ? "the message carries no client identifier (option 61)" : "the client identifier (option 61) is not the one the priv fixed");
    }
    return null;
  };
}

/** One's-complement sum of an IPv4 header; 0xffff when its checksum is right. */
function ipv4HeaderSum(f: Uint8Array, at: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (f[at + i]! << 8) | f[at + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
