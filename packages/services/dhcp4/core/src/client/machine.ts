/**
 * The sans-IO DHCPv4 client (RFC 2131 §4.4, figure 5): `step(state, event, now)` returns the next
 * state and the actions the runtime performs (send, timers, KV writes, logs). It does no I/O,
 * reads no clock and draws randomness only from `config.random`.
 */

import type { ArpPacket } from "../arp.ts";
import { BOOTREPLY, BOOTREQUEST, MessageType } from "../message.ts";
import type { DhcpMessage, DhcpOption, DhcpPacketInfo, Ipv4 } from "../message.ts";
import {
  ANNOUNCE_INTERVAL_MS,
  ANNOUNCE_NUM,
  ANNOUNCE_WAIT_MS,
  conflictHoldoffMs,
  DEFEND_INTERVAL_MS,
  isBoundConflict,
  isProbeConflict,
  PROBE_MAX_MS,
  PROBE_MIN_MS,
  PROBE_NUM,
  PROBE_WAIT_MS,
} from "./acd.ts";
import { bytesEqual, isUnicastHost, macToText } from "./addr.ts";
import { resolveConfig } from "./config.ts";
import { IPV6_ONLY_UNTIL_KEY, ipv6OnlyAnswer } from "./ipv6-only.ts";
import type { ClientConfig, ClientConfigError, ResolvedConfig } from "./config.ts";
import {
  allLeasePaths,
  findOption,
  leaseFromAck,
  leaseKeys,
  leaseTimes,
  parsePersistedLease,
} from "./lease.ts";
import type { PersistedLease } from "./lease.ts";

/** RFC 2131 §4.1: the first retransmission waits 4 s … */
export const INITIAL_RETRANSMIT_MS = 4_000;
/** … doubling up to 64 s … */
export const MAX_RETRANSMIT_MS = 64_000;
/** … each randomised by a uniform ±1 s. */
export const RETRANSMIT_JITTER_MS = 1_000;
/** RFC 2131 §4.4.5: in RENEWING/REBINDING wait half the remaining time, but at least 60 s. */
export const MIN_RENEW_RETRANSMIT_MS = 60_000;
/** RFC 2131 §3.1 step 5's example: four REQUESTs (about 60 s) before going back to INIT. */
export const MAX_REQUEST_TRANSMISSIONS = 4;
/** Two REQUESTs (about 12 s) in REBOOTING: ISC dhclient gives up after 10 s, OpenBSD dhcpleased after 3. */
export const MAX_REBOOT_TRANSMISSIONS = 2;
/** RFC 2131 §3.1 step 5: wait at least 10 s after a DECLINE before starting again. */
export const DECLINE_HOLDOFF_MS = 10_000;
/** Bounds the offers kept while SELECTING, so an OFFER flood costs constant memory. */
export const MAX_OFFERS = 8;

/** The RFC 2131 figure 5 states, plus STOPPED. */
export type ClientStateName =
  | "INIT"
  | "SELECTING"
  | "REQUESTING"
  | "BOUND"
  | "RENEWING"
  | "REBINDING"
  | "INIT-REBOOT"
  | "REBOOTING"
  | "RELEASED"
  | "IPV6-ONLY"
  | "STOPPED";

/**
 * Timers the client arms; the runtime keeps one per name (setting a name replaces it).
 * - `start`: the initial delay, or the hold-off after a DECLINE or repeated NAKs, before INIT or
 *   INIT-REBOOT sends its first message.
 * - `retransmit`: the next retransmission of the current exchange.
 * - `offerWindow`: end of the wait for an offer of the preferred address (SELECTING).
 * - `t1`, `t2`, `expiry`: the lease's renewal, rebinding and expiry times (§4.4.5).
 * - `arp`: the next RFC 5227 probe, the end of the wait after the last one, or the next
 *   announcement (`config.arpProbe`).
 * - `ipv6Only`: the end of RFC 8925's V6ONLY_WAIT (IPV6-ONLY), when DHCPv4 starts over.
 */
export type TimerName = "start" | "retransmit" | "offerWindow" | "t1" | "t2" | "expiry" | "arp" | "ipv6Only";
const TIMER_NAMES: readonly TimerName[] = ["start", "retransmit", "offerWindow", "t1", "t2", "expiry", "arp", "ipv6Only"];

/** An offer kept while SELECTING. */
export interface Offer {
  address: Ipv4;
  serverId: Ipv4;
  serverMac: string;
  leaseSeconds: number | undefined;
}

/**
 * The client's whole state. Plain data apart from `config` (which holds the injected random
 * source); `step` never mutates it.
 *
 * Where this machine departs from RFC 2131's figure 5, and why:
 *
 * 1. **Link events.** The figure has none. Link down keeps a held lease published (it stays valid
 *    until it expires; DESIGN invariant 5), cancels every timer but `expiry` and `start`, and rests
 *    in INIT-REBOOT (lease) or INIT (none). Link up leaves INIT-REBOOT for REBOOTING (§3.2: the
 *    link may now be another network) and INIT for SELECTING.
 * 2. **INIT and INIT-REBOOT are resting states only while waiting** (link down, initial delay,
 *    hold-off); otherwise the client passes through them in the same step.
 * 3. **REBOOTING without an answer goes to INIT and withdraws the lease** (after
 *    {@link MAX_REBOOT_TRANSMISSIONS} REQUESTs). §3.2 lets a client keep using it; a lease
 *    remembered from another network is worse than none. `onRebootTimeout: "keepLease"` chooses
 *    the RFC's alternative (resume BOUND/RENEWING/REBINDING by the clock).
 * 4. **Choosing an offer** (§4.4.1 leaves it open): the first offer wins at once unless there is a
 *    preferred address (the previous lease's, or `requestedAddress`) that it does not carry; then
 *    offers are collected for `offerWindowMs`, an offer of the preferred address wins at once, and
 *    at the end of the window the first offer wins. Offers without a server id are ignored.
 * 5. **Giving up**: SELECTING retransmits DISCOVER forever (64 s cap); REQUESTING returns to INIT
 *    after {@link MAX_REQUEST_TRANSMISSIONS} REQUESTs (§3.1 step 5's example).
 * 6. **Repeated NAKs back off.** The first NAK restarts at once (§3.1 step 5); each further NAK
 *    before a lease is bound waits 4, 8, … 64 s (±1 s), so a server that NAKs everything is not
 *    flooded with DISCOVER/REQUEST pairs.
 * 7. **Short leases are stretched** to {@link MIN_LEASE_SECONDS}; lease 0 included. A missing
 *    lease time (servers MUST send one) falls back to the offer's, then the previous lease's;
 *    without either the ACK is ignored.
 * 8. **Address conflict detection (RFC 5227) when `config.arpProbe` is set** (the runtime then
 *    delivers ARP frames as `arp` events). An ACK for a new address (not the one held: SELECTING's
 *    rapid commit, REQUESTING, REBOOTING or a renewal answered with another address) is not
 *    published at once: the client stays in the state that received it, ignores further replies
 *    and probes (§2.1: after 0–{@link PROBE_WAIT_MS} ms, {@link PROBE_NUM} probes
 *    {@link PROBE_MIN_MS}–{@link PROBE_MAX_MS} ms apart, then {@link ANNOUNCE_WAIT_MS} ms) — the
 *    figure's "DHCPACK (not accept.)" arc, checked as §4.4.1 says the client SHOULD. A conflict
 *    (§2.1.1) sends DECLINE (§3.1 step 5: options 50 and 54) and restarts INIT after
 *    {@link DECLINE_HOLDOFF_MS} (60 s after {@link MAX_CONFLICTS} conflicts). No conflict: the lease
 *    is published and {@link ANNOUNCE_NUM} announcements go out (§2.3). While BOUND, RENEWING or
 *    REBINDING a conflicting ARP is answered with one announcement (§2.4 (b)); a second within
 *    {@link DEFEND_INTERVAL_MS} gives the address up: the lease is withdrawn and INIT restarts at
 *    once, without DECLINE (the server's binding is not wrong, the link is shared), as dhcpcd does.
 * 9. **T1, T2 and expiry are armed together** at BOUND rather than one after the other; same times.
 * 10. **Operator requests** (`renew`, `release`; the figure has neither). `renew` holding a lease
 *    renews at once as at T1 (RENEWING, unicast); without one it starts a new exchange
 *    (INIT-REBOOT's REQUEST when a lease is remembered, else DISCOVER). `release` sends RELEASE
 *    (§4.4.6), withdraws the lease and rests in RELEASED — no timers, link events only noted —
 *    until the next `renew` (or a restart) discovers again.
 * 11. **STOPPED** is terminal. Stop with release sends RELEASE (§4.4.6) and withdraws the lease;
 *    stop without release leaves it published and persisted, so a restarted client resumes
 *    through INIT-REBOOT.
 * 12. **Replies are filtered harder than the figure says**: besides xid and chaddr (§4.4.1), a
 *    client identifier echoed by the server must be ours (RFC 6842 §3), and in REQUESTING and
 *    RENEWING an ACK/NAK naming another server id is ignored. FORCERENEW (RFC 3203) is ignored:
 *    without RFC 6704 authentication it lets anyone on the link trigger renewals. An ACK is
 *    bound only with a unicast server id, and only when its lease is sound: a yiaddr that is the
 *    server's own address or its subnet's network/broadcast address refuses it; malformed or
 *    hostile optional options (routes to loopback/multicast, a router equal to the lease) are
 *    dropped alone (docs/dhcp4-client.md, "What a server cannot make the client publish").
 * 13. **A renewal ACK with a different yiaddr** is taken as a new lease. Every ACK publishes the
 *    whole lease (one commit): a key an operator deleted comes back; equal values change nothing.
 * 14. **Timer events** for a timer that is not armed are ignored (late or duplicate); one that
 *    arrives before its time is re-armed rather than acted on.
 * 15. **IPV6-ONLY** (RFC 8925, `config.ipv6OnlyPreferred`; the figure predates it): option 108 is
 *    requested in every DISCOVER and REQUEST. An OFFER carrying it, or a rapid-commit ACK (whose
 *    address is then RELEASEd), is not requested or bound: the client rests in IPV6-ONLY with no
 *    address for V6ONLY_WAIT (the option's value, at least 300 s) and then discovers again; so
 *    does an ACK in REBOOTING (§3.2's INIT-REBOOT case), which withdraws the remembered lease and
 *    RELEASEs it. An ACK in REQUESTING, RENEWING or REBINDING carrying 108 is bound as usual
 *    (§3.2: keep the address). Link down ends the wait (INIT; link up discovers: a network
 *    attachment), and so does the operator's `renew`. A 108 of the wrong length is ignored.
 *    While the wait runs, `/client/ipv6-only-until` holds its end (Unix seconds).
 */
export interface ClientState {
  readonly config: ResolvedConfig;
  readonly name: ClientStateName;
  /** Whether the link is up; nothing is sent while it is down. */
  readonly link: boolean;
  /** xid of the current exchange. */
  readonly xid: number;
  /** When the current acquisition began (ms): the `secs` field counts from here (§4.4.1). */
  readonly exchangeStart: number;
  /** When the first message of the current request was sent: a lease's time origin (§4.4.1). */
  readonly requestStart: number;
  /** Messages sent in the current exchange (1 after the first). */
  readonly attempt: number;
  /** Offers collected in SELECTING. */
  readonly offers: readonly Offer[];
  /** The offer being requested in REQUESTING. */
  readonly selected: Offer | undefined;
  /** The lease held (BOUND, RENEWING, REBINDING, INIT-REBOOT, REBOOTING; STOPPED without release). */
  readonly lease: PersistedLease | undefined;
  /** Address to ask for and prefer in SELECTING (the last lease's, unless NAKed or declined). */
  readonly preferred: Ipv4 | undefined;
  /** NAKs since the last lease was bound (departure 6). */
  readonly nakCount: number;
  /**
   * The ACKed lease being checked with ARP before use, and the probes sent (departure 8). It lives
   * exactly as long as the `arp` timer: cancelling that timer abandons the probe.
   */
  readonly probe: { readonly lease: PersistedLease; readonly sent: number } | undefined;
  /** Announcements still to send for the lease just bound (§2.3); also ended by cancelling `arp`. */
  readonly announcementsLeft: number;
  /** Address conflicts since an address was last bound (RFC 5227 rate limiting). */
  readonly conflicts: number;
  /** When the held address was last defended (§2.4), if it was. */
  readonly lastDefence: number | undefined;
  /** The KV keys this client has written and not deleted: path → value. */
  readonly published: Readonly<Record<string, string>>;
  /** Armed timers: name → absolute ms. */
  readonly timers: Readonly<Partial<Record<TimerName, number>>>;
}

/** What the runtime tells the client. */
export type ClientEvent =
  /** `rxTime` (kernel receive time) is informational: a lease counts from its request (§4.4.1). */
  | { kind: "received"; message: DhcpMessage; info: DhcpPacketInfo; rxTime: number }
  | { kind: "timer"; name: TimerName }
  | { kind: "linkUp" }
  | { kind: "linkDown" }
  /** `release` overrides `config.releaseOnStop`. */
  | { kind: "stop"; release?: boolean }
  /** An ARP packet from the link (RFC 5227; ignored unless `config.arpProbe`). */
  | { kind: "arp"; packet: ArpPacket }
  /** The runtime found `address` in use by other means than `arp` events: DECLINE, withdraw, INIT after 10 s. */
  | { kind: "addressInUse"; address: Ipv4 }
  /** An operator asks for a renewal now (`paddock renew`): as at T1, or a new exchange without a lease. */
  | { kind: "renew" }
  /** An operator asks to give the lease back (`paddock release`): RELEASE, withdraw, stay idle until `renew`. */
  | { kind: "release" };

/** Log levels of the client's one-line messages. */
export type LogLevel = "debug" | "info" | "warn";

/**
 * What the client asks the runtime to do, in order.
 * - `send`: encode and transmit; `to` is "broadcast" (Ethernet and IPv4 broadcast) or the
 *   server's address for unicast, with `nextHopMac` the Ethernet address the lease came from
 *   (the server, or the relay in front of it) when known.
 * - `setTimer`: (re)arm a timer at an absolute time, never in the past; `cancelTimer`: disarm.
 * - `kvWrite` / `kvDelete`: publish or withdraw a key; deleting an absent key must succeed. The
 *   keys of one lease come in one uninterrupted run (apply them as one batch). `/state/lease`
 *   is the persisted state.
 * - `sendArp`: broadcast an ARP request from the interface's MAC, target hardware address zero:
 *   a probe (`senderIp` 0.0.0.0) or an announcement (`senderIp` = `targetIp`), RFC 5227.
 * - `log`: one readable line; every state change logs one at info level.
 */
export type ClientAction =
  | { kind: "send"; message: DhcpMessage; to: "broadcast" | Ipv4; nextHopMac?: Uint8Array }
  | { kind: "sendArp"; senderIp: Ipv4; targetIp: Ipv4 }
  | { kind: "setTimer"; name: TimerName; at: number }
  | { kind: "cancelTimer"; name: TimerName }
  | { kind: "kvWrite"; path: string; value: string }
  | { kind: "kvDelete"; path: string }
  | { kind: "log"; level: LogLevel; message: string };

/** The result of a step. */
export interface StepResult {
  state: ClientState;
  actions: ClientAction[];
}

/** Options for {@link createClient}. */
export interface CreateClientOptions {
  /** The text stored under `/state/lease` by an earlier run, if any. */
  persistedLease?: string | undefined;
  /** Whether the link is up now (default true). */
  linkUp?: boolean;
}

// ---------------------------------------------------------------------------------------------
// The transaction: a draft of the next state plus the actions so far.

type Draft = { -readonly [K in keyof ClientState]: ClientState[K] } & {
  published: Record<string, string>;
  timers: Partial<Record<TimerName, number>>;
};

class Tx {
  readonly s: Draft;
  readonly actions: ClientAction[] = [];
  constructor(
    state: ClientState,
    readonly now: number,
  ) {
    this.s = { ...state, published: { ...state.published }, timers: { ...state.timers } };
  }
  log(level: LogLevel, message: string): void {
    this.actions.push({ kind: "log", level, message });
  }
  setTimer(name: TimerName, at: number): void {
    const when = Math.max(Math.round(at), this.now);
    this.s.timers[name] = when;
    this.actions.push({ kind: "setTimer", name, at: when });
  }
  cancelTimer(name: TimerName): void {
    if (name === "arp") {
      this.s.probe = undefined;
      this.s.announcementsLeft = 0;
    }
    if (this.s.timers[name] === undefined) return;
    delete this.s.timers[name];
    this.actions.push({ kind: "cancelTimer", name });
  }
  cancelTimersExcept(keep: readonly TimerName[]): void {
    for (const name of TIMER_NAMES) if (!keep.includes(name)) this.cancelTimer(name);
  }
  goto(name: ClientStateName, why: string): void {
    const from = this.s.name;
    this.s.name = name;
    this.log("info", `${from} → ${name}: ${why}`);
    if (from === "IPV6-ONLY" && name !== "IPV6-ONLY") {
      // Departure 15: whichever way the client leaves the wait, its timer and its key go with it.
      this.cancelTimer("ipv6Only");
      if (this.s.published[IPV6_ONLY_UNTIL_KEY] !== undefined) {
        delete this.s.published[IPV6_ONLY_UNTIL_KEY];
        this.actions.push({ kind: "kvDelete", path: IPV6_ONLY_UNTIL_KEY });
      }
    }
  }
  /** An RFC 5227 probe (`senderIp` 0.0.0.0) or announcement (`senderIp` = `targetIp`). */
  sendArp(senderIp: Ipv4, targetIp: Ipv4): void {
    this.actions.push({ kind: "sendArp", senderIp, targetIp });
  }
  send(message: DhcpMessage, to: "broadcast" | Ipv4, nextHopMac?: Uint8Array): void {
    if (to === "broadcast" || nextHopMac === undefined) this.actions.push({ kind: "send", message, to });
    else this.actions.push({ kind: "send", message, to, nextHopMac });
  }
  /**
   * Makes the published keys those of `lease` (none when undefined): deletes what went, then
   * writes what changed — or, with `whole`, every key of the lease, so that a key someone else
   * removed from the store (an operator's `paddock kv del /ip`) comes back with the next ACK. The
   * store leaves a rewrite of an equal value out of its watch events: handlers see no change.
   */
  publish(lease: PersistedLease | undefined, whole = false): void {
    const want = lease === undefined ? new Map<string, string>() : leaseKeys(lease);
    for (const path of Object.keys(this.s.published)) {
      if (!want.has(path)) {
        delete this.s.published[path];
        this.actions.push({ kind: "kvDelete", path });
      }
    }
    for (const [path, value] of want) {
      if (whole || this.s.published[path] !== value) {
        this.s.published[path] = value;
        this.actions.push({ kind: "kvWrite", path, value });
      }
    }
  }
  result(): StepResult {
    return { state: this.s, actions: this.actions };
  }
}

// ---------------------------------------------------------------------------------------------
// Randomness and timing

function random01(config: ResolvedConfig): number {
  let r: number;
  try {
    r = config.random();
  } catch {
    r = 0.5;
  }
  // A misbehaving source must not make timers NaN or out of bounds.
  return Number.isFinite(r) ? Math.min(Math.max(r, 0), 0.999999999) : 0.5;
}

function newXid(config: ResolvedConfig): number {
  return Math.floor(random01(config) * 0x1_0000_0000) >>> 0;
}

/** §4.1: wait before retransmission number `k` + 1 (k = 0 after the first message): 4·2^k s capped at 64 s, ±1 s. */
export function backoffMs(k: number, random: () => number): number {
  const base = Math.min(INITIAL_RETRANSMIT_MS * 2 ** Math.min(k, 16), MAX_RETRANSMIT_MS);
  const r = random();
  const jitter = ((Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0.5) * 2 - 1) * RETRANSMIT_JITTER_MS;
  return Math.round(base + jitter);
}

function backoff(tx: Tx, k: number): number {
  return backoffMs(k, () => random01(tx.s.config));
}

function secsSince(tx: Tx, start: number): number {
  return Math.min(Math.max(Math.floor((tx.now - start) / 1000), 0), 0xffff);
}

// ---------------------------------------------------------------------------------------------
// Messages the client sends (RFC 2131 table 5)

function baseMessage(tx: Tx, type: MessageType, ciaddr: Ipv4, xid: number, secs: number): DhcpMessage {
  const c = tx.s.config;
  const options: DhcpOption[] = [{ kind: "messageType", code: 53, type }];
  if (c.clientId !== undefined) options.push({ kind: "clientId", code: 61, data: c.clientId.slice() });
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs,
    flags: 0,
    ciaddr,
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: c.mac.slice(),
    sname: "",
    file: "",
    options,
  };
}

/** Options every DISCOVER and REQUEST carries after the addressing ones. */
function parameterOptions(c: ResolvedConfig): DhcpOption[] {
  const options: DhcpOption[] = [
    { kind: "maxMessageSize", code: 57, size: c.maxMessageSize },
    { kind: "parameterRequestList", code: 55, codes: [...c.parameterRequestList] },
  ];
  if (c.vendorClass !== undefined) options.push({ kind: "vendorClass", code: 60, data: c.vendorClass.slice() });
  if (c.fqdn !== undefined) options.push({ kind: "clientFqdn", code: 81, flags: c.fqdn.flags, rcode1: 0, rcode2: 0, name: c.fqdn.name });
  else if (c.hostname !== undefined) options.push({ kind: "hostname", code: 12, name: c.hostname });
  return options;
}

/** RFC 2131 §4.1 / figure 2: the BROADCAST bit of `flags`. */
const FLAG_BROADCAST = 0x8000;

function discoverMessage(tx: Tx): DhcpMessage {
  const c = tx.s.config;
  const m = baseMessage(tx, MessageType.DISCOVER, "0.0.0.0", tx.s.xid, secsSince(tx, tx.s.exchangeStart));
  if (c.broadcastFlag) m.flags = FLAG_BROADCAST;
  const preferred = tx.s.preferred ?? c.requestedAddress;
  // §4.4.1: the client MAY suggest an address in DISCOVER.
  if (preferred !== undefined) m.options.push({ kind: "requestedAddress", code: 50, address: preferred });
  m.options.push(...parameterOptions(c));
  if (c.rapidCommit) m.options.push({ kind: "rapidCommit", code: 80 });
  return m;
}

/** REQUEST as §4.3.2 tabulates it per state. */
function requestMessage(tx: Tx): { message: DhcpMessage; to: "broadcast" | Ipv4; nextHopMac?: Uint8Array } {
  const s = tx.s;
  const secs = secsSince(tx, s.exchangeStart);
  if (s.name === "REQUESTING" && s.selected !== undefined) {
    // SELECTING: ciaddr 0, server id and requested address MUST, broadcast.
    const m = baseMessage(tx, MessageType.REQUEST, "0.0.0.0", s.xid, secs);
    if (s.config.broadcastFlag) m.flags = FLAG_BROADCAST;
    m.options.push({ kind: "requestedAddress", code: 50, address: s.selected.address });
    m.options.push({ kind: "serverId", code: 54, address: s.selected.serverId });
    m.options.push(...parameterOptions(s.config));
    return { message: m, to: "broadcast" };
  }
  const lease = s.lease;
  const address = lease?.address ?? "0.0.0.0";
  if (s.name === "REBOOTING") {
    // INIT-REBOOT: ciaddr 0, requested address MUST, server id MUST NOT, broadcast.
    const m = baseMessage(tx, MessageType.REQUEST, "0.0.0.0", s.xid, secs);
    // The remembered address may not be configured (after a restart or a link change).
    if (s.config.broadcastFlag) m.flags = FLAG_BROADCAST;
    m.options.push({ kind: "requestedAddress", code: 50, address });
    m.options.push(...parameterOptions(s.config));
    return { message: m, to: "broadcast" };
  }
  // RENEWING (unicast to the server) and REBINDING (broadcast): ciaddr set, no 50, no 54.
  const m = baseMessage(tx, MessageType.REQUEST, address, s.xid, secs);
  m.options.push(...parameterOptions(s.config));
  // A lease never holds a non-unicast server id (bind and the persisted-lease check refuse one);
  // should one slip through, the renewal is broadcast rather than unicast to it.
  if (s.name === "RENEWING" && lease !== undefined && isUnicastHost(lease.serverId)) {
    const mac = macFromText(lease.serverMac);
    return mac === undefined ? { message: m, to: lease.serverId } : { message: m, to: lease.serverId, nextHopMac: mac };
  }
  return { message: m, to: "broadcast" };
}

function macFromText(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(text)) return undefined;
  return Uint8Array.from(text.split(":"), (h) => parseInt(h, 16));
}

// ---------------------------------------------------------------------------------------------
// Transitions

/** Starts a fresh DISCOVER exchange from INIT (or stays in INIT while the link is down). */
function beginDiscover(tx: Tx, why: string): void {
  const s = tx.s;
  tx.cancelTimer("arp"); // a new exchange ends any probe or announcements
  s.offers = [];
  s.selected = undefined;
  if (!s.link) {
    if (s.name !== "INIT") tx.goto("INIT", `${why}; link down, waiting`);
    return;
  }
  s.xid = newXid(s.config);
  s.exchangeStart = tx.now;
  s.requestStart = tx.now;
  s.attempt = 1;
  if (s.name !== "INIT") tx.goto("INIT", why);
  tx.goto("SELECTING", `DISCOVER xid 0x${s.xid.toString(16).padStart(8, "0")}`);
  tx.send(discoverMessage(tx), "broadcast");
  tx.setTimer("retransmit", tx.now + backoff(tx, 0));
}

/** Withdraws any lease and goes to INIT, discovering now or after `holdoffMs`. */
function enterInit(tx: Tx, why: string, holdoffMs: number): void {
  tx.publish(undefined);
  tx.s.lease = undefined;
  tx.cancelTimersExcept([]);
  if (holdoffMs > 0 || !tx.s.link) {
    tx.goto("INIT", holdoffMs > 0 ? `${why}; restarting in ${Math.round(holdoffMs / 1000)} s` : `${why}; link down, waiting`);
    tx.s.offers = [];
    tx.s.selected = undefined;
    if (holdoffMs > 0) tx.setTimer("start", tx.now + holdoffMs);
    return;
  }
  beginDiscover(tx, why);
}

/** From INIT-REBOOT: broadcast a REQUEST for the remembered address (§4.4.2). */
function beginReboot(tx: Tx): void {
  const s = tx.s;
  tx.cancelTimer("arp"); // a new exchange ends any probe or announcements
  if (s.lease === undefined) {
    beginDiscover(tx, "no lease to reuse");
    return;
  }
  if (!s.link) return;
  s.xid = newXid(s.config);
  s.exchangeStart = tx.now;
  s.requestStart = tx.now;
  s.attempt = 1;
  tx.goto("REBOOTING", `REQUEST ${s.lease.address} (xid 0x${s.xid.toString(16).padStart(8, "0")})`);
  const r = requestMessage(tx);
  tx.send(r.message, r.to);
  tx.setTimer("retransmit", tx.now + backoff(tx, 0));
}

/** Sends the REQUEST for an offer and moves to REQUESTING (same xid as the offer, §4.4.1). */
function selectOffer(tx: Tx, offer: Offer, why: string): void {
  const s = tx.s;
  tx.cancelTimer("offerWindow");
  s.selected = offer;
  s.offers = [];
  s.requestStart = tx.now;
  s.attempt = 1;
  tx.goto("REQUESTING", `${why}: offer ${offer.address} from ${offer.serverId}`);
  const r = requestMessage(tx);
  tx.send(r.message, r.to);
  tx.setTimer("retransmit", tx.now + backoff(tx, 0));
}

/** Arms the retransmission of a renewal: half the time left to `deadline`, at least 60 s, and only before it (§4.4.5). */
function armRenewRetransmit(tx: Tx, deadline: number): void {
  const at = tx.now + Math.max(MIN_RENEW_RETRANSMIT_MS, (deadline - tx.now) / 2);
  if (at < deadline) tx.setTimer("retransmit", at);
  else tx.cancelTimer("retransmit");
}

function beginRenewOrRebind(tx: Tx, name: "RENEWING" | "REBINDING", why?: string): void {
  const s = tx.s;
  tx.cancelTimer("arp"); // a new exchange ends any probe or announcements
  const lease = s.lease;
  const times = lease === undefined ? undefined : leaseTimes(lease);
  if (lease === undefined || times === undefined) return;
  s.xid = newXid(s.config);
  s.exchangeStart = tx.now;
  s.requestStart = tx.now;
  s.attempt = 1;
  tx.goto(name, `${why ?? (name === "RENEWING" ? "T1 reached" : "T2 reached")}, REQUEST ${name === "RENEWING" ? `unicast to ${lease.serverId}` : "broadcast"}`);
  if (!s.link) return;
  const r = requestMessage(tx);
  tx.send(r.message, r.to, r.nextHopMac);
  armRenewRetransmit(tx, name === "RENEWING" ? times.t2At : times.expiresAt);
}

/** Enters the lease state the clock says (BOUND, RENEWING, REBINDING), or INIT when expired. */
function resumeLease(tx: Tx, why: string): void {
  const lease = tx.s.lease;
  if (lease === undefined) {
    enterInit(tx, why, 0);
    return;
  }
  const times = leaseTimes(lease);
  tx.cancelTimer("retransmit");
  if (times !== undefined && tx.now >= times.expiresAt) {
    tx.s.preferred = lease.address;
    enterInit(tx, `${why}; lease expired`, 0);
    return;
  }
  if (times !== undefined) {
    // Only the lease times still ahead: the ones already past are acted on just below.
    if (times.t1At > tx.now) tx.setTimer("t1", times.t1At);
    if (times.t2At > tx.now) tx.setTimer("t2", times.t2At);
    tx.setTimer("expiry", times.expiresAt);
  }
  tx.goto("BOUND", `${why}; keeping ${lease.address}/${lease.prefix}`);
  if (times !== undefined && tx.now >= times.t2At) beginRenewOrRebind(tx, "REBINDING");
  else if (times !== undefined && tx.now >= times.t1At) beginRenewOrRebind(tx, "RENEWING");
}

function messageTypeOf(m: DhcpMessage): number | undefined {
  return findOption(m, "messageType")?.type;
}

const TYPE_NAMES: Record<number, string> = {
  1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM",
};

/** Accepts an ACK: the whole lease is published (one commit; equal values change nothing) and the lease timers armed. */
function bind(tx: Tx, ack: DhcpMessage, info: DhcpPacketInfo, serverId: Ipv4, fallbackLeaseSeconds: number | undefined): void {
  const s = tx.s;
  // Renewals are unicast to the server id and RELEASE names it (§4.4.5, §4.4.6): an ACK that
  // names no unicast server (54 = 0.0.0.0, a broadcast or multicast address) is not bound, in
  // whichever state it arrives (REBINDING, REBOOTING and rapid commit have no offer to compare with).
  if (!isUnicastHost(serverId)) {
    tx.log("warn", `ACK from ${info.srcIp} ignored: server identifier ${serverId} is not a unicast address`);
    return;
  }
  const built = leaseFromAck(ack, {
    mac: macToText(s.config.mac),
    serverId,
    serverMac: info.srcMac.length === 6 ? macToText(info.srcMac) : "",
    acquiredAt: s.requestStart,
    fallbackLeaseSeconds,
    minLeaseSeconds: s.config.minLeaseSeconds,
  });
  if (!built.ok) {
    tx.log("warn", `ACK from ${serverId} ignored: ${built.detail}`);
    return;
  }
  for (const note of built.value.notes) tx.log("warn", `ACK from ${serverId}: ${note}`);
  const lease = built.value.lease;
  if (s.config.arpProbe && lease.address !== s.lease?.address) beginProbe(tx, lease);
  else applyLease(tx, lease);
}

/** Takes a lease: published whole (one commit; equal values change nothing), its timers armed, BOUND. */
function applyLease(tx: Tx, lease: PersistedLease): void {
  const s = tx.s;
  const serverId = lease.serverId;
  const from = s.name;
  s.lease = lease;
  s.preferred = lease.address;
  s.nakCount = 0;
  s.offers = [];
  s.selected = undefined;
  tx.cancelTimersExcept(["t1", "t2", "expiry"]);
  tx.publish(lease, true);
  const times = leaseTimes(lease);
  if (times === undefined) {
    tx.cancelTimer("t1");
    tx.cancelTimer("t2");
    tx.cancelTimer("expiry");
  } else {
    tx.setTimer("t1", times.t1At);
    tx.setTimer("t2", times.t2At);
    tx.setTimer("expiry", times.expiresAt);
  }
  const length = times === undefined ? "infinite lease" : `${lease.leaseSeconds} s, renew in ${Math.round((times.t1At - tx.now) / 1000)} s`;
  tx.goto("BOUND", `${from === "BOUND" ? "" : "ACK: "}${lease.address}/${lease.prefix} from ${serverId} (${length})`);
}

/** Departure 8: checks an ACKed address with ARP before taking the lease (RFC 5227 §2.1). */
function beginProbe(tx: Tx, lease: PersistedLease): void {
  const s = tx.s;
  s.offers = [];
  s.selected = undefined;
  tx.cancelTimersExcept(["t1", "t2", "expiry"]);
  s.probe = { lease, sent: 0 };
  tx.log("info", `${lease.address} ACKed by ${lease.serverId}: checking with ARP that no other host uses it (RFC 5227)`);
  tx.setTimer("arp", tx.now + random01(s.config) * PROBE_WAIT_MS);
}

/** The `arp` timer: the next probe, the end of probing (take the lease, announce), or the next announcement. */
function onArpTimer(tx: Tx): void {
  const s = tx.s;
  const probe = s.probe;
  if (probe === undefined) {
    if (s.lease !== undefined && s.announcementsLeft > 0) announce(tx, s.lease.address, s.announcementsLeft);
    return;
  }
  const address = probe.lease.address;
  if (probe.sent < PROBE_NUM) {
    tx.sendArp("0.0.0.0", address);
    s.probe = { lease: probe.lease, sent: probe.sent + 1 };
    const wait = probe.sent + 1 < PROBE_NUM ? PROBE_MIN_MS + random01(s.config) * (PROBE_MAX_MS - PROBE_MIN_MS) : ANNOUNCE_WAIT_MS;
    tx.setTimer("arp", tx.now + wait);
    return;
  }
  s.probe = undefined;
  s.conflicts = 0;
  tx.log("info", `${address}: no answer to ${PROBE_NUM} ARP probes, taking it`);
  applyLease(tx, probe.lease);
  announce(tx, address, ANNOUNCE_NUM);
}

/** Sends one announcement of `address` (§2.3) and arms the next of `count`. */
function announce(tx: Tx, address: Ipv4, count: number): void {
  const s = tx.s;
  if (s.link) tx.sendArp(address, address);
  s.announcementsLeft = count - 1;
  if (s.announcementsLeft > 0) tx.setTimer("arp", tx.now + ANNOUNCE_INTERVAL_MS);
}

/** An ARP packet from the link: a conflict while probing (§2.1.1) or while holding the address (§2.4). */
function onArp(tx: Tx, packet: ArpPacket): void {
  const s = tx.s;
  if (!s.config.arpProbe) return;
  const who = macToText(packet.senderMac);
  if (s.probe !== undefined) {
    const lease = s.probe.lease;
    if (!isProbeConflict(packet, lease.address, s.config.mac)) return;
    s.conflicts += 1;
    decline(tx, lease, conflictHoldoffMs(s.conflicts, DECLINE_HOLDOFF_MS), `${lease.address} is in use by ${who}`);
    return;
  }
  const lease = s.lease;
  if (lease === undefined || !["BOUND", "RENEWING", "REBINDING"].includes(s.name)) return;
  if (!isBoundConflict(packet, lease.address, s.config.mac)) return;
  if (s.lastDefence === undefined || tx.now - s.lastDefence >= DEFEND_INTERVAL_MS) {
    s.lastDefence = tx.now;
    if (s.link) tx.sendArp(lease.address, lease.address);
    tx.log("warn", `${lease.address} is claimed by ${who}: defending it with one announcement (RFC 5227 §2.4)`);
    return;
  }
  s.conflicts += 1;
  s.lastDefence = undefined;
  s.preferred = undefined;
  enterInit(tx, `${lease.address} is claimed again by ${who} within ${DEFEND_INTERVAL_MS / 1000} s: giving it up (RFC 5227 §2.4)`, conflictHoldoffMs(s.conflicts, 0));
}

/** §3.1 step 5: DECLINE an ACKed address found in use, and restart INIT after `holdoffMs`. */
function decline(tx: Tx, lease: PersistedLease, holdoffMs: number, why: string): void {
  const s = tx.s;
  if (s.link) {
    // §4.4.1: DECLINE carries the address (50) and the server (54), ciaddr 0, broadcast.
    const m = baseMessage(tx, MessageType.DECLINE, "0.0.0.0", newXid(s.config), 0);
    m.options.push({ kind: "requestedAddress", code: 50, address: lease.address });
    m.options.push({ kind: "serverId", code: 54, address: lease.serverId });
    tx.send(m, "broadcast");
  }
  s.preferred = undefined;
  s.nakCount = 0;
  enterInit(tx, `${why}: DECLINE sent to ${lease.serverId}`, holdoffMs);
}

function onNak(tx: Tx, serverId: string, text: string | undefined): void {
  const s = tx.s;
  s.nakCount += 1;
  s.preferred = undefined;
  const holdoff = s.nakCount <= 1 ? 0 : backoff(tx, s.nakCount - 2);
  enterInit(tx, `NAK from ${serverId}${text === undefined ? "" : ` ("${sanitiseText(text)}")`} in ${s.name}`, holdoff);
}

/** Server message text (option 56) goes into a log line: keep it printable and short. */
function sanitiseText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 100);
}

function onReceived(tx: Tx, message: DhcpMessage, info: DhcpPacketInfo): void {
  const s = tx.s;
  const type = messageTypeOf(message);
  const typeName = type === undefined ? "message without type" : (TYPE_NAMES[type] ?? `type ${type}`);
  const ignore = (why: string): void => tx.log("debug", `${typeName} from ${info.srcIp} ignored in ${s.name}: ${why}`);
  if (!["SELECTING", "REQUESTING", "RENEWING", "REBINDING", "REBOOTING"].includes(s.name)) return ignore("no exchange in progress");
  if (s.probe !== undefined) return ignore(`checking ${s.probe.lease.address} with ARP`);
  if (message.op !== BOOTREPLY) return ignore("not a BOOTREPLY");
  if (message.xid !== s.xid) return ignore(`xid 0x${(message.xid >>> 0).toString(16)} is not ours`);
  if (message.htype !== 1 || message.hlen !== 6 || !bytesEqual(message.chaddr.subarray(0, 6), s.config.mac) || message.chaddr.length < 6) {
    return ignore("chaddr is not ours");
  }
  const echoedId = findOption(message, "clientId");
  if (echoedId !== undefined && (s.config.clientId === undefined || !bytesEqual(echoedId.data, s.config.clientId))) {
    return ignore("client identifier is not ours");
  }
  const serverIdOpt = findOption(message, "serverId")?.address;

  if (s.name === "SELECTING") {
    if (type === MessageType.OFFER) return onOffer(tx, message, info, serverIdOpt);
    if (type === MessageType.ACK && s.config.rapidCommit && findOption(message, "rapidCommit") !== undefined) {
      // RFC 4039 §4: an ACK carrying Rapid Commit answers our DISCOVER directly.
      const serverId = serverIdOpt ?? info.srcIp;
      tx.log("info", `rapid commit ACK from ${serverId}`);
      const wait = ipv6OnlyWait(tx, message, `rapid commit ACK from ${serverId}`);
      if (wait !== undefined) {
        // The server bound an address we will not use: give it back (its pool is why 108 exists).
        if (isUnicastHost(serverId) && isUnicastHost(message.yiaddr)) sendRelease(tx, message.yiaddr, serverId, info.srcMac.length === 6 ? info.srcMac : undefined);
        return enterIpv6Only(tx, wait, `rapid commit ACK from ${serverId}`);
      }
      return bind(tx, message, info, serverId, undefined);
    }
    return ignore("waiting for OFFER");
  }
  if (type !== MessageType.ACK && type !== MessageType.NAK) return ignore("waiting for ACK or NAK");
  let expectedServer: Ipv4 | undefined;
  if (s.name === "REQUESTING") expectedServer = s.selected?.serverId;
  else if (s.name === "RENEWING") expectedServer = s.lease?.serverId;
  if (expectedServer !== undefined && serverIdOpt !== undefined && serverIdOpt !== expectedServer) {
    return ignore(`server id ${serverIdOpt} is not ${expectedServer}`);
  }
  const serverId = serverIdOpt ?? expectedServer ?? (isUnicastHost(info.srcIp) ? info.srcIp : s.lease?.serverId);
  if (serverId === undefined) return ignore("no server identifier");
  if (type === MessageType.NAK) return onNak(tx, serverId, findOption(message, "message")?.text);
  const fallback = s.name === "REQUESTING" ? s.selected?.leaseSeconds : s.lease?.leaseSeconds;
  const wait = ipv6OnlyWait(tx, message, `ACK from ${serverId}`);
  if (wait !== undefined && s.name === "REBOOTING" && s.lease !== undefined) {
    // RFC 8925 §3.2, INIT-REBOOT: stop DHCPv4 for V6ONLY_WAIT; the remembered lease is given back.
    const lease = s.lease;
    releaseLease(tx, lease);
    return enterIpv6Only(tx, wait, `ACK from ${serverId} for ${lease.address}`);
  }
  // §3.2: in any other state the client keeps using the address it was given.
  if (wait !== undefined) tx.log("debug", `ACK from ${serverId} carries option 108 in ${s.name}: the address is kept (RFC 8925 §3.2)`);
  bind(tx, message, info, serverId, fallback);
}

function onOffer(tx: Tx, message: DhcpMessage, info: DhcpPacketInfo, serverId: Ipv4 | undefined): void {
  const s = tx.s;
  if (serverId === undefined || !isUnicastHost(serverId)) {
    tx.log("debug", `OFFER from ${info.srcIp} ignored: no usable server identifier`);
    return;
  }
  // Before yiaddr: a server that prefers IPv6-only may offer 0.0.0.0 (it has no address to give).
  const wait = ipv6OnlyWait(tx, message, `OFFER from ${serverId}`);
  if (wait !== undefined) return enterIpv6Only(tx, wait, `OFFER from ${serverId}`);
  if (!isUnicastHost(message.yiaddr)) {
    tx.log("debug", `OFFER from ${serverId} ignored: unusable yiaddr ${message.yiaddr}`);
    return;
  }
  if (s.offers.some((o) => o.serverId === serverId)) {
    tx.log("debug", `OFFER from ${serverId} ignored: already have one from it`);
    return;
  }
  if (s.offers.length >= MAX_OFFERS) {
    tx.log("debug", `OFFER from ${serverId} ignored: ${MAX_OFFERS} offers already`);
    return;
  }
  const offer: Offer = {
    address: message.yiaddr,
    serverId,
    serverMac: info.srcMac.length === 6 ? macToText(info.srcMac) : "",
    leaseSeconds: findOption(message, "leaseTime")?.seconds,
  };
  const preferred = s.preferred ?? s.config.requestedAddress;
  if (preferred === undefined || s.config.offerWindowMs === 0) return selectOffer(tx, offer, "first offer");
  if (offer.address === preferred) return selectOffer(tx, offer, "preferred address");
  s.offers = [...s.offers, offer];
  tx.log("debug", `OFFER ${offer.address} from ${serverId} kept; waiting for ${preferred}`);
  if (s.offers.length === 1) tx.setTimer("offerWindow", tx.now + s.config.offerWindowMs);
}

function onTimer(tx: Tx, name: TimerName): void {
  const s = tx.s;
  const at = s.timers[name];
  if (at === undefined) {
    tx.log("debug", `timer ${name} ignored: not armed`);
    return;
  }
  if (at > tx.now) {
    tx.setTimer(name, at);
    return;
  }
  delete s.timers[name];
  switch (name) {
    case "start":
      if (s.name === "INIT") beginDiscover(tx, "hold-off over");
      else if (s.name === "INIT-REBOOT") beginReboot(tx);
      return;
    case "offerWindow": {
      const first = s.offers[0];
      if (s.name === "SELECTING" && first !== undefined) selectOffer(tx, first, "offer window closed");
      return;
    }
    case "retransmit":
      return onRetransmit(tx);
    case "arp":
      return onArpTimer(tx);
    case "t1":
      if (s.name === "BOUND") beginRenewOrRebind(tx, "RENEWING");
      return;
    case "t2":
      if (s.name === "BOUND" || s.name === "RENEWING") beginRenewOrRebind(tx, "REBINDING");
      return;
    case "ipv6Only":
      if (s.name === "IPV6-ONLY") beginDiscover(tx, "V6ONLY_WAIT is over (RFC 8925 §3.2)");
      return;
    case "expiry":
      if (s.lease !== undefined) {
        s.preferred = s.lease.address;
        enterInit(tx, `lease ${s.lease.address} expired`, 0);
      }
      return;
  }
}

function onRetransmit(tx: Tx): void {
  const s = tx.s;
  switch (s.name) {
    case "SELECTING":
      s.attempt += 1;
      tx.log("debug", `DISCOVER retransmission ${s.attempt - 1}`);
      tx.send(discoverMessage(tx), "broadcast");
      tx.setTimer("retransmit", tx.now + backoff(tx, s.attempt - 1));
      return;
    case "REQUESTING":
    case "REBOOTING": {
      const max = s.name === "REQUESTING" ? MAX_REQUEST_TRANSMISSIONS : MAX_REBOOT_TRANSMISSIONS;
      if (s.attempt >= max) {
        if (s.name === "REQUESTING") {
          enterInit(tx, `no answer to ${max} REQUESTs`, 0);
        } else if (s.config.onRebootTimeout === "keepLease") {
          resumeLease(tx, `no answer to ${max} REQUESTs`);
        } else {
          s.preferred = s.lease?.address;
          enterInit(tx, `no answer to ${max} REQUESTs`, 0);
        }
        return;
      }
      s.attempt += 1;
      tx.log("debug", `REQUEST retransmission ${s.attempt - 1} in ${s.name}`);
      const r = requestMessage(tx);
      tx.send(r.message, r.to);
      tx.setTimer("retransmit", tx.now + backoff(tx, s.attempt - 1));
      return;
    }
    case "RENEWING":
    case "REBINDING": {
      const times = s.lease === undefined ? undefined : leaseTimes(s.lease);
      if (times === undefined || !s.link) return;
      s.attempt += 1;
      tx.log("debug", `REQUEST retransmission ${s.attempt - 1} in ${s.name}`);
      const r = requestMessage(tx);
      tx.send(r.message, r.to, r.nextHopMac);
      armRenewRetransmit(tx, s.name === "RENEWING" ? times.t2At : times.expiresAt);
      return;
    }
    default:
      return;
  }
}

function onAddressInUse(tx: Tx, address: Ipv4): void {
  const s = tx.s;
  const lease = s.probe?.lease ?? s.lease;
  if (lease === undefined || lease.address !== address) {
    tx.log("debug", `address-in-use report for ${address} ignored in ${s.name}: not our lease`);
    return;
  }
  s.conflicts += 1;
  decline(tx, lease, conflictHoldoffMs(s.conflicts, DECLINE_HOLDOFF_MS), `${address} is in use`);
}

function onLinkDown(tx: Tx): void {
  const s = tx.s;
  if (!s.link) return;
  s.link = false;
  if (s.name === "RELEASED") return;
  s.offers = [];
  s.selected = undefined;
  tx.cancelTimersExcept(["start", "expiry"]);
  if (s.lease !== undefined) {
    if (s.name !== "INIT-REBOOT") tx.goto("INIT-REBOOT", `link down; keeping ${s.lease.address} until it is confirmed`);
  } else if (s.name !== "INIT") {
    tx.goto("INIT", "link down");
  }
}

function onLinkUp(tx: Tx): void {
  const s = tx.s;
  if (s.link) return;
  s.link = true;
  tx.log("info", `link up in ${s.name}`);
  if (s.timers.start !== undefined) return;
  if (s.name === "INIT-REBOOT") beginReboot(tx);
  else if (s.name === "INIT") beginDiscover(tx, "link up");
}

/** Gives the lease back (§4.4.6): RELEASE when the link is up, then withdraws it. */
function releaseLease(tx: Tx, lease: PersistedLease): void {
  const s = tx.s;
  sendRelease(tx, lease.address, lease.serverId, macFromText(lease.serverMac));
  tx.publish(undefined);
  s.lease = undefined;
}

/** §4.4.6: RELEASE names the address by ciaddr and the server by 54, unicast to it; nothing while the link is down. */
function sendRelease(tx: Tx, address: Ipv4, serverId: Ipv4, serverMac: Uint8Array | undefined): void {
  if (!tx.s.link) return;
  const m = baseMessage(tx, MessageType.RELEASE, address, newXid(tx.s.config), 0);
  m.options.push({ kind: "serverId", code: 54, address: serverId });
  if (isUnicastHost(serverId)) tx.send(m, serverId, serverMac);
  else tx.send(m, "broadcast");
}

/**
 * V6ONLY_WAIT in seconds when `message` (the reply named by `what`) asks this client to go
 * without IPv4, else undefined. Only a client that asked for option 108 reads it (RFC 8925 §3.2:
 * one that did not MUST ignore it); a 108 of the wrong length is ignored (§3.1).
 */
function ipv6OnlyWait(tx: Tx, message: DhcpMessage, what: string): number | undefined {
  if (!tx.s.config.ipv6OnlyPreferred) return undefined;
  const answer = ipv6OnlyAnswer(message);
  if (answer.kind === "malformed") tx.log("warn", `${what}: option 108 ignored, ${answer.bytes} bytes instead of 4 (RFC 8925 §3.1)`);
  return answer.kind === "wait" ? answer.seconds : undefined;
}

/**
 * Departure 15: no IPv4 for `seconds` (RFC 8925 §3.2). Everything of the exchange is dropped; the
 * caller has already given back any address. `/client/ipv6-only-until` says until when.
 */
function enterIpv6Only(tx: Tx, seconds: number, what: string): void {
  const s = tx.s;
  tx.cancelTimersExcept([]);
  tx.publish(undefined);
  s.lease = undefined;
  s.offers = [];
  s.selected = undefined;
  s.nakCount = 0;
  const until = tx.now + seconds * 1000;
  tx.goto("IPV6-ONLY", `${what} carries option 108: the network prefers IPv6-only (RFC 8925), so no IPv4 address; DHCPv4 starts over in ${seconds} s`);
  const value = String(Math.ceil(until / 1000));
  s.published[IPV6_ONLY_UNTIL_KEY] = value;
  tx.actions.push({ kind: "kvWrite", path: IPV6_ONLY_UNTIL_KEY, value });
  tx.setTimer("ipv6Only", until);
}

/** The operator's `renew` (departure 10). */
function onRenew(tx: Tx): void {
  const s = tx.s;
  if (!s.link) {
    tx.log("info", `renew asked in ${s.name} ignored: the link is down`);
    return;
  }
  tx.cancelTimer("start");
  tx.cancelTimer("offerWindow");
  if (s.lease !== undefined && (s.name === "BOUND" || s.name === "RENEWING" || s.name === "REBINDING")) {
    beginRenewOrRebind(tx, "RENEWING", "renew asked by the operator");
  } else if (s.lease !== undefined) {
    beginReboot(tx);
  } else {
    beginDiscover(tx, "renew asked by the operator");
  }
}

/** The operator's `release` (departure 10). */
function onRelease(tx: Tx): void {
  const s = tx.s;
  tx.cancelTimersExcept([]);
  s.offers = [];
  s.selected = undefined;
  const lease = s.lease;
  if (lease !== undefined) releaseLease(tx, lease);
  tx.goto("RELEASED", lease === undefined ? "release asked by the operator; no lease held, idle until renew" : `released ${lease.address} to ${lease.serverId} as the operator asked; idle until renew`);
}

function onStop(tx: Tx, release: boolean): void {
  const s = tx.s;
  tx.cancelTimersExcept([]);
  s.offers = [];
  s.selected = undefined;
  const lease = s.lease;
  if (release && lease !== undefined) {
    releaseLease(tx, lease);
    tx.goto("STOPPED", `stopped; released ${lease.address}`);
    return;
  }
  tx.goto("STOPPED", lease === undefined ? "stopped" : `stopped; ${lease.address} stays published until it expires`);
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * Builds a client and its first actions. A persisted lease (the `/state/lease` text) that parses,
 * belongs to this MAC and has not expired leads to INIT-REBOOT; an expired one is withdrawn; an
 * unreadable one is ignored and every path it could have published is deleted (→ INIT).
 */
export function createClient(
  config: ClientConfig,
  now: number,
  options: CreateClientOptions = {},
): ({ ok: true } & StepResult) | { ok: false; error: ClientConfigError } {
  const resolved = resolveConfig(config);
  if (!resolved.ok) return resolved;
  const c = resolved.config;
  const state: ClientState = {
    config: c,
    name: "INIT",
    link: options.linkUp ?? true,
    xid: 0,
    exchangeStart: now,
    requestStart: now,
    attempt: 0,
    offers: [],
    selected: undefined,
    lease: undefined,
    preferred: undefined,
    nakCount: 0,
    probe: undefined,
    announcementsLeft: 0,
    conflicts: 0,
    lastDefence: undefined,
    published: {},
    timers: {},
  };
  const tx = new Tx(state, now);
  const s = tx.s;
  if (options.persistedLease !== undefined) {
    const parsed = parsePersistedLease(options.persistedLease);
    if (!parsed.ok) {
      tx.log("warn", `persisted lease ignored: ${parsed.error.detail}`);
      for (const path of allLeasePaths()) tx.actions.push({ kind: "kvDelete", path });
    } else if (parsed.lease.mac !== macToText(c.mac)) {
      tx.log("warn", `persisted lease ignored: it belongs to ${parsed.lease.mac}`);
      s.published = Object.fromEntries(leaseKeys(parsed.lease));
      tx.publish(undefined);
    } else {
      const lease = parsed.lease;
      s.published = Object.fromEntries(leaseKeys(lease));
      const times = leaseTimes(lease);
      if (times !== undefined && now >= times.expiresAt) {
        tx.log("info", `persisted lease ${lease.address} has expired`);
        tx.publish(undefined);
        s.preferred = lease.address;
      } else {
        s.lease = lease;
        s.preferred = lease.address;
        tx.goto("INIT-REBOOT", `persisted lease ${lease.address}/${lease.prefix} from ${lease.serverId}`);
        if (times !== undefined) tx.setTimer("expiry", times.expiresAt);
      }
    }
  }
  if (c.initialDelayMs > 0) {
    const delay = Math.round(random01(c) * c.initialDelayMs);
    tx.log("info", `waiting ${delay} ms before the first message`);
    tx.setTimer("start", now + delay);
  } else if (s.name === "INIT-REBOOT") {
    beginReboot(tx);
  } else {
    beginDiscover(tx, "start");
  }
  return { ok: true, ...tx.result() };
}

/**
 * Advances the client by one event at time `now` (ms, the same clock as `setTimer.at` and the
 * lease times: Unix ms, because a persisted lease must survive a restart). Pure apart from
 * drawing on `config.random`; never throws.
 */
export function step(state: ClientState, event: ClientEvent, now: number): StepResult {
  if (!Number.isFinite(now)) {
    return { state, actions: [{ kind: "log", level: "warn", message: `event ${event.kind} ignored: bad time ${now}` }] };
  }
  if (state.name === "STOPPED") {
    return { state, actions: [{ kind: "log", level: "debug", message: `event ${event.kind} ignored: stopped` }] };
  }
  const tx = new Tx(state, now);
  try {
    switch (event.kind) {
      case "received":
        onReceived(tx, event.message, event.info);
        break;
      case "timer":
        onTimer(tx, event.name);
        break;
      case "linkUp":
        onLinkUp(tx);
        break;
      case "linkDown":
        onLinkDown(tx);
        break;
      case "stop":
        onStop(tx, event.release ?? state.config.releaseOnStop);
        break;
      case "arp":
        onArp(tx, event.packet);
        break;
      case "addressInUse":
        onAddressInUse(tx, event.address);
        break;
      case "renew":
        onRenew(tx);
        break;
      case "release":
        onRelease(tx);
        break;
    }
  } catch (e) {
    // Unreachable by design (property-tested); if it ever happens, keep the old state, say why.
    return { state, actions: [{ kind: "log", level: "warn", message: `event ${event.kind} dropped: ${String(e)}` }] };
  }
  return tx.result();
}
