/**
 * The JSON form of decoded DHCP packets printed by `paddock dhcp decode`, one object per UDP
 * 67/68 packet (docs/dhcp4-codec.md describes it with examples):
 *
 *   {"op":2,"xid":…,"secs":0,"flags":0,"ciaddr":"…","yiaddr":"…","siaddr":"…","giaddr":"…",
 *    "chaddr":"02:77:f4:a9:18:e3","messageType":2,"options":{"1":"255.255.255.0",…}}
 *
 * or, for a packet that is not valid DHCP, {"error":"PADDOCK_E_DHCP_…","detail":"…"}.
 */

import { plainBytes, toColonHex, toHex, u16At } from "./bytes.ts";
import { LinkType, readCapture, type Capture } from "./capture.ts";
import { decodeDhcpIpv4Packet, isDhcpIpv4Candidate, type DecodeFrameOptions, type DhcpFrame } from "./frame.ts";
import type { DhcpMessage, DhcpOption } from "./message.ts";
import { DhcpErrorCode, fail, ok, type DhcpError, type DhcpResult } from "./result.ts";

/** The JSON value of one option (see {@link optionToJson} for which form each code takes). */
export type DhcpOptionJson =
  | string
  | number
  | boolean
  | string[]
  | number[]
  | { destination: string; router: string }[]
  | { flags: number; rcode1: number; rcode2: number; name: string };

/** The JSON object for one decoded DHCP message. */
export interface DhcpMessageJson {
  op: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Colon hex of the first `hlen` bytes of chaddr ("" when hlen is 0). */
  chaddr: string;
  /** Option 53's value, or null for a message without one (plain BOOTP). */
  messageType: number | null;
  /** Keyed by decimal option code; pad and end never appear. */
  options: Record<string, DhcpOptionJson>;
}

/** The JSON object for a UDP 67/68 packet that is not valid DHCP. */
export interface DhcpErrorJson {
  error: string;
  detail: string;
}

/**
 * The JSON value of an option: addresses as dotted-quad strings (arrays for list options), times
 * and sizes as numbers, text as strings, 53 a number, 55 an array of numbers, 52 a number, 80
 * `true`, 81 an object, 119 an array of names, 121 an array of routes; opaque data (60, 61, 145,
 * every code without a type here, and a known option whose bytes do not fit its type) lowercase
 * hex without separators.
 */
export function optionToJson(option: DhcpOption): DhcpOptionJson {
  switch (option.kind) {
    case "subnetMask":
      return option.mask;
    case "routers":
    case "dnsServers":
    case "ntpServers":
      return option.addresses;
    case "hostname":
    case "domainName":
      return option.name;
    case "message":
      return option.text;
    case "captivePortal":
      return option.uri;
    case "mtu":
      return option.mtu;
    case "maxMessageSize":
      return option.size;
    case "broadcast":
    case "requestedAddress":
    case "serverId":
      return option.address;
    case "leaseTime":
    case "renewalTime":
    case "rebindingTime":
    case "ipv6OnlyPreferred":
      return option.seconds;
    case "overload":
      return option.value;
    case "messageType":
      return option.type;
    case "parameterRequestList":
      return option.codes;
    case "rapidCommit":
      return true;
    case "clientFqdn":
      return { flags: option.flags, rcode1: option.rcode1, rcode2: option.rcode2, name: option.name };
    case "domainSearch":
      return option.names;
    case "classlessRoutes":
      return option.routes.map((r) => ({ destination: r.destination, router: r.router }));
    case "vendorClass":
    case "clientId":
    case "forcerenewNonce":
    case "unknown":
    case "malformed":
      return toHex(option.data);
  }
}

/** The JSON object for a decoded message. */
export function dhcpMessageToJson(msg: DhcpMessage): DhcpMessageJson {
  const options: Record<string, DhcpOptionJson> = {};
  let messageType: number | null = null;
  for (const o of msg.options) {
    options[String(o.code)] = optionToJson(o);
    if (o.kind === "messageType") messageType = o.type;
  }
  return {
    op: msg.op,
    xid: msg.xid,
    secs: msg.secs,
    flags: msg.flags,
    ciaddr: msg.ciaddr,
    yiaddr: msg.yiaddr,
    siaddr: msg.siaddr,
    giaddr: msg.giaddr,
    chaddr: toColonHex(msg.chaddr),
    messageType,
    options,
  };
}

/** The JSON object for a decode result: the message, or the error code and detail. */
export function dhcpResultToJson(result: DhcpResult<DhcpFrame | DhcpMessage>): DhcpMessageJson | DhcpErrorJson {
  if (!result.ok) return { error: result.error.code, detail: result.error.detail };
  const msg = "message" in result.value ? result.value.message : result.value;
  return dhcpMessageToJson(msg);
}

/** The IPv4 packet inside a captured link-layer frame, with the MACs when the link has them. */
export function ipv4OfLinkFrame(
  linkType: number,
  input: Uint8Array,
): { packet: Uint8Array; srcMac: Uint8Array; dstMac: Uint8Array } | null {
  const data = plainBytes(input);
  const none = new Uint8Array(6);
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (data.length < 14) return null;
      let typeAt = 12;
      // Up to two VLAN tags (802.1Q, 802.1ad), as decodeDhcpFrame accepts.
      for (let tags = 0; tags < 2 && typeAt + 6 <= data.length; tags++) {
        const t = u16At(data, typeAt);
        if (t !== 0x8100 && t !== 0x88a8) break;
        typeAt += 4;
      }
      if (u16At(data, typeAt) !== 0x0800) return null;
      return { packet: data.subarray(typeAt + 2), dstMac: data.slice(0, 6), srcMac: data.slice(6, 12) };
    }
    case LinkType.LINUX_SLL: {
      // packet type, ARPHRD, address length, 8 address bytes, protocol (tcpdump.org LINKTYPE_LINUX_SLL)
      if (data.length < 16 || u16At(data, 14) !== 0x0800) return null;
      const src = u16At(data, 4) === 6 ? data.slice(6, 12) : none;
      return { packet: data.subarray(16), srcMac: src, dstMac: none };
    }
    case LinkType.LINUX_SLL2: {
      // protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 address bytes
      if (data.length < 20 || u16At(data, 0) !== 0x0800) return null;
      const src = data[11] === 6 ? data.slice(12, 18) : none;
      return { packet: data.subarray(20), srcMac: src, dstMac: none };
    }
    case LinkType.RAW:
    case LinkType.IPV4:
      return { packet: data, srcMac: none, dstMac: none };
    default:
      return null;
  }
}

const SUPPORTED_LINK_TYPES: ReadonlySet<number> = new Set(Object.values(LinkType));

/** The lines `paddock dhcp decode` prints for a capture, and what it should warn about. */
export interface DecodedCapture {
  /** One JSON object per UDP 67/68 packet, in capture order. */
  lines: (DhcpMessageJson | DhcpErrorJson)[];
  /** The capture ended inside a record; the lines cover the packets before it. */
  truncated?: DhcpError;
  /** Packets skipped because their link type is not one this decoder reads. */
  skippedUnsupportedLink: number;
}

/**
 * Decodes every UDP 67/68 packet of a capture. Checksums are checked only when `options` asks:
 * a capture taken on the sending host holds its outgoing packets before checksum offload fills
 * the checksums in, so they are routinely wrong (often zero) there; tcpdump and Wireshark do not
 * check them by default either. A capture whose packets are all on unsupported link types is an
 * error, not an empty decode.
 */
export function decodeCapture(bytes: Uint8Array, options: DecodeFrameOptions = { verifyChecksums: false }): DhcpResult<DecodedCapture> {
  const c = readCapture(bytes);
  if (!c.ok) return c;
  const decoded = decodeCapturePackets(c.value, options);
  const first = c.value.packets[0];
  if (first !== undefined && decoded.skippedUnsupportedLink === c.value.packets.length) {
    return fail(
      DhcpErrorCode.UNSUPPORTED_LINK_TYPE,
      `capture link type ${first.linkType} is not one of Ethernet, Linux cooked (SLL, SLL2) or raw IPv4`,
    );
  }
  return ok(decoded);
}

function decodeCapturePackets(capture: Capture, options: DecodeFrameOptions): DecodedCapture {
  const out: DecodedCapture = { lines: [], skippedUnsupportedLink: 0 };
  if (capture.truncated) out.truncated = capture.truncated;
  for (const p of capture.packets) {
    if (!SUPPORTED_LINK_TYPES.has(p.linkType)) {
      out.skippedUnsupportedLink++;
      continue;
    }
    const ip = ipv4OfLinkFrame(p.linkType, p.data);
    if (ip === null || !isDhcpIpv4Candidate(ip.packet)) continue;
    out.lines.push(dhcpResultToJson(decodeDhcpIpv4Packet(ip.packet, options, ip)));
  }
  return out;
}
