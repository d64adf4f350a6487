/**
 * The NTP client calf (./profile.ts says what it holds): runs the @paddock/ntp core on the UDP
 * channel, publishes each source's status and every clock adjustment (one commit each), and feeds
 * the clock handler's report (`/clock/applied/…`) back to the core as its `applied` event.
 */
import { KvError, type CalfContext } from "@paddock/calf";
import { createNtpClient, instantFromUnix, sourceStatus, step, type ClockAdjustment, type NtpClientEvent, type NtpClientState, type NtpInstant, type NtpTimestamp, type SourceStatus } from "@paddock/ntp";
import { formatPpm, formatSeconds, indexSegment } from "@paddock/service-ntp/wire";

/** The schema's bounds on configured and DHCP-given servers. */
const MAX_CONFIG_SERVERS = 16;
const MAX_DHCP_SERVERS = 8;
/** Status commits at most once a second: a start burst answers every 2 s per source. */
const STATUS_INTERVAL_MS = 1000;
/** Sends whose transmit time may still come: a poll round's requests, with room to spare. */
const MAX_TAGS_IN_FLIGHT = 64;
/** Beyond this disagreement between the extrapolated and the system's realtime reading, re-anchor (the clock was adjusted). */
const REANCHOR_NS = 1_500_000n;

type Changes = Array<{ path: string; value: string | null }>;

async function readOptional(ctx: CalfContext, path: string): Promise<string | undefined> {
  try {
    return await ctx.kv.read(path);
  } catch (err) {
    if (err instanceof KvError && err.code === "PADDOCK_E_KV_NOT_FOUND") return undefined;
    throw err;
  }
}

/**
 * Reads `/prefix/000` … `/prefix/COUNT` in order, pipelined (a calf cannot list keys): the priv's
 * lists start at 000, the DHCP lease's at 001.
 */
async function readList(ctx: CalfContext, prefix: string, count: number): Promise<string[]> {
  const values = await Promise.all(Array.from({ length: count + 1 }, (_, i) => readOptional(ctx, `${prefix}/${indexSegment(i)}`)));
  return values.filter((v): v is string => v !== undefined);
}

/**
 * The realtime clock with sub-millisecond resolution: the monotonic clock (ns) anchored to the
 * system's reading (ms), re-anchored when the two part by more than REANCHOR_NS (the clock was
 * stepped or slewed). The anchor is taken at the edge of a millisecond (the system reading just
 * changed), so it is exact to the loop's few µs rather than off by up to the 1 ms the reading
 * truncates: that truncation would bias every T1, and so every offset, by up to half a ms.
 * T4 does not depend on it: it is the kernel's receive timestamp.
 */
export function realtimeReader(nowMs: () => number, monoNs: () => bigint): () => bigint {
  const anchorAtEdge = () => {
    const start = nowMs();
    let ms = start;
    // At most about a millisecond; bounded in case the clock does not move (a test's fake clock).
    for (let i = 0; i < 1_000_000 && ms === start; i++) ms = nowMs();
    return BigInt(ms) * 1_000_000n - monoNs();
  };
  let anchor = anchorAtEdge();
  return () => {
    const mono = monoNs();
    const system = BigInt(nowMs()) * 1_000_000n;
    const extrapolated = anchor + mono;
    // The system reading is the extrapolated one truncated to the millisecond: 0 ≤ diff < 1 ms.
    const diff = extrapolated - system;
    if (diff < -REANCHOR_NS || diff > REANCHOR_NS + 1_000_000n) {
      anchor = anchorAtEdge();
      return anchor + monoNs();
    }
    return extrapolated;
  };
}

const instantOfNs = (ns: bigint): NtpInstant => instantFromUnix(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n));

/** One source's status as its keys (index `i`). */
export function sourceChanges(i: number, s: SourceStatus): Changes {
  const at = `/source/${indexSegment(i)}`;
  const opt = (v: number | undefined, fmt: (x: number) => string) => (v === undefined ? null : fmt(v));
  return [
    { path: `${at}/address`, value: s.address },
    { path: `${at}/state`, value: s.state },
    { path: `${at}/reach`, value: String(s.reach) },
    { path: `${at}/stratum`, value: String(s.stratum) },
    { path: `${at}/poll`, value: String(s.pollSeconds) },
    { path: `${at}/offset`, value: opt(s.offsetSeconds, formatSeconds) },
    // The schema's error values are within 0–16 s: a larger delay or jitter says "unusable" alike.
    { path: `${at}/delay`, value: opt(s.delaySeconds, (x) => formatSeconds(Math.min(16, Math.max(0, x)))) },
    { path: `${at}/jitter`, value: opt(s.jitterSeconds, (x) => formatSeconds(Math.min(16, Math.max(0, x)))) },
  ];
}

/** An adjustment as its keys. */
export function adjustmentChanges(id: string, a: ClockAdjustment): Changes {
  const err = (x: number) => formatSeconds(Math.min(16, Math.max(0, x)));
  return [
    { path: "/adjustment/id", value: id },
    { path: "/adjustment/offset", value: formatSeconds(a.offsetSeconds) },
    { path: "/adjustment/frequency", value: formatPpm(Math.max(-500, Math.min(500, a.frequencyPpm))) },
    { path: "/adjustment/step", value: a.step ? "true" : "false" },
    { path: "/adjustment/max-error", value: err(a.maxErrorSeconds) },
    { path: "/adjustment/est-error", value: err(a.estErrorSeconds) },
    { path: "/adjustment/leap", value: a.leap },
  ];
}

const APPLIED_KEYS = ["/clock/applied/id", "/clock/applied/result", "/clock/applied/offset", "/clock/applied/frequency", "/clock/applied/code"] as const;

/** The calf's main: exported for tests that run it over in-memory channels. */
export async function ntpCalfMain(ctx: CalfContext): Promise<void> {
  const runId = Array.from(ctx.random(8), (b) => b.toString(16).padStart(2, "0")).join("");
  let counter = 0;
  let lastAdjustmentId: string | undefined;
  let state: NtpClientState | undefined;
  let dhcpServers: string[] = [];
  let configured: string[] = [];
  const realNs = realtimeReader(() => ctx.now(), () => ctx.monotonicNs());
  const monoSeconds = () => Number(ctx.monotonicNs()) / 1e9;
  const env = () => ({
    now: { mono: monoSeconds(), real: instantOfNs(realNs()) },
    random32: () => {
      const b = ctx.random(4);
      return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    },
  });

  // Commits in order, one at a time.
  let publishing: Promise<void> = Promise.resolve();
  const publish = (changes: Changes) => {
    publishing = publishing.then(() => ctx.kv.commit(changes)).catch((err: Error) => ctx.log.warn({ err: err.message }, "could not publish"));
  };
  let published = new Map<string, string | null>();
  let sourceCount = 0;
  /** The status keys that changed since the last commit (and the keys of sources that are gone). */
  const statusDelta = (): Changes => {
    if (!state) return [];
    const list = sourceStatus(state);
    const next = new Map<string, string | null>();
    list.forEach((s, i) => sourceChanges(i, s).forEach((c) => next.set(c.path, c.value)));
    for (let i = list.length; i < sourceCount; i++) for (const c of sourceChanges(i, { address: "", port: 0, state: "unreachable", combined: false, reach: 0, stratum: 0, pollSeconds: 1 })) next.set(c.path, null);
    sourceCount = list.length;
    const delta: Changes = [];
    for (const [path, value] of next) if ((published.get(path) ?? null) !== value) delta.push({ path, value });
    published = new Map([...next].filter(([, v]) => v !== null));
    return delta;
  };
  let statusTimer = false;
  const scheduleStatus = () => {
    if (statusTimer) return;
    statusTimer = true;
    ctx.timers.set("status", ctx.now() + STATUS_INTERVAL_MS, () => {
      statusTimer = false;
      const delta = statusDelta();
      if (delta.length > 0) publish(delta);
    });
  };

  let tag = 0;
  const inFlight = new Map<number, { to: { address: string; port: number }; nonce: NtpTimestamp }>();
  const run = (event: NtpClientEvent) => {
    if (!state) return;
    const r = step(state, event, env());
    state = r.state;
    for (const a of r.actions) {
      if (a.kind === "send") {
        // Tagged: the kernel's transmit time of this datagram (when the channel has them) becomes its T1.
        tag = tag >= 0xffffffff ? 1 : tag + 1;
        inFlight.set(tag, { to: a.to, nonce: a.nonce });
        if (inFlight.size > MAX_TAGS_IN_FLIGHT) inFlight.delete(inFlight.keys().next().value!);
        ctx.data.sendDatagram(a.bytes, a.to, { tag });
      } else if (a.kind === "setTimer") {
        ctx.timers.set("poll", ctx.now() + Math.max(0, (a.at - monoSeconds()) * 1000), () => run({ kind: "timer" }));
      } else if (a.kind === "adjust") {
        lastAdjustmentId = `${runId}-${++counter}`;
        // One commit: the adjustment and the source status it came from.
        publish([...statusDelta(), ...adjustmentChanges(lastAdjustmentId, a.adjustment)]);
      } else {
        ctx.log[a.level]({}, a.message);
      }
    }
    scheduleStatus();
  };

  // The handler's report: the five keys of one commit share a seq; act once all five have it.
  const applied = new Map<string, { seq: bigint; value: string | null }>();
  let fedId: string | undefined;
  const onApplied = () => {
    const id = applied.get("/clock/applied/id");
    if (!id || id.value === null || id.value !== lastAdjustmentId || id.value === fedId) return;
    if (!APPLIED_KEYS.every((k) => applied.get(k)?.seq === id.seq)) return;
    fedId = id.value;
    const offsetSeconds = Number(applied.get("/clock/applied/offset")!.value);
    const frequencyPpm = Number(applied.get("/clock/applied/frequency")!.value);
    run({ kind: "applied", offsetSeconds, frequencyPpm });
  };
  // The core takes at most 16 sources (MAX_SOURCES): configured ones first.
  const sourcesNow = () => [...configured, ...dhcpServers.filter((s) => !configured.includes(s))].slice(0, MAX_CONFIG_SERVERS).map((address) => ({ address }));

  let rereading = false;
  // Watches first, so nothing committed while the reads are answered is missed.
  await Promise.all([
    ctx.kv.watch("/clock/applied", (e) => {
      applied.set(e.path, { seq: e.seq, value: e.value });
      queueMicrotask(onApplied);
    }),
    ctx.kv.watch("/input/dhcp4/ntp", () => {
      // One event per key of a commit: re-read the whole list once, after them all.
      if (rereading) return;
      rereading = true;
      queueMicrotask(() => {
        rereading = false;
        void readList(ctx, "/input/dhcp4/ntp", MAX_DHCP_SERVERS).then((list) => {
          if (list.join() === dhcpServers.join()) return;
          dhcpServers = list;
          ctx.log.info({ servers: list }, "the DHCP lease's NTP servers changed");
          run({ kind: "setSources", sources: sourcesNow() });
        });
      });
    }),
  ]);
  let initialFrequency: string | undefined;
  [configured, dhcpServers, initialFrequency] = await Promise.all([readList(ctx, "/config/server", MAX_CONFIG_SERVERS), readList(ctx, "/input/dhcp4/ntp", MAX_DHCP_SERVERS), readOptional(ctx, "/config/initial-frequency")]);
  // The frequency correction in force (the store parsed it: ±500 ppm): the core measures from it.
  const created = createNtpClient({ sources: sourcesNow(), initialFrequencyPpm: initialFrequency === undefined ? 0 : Number(initialFrequency) });
  if (!created.ok) throw new Error(`bad NTP client configuration: ${created.error.detail}`);
  state = created.state;
  ctx.data.onDatagram((bytes, from, rxTimeNs) => run({ kind: "received", from, bytes, receivedAt: instantOfNs(rxTimeNs) }));
  ctx.data.onTxTime((t, txTimeNs) => {
    const sent = inFlight.get(t);
    if (!sent) return;
    inFlight.delete(t);
    run({ kind: "transmitted", to: sent.to, nonce: sent.nonce, at: instantOfNs(txTimeNs) });
  });
  ctx.log.info({ servers: sourcesNow().map((s) => s.address) }, "NTP client started");
  run({ kind: "start" });
  ctx.onStop(() => publishing);
}
