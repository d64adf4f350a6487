/**
 * The protocol of __NAME__, free of I/O: a total codec and a pure `step(state, event)`. No
 * sockets, no clock (events carry the time), no randomness. The calf (./calf.ts) turns datagrams
 * and timer expiries into events and actions into SDK calls; core.test.ts drives it directly.
 *
 * The protocol (change it to yours): the client sends HELLO (`"HELO"`, u32 sequence number,
 * big-endian) to UDP port PORT of its peer every interval; the peer may answer with REPLY
 * (`"RPLY"`, the same sequence number).
 */

/** The peer's UDP port. */
export const PORT = 7048;
/** A HELLO and a REPLY are both 8 bytes: 4 bytes of tag, a 4-byte sequence number. */
export const MESSAGE_BYTES = 8;

const HELO = [0x48, 0x45, 0x4c, 0x4f];
const RPLY = [0x52, 0x50, 0x4c, 0x59];

/** A decoded message, or why the bytes are not one. Decoding never throws. */
export type Decoded = { ok: true; value: { kind: "hello" | "reply"; seq: number } } | { ok: false; error: { code: "BAD_LENGTH" | "BAD_TAG"; detail: string } };

/** Encodes a message. */
export function encode(kind: "hello" | "reply", seq: number): Uint8Array {
  const out = new Uint8Array(MESSAGE_BYTES);
  out.set(kind === "hello" ? HELO : RPLY);
  new DataView(out.buffer).setUint32(4, seq >>> 0);
  return out;
}

/** Decodes any bytes into a message or a typed error; checks the length before every read. */
export function decode(bytes: Uint8Array): Decoded {
  if (bytes.length !== MESSAGE_BYTES) return { ok: false, error: { code: "BAD_LENGTH", detail: `${bytes.length} bytes, not ${MESSAGE_BYTES}` } };
  const tag = [...bytes.subarray(0, 4)];
  const kind = tag.every((b, i) => b === HELO[i]) ? "hello" : tag.every((b, i) => b === RPLY[i]) ? "reply" : undefined;
  if (!kind) return { ok: false, error: { code: "BAD_TAG", detail: "neither HELO nor RPLY" } };
  return { ok: true, value: { kind, seq: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4) } };
}

/** The client's state. */
export interface State {
  readonly peer: string;
  readonly intervalMs: number;
  readonly sent: number;
  readonly replies: number;
}

export type Event = { kind: "tick"; nowMs: number } | { kind: "datagram"; data: Uint8Array; from: { address: string; port: number }; rxTimeNs: bigint };

export type Action =
  | { kind: "send"; data: Uint8Array; to: { address: string; port: number } }
  | { kind: "timer"; atMs: number }
  | { kind: "publish"; changes: Array<{ path: string; value: string }> };

/** The first state and what to do at start: publish that the client runs, and say hello at once. */
export function start(peer: string, intervalMs: number, nowMs: number): { state: State; actions: Action[] } {
  const first = step({ peer, intervalMs, sent: 0, replies: 0 }, { kind: "tick", nowMs });
  return { state: first.state, actions: [{ kind: "publish", changes: [{ path: "/status/state", value: "running" }] }, ...first.actions] };
}

/** The transition function. */
export function step(state: State, event: Event): { state: State; actions: Action[] } {
  if (event.kind === "tick") {
    const sent = state.sent + 1;
    return {
      state: { ...state, sent },
      actions: [
        { kind: "send", data: encode("hello", sent), to: { address: state.peer, port: PORT } },
        { kind: "timer", atMs: event.nowMs + state.intervalMs },
      ],
    };
  }
  const d = decode(event.data);
  if (event.from.address !== state.peer || !d.ok || d.value.kind !== "reply") return { state, actions: [] };
  const replies = state.replies + 1;
  // One result, one commit: the count and the kernel's receive time of the reply go together.
  return { state: { ...state, replies }, actions: [{ kind: "publish", changes: [{ path: "/status/replies", value: String(replies) }, { path: "/status/last-rx-ns", value: String(event.rxTimeNs) }] }] };
}
