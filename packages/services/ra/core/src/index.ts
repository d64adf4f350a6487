/**
 * @paddock/ra: the IPv6 Neighbor Discovery codec (Router Solicitation and Advertisement with
 * their options), the sans-IO Router Advertisement client core, and RFC 7217 / RFC 8981 interface
 * identifiers with the SLAAC address plan. It imports nothing of ours and nothing of Node, so it
 * runs in the calf on any engine and in the priv alike. See docs/ra.md, "The core".
 */

export * from "./client.ts";
export * from "./constants.ts";
export * from "./iid.ts";
export * from "./ipv6.ts";
export * from "./message.ts";
export * from "./options.ts";
export * from "./packet.ts";
export * from "./result.ts";
export { sha256 } from "./sha256.ts";
