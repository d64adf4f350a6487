/**
 * The sans-IO DHCPv4 client core: configuration, the state machine (`createClient`, `step`),
 * leases, their KV publication and their persisted form. See docs/dhcp4-client.md.
 */

export * from "./config.ts";
export * from "./lease.ts";
export * from "./machine.ts";
export * from "./acd.ts";
export * from "./reconfigure.ts";
export * from "./ipv6-only.ts";
export { isIpv4, isUnicastHost, maskToPrefix, normaliseDomainName } from "./addr.ts";
