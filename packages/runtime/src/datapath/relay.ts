/**
 * The data-path relay between one calf (its fd 4) and the kernel (a filtered packet socket and/or
 * a UDP socket): frames and datagrams the kernel passed go to the calf with their receive
 * timestamps; frames and datagrams from the calf go out only if they pass its egress checks and
 * its rate limit. A calf that breaks the framing, or sends on a channel its service does not
 * have, is disconnected (the supervisor restarts it); a refused frame is counted and logged,
 * never fatal. On a UDP channel with transmit timestamps, a datagram the calf tagged (sendTag)
 * that went out is answered with its kernel transmit time (txTime) when the kernel reports it.
 */
import type net from "node:net";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, type DataMessage } from "@paddock/protocol";
import type { DatagramCheck, EgressCheck, EgressRejection } from "./egress.ts";

/** The part of a packet socket the relay needs (see @paddock/native's PacketSocket). */
export interface FrameSocket {
  onFrame(cb: (frame: Buffer, rxTimeNs: bigint, checksumPending: boolean) => void): void;
  send(frame: Uint8Array): void;
}

/** The part of a UDP socket the relay needs (see @paddock/native's UdpSocket). */
export interface DatagramSocket {
  onMessage(cb: (data: Buffer, peer: { address: string; port: number }, rxTimeNs: bigint) => void): void;
  /** Sends one datagram; returns its send id, which its transmit timestamp carries. */
  sendTo(data: Uint8Array, address: string, port: number): number;
  /** Transmit timestamps by send id (only called when the channel has txTimestamps). */
  onTxTimestamp(cb: (sendId: number, txTimeNs: bigint) => void): void;
}

/** The channels of one calf: each with its socket and the check of what the calf sends on it. */
export interface RelayChannels {
  readonly packet?: {
    readonly socket: FrameSocket;
    readonly check: EgressCheck;
    /** Sees each frame delivered to the calf (the service's own note of what it was told). */
    readonly observe?: (frame: Uint8Array) => void;
  };
  /** `txTimestamps`: the socket was opened with them, so tagged datagrams get a txTime back. */
  readonly udp?: { readonly socket: DatagramSocket; readonly check: DatagramCheck; readonly txTimestamps?: boolean };
}

/** Sustained sends per second and the burst above it; optionally a bound on bytes per second. */
export interface SendRate {
  readonly perSecond: number;
  readonly burst: number;
  /** Bytes per second, sustained; the burst is one second's worth. */
  readonly bytesPerSecond?: number;
}

/** Minimal logger interface (pino-compatible). */
export interface RelayLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Counters for metrics. */
export interface RelayStats {
  toCalf: number;
  fromCalf: number;
  sent: number;
  rejected: Record<string, number>;
  sendErrors: number;
  protocolViolations: number;
  /** Transmit times reported to the calf for its tagged datagrams. */
  txTimes: number;
  /** Frames and datagrams for the calf dropped because it was not reading (its queue was full). */
  droppedToCalf: number;
}

/**
 * What may wait in the priv for a calf that does not read its data channel: 256 KiB is a few
 * hundred frames, seconds of any client protocol's traffic. Beyond it frames are dropped and
 * counted (issue 13 B1: a calf that stopped reading grew the priv from 138 to 514 MB). Link state
 * and transmit times are never dropped: they are small and the calf's view of the world.
 */
export const MAX_QUEUED_TO_CALF_BYTES = 256 * 1024;

/**
 * The default send rate: a client protocol exchange is a handful of messages with seconds of
 * backoff between retransmissions; 10/s sustained with a burst of 20 never slows one and bounds
 * what a hostile calf can put on the wire. A service declares its own (CalfDefinition.sendRate).
 */
export const DEFAULT_SEND_RATE: SendRate = { perSecond: 10, burst: 20 };
/** Refusals are logged at most this often per calf, so a flood cannot flood the log. */
const REJECT_LOG_INTERVAL_MS = 1000;
/**
 * Tagged sends awaiting their transmit timestamp. One normally arrives within a millisecond and
 * frees its entry, but a datagram dropped before the driver (tc egress, a full qdisc) never gets
 * one; the bound keeps those from piling up. Sends are rate-limited (tens per second), so 256 is
 * many seconds of sends in flight; beyond it the oldest entry goes (its txTime is then not sent).
 */
export const MAX_PENDING_TX_TAGS = 256;

export class DataPathRelay {
  readonly stats: RelayStats = { toCalf: 0, fromCalf: 0, sent: 0, rejected: {}, sendErrors: 0, protocolViolations: 0, txTimes: 0, droppedToCalf: 0 };
  private readonly reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
  private tokens: number;
  private byteTokens: number;
  private lastRefill: number;
  private lastRejectLog = Number.NEGATIVE_INFINITY;
  private suppressed = 0;
  private calf: net.Socket | undefined;
  /** Send id → the calf's sendTag, oldest first (Map keeps insertion order). */
  private readonly pendingTx = new Map<number, number>();

  /** The service's channel kinds, fixed for the relay's life (the sockets may be replaced: rebind). */
  private readonly kinds: { readonly packet: boolean; readonly udp: boolean };
  /** False while the interface is gone: what the calf sends is refused (PADDOCK_E_EGRESS_NO_LINK). */
  private present = true;

  constructor(
    private readonly name: string,
    private channels: RelayChannels,
    private readonly log: RelayLogger,
    private readonly rate: SendRate = DEFAULT_SEND_RATE,
    /** The clock of the rate buckets (ms, monotonic); tests pass a fixed one. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate.burst;
    this.lastRefill = now();
    this.byteTokens = rate.bytesPerSecond ?? Number.POSITIVE_INFINITY;
    this.kinds = { packet: channels.packet !== undefined, udp: channels.udp !== undefined };
    this.listen(channels);
  }

  /**
   * The interface went away (null: the host closed its sockets; what the calf sends meanwhile is
   * refused and counted, never a protocol violation) or came back with new sockets (same kinds).
   * The calf stays attached either way.
   */
  rebind(channels: RelayChannels | null): void {
    this.present = channels !== null;
    if (channels === null) return;
    this.channels = channels;
    this.pendingTx.clear();
    this.listen(channels);
  }

  /** Wires the sockets' receive callbacks to the calf. */
  private listen(channels: RelayChannels): void {
    channels.packet?.socket.onFrame((frame, rxTimeNs, checksumPending) => {
      if (!this.calf || this.calf.destroyed) return;
      if (this.calfIsFull()) return;
      this.stats.toCalf++;
      if (channels.packet?.observe) {
        try {
          channels.packet.observe(frame);
        } catch (err) {
          this.log.warn({ calf: this.name, err: (err as Error).message }, "the service's frame observer failed");
        }
      }
      this.write(checksumPending ? { kind: "frame", data: frame, rxTimeNs, checksumPending } : { kind: "frame", data: frame, rxTimeNs });
    });
    channels.udp?.socket.onMessage((data, peer, rxTimeNs) => {
      if (!this.calf || this.calf.destroyed) return;
      if (this.calfIsFull()) return;
      this.stats.toCalf++;
      this.write({ kind: "datagram", data, peerAddress: peer.address, peerPort: peer.port, rxTimeNs });
    });
    if (channels.udp?.txTimestamps) {
      channels.udp.socket.onTxTimestamp((sendId, txTimeNs) => {
        const sendTag = this.pendingTx.get(sendId);
        if (sendTag === undefined) return; // an untagged send, or one the bound dropped
        this.pendingTx.delete(sendId);
        if (!this.calf || this.calf.destroyed) return;
        this.stats.txTimes++;
        this.write({ kind: "txTime", sendTag, txTimeNs });
      });
    }
  }

  /** Connects (or, after a restart, reconnects) the calf's end of the data channel. */
  attach(calf: net.Socket): void {
    this.calf?.destroy();
    this.calf = calf;
    // Tags belong to the calf that chose them: a restarted calf gets none of its predecessor's.
    this.pendingTx.clear();
    const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
    calf.on("data", (chunk: Buffer) => this.fromCalf(calf, reader, chunk));
    calf.on("error", () => {});
  }

  /** Tells the calf the link's state. */
  sendLink(state: { up: boolean; carrier: boolean; mtu: number }): void {
    this.write({ kind: "link", ...state });
  }

  detach(): void {
    this.calf?.destroy();
    this.calf = undefined;
  }

  /** True (and counted) when the calf's queue is full: the frame or datagram is dropped. */
  private calfIsFull(): boolean {
    if (this.calf === undefined || this.calf.writableLength < MAX_QUEUED_TO_CALF_BYTES) return false;
    this.stats.droppedToCalf++;
    return true;
  }

  private write(m: DataMessage): void {
    if (this.calf && !this.calf.destroyed) this.calf.write(encodeDataMessage(m));
  }

  private fromCalf(calf: net.Socket, reader: FrameReader, chunk: Buffer): void {
    const { frames, error } = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (const f of frames) {
      const m = decodeDataMessage(f);
      if (!m.ok) return this.violation(calf, m.error.code, m.error.detail);
      const v = m.value;
      if ((v.kind === "frame" && this.kinds.packet) || (v.kind === "datagram" && this.kinds.udp)) {
        if (!this.present) {
          this.stats.fromCalf++;
          this.egress({ code: "PADDOCK_E_EGRESS_NO_LINK", detail: "the interface is gone; nothing is sent until it comes back" }, 0, () => {});
          continue;
        }
      }
      if (v.kind === "frame" && this.channels.packet) {
        this.stats.fromCalf++;
        const packet = this.channels.packet;
        this.egress(packet.check(v.data), v.data.length, () => packet.socket.send(v.data));
      } else if (v.kind === "datagram" && this.channels.udp) {
        this.stats.fromCalf++;
        const udp = this.channels.udp;
        const peer = { address: v.peerAddress, port: v.peerPort };
        const sendTag = udp.txTimestamps ? (v.sendTag ?? 0) : 0;
        this.egress(udp.check(v.data, peer), v.data.length, () => {
          const sendId = udp.socket.sendTo(v.data, peer.address, peer.port);
          if (sendTag !== 0) this.rememberTx(sendId, sendTag);
        });
      } else {
        return this.violation(calf, "PADDOCK_E_PROTO_BAD_REQUEST", `this calf's service has no channel for a ${v.kind} message`);
      }
    }
    if (error) this.violation(calf, error.code, error.detail);
  }

  private egress(rejection: EgressRejection | null, bytes: number, send: () => void): void {
    const refusal = rejection ?? this.takeTokens(bytes);
    if (refusal) {
      this.stats.rejected[refusal.code] = (this.stats.rejected[refusal.code] ?? 0) + 1;
      const now = this.now();
      if (now - this.lastRejectLog >= REJECT_LOG_INTERVAL_MS) {
        this.log.warn({ calf: this.name, code: refusal.code, detail: refusal.detail, suppressed: this.suppressed }, "refused a frame from the calf");
        this.lastRejectLog = now;
        this.suppressed = 0;
      } else {
        this.suppressed++;
      }
      return;
    }
    try {
      send();
      this.stats.sent++;
    } catch (err) {
      this.stats.sendErrors++;
      this.log.warn({ calf: this.name, err: (err as Error).message }, "could not send a frame");
    }
  }

  /** Remembers a tagged send until its transmit timestamp comes, within MAX_PENDING_TX_TAGS. */
  private rememberTx(sendId: number, sendTag: number): void {
    this.pendingTx.set(sendId, sendTag);
    if (this.pendingTx.size > MAX_PENDING_TX_TAGS) this.pendingTx.delete(this.pendingTx.keys().next().value!);
  }

  /** Takes one send and `bytes` from the buckets; the refusal when either is empty. */
  private takeTokens(bytes: number): EgressRejection | null {
    const now = this.now();
    const elapsed = (now - this.lastRefill) / 1000;
    this.lastRefill = now;
    this.tokens = Math.min(this.rate.burst, this.tokens + elapsed * this.rate.perSecond);
    if (this.rate.bytesPerSecond !== undefined) this.byteTokens = Math.min(this.rate.bytesPerSecond, this.byteTokens + elapsed * this.rate.bytesPerSecond);
    if (this.tokens < 1) return { code: "PADDOCK_E_EGRESS_RATE", detail: `more than ${this.rate.perSecond} sends per second` };
    if (bytes > this.byteTokens) return { code: "PADDOCK_E_EGRESS_RATE", detail: `more than ${this.rate.bytesPerSecond} bytes per second` };
    this.tokens -= 1;
    this.byteTokens -= bytes;
    return null;
  }

  private violation(calf: net.Socket, code: string, detail: string): void {
    this.stats.protocolViolations++;
    this.log.warn({ calf: this.name, code, detail }, "calf broke the data-path protocol; disconnecting it");
    calf.destroy();
  }
}
