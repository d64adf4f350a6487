/**
 * The definition of __NAME__: what the priv opens for the calf, what the calf may write to the
 * store, and what the priv does with it. `paddock run ./service.ts --iface IF --set peer=ADDR`.
 */
import path from "node:path";
// The validators below are this service's own; @paddock/kv's work too with a paddock whose
// build provides @paddock/kv to built services (docs/sdk.md, "Limits").
import type { Validator } from "@paddock/kv";
import { defineService, HostError, readTextOrNull, replaceFileAtomic, type ApplyReport, type Handler } from "@paddock/runtime";
import { MESSAGE_BYTES, PORT } from "./core.ts";

const ok = { ok: true } as const;
const no = (reason: string) => ({ ok: false, reason }) as const;

/** A dotted-quad IPv4 address. */
const ipv4: Validator = (v) => (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(v) ? ok : no(`${JSON.stringify(v.slice(0, 32))} is not an IPv4 address`));
/** A canonical decimal integer in [min, max]. */
const intRange = (min: number, max: number): Validator => (v) => (/^(0|[1-9]\d{0,19})$/.test(v) && Number(v) >= min && Number(v) <= max ? ok : no(`${JSON.stringify(v.slice(0, 32))} is not an integer in ${min}–${max}`));
const oneOf = (...words: string[]): Validator => (v) => (words.includes(v) ? ok : no(`${JSON.stringify(v.slice(0, 32))} is not one of ${words.join(", ")}`));

/** The handler: keeps STATE_DIR/status.json equal to what the calf published. */
class StatusFile implements Handler<{ state: string; replies: number; lastRxNs: string | undefined }> {
  readonly name = "status";
  constructor(private readonly file: string) {}
  // The store's values (canonical texts): a map, or in newer runtimes a view holding them as `values`.
  desired(store: ReadonlyMap<string, string> | { readonly values: ReadonlyMap<string, string> }) {
    const values = store instanceof Map ? store : (store as { readonly values: ReadonlyMap<string, string> }).values;
    return { state: values.get("/status/state") ?? "starting", replies: Number(values.get("/status/replies") ?? 0), lastRxNs: values.get("/status/last-rx-ns") };
  }
  async apply(d: { state: string; replies: number; lastRxNs: string | undefined }): Promise<ApplyReport> {
    const text = `${JSON.stringify(d)}\n`;
    if ((await readTextOrNull(this.file)) === text) return { changes: [] };
    await replaceFileAtomic(this.file, text, 0o644);
    return { changes: [`wrote ${this.file}: ${d.state}, ${d.replies} replies`] };
  }
}

export default defineService({
  name: "__NAME__",
  description: "__NAME__: says hello to a peer over UDP and counts its replies",
  channels: {
    udp: { kind: "udp", localPort: 0, remotePort: PORT, maxDatagramBytes: MESSAGE_BYTES },
  },
  schema: {
    entries: [
      { pattern: "/config/peer", description: "the peer (priv writes it from --set peer=)", writer: "priv", calfReads: true, validate: ipv4, maxBytes: 15 },
      { pattern: "/config/interval-ms", description: "time between hellos (ms)", writer: "priv", calfReads: true, validate: intRange(100, 3_600_000), maxBytes: 7 },
      { pattern: "/status/state", description: "running once the calf started", writer: "calf", calfReads: false, validate: oneOf("running"), maxBytes: 7 },
      { pattern: "/status/replies", description: "replies received", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
      { pattern: "/status/last-rx-ns", description: "the kernel's receive time of the last reply (ns since the epoch)", writer: "calf", calfReads: false, validate: intRange(0, Number.MAX_VALUE), maxBytes: 20 },
    ],
    maxTotalBytes: 4096,
  },
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
    // A HostError reaches the terminal as one sentence.
    if (!peer || !ipv4(peer).ok) throw new HostError("PADDOCK_E_SERVICE_OPTION", `__NAME__ needs --set peer=ADDRESS (IPv4), not ${JSON.stringify(peer ?? "")}`);
    return {
      privKeys: { "/config/peer": peer, "/config/interval-ms": String(ctx.options["interval-ms"]) },
      handlers: [new StatusFile(path.join(ctx.stateDir, "status.json"))],
      udpPeers: () => [peer],
    };
  },
});
