/**
 * @paddock/dhcp4: the DHCPv4 wire codec (Ethernet/IPv4/UDP/BOOTP/options), a pcap/pcapng reader
 * and the JSON form of `paddock dhcp decode`, plus (./client) the sans-IO RFC 2131 client.
 * Imports nothing of ours: it runs inside the sandboxed calf.
 */

export * from "./message.ts";
export * from "./result.ts";
export { MAX_LABEL_BYTES, MAX_NAME_BYTES, decodeDnsName, decodeDnsNameList, encodeDnsName, encodeDnsNameList } from "./dns-name.ts";
export { FQDN_FLAG_E, OptionCode, decodeOption, encodeOption } from "./options.ts";
export {
  BOOTP_HEADER_BYTES,
  MAGIC_COOKIE,
  MAX_OPTION_INSTANCE_BYTES,
  MIN_BOOTP_BYTES,
  decodeDhcpMessage,
  encodeDhcpMessage,
} from "./codec.ts";
export * from "./frame.ts";
export * from "./arp.ts";
export * from "./capture.ts";
export * from "./json.ts";
export { ipv4At, parseIpv4, toColonHex, toHex } from "./bytes.ts";
// The sans-IO client (./client).
export * from "./client/index.ts";
