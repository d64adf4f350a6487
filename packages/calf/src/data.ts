/**
 * The calf's end of the data path (fd 4): frames and datagrams with their kernel receive
 * timestamps in, frames and datagrams out, link state in, and the kernel's transmit times of the
 * datagrams this calf tagged. The priv relays what its kernel filter lets through and sends only
 * what passes this calf's egress policy.
 */
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, MAX_SEND_TAG, type DataMessage } from "@paddock/protocol";
import type { HostStream } from "./host.ts";

/** The link state the priv reports. */
export interface LinkState {
  up: boolean;
  carrier: boolean;
  mtu: number;
}

/**
 * Frames that arrive before the calf registers a listener (while its main is still starting)
 * are kept, up to this many, and delivered to the first listener; beyond it the oldest go.
 */
export const MAX_EARLY_MESSAGES = 64;

/** What the kernel said about a received frame besides its bytes and time. */
export interface FrameInfo {
  /**
   * The transport checksum is not filled in yet (a frame from a local veth or tap with checksum
   * offload, TP_STATUS_CSUMNOTREADY): do not verify the UDP checksum of this frame.
   */
  checksumPending: boolean;
}

/** Options of DataChannel.sendDatagram. */
export interface SendDatagramOptions {
  /**
   * A number of the calf's choosing, 1–2³²−1 (0 or absent: none). When the service's UDP channel
   * has `txTimestamps` and the kernel timestamps this datagram, onTxTime listeners get the tag
   * with the kernel's transmit time. A datagram egress refuses, or the kernel drops before the
   * driver, gets none; nor does any on a kernel older than 6.13.
   */
  tag?: number;
}

export class DataChannel {
  private early: DataMessage[] = [];
  private readonly reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
  private readonly frameListeners: Array<(frame: Uint8Array, rxTimeNs: bigint, info: FrameInfo) => void> = [];
  private readonly datagramListeners: Array<(data: Uint8Array, peer: { address: string; port: number }, rxTimeNs: bigint) => void> = [];
  private readonly txTimeListeners: Array<(tag: number, txTimeNs: bigint) => void> = [];
  private readonly linkListeners: Array<(link: LinkState) => void> = [];
  private readonly closeListeners: Array<(reason: string) => void> = [];
  private lastLink: LinkState | undefined;

  private isClosed = false;

  constructor(private readonly channel: HostStream) {
    channel.onData((chunk) => this.onData(chunk));
    channel.onClose((reason) => this.closed(reason === "closed" ? "the priv closed the data channel" : `data channel ${reason}`));
  }

  /** A frame the service's kernel filter passed, with its kernel receive time. */
  onFrame(cb: (frame: Uint8Array, rxTimeNs: bigint, info: FrameInfo) => void): void {
    this.frameListeners.push(cb);
    this.replayEarly("frame");
  }

  /** A datagram for a UDP service. */
  onDatagram(cb: (data: Uint8Array, peer: { address: string; port: number }, rxTimeNs: bigint) => void): void {
    this.datagramListeners.push(cb);
    this.replayEarly("datagram");
  }

  /**
   * The kernel's transmit time (ns since the epoch, the same clock as rxTimeNs) of a datagram
   * sent with a tag (sendDatagram's `tag`), at most once per send: NTP's T1.
   */
  onTxTime(cb: (tag: number, txTimeNs: bigint) => void): void {
    this.txTimeListeners.push(cb);
    this.replayEarly("txTime");
  }

  /** The link state, at start and on every change; called at once with the last one if known. */
  onLink(cb: (link: LinkState) => void): void {
    this.linkListeners.push(cb);
    if (this.lastLink) cb(this.lastLink);
  }

  /** The channel closed (the priv went away or dropped us). */
  onClose(cb: (reason: string) => void): void {
    this.closeListeners.push(cb);
  }

  /** The last link state reported, if any. */
  get link(): LinkState | undefined {
    return this.lastLink;
  }

  /** Asks the priv to send a whole Ethernet frame (checked against the egress policy there). */
  sendFrame(frame: Uint8Array): void {
    this.send({ kind: "frame", data: frame, rxTimeNs: 0n });
  }

  /**
   * Asks the priv to send a datagram to a peer (UDP services); with a `tag`, asks for its kernel
   * transmit time too (see SendDatagramOptions). Throws RangeError on a tag that is not an
   * integer 0–2³²−1.
   */
  sendDatagram(data: Uint8Array, peer: { address: string; port: number }, options: SendDatagramOptions = {}): void {
    const tag = options.tag ?? 0;
    if (!Number.isInteger(tag) || tag < 0 || tag > MAX_SEND_TAG) throw new RangeError(`a datagram's tag must be an integer 0–${MAX_SEND_TAG}, not ${tag}`);
    const m: DataMessage = { kind: "datagram", data, peerAddress: peer.address, peerPort: peer.port, rxTimeNs: 0n };
    this.send(tag === 0 ? m : { ...m, sendTag: tag });
  }

  /** Resolves when everything written so far has been handed to the kernel. */
  flush(): Promise<void> {
    return this.channel.flush();
  }

  close(): void {
    this.channel.close();
  }

  private send(m: DataMessage): void {
    if (!this.isClosed) this.channel.write(encodeDataMessage(m));
  }

  private onData(chunk: Uint8Array): void {
    const { frames, error } = this.reader.push(chunk);
    for (const f of frames) {
      const m = decodeDataMessage(f);
      // The priv is trusted; a message we cannot read is a bug there, and we stop rather than guess.
      if (!m.ok) return this.fail(`bad data message from the priv: ${m.error.detail}`);
      this.dispatch(m.value);
    }
    if (error) this.fail(`bad framing from the priv: ${error.detail}`);
  }

  private replayEarly(kind: "frame" | "datagram" | "txTime"): void {
    const keep: DataMessage[] = [];
    const replay: DataMessage[] = [];
    for (const m of this.early) (m.kind === kind ? replay : keep).push(m);
    this.early = keep;
    for (const m of replay) this.dispatch(m);
  }

  private dispatch(m: DataMessage): void {
    switch (m.kind) {
      case "frame":
        if (this.frameListeners.length === 0) return this.keepEarly(m);
        for (const l of this.frameListeners) l(m.data, m.rxTimeNs, { checksumPending: m.checksumPending === true });
        return;
      case "datagram":
        if (this.datagramListeners.length === 0) return this.keepEarly(m);
        for (const l of this.datagramListeners) l(m.data, { address: m.peerAddress, port: m.peerPort }, m.rxTimeNs);
        return;
      case "txTime":
        if (this.txTimeListeners.length === 0) return this.keepEarly(m);
        for (const l of this.txTimeListeners) l(m.sendTag, m.txTimeNs);
        return;
      case "link": {
        const link = { up: m.up, carrier: m.carrier, mtu: m.mtu };
        this.lastLink = link;
        for (const l of this.linkListeners) l(link);
        return;
      }
    }
  }

  private keepEarly(m: DataMessage): void {
    this.early.push(m);
    if (this.early.length > MAX_EARLY_MESSAGES) this.early.shift();
  }

  private fail(reason: string): void {
    this.channel.close();
    this.closed(reason);
  }

  private closed(reason: string): void {
    this.isClosed = true;
    const ls = this.closeListeners.splice(0);
    for (const l of ls) l(reason);
  }
}
