/**
 * The sans-IO DHCPv6 client (RFC 8415 §18.2): `step(state, event)` returns the next state and the
 * actions the caller performs (send, arm the timer, publish the lease, log). It does no I/O,
 * reads no clock (time arrives in the events) and draws randomness only from `config.random`.
 */

import { applyReply, informationLease, lastExpiry, nextExpiry, pruneExpired, statusOf } from "./binding.ts";
import { sameBytes, type Ipv6 } from "./bytes.ts";
import { decodeDhcp6Message, encodeDhcp6Message, type Dhcp6Message } from "./codec.ts";
import { resolveConfig, type Dhcp6ClientConfig, type Dhcp6ConfigError, type ResolvedConfig } from "./config.ts";
import {
  ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
  MAX_MAX_RT_SECONDS,
  MAX_PREFERENCE,
  MESSAGE_TYPE_NAMES,
  MIN_MAX_RT_SECONDS,
  MessageType,
  OptionCode,
  RETRANSMIT,
  SERVER_PORT,
  StatusCode,
} from "./constants.ts";
import { encodeDuid, type Duid } from "./duid.ts";
import type { Dhcp6Lease } from "./lease.ts";
import { optionOf, optionsOf, type Dhcp6Option } from "./options.ts";
import { canTransmit, elapsedHundredths, newExchange, transmitted, type Exchange, type ExchangeType } from "./retransmit.ts";

/** Where the machine is (RFC 8415 §18 has no state diagram; these follow its exchanges). */
export type Dhcp6StateName =
  /** Not started, or link down: nothing is sent. */
  | "idle"
  | "soliciting"
  | "requesting"
  | "bound"
  | "renewing"
  | "rebinding"
  | "confirming"
  /** Stateless: waiting for the REPLY to an INFORMATION-REQUEST. */
  | "informing"
  /** Stateless: information received, refreshed at `refreshAt`. */
  | "informed"
  /** DECLINE of addresses the host found in use, before going on with what is left. */
  | "declining"
  | "releasing"
  /** After RELEASE (or its retransmissions ran out): stays quiet until `start`, `renew` or `config`. */
  | "released";

/** What the caller tells the client. Times are ms on one monotonic clock of the caller's. */
export type Dhcp6ClientEvent =
  /**
   * Begin. `lease`: one this client published before (kept by the caller across a restart, with
   * its times on the same clock): what is still valid is published again at once, then confirmed
   * like after a link change (§18.2.12: CONFIRM, or REBIND with delegated prefixes); a stateless
   * lease is kept until its refresh time.
   */
  | { kind: "start"; now: number; lease?: Dhcp6Lease | null }
  /** The armed timer fired (early or late firings are harmless: the state holds the deadlines). */
  | { kind: "tick"; now: number }
  /** A UDP datagram to port 546 arrived from `from` (the kernel's receive time). */
  | { kind: "datagram"; bytes: Uint8Array; from: Ipv6; rxTimeMs: number }
  /** The link went down or came up (RFC 8415 §18.2.12: CONFIRM or REBIND after it returns). */
  | { kind: "link"; up: boolean; now: number }
  /** Give the lease back (RFC 8415 §18.2.7) and stay quiet. */
  | { kind: "release"; now: number }
  /**
   * The host's duplicate address detection found these leased addresses in use (RFC 8415
   * §18.2.8): they leave the lease at once and are declined to the server.
   */
  | { kind: "decline"; addresses: readonly Ipv6[]; now: number }
  /** Renew now (an operator's request), or ask again when stateless or unbound. */
  | { kind: "renew"; now: number }
  /** A new configuration (e.g. the RA's M/O flags changed): the client drops its lease and starts over with it (also after `release`). */
  | { kind: "config"; config: Dhcp6ClientConfig; now: number };

/** Levels of the client's log lines. */
export type Dhcp6LogLevel = "debug" | "info" | "warn";

/**
 * What the client asks of the caller, in order:
 * - `send`: one UDP datagram from port 546 to ff02::1:2 port 547 (RFC 8415 §7.1);
 * - `timer`: arm the one timer at `at` (replacing the previous one); null disarms it;
 * - `publish`: the lease as it now is, or null when there is none;
 * - `log`: one readable line.
 */
export type Dhcp6ClientAction =
  | { kind: "send"; to: Ipv6; port: number; bytes: Uint8Array; messageType: string }
  | { kind: "timer"; at: number | null }
  | { kind: "publish"; lease: Dhcp6Lease | null }
  | { kind: "log"; level: Dhcp6LogLevel; message: string };

/**
 * The client's whole state: plain data, replaced (never mutated) by each step.
 *
 * Where this differs from RFC 8415:
 * 1. everything is sent to ff02::1:2 (no Server Unicast, §18.4: UseMulticast never arises);
 * 2. RECONFIGURE is always refused: we never send RECONF_ACCEPT and never verify AUTH (§18.2.11);
 * 3. a REQUEST that fails (MRC reached, or every IA refused) starts SOLICIT again after a hold-off
 *    that doubles up to SOL_MAX_RT, so a server that advertises but never binds is not hammered;
 * 4. T1 is never below MIN_T1_SECONDS (§14.1's rate limit, against hostile servers);
 * 5. a `config` event drops the lease (published as null) and starts over without RELEASE (also
 *    after a `release`; before `start` it only replaces the configuration);
 * 6. duplicate address detection is the host's: the caller reports a failure with `decline`.
 */
export interface Dhcp6ClientState {
  readonly config: ResolvedConfig;
  readonly name: Dhcp6StateName;
  /** The current lease (what was last published), or null. */
  readonly lease: Dhcp6Lease | null;
  /** Whether `start` has come (and no `release` since). */
  readonly started: boolean;
  readonly linkUp: boolean;
  /** The exchange in flight, or null. */
  readonly exchange: Exchange | null;
  /** SOLICIT: the best ADVERTISE so far, and when collecting ends (the first RT, §18.2.1). */
  readonly best: Advertised | null;
  readonly collectUntil: number | null;
  /** REQUEST/RENEW: the server we talk to. */
  readonly server: { readonly duid: Duid; readonly address: Ipv6; readonly offer: readonly Dhcp6Option[] } | null;
  /** SOL_MAX_RT and INF_MAX_RT in force (ms), updated by servers within 60–86400 s. */
  readonly solMaxRtMs: number;
  readonly infMaxRtMs: number;
  /** Failed REQUEST exchanges in a row (the hold-off of difference 3). */
  readonly failures: number;
  /** The time the armed timer fires (what the last `timer` action said). */
  readonly timerAt: number | null;
}

/** An ADVERTISE worth requesting. */
export interface Advertised {
  readonly preference: number;
  readonly duid: Duid;
  readonly address: Ipv6;
  /** Our IAs as offered (IA_NA, IA_PD), the REQUEST asks for them. */
  readonly offer: readonly Dhcp6Option[];
  /** How many of the IA kinds we want it offers (ties in preference go to the fuller offer). */
  readonly coverage: number;
}

/** The result of a step. */
export interface Dhcp6StepResult {
  state: Dhcp6ClientState;
  actions: Dhcp6ClientAction[];
}

/** A client that has not started (`start` begins), or why the configuration cannot be used. */
export function createDhcp6Client(config: Dhcp6ClientConfig): { ok: true; state: Dhcp6ClientState } | { ok: false; error: Dhcp6ConfigError } {
  const resolved = resolveConfig(config);
  if (!resolved.ok) return resolved;
  return { ok: true, state: initialState(resolved.value) };
}

function initialState(config: ResolvedConfig): Dhcp6ClientState {
  return {
    config,
    name: "idle",
    lease: null,
    started: false,
    linkUp: true,
    exchange: null,
    best: null,
    collectUntil: null,
    server: null,
    solMaxRtMs: RETRANSMIT.SOLICIT.maxMs,
    infMaxRtMs: RETRANSMIT.INFORMATION_REQUEST.maxMs,
    failures: 0,
    timerAt: null,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The working copy of one step: the state being built and the actions so far. */
interface Step {
  s: Mutable<Dhcp6ClientState>;
  actions: Dhcp6ClientAction[];
}

function log(st: Step, level: Dhcp6LogLevel, message: string): void {
  st.actions.push({ kind: "log", level, message });
}

function publish(st: Step, lease: Dhcp6Lease | null): void {
  if (lease === null && st.s.lease === null) return;
  st.s.lease = lease;
  st.actions.push({ kind: "publish", lease });
}

/** Advances the client by one event. */
export function step(state: Dhcp6ClientState, event: Dhcp6ClientEvent): Dhcp6StepResult {
  const st: Step = { s: { ...state }, actions: [] };
  const now = event.kind === "datagram" ? event.rxTimeMs : event.now;
  switch (event.kind) {
    case "start":
      if (!st.s.started) {
        st.s.started = true;
        if (event.lease === undefined || event.lease === null || !resume(st, event.lease, now)) begin(st, now);
      }
      break;
    case "tick":
      // The caller's timer is spent: arm it again even when the deadline has not moved (a timer that
      // fired a little early would otherwise leave the client waiting for a tick that never comes).
      st.s.timerAt = null;
      break;
    case "datagram":
      if (st.s.started || st.s.name === "releasing") received(st, event.bytes, event.from, now);
      break;
    case "link":
      linkChanged(st, event.up, now);
      break;
    case "release":
      release(st, now);
      break;
    case "renew":
      renewNow(st, now);
      break;
    case "decline":
      decline(st, event.addresses, now);
      break;
    case "config": {
      const resolved = resolveConfig(event.config);
      if (!resolved.ok) {
        log(st, "warn", `configuration refused (${resolved.error.code}): ${resolved.error.detail}`);
        break;
      }
      publish(st, null);
      // A client released by the caller (e.g. the RA withdrew M and O) starts again with its new configuration.
      const wasStarted = st.s.started || st.s.name === "releasing" || st.s.name === "released";
      const { solMaxRtMs, infMaxRtMs, linkUp, timerAt } = st.s;
      st.s = { ...initialState(resolved.value), solMaxRtMs, infMaxRtMs, linkUp, timerAt };
      if (wasStarted) {
        st.s.started = true;
        begin(st, now);
      }
      break;
    }
  }
  advance(st, now);
  armTimer(st);
  return { state: st.s, actions: st.actions };
}

/** Starts from nothing: SOLICIT (stateful) or INFORMATION-REQUEST (stateless), when the link is up. */
function begin(st: Step, now: number, holdMs = 0): void {
  st.s.best = null;
  st.s.collectUntil = null;
  st.s.server = null;
  if (!st.s.linkUp) {
    st.s.name = "idle";
    st.s.exchange = null;
    return;
  }
  const random = st.s.config.random;
  if (st.s.config.mode === "stateless") {
    st.s.name = "informing";
    st.s.exchange = newExchange("INFORMATION_REQUEST", now, random, { maxRtMs: st.s.infMaxRtMs, holdMs });
  } else {
    st.s.name = "soliciting";
    st.s.exchange = newExchange("SOLICIT", now, random, { maxRtMs: st.s.solMaxRtMs, holdMs });
  }
}

/** SOLICIT again after a failed REQUEST, held off by SOL_TIMEOUT × 2^(failures − 1) up to SOL_MAX_RT. */
function solicitAgain(st: Step, now: number, why: string): void {
  st.s.failures += 1;
  const holdMs = Math.min(st.s.solMaxRtMs, RETRANSMIT.SOLICIT.initialMs * 2 ** Math.min(30, st.s.failures - 1));
  log(st, "info", `${why}; soliciting again in ${Math.round(holdMs / 1000)} s`);
  begin(st, now, holdMs);
}

/** The lease is gone (expired, or NotOnLink): publish null and start over. */
function leaseLost(st: Step, now: number, why: string): void {
  log(st, "info", why);
  publish(st, null);
  begin(st, now);
}

function bindingWanted(config: ResolvedConfig) {
  return { iaid: config.iaid, address: config.address, prefix: config.prefixLength !== undefined };
}

/** Enters BOUND with `lease` (from a REPLY to REQUEST, RENEW, REBIND or rapid-commit SOLICIT). */
function bound(st: Step, lease: Dhcp6Lease): void {
  st.s.name = "bound";
  st.s.exchange = null;
  st.s.best = null;
  st.s.collectUntil = null;
  st.s.server = { duid: lease.serverDuid, address: lease.serverAddress, offer: [] };
  st.s.failures = 0;
  const what = [...lease.addresses.map((a) => a.address), ...lease.prefixes.map((p) => `${p.prefix}/${p.prefixLength}`)].join(", ");
  log(st, "info", `bound ${what} from ${lease.serverAddress} (T1 ${lease.t1} s, T2 ${lease.t2} s)`);
  publish(st, lease);
}

function linkChanged(st: Step, up: boolean, now: number): void {
  if (up === st.s.linkUp) return;
  st.s.linkUp = up;
  if (!st.s.started) return;
  if (!up) {
    // The leases stay valid until they expire (§18.2.12); nothing is sent while the link is down.
    st.s.exchange = null;
    st.s.best = null;
    st.s.collectUntil = null;
    if (st.s.lease === null) st.s.name = "idle";
    else if (st.s.config.mode === "stateful") st.s.name = "bound";
    else st.s.name = "informed";
    return;
  }
  rejoin(st, now);
}

/** Back on a link that may have changed (§18.2.12): CONFIRM addresses, REBIND prefixes, ask again when stateless. */
function rejoin(st: Step, now: number): void {
  const lease = st.s.lease;
  if (lease === null || lease.mode === "stateless") {
    begin(st, now);
  } else if (lease.prefixes.length > 0) {
    // §18.2.12: with delegated prefixes the client sends REBIND (CONFIRM covers addresses only).
    startRebind(st, now);
  } else {
    st.s.name = "confirming";
    st.s.exchange = newExchange("CONFIRM", now, st.s.config.random);
  }
}

/** Takes up a lease kept from before a restart; false when it is of no use (other mode, nothing valid left). */
function resume(st: Step, kept: Dhcp6Lease, now: number): boolean {
  if (kept.mode !== st.s.config.mode || !Array.isArray(kept.addresses) || !Array.isArray(kept.prefixes)) {
    log(st, "info", "the kept lease is not for this configuration: starting afresh");
    return false;
  }
  const lease = pruneExpired(kept, now);
  if (lease.mode === "stateful" && lease.addresses.length === 0 && lease.prefixes.length === 0) return false;
  log(st, "info", `resuming the lease from ${lease.serverAddress}`);
  publish(st, lease);
  st.s.server = { duid: lease.serverDuid, address: lease.serverAddress, offer: [] };
  if (lease.mode === "stateless") {
    st.s.name = "informed";
    return true;
  }
  if (st.s.linkUp) rejoin(st, now);
  else st.s.name = "bound";
  return true;
}

function startRenew(st: Step, now: number): void {
  const lease = st.s.lease;
  if (lease === null) return;
  st.s.name = "renewing";
  // §18.2.4: RENEW runs until T2.
  st.s.exchange = newExchange("RENEW", now, st.s.config.random, { durationMs: lease.rebindAt === null ? null : Math.max(0, lease.rebindAt - now) });
}

function startRebind(st: Step, now: number): void {
  const lease = st.s.lease;
  if (lease === null) return;
  st.s.name = "rebinding";
  // §18.2.5: REBIND runs until the last valid lifetime ends.
  const last = lastExpiry(lease);
  st.s.exchange = newExchange("REBIND", now, st.s.config.random, { durationMs: last === null ? null : Math.max(0, last - now) });
}

function release(st: Step, now: number): void {
  if (!st.s.started) return;
  const lease = st.s.lease;
  st.s.started = false;
  st.s.best = null;
  st.s.collectUntil = null;
  // §18.2.7: stop using the leases before the RELEASE exchange begins.
  publish(st, null);
  if (lease !== null && lease.mode === "stateful" && st.s.linkUp) {
    st.s.name = "releasing";
    st.s.server = { duid: lease.serverDuid, address: lease.serverAddress, offer: leaseIas(st.s.config, lease) };
    st.s.exchange = newExchange("RELEASE", now, st.s.config.random);
  } else {
    st.s.name = "released";
    st.s.exchange = null;
  }
}

/** §18.2.8: stop using the addresses, then DECLINE them to the server that leased them. */
function decline(st: Step, addresses: readonly Ipv6[], now: number): void {
  const lease = st.s.lease;
  if (!st.s.started || lease === null || lease.mode !== "stateful") return;
  const declined = lease.addresses.filter((a) => addresses.includes(a.address));
  if (declined.length === 0) {
    log(st, "debug", `asked to decline ${addresses.join(", ")}, which the lease does not hold`);
    return;
  }
  const kept = { ...lease, addresses: lease.addresses.filter((a) => !addresses.includes(a.address)) };
  log(st, "warn", `declining ${declined.map((a) => a.address).join(", ")}: another host uses them`);
  publish(st, kept.addresses.length === 0 && kept.prefixes.length === 0 ? null : kept);
  st.s.name = "declining";
  st.s.best = null;
  st.s.collectUntil = null;
  const offer: Dhcp6Option[] = [{ kind: "iaNa", iaid: st.s.config.iaid, t1: 0, t2: 0, options: declined.map((a) => ({ kind: "iaAddr", address: a.address, preferred: 0, valid: 0, options: [] })) }];
  st.s.server = { duid: lease.serverDuid, address: lease.serverAddress, offer };
  st.s.exchange = newExchange("DECLINE", now, st.s.config.random);
}

/** After DECLINE (answered or not): go on with what is left, or SOLICIT when nothing is. */
function declined(st: Step, now: number): void {
  st.s.exchange = null;
  const lease = st.s.lease;
  if (lease === null) {
    solicitAgain(st, now, "every leased address was declined");
    return;
  }
  st.s.name = "bound";
  st.s.server = { duid: lease.serverDuid, address: lease.serverAddress, offer: [] };
}

function renewNow(st: Step, now: number): void {
  if (!st.s.started) {
    st.s.started = true;
    begin(st, now);
    return;
  }
  if (!st.s.linkUp) return;
  if (st.s.config.mode === "stateful" && st.s.lease !== null) {
    if (st.s.name === "rebinding") startRebind(st, now);
    else startRenew(st, now);
  } else if (st.s.name !== "soliciting" && st.s.name !== "requesting") begin(st, now);
}

/** Runs every deadline that has come by `now`, in order, until none has. */
function advance(st: Step, now: number): void {
  // Each pass either moves a deadline past `now` or changes the state; a bound keeps a bug from spinning.
  for (let pass = 0; pass < 16; pass++) {
    const s = st.s;
    if (s.lease !== null && s.lease.mode === "stateful") {
      const pruned = pruneExpired(s.lease, now);
      if (pruned !== s.lease) {
        if (pruned.addresses.length === 0 && pruned.prefixes.length === 0) {
          if (s.started) leaseLost(st, now, "every address and prefix expired");
          else publish(st, null);
        } else {
          log(st, "info", "some addresses or prefixes expired");
          publish(st, pruned);
        }
        continue;
      }
    }
    if (!s.started || !s.linkUp) {
      if (s.name !== "releasing") return;
    }
    const x = s.exchange;
    if (s.name === "bound" && s.lease !== null) {
      if (s.lease.rebindAt !== null && now >= s.lease.rebindAt) {
        startRebind(st, now);
        continue;
      }
      if (s.lease.renewAt !== null && now >= s.lease.renewAt) {
        startRenew(st, now);
        continue;
      }
      return;
    }
    if (s.name === "informed" && s.lease !== null) {
      if (s.lease.refreshAt !== null && now >= s.lease.refreshAt) {
        begin(st, now);
        continue;
      }
      return;
    }
    if (s.name === "soliciting" && s.best !== null && s.collectUntil !== null && now >= s.collectUntil) {
      request(st, s.best, now);
      continue;
    }
    if (x === null || now < x.sendAt) {
      if (x !== null && x.endAt !== null && now >= x.endAt) {
        exchangeEnded(st, now);
        continue;
      }
      return;
    }
    if (!canTransmit(x, now)) {
      exchangeEnded(st, now);
      continue;
    }
    transmit(st, x, now);
    return;
  }
}

/** The exchange ran out of transmissions or time (§15: MRC or MRD). */
function exchangeEnded(st: Step, now: number): void {
  const x = st.s.exchange;
  st.s.exchange = null;
  switch (x?.type) {
    case "REQUEST":
      solicitAgain(st, now, `no REPLY to ${RETRANSMIT.REQUEST.maxCount} REQUESTs`);
      return;
    case "CONFIRM":
      // §18.2.3: no answer to CONFIRM: keep using the leases.
      st.s.name = "bound";
      return;
    case "RENEW":
      startRebind(st, now);
      return;
    case "REBIND":
      if (st.s.lease !== null) leaseLost(st, now, "no server answered REBIND before the leases expired");
      else begin(st, now);
      return;
    case "RELEASE":
      st.s.name = "released";
      return;
    case "DECLINE":
      declined(st, now);
      return;
    default:
      return;
  }
}

/** Sends the exchange's message now and schedules the next retransmission. */
function transmit(st: Step, x: Exchange, now: number): void {
  const message = buildMessage(st.s, x, now);
  const bytes = encodeDhcp6Message(message);
  st.s.exchange = transmitted(x, now, st.s.config.random);
  if (x.type === "SOLICIT" && x.count === 0) st.s.collectUntil = st.s.exchange.sendAt;
  if (!bytes.ok) {
    log(st, "warn", `cannot encode ${MESSAGE_TYPE_NAMES[message.type]}: ${bytes.error.detail}`);
    return;
  }
  st.actions.push({ kind: "send", to: ALL_DHCP_RELAY_AGENTS_AND_SERVERS, port: SERVER_PORT, bytes: bytes.value, messageType: MESSAGE_TYPE_NAMES[message.type] });
}

const MESSAGE_OF: Readonly<Record<ExchangeType, MessageType>> = {
  SOLICIT: MessageType.SOLICIT,
  REQUEST: MessageType.REQUEST,
  CONFIRM: MessageType.CONFIRM,
  RENEW: MessageType.RENEW,
  REBIND: MessageType.REBIND,
  INFORMATION_REQUEST: MessageType.INFORMATION_REQUEST,
  RELEASE: MessageType.RELEASE,
  DECLINE: MessageType.DECLINE,
};

/** The IAs we ask for in a SOLICIT: empty ones (with a prefix-length hint, RFC 8415 §18.2.1). */
function solicitIas(config: ResolvedConfig): Dhcp6Option[] {
  const out: Dhcp6Option[] = [];
  if (config.address) out.push({ kind: "iaNa", iaid: config.iaid, t1: 0, t2: 0, options: [] });
  if (config.prefixLength !== undefined) {
    const hint: Dhcp6Option[] = config.prefixLength > 0 ? [{ kind: "iaPrefix", preferred: 0, valid: 0, prefixLength: config.prefixLength, prefix: "::", options: [] }] : [];
    out.push({ kind: "iaPd", iaid: config.iaid, t1: 0, t2: 0, options: hint });
  }
  return out;
}

/** Our IAs holding the leases we have (lifetimes and T1/T2 0: §18.2.4 lets the server choose). */
function leaseIas(config: ResolvedConfig, lease: Dhcp6Lease, addressesOnly = false): Dhcp6Option[] {
  const out: Dhcp6Option[] = [];
  if (lease.addresses.length > 0) {
    out.push({ kind: "iaNa", iaid: config.iaid, t1: 0, t2: 0, options: lease.addresses.map((a) => ({ kind: "iaAddr", address: a.address, preferred: 0, valid: 0, options: [] })) });
  }
  if (!addressesOnly && lease.prefixes.length > 0) {
    out.push({ kind: "iaPd", iaid: config.iaid, t1: 0, t2: 0, options: lease.prefixes.map((p) => ({ kind: "iaPrefix", preferred: 0, valid: 0, prefixLength: p.prefixLength, prefix: p.prefix, options: [] })) });
  }
  return out;
}

/**
 * The message an exchange sends (RFC 8415 §18.2.1–§18.2.7). §18.2: SOLICIT, REQUEST, RENEW and
 * REBIND ask for SOL_MAX_RT in their ORO; INFORMATION-REQUEST for INF_MAX_RT and the refresh time.
 */
function buildMessage(s: Dhcp6ClientState, x: Exchange, now: number): Dhcp6Message {
  const c = s.config;
  const options: Dhcp6Option[] = [{ kind: "clientId", duid: c.duid }];
  const elapsed: Dhcp6Option = { kind: "elapsedTime", hundredths: elapsedHundredths(x, now) };
  const serverId: Dhcp6Option[] = s.server === null ? [] : [{ kind: "serverId", duid: s.server.duid }];
  const lease = s.lease;
  switch (x.type) {
    case "SOLICIT":
      options.push(...solicitIas(c), { kind: "oro", codes: [...c.requestOptions, OptionCode.SOL_MAX_RT] }, elapsed);
      if (c.rapidCommit) options.push({ kind: "rapidCommit" });
      break;
    case "REQUEST":
      options.push(...serverId, ...(s.server?.offer ?? []), { kind: "oro", codes: [...c.requestOptions, OptionCode.SOL_MAX_RT] }, elapsed);
      break;
    case "RENEW":
      options.push(...serverId, ...(lease === null ? [] : leaseIas(c, lease)), { kind: "oro", codes: [...c.requestOptions, OptionCode.SOL_MAX_RT] }, elapsed);
      break;
    case "REBIND":
      options.push(...(lease === null ? [] : leaseIas(c, lease)), { kind: "oro", codes: [...c.requestOptions, OptionCode.SOL_MAX_RT] }, elapsed);
      break;
    case "CONFIRM":
      options.push(...(lease === null ? [] : leaseIas(c, lease, true)), elapsed);
      break;
    case "INFORMATION_REQUEST":
      options.push({ kind: "oro", codes: [...c.requestOptions, OptionCode.INFORMATION_REFRESH_TIME, OptionCode.INF_MAX_RT] }, elapsed);
      break;
    case "RELEASE":
    case "DECLINE":
      options.push(...serverId, ...(s.server?.offer ?? []), elapsed);
      break;
  }
  return { type: MESSAGE_OF[x.type], transactionId: x.transactionId, options };
}

/** Sends REQUEST for an advertised offer (§18.2.2). */
function request(st: Step, offer: Advertised, now: number): void {
  st.s.name = "requesting";
  st.s.best = null;
  st.s.collectUntil = null;
  st.s.server = { duid: offer.duid, address: offer.address, offer: offer.offer };
  st.s.exchange = newExchange("REQUEST", now, st.s.config.random);
  log(st, "debug", `requesting from ${offer.address} (preference ${offer.preference})`);
}

/** A datagram on port 546: checked (§16: transaction id, client id, server id) then acted on. */
function received(st: Step, bytes: Uint8Array, from: Ipv6, now: number): void {
  const decoded = decodeDhcp6Message(bytes);
  if (!decoded.ok) {
    log(st, "debug", `dropped a datagram from ${from}: ${decoded.error.code}: ${decoded.error.detail}`);
    return;
  }
  const m = decoded.value;
  const name = MESSAGE_TYPE_NAMES[m.type];
  const drop = (why: string): void => log(st, "debug", `dropped ${name} from ${from}: ${why}`);
  if (m.type === MessageType.RECONFIGURE) {
    // §18.2.11: a client that did not negotiate reconfigure (we never send RECONF_ACCEPT) discards it.
    log(st, "info", `refused RECONFIGURE from ${from}: this client never accepts reconfiguration`);
    return;
  }
  if (m.type !== MessageType.ADVERTISE && m.type !== MessageType.REPLY) return drop("a client receives only ADVERTISE, REPLY and RECONFIGURE");
  const x = st.s.exchange;
  if (x === null || x.count === 0) return drop("no exchange is waiting for an answer");
  if (m.transactionId !== x.transactionId) return drop(`transaction id ${hex6(m.transactionId)} is not ours (${hex6(x.transactionId)})`);
  const clientId = optionOf(m.options, "clientId");
  const clientIdBytes = clientId === undefined ? null : encodeDuid(clientId.duid);
  if (clientIdBytes === null || !clientIdBytes.ok || !sameBytes(clientIdBytes.value, st.s.config.duidBytes)) return drop("its client identifier is missing or not ours");
  const serverId = optionOf(m.options, "serverId");
  if (serverId === undefined) return drop("it has no server identifier");
  const server = { duid: serverId.duid, address: from };
  if (m.type === MessageType.ADVERTISE) {
    if (x.type !== "SOLICIT") return drop("no SOLICIT is in flight");
    return advertised(st, m, server, now);
  }
  // A REPLY.
  if ((x.type === "REQUEST" || x.type === "RENEW" || x.type === "RELEASE" || x.type === "DECLINE") && st.s.server !== null) {
    const ours = encodeDuid(st.s.server.duid);
    const theirs = encodeDuid(serverId.duid);
    if (!ours.ok || !theirs.ok || !sameBytes(ours.value, theirs.value)) return drop("its server identifier is not the server we asked");
  }
  const top = statusOf(m.options);
  if (x.type === "SOLICIT" && (!st.s.config.rapidCommit || optionOf(m.options, "rapidCommit") === undefined)) return drop("a REPLY to SOLICIT without rapid commit");
  // §18.2.10: SOL_MAX_RT and INF_MAX_RT are taken from every valid REPLY, whatever its status.
  updateMaxRt(st, m);
  switch (x.type) {
    case "SOLICIT":
    case "REQUEST":
    case "RENEW":
    case "REBIND":
      return bindFromReply(st, m, server, now, top);
    case "CONFIRM":
      if (top.status === StatusCode.NOT_ON_LINK) return leaseLost(st, now, `${from} says our addresses are not on this link`);
      if (top.status !== StatusCode.SUCCESS) return drop(`status ${top.status} ${JSON.stringify(top.message)}`);
      st.s.name = "bound";
      st.s.exchange = null;
      log(st, "info", `${from} confirmed our addresses are on this link`);
      return;
    case "INFORMATION_REQUEST": {
      if (top.status !== StatusCode.SUCCESS) return drop(`status ${top.status} ${JSON.stringify(top.message)}`);
      const lease = informationLease(m, server, now);
      st.s.name = "informed";
      st.s.exchange = null;
      log(st, "info", `information from ${from}: ${lease.dnsServers.length} DNS servers, ${lease.domains.length} domains`);
      publish(st, lease);
      return;
    }
    case "RELEASE":
      st.s.name = "released";
      st.s.exchange = null;
      st.s.server = null;
      return;
    case "DECLINE":
      declined(st, now);
      return;
  }
}

const hex6 = (n: number) => `0x${n.toString(16).padStart(6, "0")}`;

/** §21.24/§21.25: SOL_MAX_RT and INF_MAX_RT are used only within 60–86400 s. */
function updateMaxRt(st: Step, m: Dhcp6Message): void {
  const inRange = (v: number) => v >= MIN_MAX_RT_SECONDS && v <= MAX_MAX_RT_SECONDS;
  const sol = optionOf(m.options, "solMaxRt");
  if (sol !== undefined && inRange(sol.seconds)) st.s.solMaxRtMs = sol.seconds * 1000;
  const inf = optionOf(m.options, "infMaxRt");
  if (inf !== undefined && inRange(inf.seconds)) st.s.infMaxRtMs = inf.seconds * 1000;
  const x = st.s.exchange;
  if (x !== null && x.type === "SOLICIT") st.s.exchange = { ...x, maxRtMs: st.s.solMaxRtMs };
  if (x !== null && x.type === "INFORMATION_REQUEST") st.s.exchange = { ...x, maxRtMs: st.s.infMaxRtMs };
}

/** §18.2.9: an ADVERTISE during SOLICIT. */
function advertised(st: Step, m: Dhcp6Message, server: { duid: Duid; address: Ipv6 }, now: number): void {
  // §18.2.9: SOL_MAX_RT is processed even from an ADVERTISE that is otherwise ignored.
  updateMaxRt(st, m);
  const c = st.s.config;
  const offer: Dhcp6Option[] = [];
  let coverage = 0;
  for (const ia of m.options) {
    if ((ia.kind !== "iaNa" && ia.kind !== "iaPd") || ia.iaid !== c.iaid) continue;
    if (ia.kind === "iaNa" ? !c.address : c.prefixLength === undefined) continue;
    if (statusOf(ia.options).status !== StatusCode.SUCCESS) continue;
    const leases = ia.kind === "iaNa"
      ? optionsOf(ia.options, "iaAddr").filter((a) => a.valid > 0 && a.preferred <= a.valid).map((a): Dhcp6Option => ({ kind: "iaAddr", address: a.address, preferred: 0, valid: 0, options: [] }))
      : optionsOf(ia.options, "iaPrefix").filter((p) => p.valid > 0 && p.preferred <= p.valid).map((p): Dhcp6Option => ({ kind: "iaPrefix", preferred: 0, valid: 0, prefixLength: p.prefixLength, prefix: p.prefix, options: [] }));
    if (leases.length === 0) continue;
    coverage += 1;
    offer.push({ ...ia, t1: 0, t2: 0, options: leases });
  }
  const preference = optionOf(m.options, "preference")?.value ?? 0;
  const drop = (why: string): void => log(st, "debug", `ignored ADVERTISE from ${server.address}: ${why}`);
  // §18.2.9: an ADVERTISE with no addresses and no prefixes is ignored.
  if (coverage === 0) return drop(`it offers nothing we asked for (status ${statusOf(m.options).status})`);
  const candidate: Advertised = { preference, duid: server.duid, address: server.address, offer, coverage };
  const best = st.s.best;
  if (best === null || preference > best.preference || (preference === best.preference && coverage > best.coverage)) st.s.best = candidate;
  // §18.2.1: preference 255 is taken at once; after the first RT, the first ADVERTISE is.
  if (preference === MAX_PREFERENCE || (st.s.collectUntil !== null && now >= st.s.collectUntil)) request(st, st.s.best ?? candidate, now);
}

/** §18.2.10: a REPLY that binds (to REQUEST, RENEW, REBIND or a rapid-commit SOLICIT). */
function bindFromReply(st: Step, m: Dhcp6Message, server: { duid: Duid; address: Ipv6 }, now: number, top: { status: number; message: string }): void {
  const x = st.s.exchange;
  const from = server.address;
  if (top.status === StatusCode.NOT_ON_LINK && (x?.type === "REQUEST" || x?.type === "SOLICIT")) {
    publish(st, null);
    return solicitAgain(st, now, `${from} says the addresses are not on this link`);
  }
  if (top.status !== StatusCode.SUCCESS) {
    // UnspecFail, UseMulticast and others: keep retransmitting (§18.2.10: rate-limited by the exchange).
    log(st, "debug", `REPLY from ${from} with status ${top.status} ${JSON.stringify(top.message)}: retrying`);
    return;
  }
  const fresh = x?.type === "REQUEST" || x?.type === "SOLICIT";
  const outcome = applyReply(m, fresh ? null : st.s.lease, bindingWanted(st.s.config), server, now);
  if (outcome.noBinding && !fresh) {
    // §18.2.10.1: the server no longer knows our binding: REQUEST it from the server that answered.
    st.s.name = "requesting";
    st.s.server = { duid: server.duid, address: from, offer: st.s.lease === null ? [] : leaseIas(st.s.config, st.s.lease) };
    st.s.exchange = newExchange("REQUEST", now, st.s.config.random);
    log(st, "info", `${from} has no binding for us: requesting it again`);
    return;
  }
  if (outcome.lease === null) {
    if (fresh) return solicitAgain(st, now, `${from} assigned nothing (${outcome.refused} IAs refused)`);
    return leaseLost(st, now, `${from} left us no addresses or prefixes`);
  }
  bound(st, outcome.lease);
}

/** Emits a `timer` action when the next deadline moved. */
function armTimer(st: Step): void {
  const at = nextDeadline(st.s);
  if (at !== st.s.timerAt) {
    st.s.timerAt = at;
    st.actions.push({ kind: "timer", at });
  }
}

/** The earliest time something is due: a transmission, the end of collecting or of an exchange, T1, T2, an expiry, a refresh. */
export function nextDeadline(s: Dhcp6ClientState): number | null {
  const times: (number | null)[] = [];
  if (s.exchange !== null && (s.linkUp || s.name === "releasing")) times.push(s.exchange.sendAt, s.exchange.endAt);
  if (s.name === "soliciting" && s.best !== null) times.push(s.collectUntil);
  if (s.lease !== null) {
    if (s.lease.mode === "stateful") times.push(nextExpiry(s.lease));
    if (s.started && s.linkUp && s.name === "bound") times.push(s.lease.renewAt, s.lease.rebindAt);
    if (s.started && s.linkUp && s.name === "informed") times.push(s.lease.refreshAt);
  }
  let at: number | null = null;
  for (const t of times) if (t !== null && (at === null || t < at)) at = t;
  return at;
}
