/**
 * The DHCPv6 client service (RFC 8415), declared with the public SDK (`defineService`): a UDP
 * channel over IPv6 from port 546 to ff02::1:2 port 547 (All_DHCP_Relay_Agents_and_Servers) on the
 * interface, its schema (./schema.ts), its calf (../../calf: the @paddock/dhcp6 core, no
 * privilege), and the lease handler (./lease-handler.ts) that applies IA_NA addresses, downstream
 * /64s from a delegated prefix and DNS in the priv.
 */
import path from "node:path";
import { ServiceOptionError, defineService, type MetricSource } from "@paddock/runtime";
import { readKeys } from "@paddock/kv";
import { keptDuid } from "./duid.ts";
import { Dhcp6LeaseHandler } from "./lease-handler.ts";
import { dhcp6Options, parsePrefixDelegation } from "./options.ts";
import { dhcp6Keys, dhcp6Schema } from "./schema.ts";
import { dhcp6Readiness, dhcp6Status } from "./status.ts";
import { hexText } from "./wire.ts";

/** RFC 8415 §7.2: clients listen on 546, servers and relays on 547. */
export const DHCP6_CLIENT_PORT = 546;
export const DHCP6_SERVER_PORT = 547;
/** RFC 8415 §7.1: All_DHCP_Relay_Agents_and_Servers. */
export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS = "ff02::1:2";
/**
 * The largest message the calf may send: a SOLICIT or REQUEST with a DUID (≤ 130), both IAs with
 * their hints, an ORO, elapsed time and rapid commit is a few hundred bytes; 1024 leaves room and
 * no more.
 */
export const MAX_CLIENT_MESSAGE_BYTES = 1024;
/** Metric base of this link's resolv.conf contribution (the DHCPv4 service's rule: 1000 + ifindex). */
const RESOLV_PRIORITY_BASE = 1000;

export const dhcp6Service = defineService({
  name: "dhcp6",
  description: dhcp6Schema.description,
  channels: {
    // The client sends only to ff02::1:2 port 547, from its link-local address and port 546
    // (checked by the priv and by the service's tc egress program); the servers' REPLYs come back
    // unicast to port 546. RFC 8415 §18.2 lets a client always use the multicast address, so no
    // server unicast address is ever allowed: a calf cannot aim at any other host.
    udp: { kind: "udp", family: 6, localPort: DHCP6_CLIENT_PORT, remotePort: DHCP6_SERVER_PORT, maxDatagramBytes: MAX_CLIENT_MESSAGE_BYTES },
  },
  schema: { entries: dhcp6Schema.entries, maxTotalBytes: dhcp6Schema.maxTotalBytes },
  // The RA's M and O flags (mode auto), when the ra service runs in the same priv.
  inputs: [{ service: "ra", keys: ["/flags/*"], optional: true }],
  calf: {
    entry: "../../calf/src/entry.ts",
    // QuickJS: a static executable of ~4 MiB resident instead of Node's ~45 (decision 0010); Node
    // when the executable is not built (the CLI warns) or --calf-engine node asks for it. The
    // limits below are Node's, which a QuickJS calf stays far under.
    engine: "quickjs",
    // As the other Node calves: a small heap, room for V8's reservations.
    memoryMiB: 96,
    pids: 32,
    // RFC 8415 §15: retransmissions start at 1 s (SOLICIT) and back off; a RELEASE at stop and a
    // CONFIRM on link-up are single messages. 4 a second with a burst of 8 is far above that.
    sendRate: { perSecond: 4, burst: 8 },
  },
  options: dhcp6Options,
  // The directory of the resolv.conf it composes into (replaced by rename), for paddock generate's ReadWritePaths.
  privWritePaths: (o) => (o["resolv-conf"] ? [path.dirname(o["resolv-conf"])] : []),
  readiness: dhcp6Readiness,
  status: dhcp6Status,
  setup(ctx) {
    const o = ctx.options;
    const downstream = parsePrefixDelegation(o["prefix-delegation"] ?? "");
    if (!downstream.ok) throw new ServiceOptionError(`dhcp6: prefix-delegation: ${downstream.reason}`);
    if (downstream.value.length > 0 && (o["ia-pd"] ?? "off") === "off") throw new ServiceOptionError("dhcp6: prefix-delegation needs a delegated prefix: set ia-pd to a prefix length hint (or 0)");
    if (downstream.value.some((d) => d.iface === ctx.iface.name)) throw new ServiceOptionError(`dhcp6: prefix-delegation names ${ctx.iface.name}, the interface the client runs on; a downstream interface is another one`);
    const mac = ctx.iface.mac === undefined ? undefined : Uint8Array.from(ctx.iface.mac.split(":").map((h) => parseInt(h, 16)));
    const duid = keptDuid(ctx.stateDir, o.duid ?? "ll", { mac, nowMs: Date.now() });
    // RFC 8415 §12: an IAID stable across restarts: the MAC's last 4 bytes (as dhcpcd), else the ifindex.
    const iaid = mac ? ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0 : ctx.iface.index;
    const handler = new Dhcp6LeaseHandler({
      iface: ctx.iface.name,
      downstream: downstream.value,
      stateDir: ctx.stateDir,
      resolvConfPath: o["resolv-conf"] ? o["resolv-conf"] : null,
      ...(ctx.runtimeDir !== undefined ? { runtimeDir: ctx.runtimeDir } : {}),
      resolvPriority: RESOLV_PRIORITY_BASE + ctx.iface.index,
      log: ctx.log,
    });
    const metrics: MetricSource[] = [
      {
        name: "paddock_dhcp6_addresses",
        help: "IA_NA addresses in the client's lease",
        type: "gauge",
        labelNames: [],
        read: () => [{ labels: {}, value: readKeys(ctx.store.parsed, dhcp6Keys.address).length }],
      },
      {
        name: "paddock_dhcp6_prefixes",
        help: "Delegated prefixes in the client's lease",
        type: "gauge",
        labelNames: [],
        read: () => [{ labels: {}, value: readKeys(ctx.store.parsed, dhcp6Keys.prefix).length }],
      },
    ];
    return {
      privKeys: {
        "/config/mode": o.mode ?? "auto",
        "/config/ia-na": String(o["ia-na"]),
        "/config/ia-pd": o["ia-pd"] ?? "off",
        "/config/rapid-commit": String(o["rapid-commit"]),
        "/config/duid": hexText(duid),
        "/config/iaid": String(iaid),
        "/config/release-on-stop": String(o["release-on-stop"]),
      },
      handlers: [handler],
      udpPeers: () => [ALL_DHCP_RELAY_AGENTS_AND_SERVERS],
      metrics,
    };
  },
});

export default dhcp6Service;
export * from "./schema.ts";
export * from "./options.ts";
export * from "./duid.ts";
export * from "./lease-handler.ts";
export * from "./status.ts";
export * from "./wire.ts";
