/**
 * heartbeat: an example Paddock service that is not DHCP, written only against the public API
 * (`defineService` from @paddock/runtime; `defineSchema`, parsers and typed keys from @paddock/kv). Its calf (./calf.ts)
 * pings one server over UDP with the tiny protocol of README.md and publishes the round trip it
 * measures from the kernel's receive timestamps; its handler writes what the calf published to a
 * status file in the service's state directory.
 *
 *   paddock run ./examples/heartbeat/service.ts --iface eth0 --set peer=192.0.2.1
 */
import path from "node:path";
import { defineSchema, intRange, ipv4Unicast, oneOf, readKey, type Ipv4Unicast, type Parsed } from "@paddock/kv";
import {
  defineService,
  readTextOrNull,
  replaceFileAtomic,
  ServiceOptionError,
  type ApplyReport,
  type Handler,
  type MetricSource,
  type StoreView,
} from "@paddock/runtime";
import { HEARTBEAT_PORT, MAX_RTT_US, PING_BYTES, type PeerState } from "./core.ts";

const quote = (v: string) => JSON.stringify(v.slice(0, 32));

/** A signed decimal integer within ±limit, canonical (no "+", no leading zeros, no "-0"), parsed to a number. */
function signedInt(limit: number): (v: string) => Parsed<number> {
  return (v) => {
    if (!/^(0|-?[1-9][0-9]{0,15})$/.test(v)) return { ok: false, reason: `${quote(v)} is not a decimal integer` };
    const n = Number(v);
    return Math.abs(n) <= limit ? { ok: true, value: n } : { ok: false, reason: `${v} is outside ±${limit}` };
  };
}

/** Nanoseconds since the epoch: up to 20 digits (2^64 − 1), canonical, parsed to a bigint. */
function epochNs(v: string): Parsed<bigint> {
  return /^(0|[1-9][0-9]{0,19})$/.test(v) && BigInt(v) < 2n ** 64n ? { ok: true, value: BigInt(v) } : { ok: false, reason: `${quote(v)} is not nanoseconds since the epoch` };
}

/** The longest interval between pings: an hour (a heartbeat rarer than that tells nothing). */
export const MAX_INTERVAL_MS = 3_600_000;
/** The shortest: 100 ms, well under the calf's send rate limit below. */
export const MIN_INTERVAL_MS = 100;

/**
 * The KV schema, each key declared once: the priv's configuration for the calf, and the calf's
 * last measurement. `heartbeatSchema.keys.rttUs` is a typed key: the handler reads a number.
 */
export const heartbeatSchema = defineSchema({
  name: "heartbeat",
  description: "heartbeat: pings one UDP server and reports the round trip from kernel timestamps",
  maxTotalBytes: 4096,
  keys: {
    peer: { pattern: "/config/peer", description: "the server to ping (priv writes it from --set peer=)", writer: "priv", calfReads: true, validate: ipv4Unicast, maxBytes: 15 },
    intervalMs: { pattern: "/config/interval-ms", description: "time between pings (ms)", writer: "priv", calfReads: true, validate: intRange(MIN_INTERVAL_MS, MAX_INTERVAL_MS), maxBytes: 7 },
    tryPort: { pattern: "/config/try-port", description: "a test aid: a port the calf sends one datagram to at start, which egress refuses (0: none)", writer: "priv", calfReads: true, validate: intRange(0, 65535), maxBytes: 5 },
    seq: { pattern: "/last/seq", description: "sequence number of the last answered ping", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 32 - 1), maxBytes: 10 },
    rttUs: { pattern: "/last/rtt-us", description: "its round trip (µs), measured to the kernel's receive timestamp", writer: "calf", calfReads: false, validate: intRange(0, MAX_RTT_US), maxBytes: 8 },
    offsetUs: { pattern: "/last/offset-us", description: "the server's clock minus ours (µs)", writer: "calf", calfReads: false, validate: signedInt(2 ** 53 - 1), maxBytes: 17 },
    rxNs: { pattern: "/last/rx-ns", description: "the kernel's receive time of the reply (ns since the epoch)", writer: "calf", calfReads: false, validate: epochNs, maxBytes: 20 },
    state: { pattern: "/peer/state", description: "unknown, reachable or unreachable", writer: "calf", calfReads: false, validate: oneOf("unknown", "reachable", "unreachable"), maxBytes: 11 },
  },
});

const keys = heartbeatSchema.keys;

/** What the handler gets: the calf's values as the schema parsed them (numbers, a bigint, a branded address). */
export interface HeartbeatStatus {
  readonly peer: Ipv4Unicast | undefined;
  readonly state: PeerState;
  readonly last: { readonly seq: number; readonly rttUs: number; readonly offsetUs: number; readonly rxTimeNs: string } | undefined;
}

/** The status from the store's parsed values: nothing is parsed again here. */
export function statusFrom(parsed: ReadonlyMap<string, unknown>): HeartbeatStatus {
  const seq = readKey(parsed, keys.seq);
  const rttUs = readKey(parsed, keys.rttUs);
  const offsetUs = readKey(parsed, keys.offsetUs);
  const rx = readKey(parsed, keys.rxNs);
  return {
    peer: readKey(parsed, keys.peer),
    state: readKey(parsed, keys.state) ?? "unknown",
    last: seq !== undefined && rttUs !== undefined && offsetUs !== undefined && rx !== undefined ? { seq, rttUs, offsetUs, rxTimeNs: rx.toString() } : undefined,
  };
}

/** The handler: keeps STATE_DIR/status.json equal to the published status (harmless and observable). */
export class StatusFileHandler implements Handler<HeartbeatStatus> {
  readonly name = "status";
  constructor(private readonly file: string) {}
  desired(store: StoreView): HeartbeatStatus {
    return statusFrom(store.parsed);
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
  description: heartbeatSchema.description,
  channels: {
    // Any local port; only the heartbeat port of the peers setup names below (checked by the
    // priv, and by the service's own tc egress program).
    udp: { kind: "udp", localPort: 0, remotePort: HEARTBEAT_PORT, maxDatagramBytes: PING_BYTES },
  },
  schema: heartbeatSchema,
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
    // A ServiceOptionError reaches the terminal as one sentence (any other error reads as a bug).
    if (!peer || !ipv4Unicast(peer).ok) throw new ServiceOptionError(`heartbeat needs --set peer=ADDRESS (an IPv4 unicast address), not ${JSON.stringify(peer ?? "")}`);
    const metrics: MetricSource[] = [
      { name: "paddock_heartbeat_rtt_microseconds", help: "Round trip of the last answered heartbeat (µs)", type: "gauge", labelNames: [], read: () => {
        const v = readKey(ctx.store.parsed, keys.rttUs);
        return v === undefined ? [] : [{ labels: {}, value: v }];
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
