/**
 * Test support: a simulated network for the client core. Time is simulated (no wall clock): a
 * true timeline, a local clock with its own offset and frequency error that the client's
 * adjustments correct (a step or slew is applied at once, as docs/ntp.md's contract with the
 * clock handler says), and servers with their own offsets, network delays with jitter and
 * asymmetry, and behaviours (liar, kiss-o'-death, silent, unsynchronized).
 */

import {
  addSeconds,
  createNtpClient,
  decodeNtpPacket,
  instantFromUnix,
  step,
  timestampFromInstant,
  type ClockAdjustment,
  type NtpClientAction,
  type NtpClientConfig,
  type NtpClientEvent,
  type NtpClientState,
  type NtpInstant,
} from "../src/index.ts";
import { seeded } from "../../../dhcp4/core/test/client-fixtures.ts";
import { encoded, serverReply } from "./fixtures.ts";

/** A seeded PRNG: the same seed gives the same run (the DHCP client tests' mulberry32). */
export const prng = seeded;

/** How a simulated server behaves. */
export interface SimServer {
  address: string;
  /** Its clock minus true time, seconds (a liar's is large). */
  offset?: number;
  stratum?: number;
  leap?: 0 | 1 | 2 | 3;
  /** One-way network delay, seconds, and the jitter added to each direction (uniform 0..jitter). */
  delay?: number;
  jitter?: number;
  /** Poll exponent it advertises in replies. */
  poll?: number;
  /** A kiss code it answers with instead of the time, from the `kissAfter`-th request on (0-based). */
  kiss?: string;
  kissAfter?: number;
  /** It stops answering at this true time (seconds since the start). */
  silentAfter?: number;
  rootDelay?: number;
  rootDispersion?: number;
}

export interface SimOptions {
  servers: SimServer[];
  /** Local clock minus true time at start, seconds. */
  localOffset?: number;
  /** Local oscillator frequency error, ppm (negative: slow). */
  driftPpm?: number;
  seed?: number;
  config?: Partial<NtpClientConfig>;
  /**
   * What the simulated clock handler does with adjustments: carry them out (default, and say
   * nothing, as the client assumes), only observe (touch nothing and report so), or refuse steps
   * (slews and frequency carried out; a step refused and reported).
   */
  handler?: "apply" | "observe" | "no-steps";
}

interface Delivery {
  at: number;
  server: SimServer;
  bytes: Uint8Array;
}

/** A request seen by a server: when (true seconds since start) and to whom. */
export interface SentRequest {
  at: number;
  address: string;
}

/** An adjustment as the client asked for it, and the true offset at that moment. */
export interface SeenAdjustment {
  at: number;
  adjustment: ClockAdjustment;
  /** True time minus local time when the adjustment was asked for. */
  trueOffset: number;
}

const BASE: NtpInstant = instantFromUnix(1_800_000_000);

/** A running simulation: a client, its local clock, and servers. */
export class Simulation {
  state: NtpClientState;
  /** True seconds since start. */
  t = 0;
  localOffset: number;
  frequencyPpm = 0;
  readonly driftPpm: number;
  readonly sent: SentRequest[] = [];
  readonly adjustments: SeenAdjustment[] = [];
  readonly logs: string[] = [];
  private timer: number | undefined;
  private deliveries: Delivery[] = [];
  private readonly random: () => number;
  private readonly served = new Map<string, number>();

  constructor(readonly options: SimOptions) {
    const created = createNtpClient({ sources: options.servers.map((s) => ({ address: s.address })), ...options.config });
    if (!created.ok) throw new Error(created.error.detail);
    this.state = created.state;
    this.localOffset = options.localOffset ?? 0;
    this.driftPpm = options.driftPpm ?? 0;
    this.random = prng(options.seed ?? 1);
  }

  /** The client's clock reading now: monotonic = true time (an ideal monotonic clock), realtime = local. */
  private reading() {
    return { mono: this.t, real: addSeconds(BASE, this.t + this.localOffset) };
  }

  /** Feeds one event to the client and carries out its actions. */
  event(e: NtpClientEvent): void {
    const env = { now: this.reading(), random32: () => Math.floor(this.random() * 2 ** 32) };
    const r = step(this.state, e, env);
    this.state = r.state;
    for (const a of r.actions) this.act(a);
  }

  private act(a: NtpClientAction): void {
    if (a.kind === "setTimer") this.timer = a.at;
    else if (a.kind === "log") {
      if (a.message.includes("NTP client bug")) throw new Error(a.message);
      this.logs.push(a.message);
    }
    else if (a.kind === "adjust") {
      this.adjustments.push({ at: this.t, adjustment: a.adjustment, trueOffset: -this.localOffset });
      const handler = this.options.handler ?? "apply";
      if (handler === "observe") {
        this.event({ kind: "applied", offsetSeconds: 0, frequencyPpm: this.frequencyPpm });
      } else if (handler === "no-steps" && a.adjustment.step) {
        this.frequencyPpm = a.adjustment.frequencyPpm;
        this.event({ kind: "applied", offsetSeconds: 0, frequencyPpm: this.frequencyPpm });
      } else {
        this.localOffset += a.adjustment.offsetSeconds;
        this.frequencyPpm = a.adjustment.frequencyPpm;
      }
    } else {
      const server = this.options.servers.find((s) => s.address === a.to.address);
      if (server === undefined) return;
      this.sent.push({ at: this.t, address: server.address });
      const out = (server.delay ?? 0.005) + this.random() * (server.jitter ?? 0.0005);
      this.deliveries.push({ at: this.t + out, server, bytes: a.bytes });
    }
  }

  /** The server's answer to a request arriving now, or undefined (silent, or not a request). */
  private answer(server: SimServer, request: Uint8Array): Uint8Array | undefined {
    if (server.silentAfter !== undefined && this.t >= server.silentAfter) return undefined;
    const req = decodeNtpPacket(request);
    if (!req.ok || req.value.kind !== "time" || req.value.mode !== 3) return undefined;
    const n = this.served.get(server.address) ?? 0;
    this.served.set(server.address, n + 1);
    const clock = (t: number) => timestampFromInstant(addSeconds(BASE, t + (server.offset ?? 0)));
    const kiss = server.kiss !== undefined && n >= (server.kissAfter ?? 0);
    return encoded(
      serverReply({
        leap: server.leap ?? 0,
        stratum: kiss ? 0 : (server.stratum ?? 2),
        poll: server.poll ?? 0,
        rootDelay: server.rootDelay ?? 0.0009765625,
        rootDispersion: server.rootDispersion ?? 0.0009765625,
        referenceId: kiss ? new TextEncoder().encode(server.kiss!.padEnd(4, "\0")) : Uint8Array.of(10, 0, 0, 1),
        referenceTime: clock(this.t - 10),
        originTime: req.value.transmitTime,
        receiveTime: clock(this.t),
        transmitTime: clock(this.t + 0.00001),
      }),
    );
  }

  /** Runs until true time `until`, delivering datagrams and firing the timer in time order. */
  runUntil(until: number): void {
    for (;;) {
      this.deliveries.sort((a, b) => a.at - b.at);
      const next = this.deliveries[0];
      const timer = this.timer ?? Number.POSITIVE_INFINITY;
      const at = Math.min(next?.at ?? Number.POSITIVE_INFINITY, timer);
      if (at > until) break;
      this.advance(at);
      if (next !== undefined && next.at === at) {
        this.deliveries.shift();
        if (next.bytes[0] === undefined) continue;
        const isRequest = (next.bytes[0] & 7) === 3;
        if (isRequest) {
          const reply = this.answer(next.server, next.bytes);
          const back = (next.server.delay ?? 0.005) + this.random() * (next.server.jitter ?? 0.0005);
          if (reply !== undefined) this.deliveries.push({ at: this.t + 0.00001 + back, server: next.server, bytes: reply });
        } else {
          this.event({ kind: "received", from: { address: next.server.address, port: 123 }, bytes: next.bytes });
        }
      } else {
        this.timer = undefined;
        this.event({ kind: "timer" });
      }
    }
    this.advance(until);
  }

  /** Moves true time on; the local clock gains or loses by its drift less the correction. */
  private advance(to: number): void {
    const dt = to - this.t;
    if (dt <= 0) return;
    this.localOffset += (this.driftPpm + this.frequencyPpm) * 1e-6 * dt;
    this.t = to;
  }

  start(): void {
    this.event({ kind: "start" });
  }

  /** Intervals between successive requests to one server, seconds. */
  intervals(address: string): number[] {
    const at = this.sent.filter((s) => s.address === address).map((s) => s.at);
    return at.slice(1).map((t, i) => t - at[i]!);
  }
}
