/**
 * @paddock/dhcp6: the DHCPv6 codec (RFC 8415 messages and options, RFC 3646 DNS, RFC 6603
 * PD_EXCLUDE) and the sans-IO DHCPv6 client (stateful IA_NA/IA_PD and stateless). It imports
 * nothing of ours and nothing of Node, so it runs in the calf on any engine. See docs/dhcp6.md.
 */

export * from "./result.ts";
export * from "./constants.ts";
export { ipv6At, maskPrefix, parseIpv6, type Ipv6 } from "./bytes.ts";
export * from "./duid.ts";
export { MAX_LABEL_BYTES, MAX_NAME_BYTES, decodeDomainNames, encodeDomainName } from "./domain.ts";
export * from "./options.ts";
export * from "./codec.ts";
export * from "./config.ts";
export * from "./lease.ts";
export * from "./client.ts";
export { MIN_T1_SECONDS, applyReply, informationLease, lastExpiry, nextExpiry, pruneExpired, statusOf, type ReplyOutcome } from "./binding.ts";
export { canTransmit, elapsedHundredths, newExchange, transmitted, type Exchange, type ExchangeType } from "./retransmit.ts";
