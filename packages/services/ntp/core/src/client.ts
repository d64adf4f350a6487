/**
 * The sans-IO NTP client (RFC 5905's client side): `createNtpClient(config)` and
 * `step(state, event, env) → { state, actions }`. It keeps no clock and does no I/O: the caller
 * passes each event with a reading of its monotonic and realtime clocks and a random source, sends
 * the datagrams the actions ask for, arms the one timer, and hands adjustments to whoever may
 * touch the clock. See docs/ntp.md.
 */

import { parseIpAddress, type IpAddress } from "./address.ts";
import type { ClockAdjustment, LeapSecond } from "./adjustment.ts";
import { decodeNtpPacket, encodeClientRequest } from "./codec.ts";
import {
  DEFAULT_MAX_POLL,
  DEFAULT_MIN_POLL,
  IBURST_MAX_REQUESTS,
  IBURST_SAMPLES,
  IBURST_SPACING_SECONDS,
  MAXDISP,
  MAXDIST,
  MAXPOLL_LIMIT,
  MAXSTRAT,
  MAX_SOURCES,
  MINDISP,
  MINPOLL_LIMIT,
  PHI,
  FIRST_ROUND_WINDOW_SECONDS,
  ROUND_WINDOW_SECONDS,
  SGATE,
  START_STAGGER_SECONDS,
} from "./constants.ts";
import { initialDiscipline, reportApplied, updateDiscipline, type DisciplineState } from "./discipline.ts";
import { correctFilter, emptyFilter, evaluateFilter, shiftFilter, type FilterOutput, type FilterStage } from "./filter.ts";
import { LeapIndicator, NtpMode, type NtpTimePacket } from "./packet.ts";
import { combine, selectSources, type Candidate } from "./selection.ts";
import { addSeconds, diffSeconds, instantFromTimestamp, isZeroTimestamp, timestampsEqual, type NtpInstant, type NtpTimestamp } from "./time.ts";

/** RFC 5905 §7.2: servers answer on port 123. */
export const NTP_PORT = 123;

/**
 * Where a datagram goes or came from: an IP address literal (names are resolved elsewhere, if at
 * all) and a port. Addresses are compared in canonical form.
 */
export interface SourceAddress {
  readonly address: string;
  readonly port: number;
}

/** The client's configuration. */
export interface NtpClientConfig {
  /** The servers, at most {@link MAX_SOURCES}; `port` defaults to 123. */
  sources: readonly { address: string; port?: number }[];
  /** Shortest and longest poll exponents (log2 s), default 6 (64 s) and 10 (1024 s). */
  minPoll?: number;
  maxPoll?: number;
  /** Send a burst of requests at start (default true). */
  iburst?: boolean;
  /** log2 of the local clock's precision in seconds (default −20, about 1 µs). */
  precision?: number;
  /** The frequency correction in force at start, ppm (e.g. what the kernel holds; default 0). */
  initialFrequencyPpm?: number;
}

/** A configuration the client cannot run with: one sentence and a stable code. */
export interface NtpConfigError {
  code: "PADDOCK_E_NTP_BAD_CONFIG";
  detail: string;
}

/** One reading of the caller's clocks, taken when the event happened. */
export interface ClockReading {
  /** Monotonic seconds (any origin; never goes back, not changed by clock adjustments). */
  readonly mono: number;
  /** The realtime clock (the one being disciplined) on the NTP timescale. */
  readonly real: NtpInstant;
}

/** What the caller supplies with each event. */
export interface StepEnv {
  readonly now: ClockReading;
  /** A uniformly random unsigned 32-bit integer from a cryptographic source (request nonces). */
  readonly random32: () => number;
}

/**
 * Per-source states:
 * - `selected`: the system peer (the first survivor; its leap indicator and root distance are
 *   the system's);
 * - `candidate`: a truechimer (combined when `combined` in its status);
 * - `falseticker`: its interval lies outside the intersection of the majority;
 * - `unreachable`: none of the last 8 polls was answered with a valid reply;
 * - `unfit`: it answers, but is not usable: unsynchronized (LI=3 or stratum 0/16), root
 *   distance above MAXDIST, or too few samples yet (see `unfitReason`);
 * - `kod`: it sent a DENY or RSTR kiss-o'-death and is never asked again.
 */
export type SourceStateName = "selected" | "candidate" | "falseticker" | "unreachable" | "unfit" | "kod";

/** Why a reachable source is unfit. */
export type UnfitReason = "unsynchronized" | "distance" | "no-samples";

/** One source's state inside the client. */
export interface SourceState {
  readonly address: IpAddress;
  readonly port: number;
  readonly state: SourceStateName;
  readonly unfitReason: UnfitReason | undefined;
  /** Whether the combined offset used it. */
  readonly combined: boolean;
  /** Reachability register (§9.2): bit 0 is the latest poll, set when it was answered. */
  readonly reach: number;
  /** Its own poll floor (log2 s): raised by a RATE kiss-o'-death and by the server's advertised poll. */
  readonly minPoll: number;
  /** The poll exponent it was last polled with. */
  readonly hostPoll: number;
  /** Monotonic time of its next request. */
  readonly nextPoll: number;
  /** Requests left in the start burst. */
  readonly burst: number;
  /** Whether its last request was part of the start burst: it still counts toward a majority. */
  readonly inBurst: boolean;
  /** The request in flight: the nonce the reply must echo, and when it was sent. */
  readonly outstanding: { readonly nonce: NtpTimestamp; readonly sentMono: number; readonly sentReal: NtpInstant } | undefined;
  /** Transmit timestamp of the last reply taken (a second copy is a replay). */
  readonly lastTransmit: NtpTimestamp | undefined;
  readonly filter: readonly FilterStage[];
  /** Monotonic time of the last sample the filter output came from (§10: each is used once). */
  readonly lastSampleTime: number;
  readonly peer: FilterOutput | undefined;
  readonly leap: LeapIndicator;
  readonly stratum: number;
  readonly rootDelay: number;
  readonly rootDispersion: number;
  readonly kissCode: string | undefined;
}

/** Counts of replies and datagrams ignored, by reason, plus those taken. */
export interface NtpCounters {
  accepted: number;
  malformed: number;
  /** From an address that is not a configured source, or from another port than the source's. */
  unknownSource: number;
  /** Not mode 4 (server): client requests, broadcasts, mode 6/7, symmetric modes. */
  notServerMode: number;
  /** No request is in flight to that source (late, or unsolicited). */
  unsolicited: number;
  /** The same transmit timestamp as a reply already taken (a replay). */
  duplicate: number;
  /** The origin timestamp is not the nonce of the request in flight. */
  bogusOrigin: number;
  /** A zero transmit or receive timestamp, a receive after the transmit, or T4 before T1. */
  badTimestamps: number;
  /** Unsynchronized servers (LI=3, stratum 0 without a kiss code, stratum ≥ 16). */
  unsynchronized: number;
  /** Kiss-o'-death replies (all codes). */
  kissOfDeath: number;
}

/**
 * The whole client state. Plain data: step returns a new one and leaves the old untouched.
 *
 * Where the machine differs from RFC 5905's client (docs/ntp.md, "Departures", says why):
 * 1. requests carry only version, mode and a random transmit timestamp; T1 is kept here;
 * 2. polls 64–1024 s by default; the start burst runs until 8 samples (at most 12 requests);
 * 3. a source in its start burst is no candidate yet but counts toward the majority;
 * 4. the filter takes the stage of least distance, not least delay, and every stored sample is
 *    corrected for each adjustment asked for;
 * 5. the discipline runs when every survivor has a fresh sample (or the system peer has one and
 *    two polls have passed), not on each system peer sample;
 * 6. the discipline is a frequency-locked loop that assumes each offset is removed before the
 *    next update (unless an `applied` event says otherwise), and it slews during FREQ;
 * 7. replies failing the packet tests leave the request in flight; KoD RATE raises a poll floor
 *    for the rest of the run;
 * 8. no symmetric, broadcast or orphan modes, no MAC verification or NTS, no reference-id loop check.
 */
export interface NtpClientState {
  readonly minPoll: number;
  readonly maxPoll: number;
  readonly iburst: boolean;
  /** Local precision, seconds. */
  readonly precision: number;
  readonly sources: readonly SourceState[];
  /** Index of the system peer in `sources`, if any. */
  readonly systemPeer: number | undefined;
  readonly discipline: DisciplineState;
  readonly started: boolean;
  /** Monotonic time the timer is armed for. */
  readonly timer: number | undefined;
  readonly counters: Readonly<NtpCounters>;
  /** Monotonic time of the last discipline update: samples newer than it are fresh. */
  readonly lastUpdate: number;
  /** The last adjustment asked for. */
  readonly lastAdjustment: ClockAdjustment | undefined;
  /** The last adjustment while the handler has not said what it did with it (an `applied` event). */
  readonly unreported: { readonly at: number; readonly offset: number; readonly frequency: number } | undefined;
}

/** What the caller tells the client. */
export type NtpClientEvent =
  | { kind: "start" }
  /** The armed timer fired (a late or early firing is harmless). */
  | { kind: "timer" }
  /**
   * A datagram arrived. `receivedAt` is the kernel's receive timestamp (SO_TIMESTAMPNS) when the
   * caller has it; otherwise `env.now.real` is taken as T4.
   */
  | { kind: "received"; from: SourceAddress; bytes: Uint8Array; receivedAt?: NtpInstant }
  /** Replace the sources (e.g. from a DHCP lease): ones kept keep their state. */
  | { kind: "setSources"; sources: readonly { address: string; port?: number }[] }
  /**
   * What the clock handler did with the last adjustment: the offset it removed (0 when it
   * refused, or in observe mode) and the frequency correction now in force. Without this event
   * the client assumes the adjustment was carried out as asked.
   */
  | { kind: "applied"; offsetSeconds: number; frequencyPpm: number }
  /**
   * When the request with `nonce` to `to` actually left (the kernel's transmit timestamp, on the
   * clock being disciplined): it replaces T1, which was read when the request was made, before it
   * crossed the caller's own queues. Ignored unless that request is still in flight, and when it
   * is not within MAX_TRANSMIT_DELAY_SECONDS after that reading.
   */
  | { kind: "transmitted"; to: SourceAddress; nonce: NtpTimestamp; at: NtpInstant };

/** Levels of the client's log lines. */
export type NtpLogLevel = "debug" | "info" | "warn";

/**
 * What the client asks of the caller, in order:
 * - `send`: one datagram to a source (from our NTP socket);
 * - `setTimer`: arm the one timer at a monotonic time (replacing the previous one);
 * - `adjust`: a clock adjustment for the clock handler;
 * - `log`: one readable line.
 */
export type NtpClientAction =
  | { kind: "send"; to: SourceAddress; bytes: Uint8Array; nonce: NtpTimestamp }
  | { kind: "setTimer"; at: number }
  | { kind: "adjust"; adjustment: ClockAdjustment }
  | { kind: "log"; level: NtpLogLevel; message: string };

/** The result of a step. */
export interface NtpStepResult {
  state: NtpClientState;
  actions: NtpClientAction[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const inPollRange = (v: number) => Number.isInteger(v) && v >= MINPOLL_LIMIT && v <= MAXPOLL_LIMIT;

/** Sources as configured, checked and with canonical addresses; or why they cannot be used. */
function validateSources(sources: readonly { address: string; port?: number }[]): { address: IpAddress; port: number }[] | NtpConfigError {
  const bad = (detail: string): NtpConfigError => ({ code: "PADDOCK_E_NTP_BAD_CONFIG", detail });
  if (sources.length > MAX_SOURCES) return bad(`${sources.length} NTP servers were given; at most ${MAX_SOURCES} are used.`);
  const out: { address: IpAddress; port: number }[] = [];
  for (const s of sources) {
    const address = parseIpAddress(s.address);
    // JSON.stringify: the text is shown escaped, so a configuration cannot forge a log line.
    if (address === undefined) return bad(`NTP server ${JSON.stringify(String(s.address).slice(0, 64))} is not an IPv4 or IPv6 address (names are not resolved).`);
    const port = s.port ?? NTP_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return bad(`NTP server port ${port} is not between 1 and 65535.`);
    if (out.some((o) => o.address === address && o.port === port)) return bad(`NTP server ${address} port ${port} is given twice.`);
    out.push({ address, port });
  }
  return out;
}

function newSource(address: IpAddress, port: number, minPoll: number): Mutable<SourceState> {
  return {
    address,
    port,
    state: "unreachable",
    unfitReason: undefined,
    combined: false,
    reach: 0,
    minPoll,
    hostPoll: minPoll,
    nextPoll: Number.POSITIVE_INFINITY,
    burst: 0,
    inBurst: false,
    outstanding: undefined,
    lastTransmit: undefined,
    filter: emptyFilter(),
    lastSampleTime: Number.NEGATIVE_INFINITY,
    peer: undefined,
    leap: LeapIndicator.UNSYNCHRONIZED,
    stratum: MAXSTRAT,
    rootDelay: 0,
    rootDispersion: 0,
    kissCode: undefined,
  };
}

/** A client that has not started; `start` sends the first requests. */
export function createNtpClient(config: NtpClientConfig): { ok: true; state: NtpClientState } | { ok: false; error: NtpConfigError } {
  const bad = (detail: string) => ({ ok: false as const, error: { code: "PADDOCK_E_NTP_BAD_CONFIG" as const, detail } });
  const minPoll = config.minPoll ?? DEFAULT_MIN_POLL;
  const maxPoll = config.maxPoll ?? DEFAULT_MAX_POLL;
  if (!inPollRange(minPoll) || !inPollRange(maxPoll) || minPoll > maxPoll) {
    return bad(`poll exponents ${minPoll}..${maxPoll} are not integers with ${MINPOLL_LIMIT} ≤ min ≤ max ≤ ${MAXPOLL_LIMIT}.`);
  }
  const precisionLog2 = config.precision ?? -20;
  if (!Number.isInteger(precisionLog2) || precisionLog2 < -32 || precisionLog2 > 0) return bad(`clock precision 2^${precisionLog2} s is not between 2^-32 and 1 s.`);
  const freq = config.initialFrequencyPpm ?? 0;
  if (!Number.isFinite(freq)) return bad(`initial frequency ${freq} ppm is not a number.`);
  const sources = validateSources(config.sources);
  if (!Array.isArray(sources)) return { ok: false, error: sources };
  return {
    ok: true,
    state: {
      minPoll,
      maxPoll,
      iburst: config.iburst ?? true,
      precision: 2 ** precisionLog2,
      sources: sources.map((s) => newSource(s.address, s.port, minPoll)),
      systemPeer: undefined,
      discipline: initialDiscipline(freq, minPoll),
      started: false,
      timer: undefined,
      counters: { accepted: 0, malformed: 0, unknownSource: 0, notServerMode: 0, unsolicited: 0, duplicate: 0, bogusOrigin: 0, badTimestamps: 0, unsynchronized: 0, kissOfDeath: 0 },
      lastUpdate: Number.NEGATIVE_INFINITY,
      lastAdjustment: undefined,
      unreported: undefined,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The transaction: a mutable draft of the next state plus the actions so far.

class Tx {
  readonly s: Mutable<Omit<NtpClientState, "sources" | "counters">> & { sources: Mutable<SourceState>[]; counters: NtpCounters };
  readonly actions: NtpClientAction[] = [];
  constructor(
    state: NtpClientState,
    readonly env: StepEnv,
  ) {
    this.s = { ...state, sources: state.sources.map((x) => ({ ...x })), counters: { ...state.counters } };
  }
  get now(): number {
    return this.env.now.mono;
  }
  log(level: NtpLogLevel, message: string): void {
    this.actions.push({ kind: "log", level, message });
  }
  result(): NtpStepResult {
    return { state: this.s, actions: this.actions };
  }
}

/** The poll exponent a source is polled with: the system's, never below its own floor. */
function hostPoll(s: NtpClientState, src: SourceState): number {
  return Math.min(MAXPOLL_LIMIT, Math.max(s.discipline.poll, src.minPoll));
}

const name = (src: SourceAddress) => (src.port === NTP_PORT ? src.address : `${src.address} port ${src.port}`);

/**
 * Advances the client by one event. Leaves `state` untouched and never throws: an exception
 * would be a bug, so it is caught, the old state kept and a warning logged (the property tests
 * check that it does not happen).
 */
export function step(state: NtpClientState, event: NtpClientEvent, env: StepEnv): NtpStepResult {
  try {
    return stepUnchecked(state, event, env);
  } catch (e) {
    return { state, actions: [{ kind: "log", level: "warn", message: `NTP client bug on a ${event.kind} event, event ignored: ${String(e)}` }] };
  }
}

function stepUnchecked(state: NtpClientState, event: NtpClientEvent, env: StepEnv): NtpStepResult {
  const tx = new Tx(state, env);
  switch (event.kind) {
    case "start":
      if (!tx.s.started) start(tx);
      break;
    case "timer":
      // The timer is spent, early or late: the next one is always armed anew.
      tx.s.timer = undefined;
      if (tx.s.started) pollDue(tx);
      break;
    case "received":
      if (tx.s.started) receive(tx, event.from, event.bytes, event.receivedAt ?? env.now.real);
      break;
    case "setSources":
      setSources(tx, event.sources);
      break;
    case "applied":
      applied(tx, event.offsetSeconds, event.frequencyPpm);
      break;
    case "transmitted":
      transmitted(tx, event.to, event.nonce, event.at);
      break;
  }
  if (tx.s.started) armTimer(tx);
  return tx.result();
}

/**
 * The longest a request may take from the client's reading of T1 to the wire (the caller's
 * queues): a transmit time later than that belongs to something else and is ignored.
 */
export const MAX_TRANSMIT_DELAY_SECONDS = 1;

/** A kernel transmit time replaces T1 of the request still in flight with that nonce. */
function transmitted(tx: Tx, to: SourceAddress, nonce: NtpTimestamp, at: NtpInstant): void {
  const address = parseIpAddress(to.address);
  const src = tx.s.sources.find((s) => s.address === address && s.port === to.port);
  const out = src?.outstanding;
  if (!src || !out || !timestampsEqual(out.nonce, nonce)) return;
  const late = diffSeconds(at, out.sentReal);
  if (!(late >= 0 && late <= MAX_TRANSMIT_DELAY_SECONDS)) return;
  src.outstanding = { ...out, sentReal: at };
}

function start(tx: Tx): void {
  tx.s.started = true;
  tx.s.sources.forEach((src, i) => {
    src.nextPoll = tx.now + i * START_STAGGER_SECONDS;
    src.burst = tx.s.iburst ? IBURST_MAX_REQUESTS : 0;
  });
  tx.log("info", `NTP client started with ${tx.s.sources.length} server(s)${tx.s.iburst ? ", iburst" : ""}`);
  pollDue(tx);
}

function setSources(tx: Tx, given: readonly { address: string; port?: number }[]): void {
  const wanted = validateSources(given);
  if (!Array.isArray(wanted)) {
    tx.log("warn", `sources not changed: ${wanted.detail}`);
    return;
  }
  const peer = tx.s.systemPeer === undefined ? undefined : tx.s.sources[tx.s.systemPeer];
  tx.s.sources = wanted.map((w) => {
    const kept = tx.s.sources.find((x) => x.address === w.address && x.port === w.port);
    if (kept) return kept;
    const fresh = newSource(w.address, w.port, tx.s.minPoll);
    if (tx.s.started) {
      fresh.nextPoll = tx.now;
      fresh.burst = tx.s.iburst ? IBURST_MAX_REQUESTS : 0;
    }
    return fresh;
  });
  const at = peer === undefined ? -1 : tx.s.sources.indexOf(peer);
  tx.s.systemPeer = at >= 0 ? at : undefined;
  tx.log("info", `NTP servers: ${tx.s.sources.map(name).join(", ") || "none"}`);
}

function armTimer(tx: Tx): void {
  const next = Math.min(...tx.s.sources.map((x) => x.nextPoll));
  const at = Number.isFinite(next) ? Math.max(next, tx.now) : undefined;
  if (at !== undefined && at !== tx.s.timer) tx.actions.push({ kind: "setTimer", at });
  tx.s.timer = at;
}

/** Sends a request to every source whose poll is due (§13, poll()). */
function pollDue(tx: Tx): void {
  for (const src of tx.s.sources) {
    if (src.state === "kod" || src.nextPoll > tx.now) continue;
    // §9.2: shift the reachability register; a miss of the last three polls feeds the filter a
    // dummy sample of maximum dispersion, so that a silent source ages out of selection.
    const answered = src.outstanding === undefined;
    src.reach = (src.reach << 1) & 0xff;
    if (!answered && src.peer !== undefined && (src.reach & 0x7) === 0) {
      src.filter = shiftFilter(src.filter, { offset: 0, driftRate: 0, driftBase: 0, delay: MAXDISP, dispersion: MAXDISP, time: tx.now });
      src.peer = evaluateFilter(src.filter, tx.now, tx.s.precision);
    }
    if (src.reach === 0 && src.state !== "unreachable") {
      src.state = "unreachable";
      src.combined = false;
      tx.log("warn", `NTP server ${name(src)} is unreachable`);
    }
    const nonce: NtpTimestamp = { seconds: tx.env.random32() >>> 0, fraction: tx.env.random32() >>> 0 };
    src.outstanding = { nonce, sentMono: tx.now, sentReal: tx.env.now.real };
    tx.actions.push({ kind: "send", to: { address: src.address, port: src.port }, bytes: encodeClientRequest(nonce), nonce });
    src.hostPoll = hostPoll(tx.s, src);
    // iburst: every 2 s until this request would bring the samples to IBURST_SAMPLES, at most
    // IBURST_MAX_REQUESTS requests; a lost reply makes the burst longer, not the wait.
    src.inBurst = src.burst > 0;
    const validSamples = src.filter.filter((f) => f.dispersion < MAXDISP).length;
    src.burst = src.burst > 0 && validSamples + 1 < IBURST_SAMPLES ? src.burst - 1 : 0;
    src.nextPoll = tx.now + (src.burst > 0 ? IBURST_SPACING_SECONDS : 2 ** src.hostPoll);
  }
  if (tx.s.systemPeer !== undefined || tx.s.sources.some((x) => x.peer !== undefined)) select(tx);
}

function receive(tx: Tx, from: SourceAddress, bytes: Uint8Array, t4: NtpInstant): void {
  const c = tx.s.counters;
  const decoded = decodeNtpPacket(bytes);
  if (!decoded.ok) {
    c.malformed++;
    tx.log("debug", `ignored a datagram from ${name(from)}: ${decoded.error.detail}`);
    return;
  }
  const address = parseIpAddress(from.address);
  const src = tx.s.sources.find((x) => x.address === address && x.port === from.port);
  if (src === undefined) {
    c.unknownSource++;
    tx.log("debug", `ignored a datagram from ${name(from)}, which is not a configured server`);
    return;
  }
  const p = decoded.value;
  if (p.kind !== "time" || p.mode !== NtpMode.SERVER) {
    c.notServerMode++;
    tx.log("debug", `ignored a mode ${p.mode} packet from ${name(from)}`);
    return;
  }
  const out = src.outstanding;
  if (out === undefined) {
    if (src.lastTransmit !== undefined && timestampsEqual(src.lastTransmit, p.transmitTime)) c.duplicate++;
    else c.unsolicited++;
    return;
  }
  if (!timestampsEqual(p.originTime, out.nonce)) {
    // §8: a reply whose origin is not our nonce is bogus (an off-path forgery or a stale reply).
    c.bogusOrigin++;
    return;
  }
  if (src.lastTransmit !== undefined && timestampsEqual(src.lastTransmit, p.transmitTime)) {
    c.duplicate++;
    return;
  }
  if (p.stratum === 0 && p.kissCode !== undefined) {
    kissOfDeath(tx, src, p);
    return;
  }
  // §8: T1 (ours, kept locally), T2, T3 (the server's, era taken nearest to T1), T4. A reply
  // that fails these tests is dropped as if never received: the request stays in flight.
  const t1 = out.sentReal;
  if (isZeroTimestamp(p.transmitTime) || isZeroTimestamp(p.receiveTime)) {
    c.badTimestamps++;
    return;
  }
  const t2 = instantFromTimestamp(p.receiveTime, t1);
  const t3 = instantFromTimestamp(p.transmitTime, t1);
  const roundTrip = diffSeconds(t4, t1);
  const serverTime = diffSeconds(t3, t2);
  if (roundTrip < 0 || tx.now < out.sentMono || serverTime < 0 || !Number.isFinite(roundTrip)) {
    c.badTimestamps++;
    tx.log("debug", `ignored a reply from ${name(src)} with inconsistent timestamps`);
    return;
  }
  // §8 packet tests: a server whose own distance to its reference is absurd says nothing.
  if (p.rootDelay / 2 + p.rootDispersion >= MAXDISP) {
    c.unsynchronized++;
    return;
  }
  // From here the reply is authentic as far as the nonce can tell: the request is answered.
  src.outstanding = undefined;
  src.lastTransmit = p.transmitTime;
  src.reach |= 1;
  if (p.leap === LeapIndicator.UNSYNCHRONIZED || p.stratum === 0 || p.stratum >= MAXSTRAT) {
    c.unsynchronized++;
    src.stratum = p.stratum;
    src.leap = p.leap;
    if (src.state !== "unfit" || src.unfitReason !== "unsynchronized") tx.log("info", `NTP server ${name(src)} is unsynchronized (leap ${p.leap}, stratum ${p.stratum}): ignored`);
    src.state = "unfit";
    src.unfitReason = "unsynchronized";
    src.combined = false;
    src.peer = undefined;
    src.filter = emptyFilter();
    if (tx.s.systemPeer !== undefined) select(tx);
    return;
  }
  c.accepted++;
  src.leap = p.leap;
  src.stratum = p.stratum;
  src.rootDelay = p.rootDelay;
  src.rootDispersion = p.rootDispersion;
  // The server's advertised poll is a floor: never ask more often than it says it will answer.
  if (p.poll > src.minPoll) src.minPoll = Math.min(p.poll, MAXPOLL_LIMIT);
  const offset = (diffSeconds(t2, t1) + diffSeconds(t3, t4)) / 2;
  const delay = Math.max(roundTrip - serverTime, tx.s.precision);
  const dispersion = 2 ** p.precision + tx.s.precision + PHI * roundTrip;
  clockFilter(tx, src, { offset, driftRate: 0, driftBase: 0, delay, dispersion, time: tx.now });
}

/** §7.4: RATE backs the poll off; DENY and RSTR end the association; other codes are ignored. */
function kissOfDeath(tx: Tx, src: Mutable<SourceState>, p: NtpTimePacket): void {
  tx.s.counters.kissOfDeath++;
  src.outstanding = undefined;
  src.lastTransmit = p.transmitTime;
  src.kissCode = p.kissCode;
  if (p.kissCode === "DENY" || p.kissCode === "RSTR") {
    src.state = "kod";
    src.combined = false;
    src.peer = undefined;
    src.nextPoll = Number.POSITIVE_INFINITY;
    src.burst = 0;
    tx.log("warn", `NTP server ${name(src)} sent kiss-o'-death ${p.kissCode}: it is not asked again`);
    select(tx);
  } else if (p.kissCode === "RATE") {
    // Poll less often than we did, and never more often than the kiss's own poll field says.
    const floor = Math.min(MAXPOLL_LIMIT, Math.max(src.hostPoll + 1, p.poll, src.minPoll + 1));
    src.minPoll = floor;
    src.burst = 0;
    src.nextPoll = tx.now + 2 ** floor;
    tx.log("warn", `NTP server ${name(src)} sent kiss-o'-death RATE: its poll is now ${2 ** floor} s`);
  } else {
    tx.log("debug", `NTP server ${name(src)} sent kiss code ${JSON.stringify(p.kissCode)}: ignored`);
  }
}

/** §10: a new sample enters the filter; a new filter output runs selection. */
function clockFilter(tx: Tx, src: Mutable<SourceState>, sample: FilterStage): void {
  src.filter = shiftFilter(src.filter, sample);
  const previous = src.peer;
  const out = evaluateFilter(src.filter, tx.now, tx.s.precision);
  src.peer = out;
  if (out === undefined) return;
  if (out.time > src.lastSampleTime) {
    // Popcorn spike: an offset far from the last, within two polls of it, moves nothing (§10).
    if (previous !== undefined && out.valid > 1 && Math.abs(out.offset - previous.offset) > SGATE * out.jitter && out.time - src.lastSampleTime < 2 * 2 ** src.hostPoll) {
      tx.log("debug", `NTP server ${name(src)}: popcorn spike of ${out.offset.toFixed(6)} s`);
      return;
    }
    src.lastSampleTime = out.time;
  }
  // Selection runs on every sample, also one the filter ranks below an older one: it may end a
  // burst or complete a round (the discipline only acts on fresh samples, see select).
  select(tx);
}

/** Root distance λ of a source (§11.2): half the round trip to the reference plus dispersions and jitter. */
function rootDistance(src: SourceState, now: number): number {
  const p = src.peer!;
  return Math.max(MINDISP, src.rootDelay + p.delay) / 2 + src.rootDispersion + p.dispersion + PHI * Math.max(0, now - p.time) + p.jitter;
}

const LEAP_NAMES: Record<number, LeapSecond> = { [LeapIndicator.NONE]: "none", [LeapIndicator.INSERT]: "insert", [LeapIndicator.DELETE]: "delete" };

/**
 * §11.2 fit test of one source: its root distance when it may take part in selection; otherwise
 * undefined, with its state and reason set.
 */
function fitness(src: Mutable<SourceState>, now: number, threshold: number): number | undefined {
  if (src.reach === 0) {
    src.state = "unreachable";
    return undefined;
  }
  src.state = "unfit";
  if (src.unfitReason === "unsynchronized" && src.peer === undefined) return undefined;
  if (src.peer === undefined) {
    src.unfitReason = "no-samples";
    return undefined;
  }
  const lambda = rootDistance(src, now);
  src.unfitReason = lambda >= threshold ? "distance" : undefined;
  return lambda >= threshold ? undefined : lambda;
}

/** §11.2: fit test, selection, clustering, combining; then the discipline (§11.3). */
function select(tx: Tx): void {
  const s = tx.s;
  const candidates: Candidate[] = [];
  const threshold = MAXDIST + PHI * 2 ** s.discipline.poll;
  // A source in its start burst is no candidate yet (a filter with empty stages has intervals
  // a second wide, wide enough to let a liar in), but counts toward the majority: otherwise the
  // first source to finish, a liar perhaps, would be a majority of one. One that has left all of
  // the reachability register's 8 polls unanswered no longer counts: a dead server would
  // otherwise hold the first estimate back until its last burst request is a poll (64 s) old.
  let warming = 0;
  const was = s.sources.map((src) => src.state);
  s.sources.forEach((src, id) => {
    src.combined = false;
    if (src.state === "kod") return;
    src.peer = evaluateFilter(src.filter, tx.now, s.precision);
    const lambda = fitness(src, tx.now, threshold);
    if (src.unfitReason === "unsynchronized" && src.state === "unfit") return;
    const silentThroughRegister = src.reach === 0 && IBURST_MAX_REQUESTS - src.burst >= IBURST_SAMPLES;
    if ((src.burst > 0 || (src.inBurst && src.outstanding !== undefined)) && !silentThroughRegister) {
      if (src.state !== "unreachable") src.state = "unfit";
      src.unfitReason = src.state === "unfit" ? "no-samples" : undefined;
      warming++;
    } else if (lambda !== undefined) candidates.push({ id, offset: src.peer!.offset, rootDistance: lambda, stratum: src.stratum, jitter: src.peer!.jitter });
  });
  const sel = selectSources(candidates, s.systemPeer);
  const majority = sel.majority && 2 * sel.truechimers.length > candidates.length + warming;
  const before = s.systemPeer;
  if (!majority) {
    // Nobody is called a falseticker without a majority to be false against.
    for (const c of candidates) s.sources[c.id]!.state = "candidate";
    s.systemPeer = undefined;
    if (before !== undefined) tx.log("warn", "no majority of NTP servers agrees: the clock is not adjusted");
    return;
  }
  for (const id of sel.falsetickers) s.sources[id]!.state = "falseticker";
  for (const id of sel.truechimers) s.sources[id]!.state = "candidate";
  for (const id of sel.survivors) s.sources[id]!.combined = true;
  const peerId = sel.survivors[0]!;
  s.systemPeer = peerId;
  const peer = s.sources[peerId]!;
  peer.state = "selected";
  if (before !== peerId) tx.log("info", `NTP server ${name(peer)} selected (stratum ${peer.stratum})`);
  for (const id of sel.falsetickers) if (was[id] !== "falseticker") tx.log("warn", `NTP server ${name(s.sources[id]!)} is a falseticker`);
  // §11.2.3 clock_update runs on each new sample of the system peer. Here only samples of the
  // current round are combined (taken within ROUND_WINDOW_SECONDS: combining one fresh sample
  // with others a poll old would mix in a poll's worth of unknown frequency error), and the
  // update waits until every survivor has one, which is the last reply of a round since the
  // sources are polled together. A survivor that falls silent or polls at another time holds the
  // update up two polls at most; it is then made without it.
  //
  //
  // The first update is the exception: it takes a survivor's filtered sample from anywhere in the
  // span of a start burst (FIRST_ROUND_WINDOW_SECONDS). A filter picks its lowest-delay sample,
  // which after a burst with varying delays is often one of its first, more than a round window
  // before the burst's end; held to the round window, the first update waited for a fresher sample
  // to win the filter, a poll or several later (a third of the starts with 2 ms of delay jitter in
  // the simulation, test/client.test.ts).
  const window = s.lastUpdate === Number.NEGATIVE_INFINITY ? FIRST_ROUND_WINDOW_SECONDS : ROUND_WINDOW_SECONDS;
  const recent = sel.survivors.filter((id) => tx.now - (s.sources[id]!.peer?.time ?? Number.NEGATIVE_INFINITY) < window);
  const isNew = (id: number) => (s.sources[id]!.peer?.time ?? Number.NEGATIVE_INFINITY) > s.lastUpdate;
  if (!recent.includes(peerId) || !recent.some(isNew)) return;
  if (recent.length < sel.survivors.length && tx.now - s.lastUpdate < 2 * 2 ** s.discipline.poll) return;
  s.lastUpdate = tx.now;
  const used = candidates.filter((c) => recent.includes(c.id));
  const { offset, selectionJitter } = combine(used, used.find((c) => c.id === peerId)!);
  discipline(tx, offset, selectionJitter, peer);
}

function discipline(tx: Tx, offset: number, selectionJitter: number, peer: SourceState): void {
  const s = tx.s;
  const before = s.discipline;
  const p = peer.peer!;
  const systemJitter = Math.sqrt(selectionJitter ** 2 + p.jitter ** 2);
  const { state, result } = updateDiscipline(s.discipline, offset, systemJitter, tx.now, { minPoll: s.minPoll, maxPoll: s.maxPoll, precision: s.precision });
  if (state.poll !== s.discipline.poll) tx.log("info", `poll interval ${2 ** state.poll} s`);
  s.discipline = state;
  if (result.kind === "ignore") {
    tx.log("info", result.reason);
    return;
  }
  const adjustment: ClockAdjustment = {
    offsetSeconds: result.offset,
    frequencyPpm: result.frequency * 1e6,
    step: result.step,
    maxErrorSeconds: rootDistance(peer, tx.now),
    estErrorSeconds: systemJitter,
    leap: LEAP_NAMES[peer.leap] ?? "none",
  };
  s.lastAdjustment = adjustment;
  s.unreported = { at: tx.now, offset: result.offset, frequency: result.frequency };
  tx.actions.push({ kind: "adjust", adjustment });
  correctSamples(tx, result.offset, result.frequency - before.frequency, tx.now);
}

/**
 * Makes every stored sample say what it would of the clock after a change at `at` that removed
 * `offset` and changed the frequency by `frequencyChange` (see FilterStage), and a request in
 * flight since before `at` to have been sent at what the changed clock read then.
 */
function correctSamples(tx: Tx, offset: number, frequencyChange: number, at: number): void {
  for (const src of tx.s.sources) {
    src.filter = correctFilter(src.filter, offset, frequencyChange, at);
    src.peer = evaluateFilter(src.filter, tx.now, tx.s.precision);
    const out = src.outstanding;
    if (out !== undefined && out.sentMono <= at) src.outstanding = { ...out, sentReal: addSeconds(out.sentReal, offset) };
  }
}

/** The handler's report on the last adjustment: the samples and the discipline learn the difference. */
function applied(tx: Tx, offsetSeconds: number, frequencyPpm: number): void {
  const last = tx.s.unreported;
  if (last === undefined || !Number.isFinite(offsetSeconds) || !Number.isFinite(frequencyPpm)) {
    tx.log("warn", "a report on an adjustment that was not asked for, or not a number: ignored");
    return;
  }
  tx.s.unreported = undefined;
  const extraOffset = offsetSeconds - last.offset;
  const frequency = frequencyPpm * 1e-6;
  if (extraOffset === 0 && frequency === last.frequency) return;
  tx.log("info", `the clock handler removed ${offsetSeconds.toFixed(6)} s of ${last.offset.toFixed(6)} s and holds ${frequencyPpm.toFixed(3)} ppm`);
  correctSamples(tx, extraOffset, frequency - last.frequency, last.at);
  tx.s.discipline = reportApplied(tx.s.discipline, extraOffset, frequency);
}

/** One source's status, for metrics and `paddock ntp` output. */
export interface SourceStatus {
  readonly address: string;
  readonly port: number;
  readonly state: SourceStateName;
  readonly unfitReason?: UnfitReason;
  readonly combined: boolean;
  /** The reachability register as an 8-bit number (ntpq shows it in octal). */
  readonly reach: number;
  readonly stratum: number;
  readonly pollSeconds: number;
  /** Seconds; undefined before the first sample. */
  readonly offsetSeconds?: number;
  readonly delaySeconds?: number;
  readonly jitterSeconds?: number;
  readonly dispersionSeconds?: number;
  readonly kissCode?: string;
}

/** Every source's status, in configuration order. */
export function sourceStatus(state: NtpClientState): SourceStatus[] {
  return state.sources.map((src) => ({
    address: src.address,
    port: src.port,
    state: src.state,
    ...(src.unfitReason === undefined ? {} : { unfitReason: src.unfitReason }),
    combined: src.combined,
    reach: src.reach,
    stratum: src.stratum,
    pollSeconds: 2 ** hostPoll(state, src),
    ...(src.peer === undefined
      ? {}
      : { offsetSeconds: src.peer.offset, delaySeconds: src.peer.delay, jitterSeconds: src.peer.jitter, dispersionSeconds: src.peer.dispersion }),
    ...(src.kissCode === undefined ? {} : { kissCode: src.kissCode }),
  }));
}
