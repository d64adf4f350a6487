/**
 * The definition of __NAME__: what the priv opens for the calf, what the calf may write to the
 * store, and what the priv does with it. `paddock run ./service.ts --iface IF --set peer=ADDR`.
 */
import path from "node:path";
import { defineSchema, intRange, ipv4Unicast, oneOf, readKey, type Parsed } from "@paddock/kv";
import { defineService, readTextOrNull, replaceFileAtomic, ServiceOptionError, type ApplyReport, type Handler, type StoreView } from "@paddock/runtime";
import { MESSAGE_BYTES, PORT } from "./core.ts";

/** Nanoseconds since the epoch (up to 20 digits, canonical), parsed to a bigint: your own parser. */
function epochNs(v: string): Parsed<bigint> {
  return /^(0|[1-9][0-9]{0,19})$/.test(v) && BigInt(v) < 2n ** 64n ? { ok: true, value: BigInt(v) } : { ok: false, reason: `${JSON.stringify(v.slice(0, 32))} is not nanoseconds since the epoch` };
}

/**
 * The KV schema, each key declared once with its writer, parser and size limit. The store parses
 * every value once, when it is written; `schema.keys.replies` is a typed key (a number).
 */
export const schema = defineSchema({
  name: "__NAME__",
  description: "__NAME__: says hello to a peer over UDP and counts its replies",
  maxTotalBytes: 4096,
  keys: {
    peer: { pattern: "/config/peer", description: "the peer (priv writes it from --set peer=)", writer: "priv", calfReads: true, validate: ipv4Unicast, maxBytes: 15 },
    intervalMs: { pattern: "/config/interval-ms", description: "time between hellos (ms)", writer: "priv", calfReads: true, validate: intRange(100, 3_600_000), maxBytes: 7 },
    state: { pattern: "/status/state", description: "running once the calf started", writer: "calf", calfReads: false, validate: oneOf("running"), maxBytes: 7 },
    replies: { pattern: "/status/replies", description: "replies received", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    lastRxNs: { pattern: "/status/last-rx-ns", description: "the kernel's receive time of the last reply (ns since the epoch)", writer: "calf", calfReads: false, validate: epochNs, maxBytes: 20 },
  },
});

interface Status {
  state: string;
  replies: number;
  lastRxNs: string | undefined;
}

/** The handler: keeps STATE_DIR/status.json equal to what the calf published, from the parsed values. */
class StatusFile implements Handler<Status> {
  readonly name = "status";
  constructor(private readonly file: string) {}
  desired(store: StoreView): Status {
    const p = store.parsed;
    return { state: readKey(p, schema.keys.state) ?? "starting", replies: readKey(p, schema.keys.replies) ?? 0, lastRxNs: readKey(p, schema.keys.lastRxNs)?.toString() };
  }
  async apply(d: Status): Promise<ApplyReport> {
    const text = `${JSON.stringify(d)}\n`;
    if ((await readTextOrNull(this.file)) === text) return { changes: [] };
    await replaceFileAtomic(this.file, text, 0o644);
    return { changes: [`wrote ${this.file}: ${d.state}, ${d.replies} replies`] };
  }
}

export default defineService({
  name: "__NAME__",
  description: schema.description,
  channels: {
    udp: { kind: "udp", localPort: 0, remotePort: PORT, maxDatagramBytes: MESSAGE_BYTES },
  },
  schema,
  calf: {
    entry: "./calf.ts",
    // Node with a small heap; 64 MiB leaves room for V8's reservations.
    memoryMiB: 64,
    // Node runs about a dozen threads.
    pids: 32,
    // One hello per interval (≥ 100 ms).
    sendRate: { perSecond: 20, burst: 20 },
  },
  options: {
    peer: { kind: "string", description: "the peer's IPv4 address (required)" },
    "interval-ms": { kind: "number", description: "time between hellos (ms)", default: 1000 },
  },
  setup(ctx) {
    const peer = ctx.options.peer;
    // A ServiceOptionError reaches the terminal as one sentence.
    if (!peer || !ipv4Unicast(peer).ok) throw new ServiceOptionError(`__NAME__ needs --set peer=ADDRESS (IPv4), not ${JSON.stringify(peer ?? "")}`);
    return {
      privKeys: { "/config/peer": peer, "/config/interval-ms": String(ctx.options["interval-ms"]) },
      handlers: [new StatusFile(path.join(ctx.stateDir, "status.json"))],
      udpPeers: () => [peer],
    };
  },
});
