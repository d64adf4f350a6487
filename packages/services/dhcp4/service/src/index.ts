/**
 * The DHCPv4 client service, declared with the same public API a user of the SDK has
 * (`defineService` from @paddock/runtime): its channel (a packet socket that receives IPv4 UDP to
 * port 68 and may send BOOTREQUESTs from 68 to 67), its KV schema (./schema.ts), its calf
 * (../../calf), and its handlers (the lease: address, routes, MTU, resolv.conf; the host name).
 */
import path from "node:path";
import { monotonicUs, readKey, wallClockMs } from "@paddock/kv";
import { defineService, type MetricSource } from "@paddock/runtime";
import { clientIdKey, clientOptions, fixedClientId, hostnameValidate, liveConfigKeys } from "./client-options.ts";
import { dhcpClientEgress, MAX_DHCP_CLIENT_FRAME_BYTES } from "./egress.ts";
import { observeDhcpReply } from "./observe.ts";
import { forgetOtherLinksLease } from "./other-link.ts";
import { DEFAULT_HOOKS_DIR, dhcp4Hooks, hooksDirProblem, hookTimeoutProblem } from "./hooks.ts";
import { HostnameHandler } from "./handlers/hostname-handler.ts";
import { LeaseHandler, MAX_ROUTE_METRIC, ROUTE_METRIC_BASE } from "./handlers/lease-handler.ts";
import { dhcp4Keys, dhcp4Schema } from "./schema.ts";
import { dhcp4Readiness, dhcp4Status } from "./status.ts";

export const DHCP_CLIENT_PORT = 68;
export const DHCP_SERVER_PORT = 67;
/** BOOTP op 1: a BOOTREQUEST (RFC 2131 §2); clients send nothing else. */
export const BOOTREQUEST = 1;

/**
 * The client identifier the priv fixes for an interface: RFC 4361 §6.1's node-specific form,
 * 255, the IAID (the MAC's last four bytes: stable per interface), then a DUID-LL (RFC 8415
 * §11.4: type 3, hardware type 1, the MAC). The calf sends exactly this; egress refuses any other.
 */
export function defaultClientId(mac: Uint8Array): Uint8Array {
  return fixedClientId({ "client-id": "duid", iaid: undefined, duid: undefined }, mac)!;
}

/** Why a route metric cannot be used, or undefined: the kernel's RTA_PRIORITY is a u32. */
function routeMetricProblem(v: string | boolean | number): string | undefined {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_ROUTE_METRIC ? undefined : `must be a whole number 0–${MAX_ROUTE_METRIC}`;
}

/** The DHCPv4 client service. */
export const dhcp4Service = defineService({
  name: "dhcp4",
  description: dhcp4Schema.description,
  needsMac: true,
  channels: {
    packet: {
      kind: "packet",
      // RFC 2131 §4.1: servers send to the client's port 68 (broadcast or unicast); RFC 5227:
      // other hosts' ARP, to find a conflict for the offered or leased address.
      receive: [{ family: "ipv4", protocol: "udp", dstPort: DHCP_CLIENT_PORT }, { family: "arp" }],
      // BOOTREQUESTs, and ARP probes and announcements (./arp-egress.ts says which).
      egress: [{ family: "ipv4", protocol: "udp", srcPort: DHCP_CLIENT_PORT, dstPort: DHCP_SERVER_PORT, firstPayloadByte: BOOTREQUEST }, { family: "arp" }],
      maxFrameBytes: MAX_DHCP_CLIENT_FRAME_BYTES,
    },
  },
  schema: { entries: dhcp4Schema.entries, maxTotalBytes: dhcp4Schema.maxTotalBytes },
  calf: {
    entry: "../../calf/src/entry.ts",
    // QuickJS: a static executable of ~4 MiB resident instead of Node's ~45 (decision 0010); Node
    // when the executable is not built (the CLI warns) or --calf-engine node asks for it. The
    // limits below are Node's, which a QuickJS calf stays far under.
    engine: "quickjs",
    // Node's heap for this calf stays under 20 MiB; 96 MiB leaves room for V8's reservations.
    memoryMiB: 96,
    // Node runs about a dozen threads (main, 4 libuv workers, V8 platform workers).
    pids: 32,
    // A DHCP exchange is a handful of messages with seconds of backoff between retransmissions.
    sendRate: { perSecond: 10, burst: 20 },
  },
  options: {
    hostname: { kind: "string", live: true, validate: hostnameValidate, description: "host name to send to the server (option 12)" },
    "set-hostname": { kind: "boolean", description: "apply the host name the server assigns (restored when the lease ends)" },
    "hostname-path": { kind: "string", description: "where the host name is written (tests point it at a file)", default: "/proc/sys/kernel/hostname" },
    "release-on-exit": { kind: "boolean", live: true, description: "send RELEASE and withdraw the configuration when stopped" },
    "arp-probe": { kind: "boolean", description: "RFC 5227: probe an offered address with ARP before using it (DECLINE on conflict), announce it, defend it; --no-arp-probe turns all ARP off, like dhcpcd's noarp", default: true },
    "resolv-conf": { kind: "string", description: "the resolv.conf to manage; empty: leave resolv.conf alone", default: "/etc/resolv.conf" },
    "hooks-dir": { kind: "string", validate: hooksDirProblem, description: "the directory of hooks run on lease events (docs/hooks.md); missing: no hooks; empty: none", default: DEFAULT_HOOKS_DIR },
    "hook-timeout-seconds": { kind: "number", validate: hookTimeoutProblem, description: "how long one hook may run before its process group is killed (1–3600)", default: 10 },
    "route-metric": { kind: "number", validate: routeMetricProblem, description: `metric of the lease's routes, and the priority of its resolv.conf servers (lowest first); default ${ROUTE_METRIC_BASE} + the interface's index, distinct per link` },
    "log-level": { kind: "string", live: true, validate: (v: string | boolean | number) => (["debug", "info", "warn", "error"].includes(String(v)) ? undefined : "must be debug, info, warn or error"), description: "the calf's log level: debug, info, warn or error", default: "info" },
    "min-lease-seconds": { kind: "number", live: true, validate: (v: string | boolean | number) => (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 60 ? undefined : "must be a whole number 1–60"), description: "leases shorter than this are stretched to it (1–60; lower than 60 only in tests, so an expiry test does not wait a minute)", default: 60 },
    ...clientOptions,
  },
  // resolv.conf is replaced by rename, so its directory must be writable; the host name file is written in place.
  privWritePaths: (o) => [...(o["resolv-conf"] ? [path.dirname(o["resolv-conf"])] : []), ...(o["set-hostname"] ? [o["hostname-path"] ?? "/proc/sys/kernel/hostname"] : [])],
  // READY=1 once the first lease is applied; STATUS= and `paddock status` (./status.ts).
  readiness: dhcp4Readiness,
  status: dhcp4Status,
  setup(ctx) {
    const o = ctx.options;
    const mac = new Uint8Array(ctx.iface.mac!.split(":").map((h) => parseInt(h, 16)));
    const clientId = fixedClientId(o, mac);
    // The address the priv itself saw ACKed to this client, not the calf's /ip (issue 13 B5): a
    // compromised calf cannot pick its source address, and `paddock kv del /ip` does not stop renewals.
    // An observation not yet durable counts at once (the priv saw it; see observeFrame).
    let observed: { readonly value: string | null } | undefined;
    const leased = () => (observed !== undefined ? (observed.value ?? undefined) : readKey(ctx.store.parsed, dhcp4Keys.leaseAcked));
    const observeFrame = (frame: Uint8Array) => {
      const seen = observeDhcpReply(frame, mac);
      if (seen === null) return;
      const next = seen.kind === "ack" ? seen.yiaddr : null;
      // The apply path's first step (bench/apply.ts): the priv read the reply and relays it now.
      const read = { reply: seen.kind, at: wallClockMs(), monoUs: monotonicUs() };
      const changed = (observed !== undefined ? observed.value : (ctx.store.get("/lease/acked") ?? null)) !== next;
      const mine = { value: next };
      // The egress check knows at once; the rest waits until the reply is relayed (this runs just before).
      if (changed) observed = mine;
      queueMicrotask(() => {
        ctx.log.debug(read, "DHCP reply observed");
        // The lease handler's look-ups, while the calf decodes the ACK and commits the lease.
        if (seen.kind === "ack") lease.lookAhead();
        if (!changed) return;
        // Durable in the same write as the calf's commit that follows the reply (its lease, or its
        // state after a NAK or a DECLINE), not in one of its own ahead of it (decision 0012): after
        // a crash the store holds both or neither.
        ctx.commit({ "/lease/acked": next }, { withNextPersist: true })
          .catch((err: Error) => ctx.log.warn({ err: err.message }, "could not record the ACKed address"))
          .finally(() => {
            if (observed === mine) observed = undefined;
          });
      });
    };
    const metrics: MetricSource[] = [
      { name: "paddock_lease_expiry_seconds", help: "Unix time the current DHCPv4 lease expires (0: infinite); absent without a lease", type: "gauge", labelNames: [], read: () => {
        const v = readKey(ctx.store.parsed, dhcp4Keys.leaseExpires);
        return v === undefined ? [] : [{ labels: {}, value: v }];
      } },
      { name: "paddock_lease_bound", help: "1 when a DHCPv4 lease is published", type: "gauge", labelNames: [], read: () => [{ labels: {}, value: readKey(ctx.store.parsed, dhcp4Keys.ip) !== undefined ? 1 : 0 }] },
    ];
    const lease = new LeaseHandler({
      link: ctx.iface.name,
      stateDir: ctx.stateDir,
      resolvConfPath: o["resolv-conf"] ? o["resolv-conf"] : null,
      ...(ctx.runtimeDir !== undefined ? { runtimeDir: ctx.runtimeDir } : {}),
      ...(o["route-metric"] !== undefined ? { routeMetric: o["route-metric"] } : {}),
      // The ownership record lives in the store: written in the same durable write as the lease (decision 0012).
      ...(ctx.records !== undefined ? { records: ctx.records } : {}),
      log: ctx.log,
    });
    // Another interface's (or another MAC's) lease goes in the same commit as the new /mac (issue 13 A8).
    const other = forgetOtherLinksLease(dhcp4Schema, ctx.store, ctx.iface);
    if (other.was !== null) ctx.log.warn({ was: other.was, forgotten: Object.keys(other.keys).length }, `the state directory held the lease of ${other.was}, not of ${ctx.iface.name} (${ctx.iface.mac}): forgotten, never applied here`);
    return {
      privKeys: {
        ...other.keys,
        "/mac": ctx.iface.mac!,
        "/config/client-id": clientIdKey(clientId),
        "/iface": ctx.iface.name,
        "/config/arp-probe": o["arp-probe"] ? "true" : "false",
        ...liveConfigKeys(o),
      },
      reload: (next) => liveConfigKeys(next as typeof o),
      handlers: [
        lease,
        new HostnameHandler({ enabled: o["set-hostname"], stateDir: ctx.stateDir, ...(o["hostname-path"] ? { hostnamePath: o["hostname-path"] } : {}), log: ctx.log }),
      ],
      hooks: dhcp4Hooks(o["hooks-dir"], o["hook-timeout-seconds"]),
      checkFrame: dhcpClientEgress({ mac, leasedAddress: leased, clientId }),
      observeFrame,
      metrics,
      // A deleted link's DNS servers leave the composed resolv.conf at once (its runner stops until it is back).
      onLinkChange: (link) => {
        if (!link.up) lease.linkGone().catch((err: Error) => ctx.log.warn({ err: err.message }, "could not withdraw the resolv.conf servers of a link that is gone"));
      },
    };
  },
});

export default dhcp4Service;
export { dhcp4Schema } from "./schema.ts";
export * from "./egress.ts";
export * from "./client-options.ts";
export * from "./handlers/lease.ts";
export * from "./handlers/lease-handler.ts";
export * from "./handlers/hostname-handler.ts";
export * from "./handlers/records.ts";
export * from "./observe.ts";
export * from "./hooks.ts";
export * from "./status.ts";
