/**
 * The heartbeat protocol (README.md, "The protocol") and its client, free of I/O: a total codec
 * and a pure `step(state, event) → { state, actions }`. No sockets, no clock (every event carries
 * the time it happened), no randomness. The calf (./calf.ts) turns datagrams and timer expiries
 * into events and actions into SDK calls; tests drive it with made-up times.
 *
 * Imports nothing of Paddock's: a core is portable to any sandbox.
 */

/** "HB": the first two bytes of every message. */
export const MAGIC_0 = 0x48;
export const MAGIC_1 = 0x42;
/** The only protocol version. */
export const VERSION = 1;
/** Message types. */
export const TYPE_PING = 1;
export const TYPE_PONG = 2;
/** A PING: magic(2) version(1) type(1) seq(4) token(8). */
export const PING_BYTES = 16;
/** A PONG: a PING's 16 bytes echoed, then the server's clock (8). */
export const PONG_BYTES = 24;
/** The UDP port a heartbeat server listens on (an example's choice, unassigned by IANA). */
export const HEARTBEAT_PORT = 7047;
/**
 * Misses in a row before the peer counts as unreachable. Three: one lost datagram on a busy link
 * is common, three in a row at a one-second interval means the peer or the path is down.
 */
export const MAX_MISSES = 3;
/** Largest round trip a client reports (µs): 60 s; a reply later than the next ping is a miss anyway. */
export const MAX_RTT_US = 60_000_000;

/** A decoded message. Unknown types are kept, not dropped (a later version may add some). */
export type Message =
  | { kind: "ping"; seq: number; token: bigint }
  | { kind: "pong"; seq: number; token: bigint; serverTimeNs: bigint }
  | { kind: "unknown"; type: number; data: Uint8Array };

/** Why bytes are not a heartbeat message. */
export type DecodeError =
  | { code: "TOO_SHORT"; detail: string }
  | { code: "BAD_MAGIC"; detail: string }
  | { code: "BAD_VERSION"; detail: string }
  | { code: "BAD_LENGTH"; detail: string };

export type Decoded = { ok: true; value: Message } | { ok: false; error: DecodeError };

/** Encodes a PING (or, for servers and tests, a PONG). */
export function encode(m: { kind: "ping"; seq: number; token: bigint } | { kind: "pong"; seq: number; token: bigint; serverTimeNs: bigint }): Uint8Array {
  const out = new Uint8Array(m.kind === "ping" ? PING_BYTES : PONG_BYTES);
  const v = new DataView(out.buffer);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = m.kind === "ping" ? TYPE_PING : TYPE_PONG;
  v.setUint32(4, m.seq >>> 0);
  v.setBigUint64(8, BigInt.asUintN(64, m.token));
  if (m.kind === "pong") v.setBigUint64(16, BigInt.asUintN(64, m.serverTimeNs));
  return out;
}

/** Decodes any bytes: a message or a typed error; never throws. Length is checked before every read. */
export function decode(bytes: Uint8Array): Decoded {
  if (bytes.length < 4) return { ok: false, error: { code: "TOO_SHORT", detail: `${bytes.length} bytes, a header is 4` } };
  if (bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) return { ok: false, error: { code: "BAD_MAGIC", detail: "does not start with HB" } };
  if (bytes[2] !== VERSION) return { ok: false, error: { code: "BAD_VERSION", detail: `version ${bytes[2]}, not ${VERSION}` } };
  const type = bytes[3]!;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === TYPE_PING) {
    if (bytes.length !== PING_BYTES) return { ok: false, error: { code: "BAD_LENGTH", detail: `a PING is ${PING_BYTES} bytes, not ${bytes.length}` } };
    return { ok: true, value: { kind: "ping", seq: v.getUint32(4), token: v.getBigUint64(8) } };
  }
  if (type === TYPE_PONG) {
    if (bytes.length !== PONG_BYTES) return { ok: false, error: { code: "BAD_LENGTH", detail: `a PONG is ${PONG_BYTES} bytes, not ${bytes.length}` } };
    return { ok: true, value: { kind: "pong", seq: v.getUint32(4), token: v.getBigUint64(8), serverTimeNs: v.getBigUint64(16) } };
  }
  return { ok: true, value: { kind: "unknown", type, data: bytes.slice(4) } };
}

/** The client's configuration (from the store, written by the priv). */
export interface ClientConfig {
  /** The server's address, dotted quad. */
  readonly peer: string;
  /** Time between pings (ms). */
  readonly intervalMs: number;
}

/** What the client knows. Unlike ICMP echo, one ping is outstanding at a time: a late reply to an older one is ignored. */
export interface ClientState {
  readonly config: ClientConfig;
  /** Sequence number of the next ping. */
  readonly nextSeq: number;
  /** The ping awaiting its reply: its seq and when it was handed to the priv (ns, the calf's wall clock). */
  readonly outstanding: { readonly seq: number; readonly sentNs: bigint } | undefined;
  /** Pings in a row without a reply. */
  readonly misses: number;
  /** What was last published as /peer/state. */
  readonly peerState: PeerState;
}

export type PeerState = "unknown" | "reachable" | "unreachable";

/** What happened: time to ping, or a datagram from the priv (with the kernel's receive time). */
export type ClientEvent =
  | { kind: "tick"; nowNs: bigint }
  | { kind: "datagram"; data: Uint8Array; from: { address: string; port: number }; rxTimeNs: bigint };

/** One measurement, as the calf publishes it (one commit). */
export interface Sample {
  readonly seq: number;
  /** Round trip: from handing the PING to the priv to the kernel's receive time of the PONG (µs). */
  readonly rttUs: number;
  /** The server's clock minus ours at the midpoint of the round trip (µs; NTP's θ with one timestamp per side). */
  readonly offsetUs: number;
  /** The kernel's receive time of the PONG (ns since the epoch). */
  readonly rxTimeNs: bigint;
}

/** What the calf must do, in order. */
export type ClientAction =
  | { kind: "send"; data: Uint8Array; to: { address: string; port: number } }
  | { kind: "timer"; atNs: bigint }
  /** Publish a measurement and the peer's state "reachable" (one commit). */
  | { kind: "publish"; sample: Sample }
  /** Publish that the peer stopped answering. */
  | { kind: "unreachable" }
  | { kind: "ignore"; reason: string };

/** A new client; the first ping goes out at once. */
export function createClient(config: ClientConfig, nowNs: bigint): { state: ClientState; actions: ClientAction[] } {
  return step({ config, nextSeq: 1, outstanding: undefined, misses: 0, peerState: "unknown" }, { kind: "tick", nowNs });
}

const NS_PER_MS = 1_000_000n;

/** The client's transition function. */
export function step(state: ClientState, event: ClientEvent): { state: ClientState; actions: ClientAction[] } {
  const { config } = state;
  if (event.kind === "tick") {
    const actions: ClientAction[] = [];
    let misses = state.misses;
    let peerState = state.peerState;
    if (state.outstanding) {
      misses += 1;
      if (misses >= MAX_MISSES && peerState !== "unreachable") {
        peerState = "unreachable";
        actions.push({ kind: "unreachable" });
      }
    }
    const seq = state.nextSeq;
    actions.push({ kind: "send", data: encode({ kind: "ping", seq, token: event.nowNs }), to: { address: config.peer, port: HEARTBEAT_PORT } });
    actions.push({ kind: "timer", atNs: event.nowNs + BigInt(config.intervalMs) * NS_PER_MS });
    return { state: { ...state, nextSeq: (seq + 1) >>> 0 || 1, outstanding: { seq, sentNs: event.nowNs }, misses, peerState }, actions };
  }
  if (event.from.address !== config.peer || event.from.port !== HEARTBEAT_PORT) return { state, actions: [{ kind: "ignore", reason: `from ${event.from.address}:${event.from.port}, not the peer` }] };
  const d = decode(event.data);
  if (!d.ok) return { state, actions: [{ kind: "ignore", reason: `${d.error.code}: ${d.error.detail}` }] };
  if (d.value.kind !== "pong") return { state, actions: [{ kind: "ignore", reason: `a ${d.value.kind} message, not a PONG` }] };
  const out = state.outstanding;
  // The token is our own send time echoed: it must match what we recorded, so a forged or stale
  // reply cannot choose the round trip we report.
  if (!out || d.value.seq !== out.seq || d.value.token !== out.sentNs) return { state, actions: [{ kind: "ignore", reason: `PONG ${d.value.seq} answers no outstanding PING` }] };
  const rttNs = event.rxTimeNs - out.sentNs;
  if (rttNs < 0n || rttNs > BigInt(MAX_RTT_US) * 1000n) return { state: { ...state, outstanding: undefined }, actions: [{ kind: "ignore", reason: `round trip ${rttNs} ns is out of range (clock stepped?)` }] };
  const offsetNs = d.value.serverTimeNs - (out.sentNs + rttNs / 2n);
  const sample: Sample = { seq: out.seq, rttUs: Number(rttNs / 1000n), offsetUs: Number(offsetNs / 1000n), rxTimeNs: event.rxTimeNs };
  return { state: { ...state, outstanding: undefined, misses: 0, peerState: "reachable" }, actions: [{ kind: "publish", sample }] };
}
