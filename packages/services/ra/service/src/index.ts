/**
 * The IPv6 router discovery service (issue 11), declared with the public SDK (`defineService`):
 * a packet channel whose kernel filter passes only ICMPv6 Router Advertisements and whose egress
 * lets out only Router Solicitations (./egress.ts), its schema (./schema.ts), its calf
 * (../../calf: the @paddock/ra core, no privilege), and the SLAAC handler (./slaac-handler.ts),
 * which alone touches the host: addresses, routes, MTU, sysctls and DNS.
 *
 * The M and O flags are published for the DHCPv6 service: a service in the same priv declares
 * `inputs: [{ service: "ra", keys: ["/flags/*"], optional: true }]` and reads
 * /input/ra/flags/managed and /input/ra/flags/other ("true" | "false"; docs/ra.md, "Keys").
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { defineService, ServiceOptionError, type MetricSource } from "@paddock/runtime";
import { readKeys } from "@paddock/kv";
import { linkLocalsOf, MAX_RS_FRAME_BYTES, routerSolicitationEgress } from "./egress.ts";
import { raKeys, raSchema } from "./schema.ts";
import { loadOrCreateSecret, RaHandler } from "./slaac-handler.ts";
import { raReadiness, raStatus } from "./status.ts";

/** RFC 4861 §4.1, §4.2: ICMPv6 types of the solicitation the client sends and the advertisement it hears. */
export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;

type OptionValue = string | boolean | number;
const routeMetricProblem = (v: OptionValue) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff ? undefined : "must be a whole number 0–4294967295");

export const raService = defineService({
  name: "ra",
  description: raSchema.description,
  needsMac: true,
  channels: {
    packet: {
      kind: "packet",
      // RFC 4861 §6.1.2: only Router Advertisements reach the calf (the core checks the rest:
      // hop limit 255, link-local source, checksum, option lengths).
      receive: { family: "ipv6", protocol: "icmpv6", icmpv6Type: ICMPV6_ROUTER_ADVERTISEMENT },
      // Router Solicitations only; ./egress.ts says from where, to where and with what.
      egress: [{ family: "ipv6", protocol: "icmpv6", icmpv6Type: ICMPV6_ROUTER_SOLICITATION }],
      maxFrameBytes: MAX_RS_FRAME_BYTES,
    },
  },
  schema: { entries: raSchema.entries, maxTotalBytes: raSchema.maxTotalBytes },
  calf: {
    entry: "../../calf/src/entry.ts",
    // QuickJS: a static executable of ~4 MiB resident instead of Node's ~45 (decision 0010); Node
    // when the executable is not built (the CLI warns) or --calf-engine node asks for it. The
    // limits below are Node's, which a QuickJS calf stays far under.
    engine: "quickjs",
    memoryMiB: 96,
    pids: 32,
    // RFC 4861 §6.3.7: 3 solicitations 4 s apart, then backoff; 1 per second with a burst of 3 is far above it.
    sendRate: { perSecond: 1, burst: 3 },
  },
  options: {
    "temporary-addresses": { kind: "boolean", description: "RFC 8981 temporary (privacy) addresses beside each stable one, made and retired by the kernel", default: false },
    "resolv-conf": { kind: "string", description: "the resolv.conf the RA's DNS servers and search names are composed into; empty: leave resolv.conf alone", default: "/etc/resolv.conf" },
    "route-metric": { kind: "number", validate: routeMetricProblem, description: "metric of the RA's routes, and the priority of its resolv.conf servers (lowest first); default 1000 + the interface's index, as the DHCP service's" },
    solicit: { kind: "boolean", description: "send router solicitations (--no-solicit: only listen for unsolicited advertisements)", default: true },
  },
  // resolv.conf is replaced by rename (its directory); the link's accept_ra, autoconf, mtu and
  // use_tempaddr are written in place (a hardened unit's ProtectKernelTunables makes /proc/sys read-only).
  privWritePaths: (o) => [...(o["resolv-conf"] ? [path.dirname(o["resolv-conf"])] : []), "/proc/sys/net/ipv6/conf"],
  readiness: raReadiness,
  status: raStatus,
  setup(ctx) {
    const o = ctx.options;
    if (!ctx.iface.mac) throw new ServiceOptionError(`ra: ${ctx.iface.name} has no Ethernet address; router solicitations need one`);
    const mac = new Uint8Array(ctx.iface.mac.split(":").map((h) => parseInt(h, 16)));
    let secret: Uint8Array;
    try {
      secret = loadOrCreateSecret(ctx.stateDir);
    } catch (err) {
      throw new ServiceOptionError(`ra: ${(err as Error).message}`);
    }
    const handler = new RaHandler({
      link: ctx.iface.name,
      stateDir: ctx.stateDir,
      secret,
      temporaryAddresses: o["temporary-addresses"],
      resolvConfPath: o["resolv-conf"] ? o["resolv-conf"] : null,
      ...(ctx.runtimeDir !== undefined ? { runtimeDir: ctx.runtimeDir } : {}),
      ...(o["route-metric"] !== undefined ? { routeMetric: o["route-metric"] } : {}),
      log: ctx.log,
    });
    // The link-local address now, if its DAD is done: the calf solicits from it (else from ::).
    const linkLocalHex = [...linkLocalsOf(readFileSync("/proc/net/if_inet6", "utf8"), ctx.iface.index)][0];
    const linkLocal = linkLocalHex?.replace(/(.{4})(?!$)/g, "$1:");
    const count = (key: Parameters<typeof readKeys>[1]): MetricSource["read"] => () => [{ labels: {}, value: readKeys(ctx.store.parsed, key).length }];
    const metrics: MetricSource[] = [
      { name: "paddock_ra_routers", help: "Default routers the calf has heard and published", type: "gauge", labelNames: [], read: count(raKeys.routers) },
      { name: "paddock_ra_prefixes", help: "Prefixes (on-link or autonomous) the calf has published", type: "gauge", labelNames: [], read: count(raKeys.prefixes) },
      { name: "paddock_ra_addresses", help: "SLAAC addresses the handler has on the link (its ownership record)", type: "gauge", labelNames: [], read: () => [{ labels: {}, value: handler.owned().addresses.length }] },
    ];
    return {
      privKeys: {
        "/config/mac": ctx.iface.mac,
        "/config/link-mtu": String(Math.max(1280, ctx.iface.mtu)),
        "/config/link-local": linkLocal ?? null,
        "/config/solicit": o.solicit ? "true" : "false",
      },
      handlers: [handler],
      checkFrame: routerSolicitationEgress({ mac, ifindex: ctx.iface.index }),
      metrics,
    };
  },
});

export default raService;
export * from "./schema.ts";
export * from "./egress.ts";
export * from "./slaac-handler.ts";
export * from "./status.ts";
export * from "./wire.ts";
