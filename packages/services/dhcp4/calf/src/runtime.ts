/**
 * Runs the sans-IO DHCP client core (@paddock/dhcp4) on the calf SDK: frames in from the data
 * channel, timers from the SDK, actions out as frames, timers, KV writes and log lines.
 *
 * Actions are performed strictly in order, each finished before the next (a RELEASE must leave
 * before /ip is deleted). Consecutive KV actions are one KV commit, so a lease's keys are
 * validated together and applied all or none.
 */
import type { CalfContext } from "@paddock/calf";
import {
  decodeArpFrame,
  decodeDhcpFrame,
  encodeArpFrame,
  encodeDhcpFrame,
  ETHERTYPE_ARP,
  isArpForAnotherAddress,
  isFrameForAnotherExchange,
  reconfigure,
  step,
  type ClientConfig,
  type ClientAction,
  type ClientEvent,
  type ClientState,
  type DhcpMessage,
} from "@paddock/dhcp4";

const BROADCAST_MAC = new Uint8Array(6).fill(0xff);

/**
 * `actions` with the client's state written to /client/state (for operators), right after the
 * step's last store change so that it joins that commit (a lease and BOUND arrive together), or
 * at the end when the step changes nothing in the store.
 */
function withStateKey(actions: readonly ClientAction[], state: ClientState): ClientAction[] {
  const write: ClientAction = { kind: "kvWrite", path: "/client/state", value: state.name };
  let last = -1;
  actions.forEach((a, n) => {
    if (a.kind === "kvWrite" || a.kind === "kvDelete") last = n;
  });
  return last < 0 ? [...actions, write] : [...actions.slice(0, last + 1), write, ...actions.slice(last + 1)];
}

/** What the runtime needs besides the calf context. */
export interface DhcpRuntimeOptions {
  mac: Uint8Array;
}

/** When the calf read, decoded and stepped a frame (monotonic ns): the apply path's debug line (bench/apply.ts). */
interface FrameTimes {
  readNs: bigint;
  decodedNs: bigint;
  steppedNs: bigint;
}

/** Microseconds between two monotonic readings. */
function micros(from: bigint, to: bigint): number {
  return Number(to - from) / 1000;
}

export class DhcpCalfRuntime {
  private queue: Promise<void> = Promise.resolve();
  /** The last frame's times, taken only at debug level. */
  private frameTimes: FrameTimes | undefined;
  private stopped = false;
  private foreign = 0;
  private otherArp = 0;

  constructor(
    private readonly ctx: CalfContext,
    private state: ClientState,
    private readonly opts: DhcpRuntimeOptions,
  ) {}

  /** The client's current state (for tests and logs). */
  get current(): ClientState {
    return this.state;
  }

  /** Replies dropped unparsed because their xid or chaddr is another exchange's (for tests and metrics). */
  get foreignRepliesDropped(): number {
    return this.foreign;
  }

  /** ARP frames dropped unparsed: no address in play, or one they do not name (for tests and metrics). */
  get otherArpDropped(): number {
    return this.otherArp;
  }

  /** Wires frames, link changes and the stop signal to the client. */
  start(initial: ClientAction[]): void {
    this.enqueue(withStateKey(initial, this.state));
    this.ctx.data.onFrame((frame, rxTimeNs, info) => {
      const readNs = this.ctx.log.level === "debug" ? this.ctx.monotonicNs() : undefined;
      if (frame.length >= 14 && ((frame[12]! << 8) | frame[13]!) === ETHERTYPE_ARP) return this.onArpFrame(frame);
      // Other clients' broadcast OFFERs and ACKs reach every client on the link; the core would
      // ignore them (xid and chaddr, RFC 2131 §4.4.1) after a full decode. Two fixed-offset reads
      // drop them first, so a reply storm costs a bound client next to nothing.
      if (isFrameForAnotherExchange(frame, this.state.xid, this.opts.mac)) {
        this.foreign++;
        return;
      }
      const decoded = decodeDhcpFrame(frame, { udpChecksumPending: info.checksumPending });
      if (!decoded.ok) {
        // Bad network input is logged at debug level and dropped (invariant 7).
        this.ctx.log.debug({ code: decoded.error.code, detail: decoded.error.detail }, "dropped a frame that is not valid DHCP");
        return;
      }
      const decodedNs = readNs === undefined ? undefined : this.ctx.monotonicNs();
      this.dispatch({ kind: "received", message: decoded.value.message, info: decoded.value.info, rxTime: Number(rxTimeNs / 1_000_000n) });
      if (readNs !== undefined && decodedNs !== undefined) this.frameTimes = { readNs, decodedNs, steppedNs: this.ctx.monotonicNs() };
    });
    this.ctx.data.onLink((link) => this.dispatch({ kind: link.up && link.carrier ? "linkUp" : "linkDown" }));
  }

  /** Takes a new configuration (a reload): the lease and the timers stay; a refused one is logged and the old one kept. */
  reconfigure(config: ClientConfig): void {
    const r = reconfigure(this.state, config);
    if (!r.ok) {
      this.ctx.log.warn({ field: r.error.field, detail: r.error.detail }, "new configuration refused; the client keeps its own");
      return;
    }
    this.state = r.state;
    this.ctx.log.info({ state: this.state.name }, "configuration reloaded");
  }

  /**
   * ARP from the link (the channel receives it for RFC 5227): decoded only when the client probes,
   * and only when it names the address being probed or held (every host's ARP broadcasts reach
   * the client; the others are dropped from two fixed-offset reads, as other exchanges' replies are).
   */
  private onArpFrame(frame: Uint8Array): void {
    if (!this.state.config.arpProbe) return;
    const address = this.state.probe?.lease.address ?? this.state.lease?.address;
    if (address === undefined || isArpForAnotherAddress(frame, address)) {
      this.otherArp++;
      return;
    }
    const decoded = decodeArpFrame(frame);
    if (!decoded.ok) {
      this.ctx.log.debug({ code: decoded.error.code, detail: decoded.error.detail }, "dropped a frame that is not Ethernet/IPv4 ARP");
      return;
    }
    this.dispatch({ kind: "arp", packet: decoded.value });
  }

  /** Stops the client (RELEASE if configured) and resolves when its last actions are done. */
  async stop(release?: boolean): Promise<void> {
    this.dispatch(release === undefined ? { kind: "stop" } : { kind: "stop", release });
    this.stopped = true;
    await this.queue;
  }

  /** Feeds one event to the client and queues its actions. */
  dispatch(event: ClientEvent): void {
    if (this.stopped) return;
    const r = step(this.state, event, this.ctx.now());
    const before = this.state.name;
    this.state = r.state;
    // `paddock status` reads the client's state from the store: written when it changes.
    this.enqueue(r.state.name === before ? r.actions : withStateKey(r.actions, r.state));
  }

  private enqueue(actions: ClientAction[]): void {
    if (actions.length === 0) return;
    this.queue = this.queue.then(() => this.perform(actions)).catch((err: unknown) => {
      this.ctx.log.error({ err: (err as Error).message }, "an action failed");
    });
  }

  private async perform(actions: ClientAction[]): Promise<void> {
    // Consecutive KV actions are one commit: a lease crosses the boundary whole or not at all.
    let changes: Array<{ path: string; value: string | null }> = [];
    const frame = this.frameTimes;
    this.frameTimes = undefined;
    const commit = async () => {
      const batch = changes;
      changes = [];
      try {
        const sentNs = frame === undefined ? undefined : this.ctx.monotonicNs();
        await this.ctx.kv.commit(batch);
        // The apply path, step by step (bench/apply.ts): the frame that led to this commit.
        if (frame !== undefined && sentNs !== undefined) {
          // readMonoUs and sentMonoUs: CLOCK_MONOTONIC, the priv's clock too (its `monoUs`).
          this.ctx.log.debug({ keys: batch.length, readMonoUs: micros(0n, frame.readNs), decodeUs: micros(frame.readNs, frame.decodedNs), stepUs: micros(frame.decodedNs, frame.steppedNs), toCommitUs: micros(frame.steppedNs, sentNs), sentMonoUs: micros(0n, sentNs), commitUs: micros(sentNs, this.ctx.monotonicNs()) }, "commit acknowledged");
        }
      } catch (err) {
        this.ctx.log.warn({ err: (err as Error).message, keys: batch.length }, "the store refused a commit");
      }
    };
    for (const a of actions) {
      if (a.kind !== "kvWrite" && a.kind !== "kvDelete" && changes.length > 0) await commit();
      switch (a.kind) {
        case "kvWrite":
          changes.push({ path: a.path, value: a.value });
          break;
        case "kvDelete":
          changes.push({ path: a.path, value: null });
          break;
        case "send":
          this.send(a.message, a.to, a.nextHopMac);
          await this.ctx.data.flush();
          break;
        case "sendArp": {
          const encoded = encodeArpFrame({ senderMac: this.opts.mac, senderIp: a.senderIp, targetIp: a.targetIp });
          if (encoded.ok) this.ctx.data.sendFrame(encoded.value);
          else this.ctx.log.error({ code: encoded.error.code, detail: encoded.error.detail }, "could not encode an ARP request");
          await this.ctx.data.flush();
          break;
        }
        case "setTimer":
          this.ctx.timers.set(a.name, a.at, () => this.dispatch({ kind: "timer", name: a.name }));
          break;
        case "cancelTimer":
          this.ctx.timers.cancel(a.name);
          break;
        case "log":
          this.ctx.log[a.level]({ state: this.state.name }, a.message);
          break;
      }
    }
    if (changes.length > 0) await commit();
  }

  private send(message: DhcpMessage, to: "broadcast" | string, nextHopMac: Uint8Array | undefined): void {
    const unicast = to !== "broadcast";
    const encoded = encodeDhcpFrame(message, {
      srcMac: this.opts.mac,
      dstMac: unicast && nextHopMac ? nextHopMac : BROADCAST_MAC,
      // RFC 2131 §4.1: a client with a configured address (RENEWING, REBINDING, RELEASE) uses it.
      srcIp: message.ciaddr,
      dstIp: unicast ? to : "255.255.255.255",
      srcPort: 68,
      dstPort: 67,
    });
    if (!encoded.ok) {
      this.ctx.log.error({ code: encoded.error.code, detail: encoded.error.detail }, "could not encode a message");
      return;
    }
    this.ctx.data.sendFrame(encoded.value);
  }
}
