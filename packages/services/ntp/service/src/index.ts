/**
 * The NTP client service, declared with the public SDK (`defineService`): a UDP channel to the
 * servers' port 123 with kernel receive timestamps, its schema (./schema.ts), its calf
 * (../../calf: the @paddock/ntp core, no privilege), and the clock handler (./clock-handler.ts),
 * the only code that may change the clock, in the priv.
 */
import { readKey, readKeys, type SchemaKey } from "@paddock/kv";
import { CLOCK_REALTIME, clockAdjtime } from "@paddock/native";
import { defineService, ServiceOptionError, type HandlerLogger, type MetricSource } from "@paddock/runtime";
import { ClockHandler, observeClock, systemClock } from "./clock-handler.ts";
import { DEFAULT_CLOCK_POLICY } from "./clock-policy.ts";
import { parseServerList, ntpOptions } from "./options.ts";
import { MAX_FREQUENCY_PPM, MAX_SERVERS, ntpKeys, ntpSchema, SOURCE_STATES } from "./schema.ts";
import { ntpReadiness, ntpStatus } from "./status.ts";
import { formatPpm, indexSegment } from "./wire.ts";

/** RFC 5905 §7.2: servers answer on port 123. */
export const NTP_SERVER_PORT = 123;
/** An NTP client request: 48 bytes (the core sends nothing more: no extension fields, no MAC). */
export const NTP_REQUEST_BYTES = 48;

export const ntpService = defineService({
  name: "ntp",
  description: ntpSchema.description,
  channels: {
    // An ephemeral local port (like chrony's default): no conflict with a local NTP server on 123,
    // and replies are matched by the core's nonce, not the port. Requests go only to port 123 of
    // the servers udpPeers names (checked by the priv and by the service's tc egress program).
    // Kernel transmit timestamps (Linux ≥ 6.13) make T1 the time a request left, not the time the
    // calf made it: the relay through the priv would otherwise bias every offset by half its delay.
    udp: { kind: "udp", localPort: 0, remotePort: NTP_SERVER_PORT, maxDatagramBytes: NTP_REQUEST_BYTES, txTimestamps: true },
  },
  schema: { entries: ntpSchema.entries, maxTotalBytes: ntpSchema.maxTotalBytes },
  // The DHCP lease's NTP servers (option 42), when dhcp4 runs in the same priv.
  inputs: [{ service: "dhcp4", keys: ["/ntp/*"], optional: true }],
  calf: {
    entry: "../../calf/src/entry.ts",
    // QuickJS: a static executable of ~4 MiB resident instead of Node's ~45 (decision 0010); Node
    // when the executable is not built (the CLI warns) or --calf-engine node asks for it. The
    // limits below are Node's, which a QuickJS calf stays far under.
    engine: "quickjs",
    // Node's heap stays small; 96 MiB leaves room for V8's reservations (as the DHCP calf).
    memoryMiB: 96,
    // Node runs about a dozen threads.
    pids: 32,
    // A start burst is one request per source every 2 s (at most 24 sources): 16 per second with a
    // burst of 32 lets a restart's burst through and nothing like a flood.
    sendRate: { perSecond: 16, burst: 32 },
  },
  options: ntpOptions,
  // clock_adjtime on CLOCK_REALTIME; observing needs nothing beyond what every priv has.
  privCapabilities: (o) => (o.clock === "system" ? ["CAP_SYS_TIME"] : []),
  readiness: ntpReadiness,
  status: ntpStatus,
  setup(ctx) {
    const o = ctx.options;
    const parsed = parseServerList(o.server ?? "");
    if (!parsed.ok) throw new ServiceOptionError(`ntp: --set server: ${parsed.reason}`);
    const servers = parsed.servers;
    if (servers.length === 0) ctx.log.warn({}, "ntp has no configured server: it waits for a DHCP lease's NTP servers (dhcp4 in the same priv)");
    const target = o.clock === "system" ? systemClock() : observeClock;
    // The frequency correction in force: the kernel's (a read, modes 0) when we discipline it, so
    // the core starts from the drift already known instead of resetting it; 0 when observing.
    const initialFrequencyPpm = o.clock === "system" ? kernelFrequency(ctx.log) : 0;
    const clock = new ClockHandler({
      target,
      policy: {
        stepThresholdSeconds: o["step-threshold-seconds"] ?? DEFAULT_CLOCK_POLICY.stepThresholdSeconds,
        panicSeconds: o["panic-seconds"] ?? DEFAULT_CLOCK_POLICY.panicSeconds,
        stepCapSeconds: o["step-cap-seconds"] ?? DEFAULT_CLOCK_POLICY.stepCapSeconds,
      },
      log: ctx.log,
      commit: (changes) => ctx.commit(changes),
      staleId: readKey(ctx.store.parsed, ntpKeys.adjustmentId),
      initialFrequencyPpm,
    });
    const privKeys: Record<string, string | null> = { "/config/clock": o.clock ?? "observe", "/config/initial-frequency": formatPpm(initialFrequencyPpm) };
    for (let i = 0; i < MAX_SERVERS; i++) privKeys[`/config/server/${indexSegment(i)}`] = servers[i] ?? null;
    // The previous run's source status goes: the calf publishes its own within a second or two,
    // and a source no longer configured must not linger under an index the new run does not use.
    for (const p of ctx.store.parsed.keys()) if (p.startsWith("/source/")) privKeys[p] = null;
    const stored = () => ctx.store.parsed;
    const sourceGauge = (name: string, help: string, value: (s: SourceMetrics) => number | undefined): MetricSource => ({
      name, help, type: "gauge", labelNames: ["source"],
      read: () => sourcesOf(stored()).flatMap((s) => { const v = value(s); return v === undefined ? [] : [{ labels: { source: s.address }, value: v }]; }),
    });
    const keyGauge = (name: string, help: string, key: SchemaKey<number>): MetricSource => ({
      name, help, type: "gauge", labelNames: [],
      read: () => { const v = readKey(stored(), key); return v === undefined ? [] : [{ labels: {}, value: v }]; },
    });
    const metrics: MetricSource[] = [
      {
        name: "paddock_ntp_source_offset_seconds",
        help: "Each source's offset (its clock minus ours), from the calf's last status",
        type: "gauge",
        labelNames: ["source", "state"],
        read: () => sourcesOf(ctx.store.parsed).flatMap((s) => (s.offset === undefined ? [] : [{ labels: { source: s.address, state: s.state }, value: s.offset }])),
      },
      {
        name: "paddock_ntp_source_reach",
        help: "Each source's reachability register (0–255; 255: the last 8 polls answered)",
        type: "gauge",
        labelNames: ["source"],
        read: () => sourcesOf(ctx.store.parsed).map((s) => ({ labels: { source: s.address }, value: s.reach ?? 0 })),
      },
      {
        name: "paddock_ntp_source_state",
        help: "Each source's state: 1 on the series of its current state (selected, candidate, falseticker, unreachable, unfit, kod), 0 on the others",
        type: "gauge",
        labelNames: ["source", "state"],
        read: () => sourcesOf(ctx.store.parsed).flatMap((s) => SOURCE_STATES.map((state) => ({ labels: { source: s.address, state }, value: s.state === state ? 1 : 0 }))),
      },
      sourceGauge("paddock_ntp_source_delay_seconds", "Each source's round-trip delay, from its best sample", (s) => s.delay),
      sourceGauge("paddock_ntp_source_jitter_seconds", "Each source's jitter (RMS of its samples' offsets against the best one)", (s) => s.jitter),
      sourceGauge("paddock_ntp_source_poll_seconds", "Each source's poll interval (a KoD RATE or the server's own poll raises it)", (s) => s.poll),
      keyGauge("paddock_ntp_adjustment_offset_seconds", "The offset of the calf's last adjustment (reference minus local time)", ntpKeys.adjustmentOffset),
      keyGauge("paddock_ntp_adjustment_frequency_ppm", "The frequency correction of the calf's last adjustment (ppm)", ntpKeys.adjustmentFrequency),
      keyGauge("paddock_ntp_adjustment_max_error_seconds", "The last adjustment's maximum error (the system peer's root distance)", ntpKeys.adjustmentMaxError),
      keyGauge("paddock_ntp_clock_applied_offset_seconds", "The offset the clock handler removed for the last adjustment (0 when observing or refused)", ntpKeys.appliedOffset),
      {
        name: "paddock_ntp_clock_applied",
        help: "What the clock handler did with the last adjustment: 1 on the series of its result (stepped, slewed, observed, refused) and code",
        type: "gauge",
        labelNames: ["result", "code"],
        read: () => {
          const result = readKey(ctx.store.parsed, ntpKeys.appliedResult);
          return result === undefined ? [] : [{ labels: { result, code: readKey(ctx.store.parsed, ntpKeys.appliedCode) ?? "none" }, value: 1 }];
        },
      },
    ];
    return {
      privKeys,
      handlers: [clock],
      udpPeers: () => [...servers, ...readKeys(ctx.store.parsed, ntpKeys.dhcpServers)],
      metrics,
    };
  },
});

/** CLOCK_REALTIME's frequency correction now (clock_adjtime with modes 0: a read), within ±500 ppm; 0 when it cannot be read. */
function kernelFrequency(log: HandlerLogger): number {
  try {
    const f = clockAdjtime(CLOCK_REALTIME, {}).frequencyPpm;
    return Math.max(-MAX_FREQUENCY_PPM, Math.min(MAX_FREQUENCY_PPM, f));
  } catch (err) {
    log.warn({ err: (err as Error).message }, "cannot read the kernel's frequency correction; the NTP client starts from 0 ppm");
    return 0;
  }
}

/** One source of the calf's last status, as the metrics and `paddock status` read it. */
export interface SourceMetrics {
  index: string;
  address: string;
  state: (typeof SOURCE_STATES)[number];
  reach?: number;
  poll?: number;
  offset?: number;
  delay?: number;
  jitter?: number;
}

/** The sources of the calf's last status, by index. */
export function sourcesOf(parsed: ReadonlyMap<string, unknown>): SourceMetrics[] {
  const out: SourceMetrics[] = [];
  for (const [path, value] of parsed) {
    const m = /^\/source\/([0-9]{3})\/address$/.exec(path);
    if (!m) continue;
    const at = (k: string) => parsed.get(`/source/${m[1]}/${k}`);
    const source: SourceMetrics = { index: m[1]!, address: value as string, state: (at("state") as SourceMetrics["state"] | undefined) ?? "unreachable" };
    for (const k of ["reach", "poll", "offset", "delay", "jitter"] as const) {
      const v = at(k);
      if (typeof v === "number") source[k] = v;
    }
    out.push(source);
  }
  return out.sort((a, b) => a.index.localeCompare(b.index));
}

export default ntpService;
export * from "./schema.ts";
export * from "./options.ts";
export * from "./clock-policy.ts";
export * from "./clock-handler.ts";
export * from "./status.ts";
export * from "./wire.ts";
