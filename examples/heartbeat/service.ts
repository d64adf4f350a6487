/**
 * heartbeat: an example Paddock service that is not DHCP, written only against the public API
 * (`defineService` from @paddock/runtime, validators from @paddock/kv). Its calf (./calf.ts)
 * pings one server over UDP with the tiny protocol of README.md and publishes the round trip it
 * measures from the kernel's receive timestamps; its handler writes what the calf published to a
 * status file in the service's state directory.
 *
 *   paddock run ./examples/heartbeat/service.ts --iface eth0 --set peer=192.0.2.1
 */
import path from "node:path";
// Types only from @paddock/kv; the few validators below are this service's own (README.md, "Limits").
import type { SchemaEntry, Validator } from "@paddock/kv";
import { defineService, HostError, readTextOrNull, replaceFileAtomic, type ApplyReport, type Handler, type MetricSource } from "@paddock/runtime";
import { HEARTBEAT_PORT, MAX_RTT_US, PING_BYTES, type PeerState } from "./core.ts";

const ok = { ok: true } as const;
const no = (reason: string) => ({ ok: false, reason }) as const;
const quote = (v: string) => JSON.stringify(v.slice(0, 32));

/** A dotted-quad IPv4 address that a host can talk to: not 0.0.0.0/8, loopback, multicast or broadcast. */
export const ipv4Unicast: Validator = (v) => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  const o = m ? m.slice(1).map(Number) : [];
  if (!m || o.some((n, i) => n > 255 || String(n) !== m[i + 1])) return no(`${quote(v)} is not an IPv4 address in dotted-quad form`);
  return o[0] === 0 || o[0] === 127 || o[0]! >= 224 ? no(`${v} is not a unicast address`) : ok;
};

/** A canonical decimal integer in [min, max]. */
function intRange(min: number, max: number): Validator {
  return (v) => (!/^(0|[1-9][0-9]{0,15})$/.test(v) ? no(`${quote(v)} is not a decimal integer`) : Number(v) >= min && Number(v) <= max ? ok : no(`${v} is outside ${min}–${max}`));
}

/** One of a few words. */
function oneOf(...words: string[]): Validator {
  return (v) => (words.includes(v) ? ok : no(`${quote(v)} is not one of ${words.join(", ")}`));
}

/** A signed decimal integer within ±limit, canonical (no "+", no leading zeros, no "-0"). */
function signedInt(limit: number): Validator {
  return (v) => {
    if (!/^(0|-?[1-9][0-9]{0,15})$/.test(v)) return no(`${quote(v)} is not a decimal integer`);
    return Math.abs(Number(v)) <= limit ? ok : no(`${v} is outside ±${limit}`);
  };
}

/** Nanoseconds since the epoch: up to 20 digits (2^64 − 1), canonical. */
const epochNs: Validator = (v) => (/^(0|[1-9][0-9]{0,19})$/.test(v) && BigInt(v) < 2n ** 64n ? ok : no(`${quote(v)} is not nanoseconds since the epoch`));

/** The longest interval between pings: an hour (a heartbeat rarer than that tells nothing). */
export const MAX_INTERVAL_MS = 3_600_000;
/** The shortest: 100 ms, well under the calf's send rate limit below. */
export const MIN_INTERVAL_MS = 100;

/** The KV schema: the priv's configuration for the calf, and the calf's last measurement. */
export const heartbeatSchema: readonly SchemaEntry[] = [
  { pattern: "/config/peer", description: "the server to ping (priv writes it from --set peer=)", writer: "priv", calfReads: true, validate: ipv4Unicast, maxBytes: 15 },
  { pattern: "/config/interval-ms", description: "time between pings (ms)", writer: "priv", calfReads: true, validate: intRange(MIN_INTERVAL_MS, MAX_INTERVAL_MS), maxBytes: 7 },
  { pattern: "/config/try-port", description: "a test aid: a port the calf sends one datagram to at start, which egress refuses (0: none)", writer: "priv", calfReads: true, validate: intRange(0, 65535), maxBytes: 5 },
  { pattern: "/last/seq", description: "sequence number of the last answered ping", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 32 - 1), maxBytes: 10 },
  { pattern: "/last/rtt-us", description: "its round trip (µs), measured to the kernel's receive timestamp", writer: "calf", calfReads: false, validate: intRange(0, MAX_RTT_US), maxBytes: 8 },
  { pattern: "/last/offset-us", description: "the server's clock minus ours (µs)", writer: "calf", calfReads: false, validate: signedInt(2 ** 53 - 1), maxBytes: 17 },
  { pattern: "/last/rx-ns", description: "the kernel's receive time of the reply (ns since the epoch)", writer: "calf", calfReads: false, validate: epochNs, maxBytes: 20 },
  { pattern: "/peer/state", description: "unknown, reachable or unreachable", writer: "calf", calfReads: false, validate: oneOf("unknown", "reachable", "unreachable"), maxBytes: 11 },
];

/** What the handler gets: the calf's values, parsed once into types. */
export interface HeartbeatStatus {
  readonly peer: string | undefined;
  readonly state: PeerState;
  readonly last: { readonly seq: number; readonly rttUs: number; readonly offsetUs: number; readonly rxTimeNs: string } | undefined;
}

/** Reads the status from the store's values (validated by the schema already). */
export function statusFrom(values: ReadonlyMap<string, string>): HeartbeatStatus {
  const seq = values.get("/last/seq");
  const rtt = values.get("/last/rtt-us");
  const offset = values.get("/last/offset-us");
  const rx = values.get("/last/rx-ns");
  return {
    peer: values.get("/config/peer"),
    state: (values.get("/peer/state") as PeerState | undefined) ?? "unknown",
    last: seq !== undefined && rtt !== undefined && offset !== undefined && rx !== undefined ? { seq: Number(seq), rttUs: Number(rtt), offsetUs: Number(offset), rxTimeNs: rx } : undefined,
  };
}

/** The handler: keeps STATE_DIR/status.json equal to the published status (harmless and observable). */
export class StatusFileHandler implements Handler<HeartbeatStatus> {
  readonly name = "status";
  constructor(private readonly file: string) {}
  // The runner hands over the store's values (a map of canonical texts) or, in newer runtimes, a
  // view holding them as `values`: this handler reads only the texts, so it takes either.
  desired(store: ReadonlyMap<string, string> | { readonly values: ReadonlyMap<string, string> }): HeartbeatStatus {
    return statusFrom(store instanceof Map ? store : (store as { readonly values: ReadonlyMap<string, string> }).values);
  }
  describe(d: HeartbeatStatus): string {
    return d.last ? `${d.state}, seq ${d.last.seq}, rtt ${d.last.rttUs} µs` : d.state;
  }
  async apply(d: HeartbeatStatus): Promise<ApplyReport> {
    const text = `${JSON.stringify(d)}\n`;
    if ((await readTextOrNull(this.file)) === text) return { changes: [] };
    await replaceFileAtomic(this.file, text, 0o644);
    return { changes: [`wrote ${this.file}: ${this.describe(d)}`] };
  }
}

export const heartbeatService = defineService({
  name: "heartbeat",
  description: "heartbeat: pings one UDP server and reports the round trip from kernel timestamps",
  channels: {
    // Any local port; only the heartbeat port of the peers setup names below (checked by the
    // priv, and by the service's own tc egress program).
    udp: { kind: "udp", localPort: 0, remotePort: HEARTBEAT_PORT, maxDatagramBytes: PING_BYTES },
  },
  schema: { entries: heartbeatSchema, maxTotalBytes: 4096 },
  calf: {
    entry: "./calf.ts",
    // Node with a tiny heap; 64 MiB leaves room for V8's reservations.
    memoryMiB: 64,
    // Node runs about a dozen threads.
    pids: 32,
    // One ping per interval (≥ 100 ms): 20 per second is room for a restart's burst, not a flood.
    sendRate: { perSecond: 20, burst: 20 },
  },
  options: {
    peer: { kind: "string", description: "the heartbeat server's IPv4 address (required)" },
    "interval-ms": { kind: "number", description: "time between pings (ms)", default: 1000 },
    "try-port": { kind: "number", description: "test aid: also send one datagram to this port at start, to see egress refuse it (0: no)", default: 0 },
  },
  setup(ctx) {
    const peer = ctx.options.peer;
    // A HostError's message reaches the terminal as one sentence (any other error reads as a bug).
    if (!peer || !ipv4Unicast(peer).ok) throw new HostError("PADDOCK_E_SERVICE_OPTION", `heartbeat needs --set peer=ADDRESS (an IPv4 unicast address), not ${JSON.stringify(peer ?? "")}`);
    const metrics: MetricSource[] = [
      { name: "paddock_heartbeat_rtt_microseconds", help: "Round trip of the last answered heartbeat (µs)", type: "gauge", labelNames: [], read: () => {
        const v = ctx.store.get("/last/rtt-us");
        return v === undefined ? [] : [{ labels: {}, value: Number(v) }];
      } },
    ];
    return {
      privKeys: {
        "/config/peer": peer,
        "/config/interval-ms": String(ctx.options["interval-ms"]),
        "/config/try-port": String(ctx.options["try-port"]),
      },
      handlers: [new StatusFileHandler(path.join(ctx.stateDir, "status.json"))],
      udpPeers: () => [peer],
      metrics,
    };
  },
});

export default heartbeatService;
