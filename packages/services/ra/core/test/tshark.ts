/**
 * Our decode of an ND packet in tshark's field names and notation (tshark 4.0, `-T json
 * --no-duplicate-keys`), so the captures test can compare it field by field with the oracle files
 * in ../shared/pcaps/public/oracle/ and with tshark run on frames our encoder made.
 */

import { tsharkLayers } from "../../../dhcp4/core/test/tshark-oracle.ts";
import { formatMac, preferenceBits, type NdOption, type NdPacket } from "../src/index.ts";

/** One packet as the oracle files hold it (tshark 4.0 JSON, condensed to the ICMPv6 layer). */
export interface OraclePacket {
  frame: number;
  eth_src?: string | null;
  ip_src?: string | null;
  ip_dst?: string | null;
  proto: string;
  layer: Record<string, unknown>;
}

/** Runs tshark on a capture file and returns its ICMPv6 layers in the oracle form. */
export function tsharkIcmpv6(file: string): OraclePacket[] {
  return tsharkLayers(file, ["-O", "icmpv6"]).map((l) => {
    const pick = (layer: string, field: string) => {
      const v = l[layer]?.[field];
      return typeof v === "string" ? v : undefined;
    };
    return { frame: Number(pick("frame", "frame.number")), eth_src: pick("eth", "eth.src"), ip_src: pick("ipv6", "ipv6.src"), ip_dst: pick("ipv6", "ipv6.dst"), proto: l.icmpv6 ? "icmpv6" : "other", layer: l.icmpv6 ?? {} };
  });
}

const hex2 = (v: number, digits = 2) => `0x${v.toString(16).padStart(digits, "0")}`;
const colonHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
/** tshark lists a repeated field as an array, a single one as a string. */
const listOrOne = (v: string[]) => (v.length === 1 ? v[0]! : v);

/** One option in tshark's notation; `raw` is its wire bytes (type and length included). */
function optionAsTshark(o: NdOption, raw: Uint8Array): Record<string, unknown> {
  const head = { "icmpv6.opt.type": String(raw[0]), "icmpv6.opt.length": String(raw[1]) };
  switch (o.kind) {
    case "sourceLinkLayer":
      return { ...head, "icmpv6.opt.linkaddr": formatMac(o.address), "icmpv6.opt.src_linkaddr": formatMac(o.address) };
    case "mtu":
      return { ...head, "icmpv6.opt.reserved": "", "icmpv6.opt.mtu": String(o.mtu) };
    case "prefix":
      return {
        ...head,
        "icmpv6.opt.prefix.length": String(o.prefixLength),
        "icmpv6.opt.prefix.flag": hex2(raw[3]!),
        "icmpv6.opt.prefix.flag_tree": {
          "icmpv6.opt.prefix.flag.l": o.onLink ? "1" : "0",
          "icmpv6.opt.prefix.flag.a": o.autonomous ? "1" : "0",
          "icmpv6.opt.prefix.flag.r": o.routerAddress ? "1" : "0",
          "icmpv6.opt.prefix.flag.reserved": String(raw[3]! & 0x1f),
        },
        "icmpv6.opt.prefix.valid_lifetime": String(o.validLifetime),
        "icmpv6.opt.prefix.preferred_lifetime": String(o.preferredLifetime),
        "icmpv6.opt.reserved": "",
        "icmpv6.opt.prefix": o.prefix,
      };
    case "route":
      return {
        ...head,
        "icmpv6.opt.prefix.length": String(o.prefixLength),
        "icmpv6.opt.route_info.flag": hex2(raw[3]!),
        "icmpv6.opt.route_info.flag_tree": { "icmpv6.opt.route_info.flag.route_preference": String(preferenceBits(o.preference)), "icmpv6.opt.route_info.flag.reserved": String(raw[3]! & 0xe7) },
        "icmpv6.opt.route_lifetime": String(o.lifetime),
        // A length-1 option carries no prefix bytes (RFC 4191 §2.3), and tshark shows none.
        ...(raw.length > 8 ? { "icmpv6.opt.prefix": o.prefix } : {}),
      };
    case "rdnss":
      return { ...head, "icmpv6.opt.reserved": "", "icmpv6.opt.rdnss.lifetime": String(o.lifetime), "icmpv6.opt.rdnss": listOrOne(o.servers) };
    case "dnssl":
      return { ...head, "icmpv6.opt.reserved": "", "icmpv6.opt.dnssl.lifetime": String(o.lifetime), "icmpv6.opt.dnssl": listOrOne(o.names), "icmpv6.opt.padding": "" };
    case "pref64":
      return { ...head, "icmpv6.opt.pref64.scaled_lifetime": String(o.lifetime / 8), "icmpv6.opt.pref64.plc": hex2(raw[3]! & 7, 4), "icmpv6.opt.pref64.prefix": o.prefix };
    case "unknown":
    case "malformed":
      return { ...head, "icmpv6.data": colonHex(o.bytes) };
  }
}

/** Our decode of a packet as tshark prints its ICMPv6 layer; `icmp` is the message's wire bytes. */
export function asTshark(p: NdPacket, icmp: Uint8Array): Record<string, unknown> {
  const layer: Record<string, unknown> = {
    "icmpv6.type": String(icmp[0]),
    "icmpv6.code": String(icmp[1]),
    "icmpv6.checksum": hex2((icmp[2]! << 8) | icmp[3]!, 4),
    // decodeNdPacket returned a value, so the checksum is right: tshark's "1" (good).
    "icmpv6.checksum.status": "1",
  };
  const m = p.message;
  let optionsAt: number;
  if (m.kind === "rs") {
    layer["icmpv6.reserved"] = colonHex(icmp.subarray(4, 8));
    optionsAt = 8;
  } else {
    Object.assign(layer, {
      "icmpv6.nd.ra.cur_hop_limit": String(m.curHopLimit),
      "icmpv6.nd.ra.flag": hex2(icmp[5]!),
      "icmpv6.nd.ra.flag_tree": {
        "icmpv6.nd.ra.flag.m": m.managed ? "1" : "0",
        "icmpv6.nd.ra.flag.o": m.other ? "1" : "0",
        "icmpv6.nd.ra.flag.h": m.homeAgent ? "1" : "0",
        // tshark prints the wire bits; ours read the reserved 10 as medium, which the captures do not hold.
        "icmpv6.nd.ra.flag.prf": String(preferenceBits(m.preference)),
        "icmpv6.nd.ra.flag.p": m.proxy ? "1" : "0",
        "icmpv6.nd.ra.flag.rsv": String(icmp[5]! & 3),
      },
      "icmpv6.nd.ra.router_lifetime": String(m.routerLifetime),
      "icmpv6.nd.ra.reachable_time": String(m.reachableTime),
      "icmpv6.nd.ra.retrans_timer": String(m.retransTimer),
    });
    optionsAt = 16;
  }
  const options: Record<string, unknown>[] = [];
  let at = optionsAt;
  for (const o of m.options) {
    const length = icmp[at + 1]! * 8;
    options.push(optionAsTshark(o, icmp.subarray(at, at + length)));
    at += length;
  }
  if (options.length === 1) layer["icmpv6.opt"] = options[0];
  else if (options.length > 1) layer["icmpv6.opt"] = options;
  return layer;
}

/** tshark's layer with what we do not model taken out: expert-info annotations. */
export function withoutExpertInfo(layer: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(layer, (k, v: unknown) => (k === "_ws.expert" ? undefined : v))) as Record<string, unknown>;
}
