/**
 * The RA client's deeper egress check, run by the priv after the service's declarative rule
 * (IPv6, ICMPv6 type 133) matched and the runtime checked the Ethernet source MAC: a calf may send
 * Router Solicitations and nothing else, and only as RFC 4861 §4.1 and §6.3.7 describe them:
 *
 * - Ethernet to 33:33:00:00:00:02 (the all-routers group), IPv6 with no extension header,
 *   hop limit 255, to ff02::2, a payload length that matches the frame;
 * - from one of the interface's link-local addresses as the kernel lists them now, or from the
 *   unspecified address (a host without one yet), never from anything else;
 * - ICMPv6 code 0, options well formed (no zero length, none past the end), and only a source
 *   link-layer address option, which must be the interface's MAC — and none at all from ::.
 *
 * It reads fixed header fields and option headers; it parses nothing a peer sent (invariant 1).
 */
import { readFileSync } from "node:fs";
import { egressRejection as reject, macText, type EgressCheck } from "@paddock/runtime";

const ETH_HEADER = 14;
const IPV6_HEADER = 40;
const ICMPV6_RS_HEADER = 8;
const ETHERTYPE_IPV6 = 0x86dd;
const NEXT_HEADER_ICMPV6 = 58;
const ND_HOP_LIMIT = 255;
const ICMPV6_ROUTER_SOLICITATION = 133;
const OPTION_SOURCE_LINK_LAYER = 1;
/** RFC 4861 §4.1: a solicitation is its 8-byte header and options; ours carries one 8-byte option. */
export const MAX_RS_FRAME_BYTES = ETH_HEADER + IPV6_HEADER + ICMPV6_RS_HEADER + 64;
const ALL_ROUTERS_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 2);
const ALL_ROUTERS = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);

const same = (f: Uint8Array, at: number, b: Uint8Array) => b.every((x, i) => f[at + i] === x);
const hex = (f: Uint8Array, at: number, n: number) => Array.from(f.subarray(at, at + n), (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * The interface's usable link-local addresses (32 hex digits each) from the text of
 * /proc/net/if_inet6: scope link (0x20), neither tentative (0x40) nor DAD-failed (0x08).
 */
export function linkLocalsOf(ifInet6: string, ifindex: number): Set<string> {
  const out = new Set<string>();
  for (const line of ifInet6.split("\n")) {
    const [address, index, , scope, flags] = line.trim().split(/\s+/);
    if (!address || !/^[0-9a-f]{32}$/.test(address) || parseInt(index ?? "", 16) !== ifindex || parseInt(scope ?? "", 16) !== 0x20) continue;
    if ((parseInt(flags ?? "0", 16) & (0x40 | 0x08)) === 0) out.add(address);
  }
  return out;
}

/** What the check compares against. */
export interface RsEgressContext {
  readonly mac: Uint8Array;
  readonly ifindex: number;
  /** The interface's usable link-local addresses now (hex); default: read /proc/net/if_inet6. */
  readonly linkLocals?: () => Set<string>;
}

/** The Router Solicitation check (see the module comment). */
export function routerSolicitationEgress(ctx: RsEgressContext): EgressCheck {
  const linkLocals = ctx.linkLocals ?? (() => linkLocalsOf(readFileSync("/proc/net/if_inet6", "utf8"), ctx.ifindex));
  return (f) => {
    if (f.length < ETH_HEADER + IPV6_HEADER + ICMPV6_RS_HEADER) return reject("RS_TOO_SHORT", `a ${f.length}-byte frame cannot hold a router solicitation`);
    if (!same(f, 0, ALL_ROUTERS_MAC)) return reject("RS_DESTINATION", `destination MAC ${macText(f, 0)} is not 33:33:00:00:00:02 (all routers)`);
    if (((f[12]! << 8) | f[13]!) !== ETHERTYPE_IPV6 || f[ETH_HEADER]! >> 4 !== 6) return reject("RS_NOT_IPV6", "the frame is not IPv6");
    const ip = ETH_HEADER;
    if (f[ip + 6] !== NEXT_HEADER_ICMPV6) return reject("RS_NEXT_HEADER", `next header ${f[ip + 6]} is not ICMPv6 (58): no extension headers`);
    if (f[ip + 7] !== ND_HOP_LIMIT) return reject("RS_HOP_LIMIT", `hop limit ${f[ip + 7]} is not 255 (RFC 4861 §4.1)`);
    const payload = (f[ip + 4]! << 8) | f[ip + 5]!;
    if (ip + IPV6_HEADER + payload !== f.length) return reject("RS_LENGTH", `payload length ${payload} does not match the ${f.length - ip - IPV6_HEADER} bytes after the IPv6 header`);
    if (!same(f, ip + 24, ALL_ROUTERS)) return reject("RS_DESTINATION", "the destination address is not ff02::2 (all routers)");
    const src = hex(f, ip + 8, 16);
    const unspecified = /^0+$/.test(src);
    if (!unspecified && !linkLocals().has(src)) return reject("RS_SOURCE", `source ${src.replace(/(.{4})(?!$)/g, "$1:")} is not a link-local address of the interface (nor ::)`);
    const icmp = ip + IPV6_HEADER;
    if (f[icmp] !== ICMPV6_ROUTER_SOLICITATION || f[icmp + 1] !== 0) return reject("RS_TYPE", `ICMPv6 type ${f[icmp]} code ${f[icmp + 1]} is not a router solicitation (133, code 0)`);
    for (let at = icmp + ICMPV6_RS_HEADER; at < f.length; ) {
      if (at + 2 > f.length) return reject("RS_OPTION", "an option header runs past the frame");
      const type = f[at]!;
      const len = f[at + 1]! * 8;
      if (len === 0 || at + len > f.length) return reject("RS_OPTION", `option ${type} has length ${len}: zero or past the frame`);
      if (type !== OPTION_SOURCE_LINK_LAYER) return reject("RS_OPTION", `option ${type} is not a source link-layer address (the only option a client sends)`);
      if (unspecified) return reject("RS_OPTION", "a solicitation from :: must not carry a source link-layer address (RFC 4861 §4.1)");
      if (len !== 8 || !same(f, at + 2, ctx.mac)) return reject("RS_LINK_LAYER", `the source link-layer address ${macText(f, at + 2)} is not the interface's ${macText(ctx.mac)}`);
      at += len;
    }
    return null;
  };
}
