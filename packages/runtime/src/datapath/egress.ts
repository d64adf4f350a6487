/**
 * Egress checks: what a calf may send. Linux has a BPF read filter but no write filter, so the
 * priv is the write filter: every frame or datagram a calf hands over is checked here before it
 * reaches a socket (the service's tc egress program is the kernel-side second line, compiled from
 * the same rules).
 *
 * A check reads fixed header fields only; it never parses a protocol payload (invariant 1).
 */
import { isIPv6 } from "node:net";
import { matchEgressRules, type EgressRule } from "@paddock/native";

/** Why a frame was refused: a stable code for metrics and logs, and one sentence. */
export interface EgressRejection {
  code: string;
  detail: string;
}

/** A frame check: null when the frame may go, the reason otherwise. */
export type EgressCheck = (frame: Uint8Array) => EgressRejection | null;

/** A datagram check: null when the datagram may go to `peer`. */
export type DatagramCheck = (data: Uint8Array, peer: { address: string; port: number }) => EgressRejection | null;

const ETH_HEADER = 14;

/** A refusal with the `PADDOCK_E_EGRESS_` prefix. */
export const egressRejection = (code: string, detail: string): EgressRejection => ({ code: `PADDOCK_E_EGRESS_${code}`, detail });

/** "02:00:00:00:00:01" from 6 bytes at `at`. */
export function macText(b: Uint8Array, at = 0): string {
  return Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}

function equalBytes(a: Uint8Array, aAt: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[aAt + i] !== b[i]) return false;
  return true;
}

/** What a packet channel's check compares against. */
export interface PacketEgressOptions {
  /** The interface's MAC: every frame must come from it (undefined: a link without one). */
  readonly mac: Uint8Array | undefined;
  /** The service's declarative rules (the same ones its tc program enforces). */
  readonly rules: readonly EgressRule[];
  readonly maxFrameBytes: number;
  /** The service's deeper check, run after the rules matched. */
  readonly check?: EgressCheck;
}

/**
 * A packet channel's check: Ethernet source = the interface's MAC, size bound, one of the rules,
 * then the service's own check.
 */
export function packetEgress(opts: PacketEgressOptions): EgressCheck {
  return (f) => {
    if (f.length < ETH_HEADER) return egressRejection("TOO_SHORT", `a ${f.length}-byte frame has no Ethernet header`);
    if (opts.mac && !equalBytes(f, 6, opts.mac)) return egressRejection("SOURCE_MAC", `source MAC ${macText(f, 6)} is not the interface's ${macText(opts.mac)}`);
    if (f.length > opts.maxFrameBytes) return egressRejection("TOO_LONG", `a ${f.length}-byte frame exceeds ${opts.maxFrameBytes} bytes`);
    if (matchEgressRules(opts.rules, f) < 0) {
      const ethertype = (f[12]! << 8) | f[13]!;
      return egressRejection("NO_RULE", `the frame (ethertype 0x${ethertype.toString(16).padStart(4, "0")}) matches none of the service's egress rules`);
    }
    return opts.check ? opts.check(f) : null;
  };
}

/** What a UDP channel's check compares against. */
export interface DatagramEgressOptions {
  readonly remotePort: number;
  readonly maxDatagramBytes: number;
  /** The addresses the calf may send to, asked at every send. */
  readonly peers: () => readonly string[];
  /** The channel's family (default 4): on 6, addresses are compared in canonical text and must be IPv6. */
  readonly family?: 4 | 6;
}

/**
 * An IPv6 address's canonical text (lower case, the longest zero run as "::"), or undefined for
 * anything that is not a plain IPv6 address (a zone "%eth0", IPv4, a name). The WHATWG URL
 * parser's IPv6 host serializer does exactly this.
 */
export function canonicalIpv6(text: string): string | undefined {
  if (typeof text !== "string" || text.length > 45 || !isIPv6(text)) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** A UDP channel's check: the declared remote port, an allowed peer, a size bound. */
export function datagramEgress(opts: DatagramEgressOptions): DatagramCheck {
  const v6 = opts.family === 6;
  return (data, peer) => {
    if (data.length > opts.maxDatagramBytes) return egressRejection("TOO_LONG", `a ${data.length}-byte datagram exceeds ${opts.maxDatagramBytes} bytes`);
    if (peer.port !== opts.remotePort) return egressRejection("PORTS", `destination port ${peer.port} is not ${opts.remotePort}`);
    const address = v6 ? canonicalIpv6(peer.address) : peer.address;
    const allowed = v6 ? opts.peers().map(canonicalIpv6) : opts.peers();
    if (address === undefined || !allowed.includes(address)) return egressRejection("PEER", `${String(peer.address).slice(0, 64)} is not one of the service's peers`);
    return null;
  };
}
