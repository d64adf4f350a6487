/**
 * The sans-IO Router Advertisement client (the host side of RFC 4861 §6.3, RFC 4862 §5.5.3,
 * RFC 4191 §3, RFC 8106 §5.3, RFC 8781): `createRaClient(config)` and
 * `step(state, event) → { state, actions }`. It keeps no clock and does no I/O: each event carries
 * the caller's monotonic time in milliseconds, randomness comes from `config.random`, and the
 * caller sends the frames, arms the one timer and writes the published snapshot.
 *
 * Where it departs from the RFCs (each also in docs/ra.md, "The core"):
 * - Solicitation: after RFC 4861's 3 solicitations 4 s apart it goes on with RFC 7559's
 *   exponential backoff (8 s, 16 s, … up to an hour, ±10 %) until a router answers, unless
 *   `backoff` is false. A link that comes back up (carrier regained) starts over.
 * - Bounds: at most MAX_ROUTERS routers, MAX_PREFIXES prefixes, MAX_ROUTES routes, MAX_RDNSS DNS
 *   servers, MAX_SEARCH_NAMES names, MAX_PREF64 NAT64 prefixes. A new entry over its bound is
 *   dropped and counted; known entries are always refreshed (so a flood cannot evict them).
 * - M and O flags, cur hop limit, reachable time and retrans timer are the latest RA's.
 * - The MTU option has no lifetime (RFC 4861 §6.3.4): the latest acceptable one stays until the
 *   client is restarted.
 * - Route Information options for link-local or multicast prefixes are ignored (a router has no
 *   business routing them; RFC 4191 does not say).
 * - Lifetimes count from `receivedAt` (the kernel's receive time), so a late-processed RA does
 *   not live longer than the router meant.
 */

import {
  INFINITE_LIFETIME,
  IPV6_MIN_MTU,
  MAX_PREF64,
  MAX_PREFIXES,
  MAX_RDNSS,
  MAX_ROUTERS,
  MAX_ROUTES,
  MAX_RTR_SOLICITATIONS,
  MAX_RTR_SOLICITATION_DELAY_MS,
  MAX_RTR_SOLICITATION_INTERVAL_MS,
  MAX_SEARCH_NAMES,
  RTR_SOLICITATION_INTERVAL_MS,
  RTR_SOLICITATION_JITTER,
  TWO_HOURS_S,
} from "./constants.ts";
import { MAC_BYTES, formatIpv6, ipv6Bytes, isLinkLocal, maskPrefix, type Ipv6Address } from "./ipv6.ts";
import type { RouterAdvertisement } from "./message.ts";
import type { Preference, PrefixOption } from "./options.ts";
import { decodeNdPacket, encodeRouterSolicitationFrame, type NdLink } from "./packet.ts";
import { RaErrorCode, type RaErrorCode as RaErrorCodeType } from "./result.ts";

/** A source of cryptographically random bytes (the calf host's `random`). */
export type RandomSource = (count: number) => Uint8Array;

/** What the calf configures. */
export interface RaClientConfig {
  /** The interface's MAC (6 bytes): the solicitation's Ethernet source and link-layer option. */
  mac: Uint8Array;
  /** The interface's link-local address; absent: solicit from :: without the link-layer option (RFC 4861 §4.1). */
  linkLocal?: string;
  /** The link's own MTU: an MTU option above it is ignored (RFC 4861 §6.3.4). */
  linkMtu: number;
  /** Send Router Solicitations (default true); false only listens for unsolicited advertisements. */
  solicit?: boolean;
  /** Keep soliciting with RFC 7559 backoff after the first 3 (default true). */
  backoff?: boolean;
  /** Random bytes: the initial solicitation delay and the backoff's jitter. */
  random: RandomSource;
}

/** A configuration the client cannot run with: one sentence and a stable code. */
export interface RaConfigError {
  code: typeof RaErrorCode.BAD_CONFIG;
  detail: string;
}

/** A default router (RFC 4861 §6.3.4, RFC 4191 §3.2). */
export interface RouterEntry {
  address: Ipv6Address;
  preference: Preference;
  /** Monotonic milliseconds. */
  expiresAt: number;
}

/** A prefix from Prefix Information options: on-link, autonomous, or both. */
export interface PrefixEntry {
  /** Bits past `prefixLength` cleared. */
  prefix: Ipv6Address;
  prefixLength: number;
  /** When the prefix stops being on-link (monotonic ms, Infinity: never); undefined: not on-link. */
  onLinkUntil: number | undefined;
  /**
   * SLAAC (RFC 4862 §5.5.3) for a /64 with A set: when addresses on it stop being valid and
   * preferred (monotonic ms, Infinity: never); undefined: not autonomous.
   */
  autonomous: { validUntil: number; preferredUntil: number } | undefined;
}

/** A more specific route (RFC 4191 route information). */
export interface RouteEntry {
  prefix: Ipv6Address;
  prefixLength: number;
  router: Ipv6Address;
  preference: Preference;
  expiresAt: number;
}

/** A recursive DNS server (RFC 8106). */
export interface DnsServerEntry {
  address: Ipv6Address;
  router: Ipv6Address;
  expiresAt: number;
}

/** A DNS search name (RFC 8106). */
export interface SearchNameEntry {
  name: string;
  router: Ipv6Address;
  expiresAt: number;
}

/** A NAT64 prefix (RFC 8781). */
export interface Pref64Entry {
  prefix: Ipv6Address;
  prefixLength: number;
  router: Ipv6Address;
  expiresAt: number;
}

/**
 * What the client learned, as the calf publishes it. Every time is the caller's monotonic clock
 * in milliseconds, Infinity for an infinite (0xffffffff) lifetime.
 */
export interface RaSnapshot {
  routers: RouterEntry[];
  prefixes: PrefixEntry[];
  routes: RouteEntry[];
  dnsServers: DnsServerEntry[];
  searchNames: SearchNameEntry[];
  pref64: Pref64Entry[];
  /** The link MTU from the latest acceptable MTU option, if any. */
  mtu: number | undefined;
  /** The latest RA's M and O flags (false before any RA). */
  managed: boolean;
  other: boolean;
  /** The latest non-zero values the routers gave (RFC 4861 §6.3.4), undefined before. */
  curHopLimit: number | undefined;
  reachableTime: number | undefined;
  retransTimer: number | undefined;
}

/** What was dropped or ignored, for metrics and the hostile tests. */
export interface RaCounters {
  /** Router Advertisements taken in. */
  advertisements: number;
  /** Frames refused by the RFC 4861 §6.1 checks or the codec, by error code. */
  invalid: Partial<Record<RaErrorCodeType, number>>;
  solicitationsSent: number;
  /** New entries dropped because their list was full. */
  dropped: { routers: number; prefixes: number; routes: number; dnsServers: number; searchNames: number; pref64: number };
  /** Options ignored by their RFC's rules (malformed, out of range, link-local prefix, reserved preference, …). */
  ignoredOptions: number;
}

/** Where solicitation stands. */
export type SolicitPhase = "off" | "waiting" | "soliciting" | "done";

/**
 * The client's whole state; treat as opaque outside the core (fields are for tests and status).
 * Where the machine departs from RFC 4861 §6.3 (backoff after the third solicitation, bounds, the
 * latest RA's flags, a sticky MTU, ignored link-local and multicast routes) is listed at the top of
 * this module. Like the RFC, it does not solicit again once a router answered, even when every
 * router has since expired; a link that comes back (carrier regained) does.
 */
export interface RaClientState {
  readonly config: Readonly<Required<Omit<RaClientConfig, "linkLocal">>> & { linkLocal: string | undefined };
  readonly started: boolean;
  /** Up and with carrier (assumed until a `link` event says otherwise). */
  readonly linkUsable: boolean;
  readonly solicit: { phase: SolicitPhase; sent: number; nextAt: number | undefined; intervalMs: number };
  readonly learned: RaSnapshot;
  readonly counters: RaCounters;
  /** The timer last asked for, so an unchanged one is not asked for again. */
  readonly timer: number | undefined;
}

/** What happened. `now` and `receivedAt` are the caller's monotonic clock in milliseconds. */
export type RaClientEvent =
  /** Begin: schedule the first solicitation. */
  | { kind: "start"; now: number }
  /** The timer fired (or any time: due work is done, nothing else). */
  | { kind: "tick"; now: number }
  /** A Router Advertisement that passed {@link decodeNdPacket}, from `from` (its link-local source). */
  | { kind: "ra"; message: RouterAdvertisement; from: Ipv6Address; receivedAt: number }
  /** A frame (or IPv6 packet) as received: validated here, counted when invalid. */
  | { kind: "frame"; bytes: Uint8Array; link: NdLink; receivedAt: number }
  /** The interface's state changed. */
  | { kind: "link"; up: boolean; carrier: boolean; now: number };

/** Log levels the client uses. */
export type RaLogLevel = "debug" | "info" | "warn";

/** What the caller must do. */
export type RaClientAction =
  /** Send this Ethernet frame (a Router Solicitation). */
  | { kind: "send"; frame: Uint8Array }
  /** Arm the one timer for this monotonic time (replaces the earlier one); send a `tick` then. */
  | { kind: "timer"; at: number }
  /** What was learned changed: write it. */
  | { kind: "publish"; snapshot: RaSnapshot }
  | { kind: "log"; level: RaLogLevel; message: string };

/** The new state and what to do. */
export interface RaStepResult {
  state: RaClientState;
  actions: RaClientAction[];
}

/** The empty snapshot. */
function emptySnapshot(): RaSnapshot {
  return { routers: [], prefixes: [], routes: [], dnsServers: [], searchNames: [], pref64: [], mtu: undefined, managed: false, other: false, curHopLimit: undefined, reachableTime: undefined, retransTimer: undefined };
}

/** A client ready for `start`, or the configuration error. */
export function createRaClient(config: RaClientConfig): { ok: true; state: RaClientState } | { ok: false; error: RaConfigError } {
  const bad = (detail: string) => ({ ok: false as const, error: { code: RaErrorCode.BAD_CONFIG, detail } });
  if (config.mac.length !== MAC_BYTES) return bad(`The MAC is ${config.mac.length} bytes; it must be 6.`);
  if (config.linkLocal !== undefined) {
    const ll = ipv6Bytes(config.linkLocal);
    if (ll === null || !isLinkLocal(ll)) return bad(`${JSON.stringify(config.linkLocal.slice(0, 64))} is not a link-local IPv6 address.`);
  }
  if (!Number.isInteger(config.linkMtu) || config.linkMtu < IPV6_MIN_MTU || config.linkMtu > 0xffffffff) {
    return bad(`Link MTU ${config.linkMtu} is not an integer of at least 1280.`);
  }
  const linkLocal = config.linkLocal === undefined ? undefined : formatIpv6(ipv6Bytes(config.linkLocal)!);
  return {
    ok: true,
    state: {
      config: { mac: config.mac.slice(), linkLocal, linkMtu: config.linkMtu, solicit: config.solicit ?? true, backoff: config.backoff ?? true, random: config.random },
      started: false,
      linkUsable: true,
      solicit: { phase: "off", sent: 0, nextAt: undefined, intervalMs: RTR_SOLICITATION_INTERVAL_MS },
      learned: emptySnapshot(),
      counters: { advertisements: 0, invalid: {}, solicitationsSent: 0, dropped: { routers: 0, prefixes: 0, routes: 0, dnsServers: 0, searchNames: 0, pref64: 0 }, ignoredOptions: 0 },
      timer: undefined,
    },
  };
}

/** The monotonic time `seconds` after `from`, Infinity for the infinite lifetime. */
function expiry(from: number, seconds: number): number {
  return seconds === INFINITE_LIFETIME ? Number.POSITIVE_INFINITY : from + seconds * 1_000;
}

/** A uniform number in [0, 1) from 4 random bytes. */
function unit(random: RandomSource): number {
  const b = random(4);
  return ((((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0) / 2 ** 32;
}

/** Mutable working copy of one step. */
class Step {
  s: { -readonly [K in keyof RaClientState]: RaClientState[K] };
  learned: RaSnapshot;
  readonly actions: RaClientAction[] = [];

  constructor(state: RaClientState) {
    this.s = { ...state, solicit: { ...state.solicit }, counters: structuredCounters(state.counters) };
    const l = state.learned;
    this.learned = { ...l, routers: [...l.routers], prefixes: [...l.prefixes], routes: [...l.routes], dnsServers: [...l.dnsServers], searchNames: [...l.searchNames], pref64: [...l.pref64] };
  }

  log(level: RaLogLevel, message: string): void {
    this.actions.push({ kind: "log", level, message });
  }
}

function structuredCounters(c: RaCounters): RaCounters {
  return { ...c, invalid: { ...c.invalid }, dropped: { ...c.dropped } };
}

/** Advances the client by one event. Never throws: a bug is logged and the event ignored. */
export function step(state: RaClientState, event: RaClientEvent): RaStepResult {
  try {
    const tx = new Step(state);
    const now = event.kind === "ra" || event.kind === "frame" ? event.receivedAt : event.now;
    switch (event.kind) {
      case "start":
        tx.s.started = true;
        beginSoliciting(tx, now);
        break;
      case "tick":
        break;
      case "link": {
        const usable = event.up && event.carrier;
        if (usable && !tx.s.linkUsable) {
          tx.s.linkUsable = true;
          // RFC 4861 §6.3.7: an interface that becomes enabled solicits again; what was learned stays.
          tx.s.solicit = { phase: "off", sent: 0, nextAt: undefined, intervalMs: RTR_SOLICITATION_INTERVAL_MS };
          if (tx.s.started) beginSoliciting(tx, now);
        } else if (!usable) {
          tx.s.linkUsable = false;
          tx.s.solicit = { ...tx.s.solicit, phase: tx.s.solicit.phase === "done" ? "done" : "off", nextAt: undefined };
        }
        break;
      }
      case "frame": {
        const packet = decodeNdPacket(event.bytes, event.link);
        if (!packet.ok) {
          tx.s.counters.invalid[packet.error.code] = (tx.s.counters.invalid[packet.error.code] ?? 0) + 1;
          tx.log("debug", `ignored a frame: ${packet.error.detail}`);
          break;
        }
        if (packet.value.message.kind !== "ra") {
          tx.s.counters.invalid[RaErrorCode.WRONG_TYPE] = (tx.s.counters.invalid[RaErrorCode.WRONG_TYPE] ?? 0) + 1;
          break;
        }
        takeAdvertisement(tx, packet.value.message, packet.value.source, now);
        break;
      }
      case "ra":
        takeAdvertisement(tx, event.message, event.from, now);
        break;
    }
    runDue(tx, now);
    return finish(state, tx);
  } catch (e) {
    return { state, actions: [{ kind: "log", level: "warn", message: `RA client bug on a ${event.kind} event, event ignored: ${String(e)}` }] };
  }
}

/** RFC 4861 §6.3.7: the first solicitation waits a random 0–1 s. */
function beginSoliciting(tx: Step, now: number): void {
  if (!tx.s.config.solicit || !tx.s.linkUsable || tx.s.solicit.phase === "done") return;
  tx.s.solicit = { phase: "waiting", sent: 0, nextAt: now + Math.floor(unit(tx.s.config.random) * MAX_RTR_SOLICITATION_DELAY_MS), intervalMs: RTR_SOLICITATION_INTERVAL_MS };
}

/** Sends a due solicitation and removes what expired. */
function runDue(tx: Step, now: number): void {
  const sol = tx.s.solicit;
  if (sol.nextAt !== undefined && sol.nextAt <= now && tx.s.linkUsable) {
    const frame = encodeRouterSolicitationFrame(tx.s.config.mac, tx.s.config.linkLocal);
    if (frame.ok) {
      tx.actions.push({ kind: "send", frame: frame.value });
      tx.s.counters.solicitationsSent++;
    } else tx.log("warn", `cannot build a Router Solicitation: ${frame.error.detail}`);
    const sent = sol.sent + 1;
    if (sent < MAX_RTR_SOLICITATIONS) {
      tx.s.solicit = { phase: "soliciting", sent, nextAt: now + RTR_SOLICITATION_INTERVAL_MS, intervalMs: RTR_SOLICITATION_INTERVAL_MS };
    } else if (tx.s.config.backoff) {
      // RFC 7559 §2 (RFC 8415 §15 arithmetic): RT = 2·RT + RAND·RT, RAND in ±0.1; past MRT, RT = MRT + RAND·MRT.
      const rand = (unit(tx.s.config.random) * 2 - 1) * RTR_SOLICITATION_JITTER;
      let interval = 2 * sol.intervalMs + rand * sol.intervalMs;
      if (interval > MAX_RTR_SOLICITATION_INTERVAL_MS) interval = MAX_RTR_SOLICITATION_INTERVAL_MS + rand * MAX_RTR_SOLICITATION_INTERVAL_MS;
      tx.s.solicit = { phase: "soliciting", sent, nextAt: now + Math.round(interval), intervalMs: Math.min(interval, MAX_RTR_SOLICITATION_INTERVAL_MS) };
    } else {
      tx.s.solicit = { phase: "done", sent, nextAt: undefined, intervalMs: sol.intervalMs };
    }
  }
  const l = tx.learned;
  const live = <T extends { expiresAt: number }>(list: T[]) => list.filter((e) => e.expiresAt > now);
  l.routers = live(l.routers);
  l.routes = live(l.routes);
  l.dnsServers = live(l.dnsServers);
  l.searchNames = live(l.searchNames);
  l.pref64 = live(l.pref64);
  l.prefixes = l.prefixes
    .map((p) => ({
      ...p,
      onLinkUntil: p.onLinkUntil !== undefined && p.onLinkUntil > now ? p.onLinkUntil : undefined,
      autonomous: p.autonomous !== undefined && p.autonomous.validUntil > now ? p.autonomous : undefined,
    }))
    .filter((p) => p.onLinkUntil !== undefined || p.autonomous !== undefined);
}

/** The earliest time anything is due: the next solicitation or the next expiry. */
function nextDue(s: { solicit: RaClientState["solicit"]; linkUsable: boolean }, l: RaSnapshot): number | undefined {
  let at = s.linkUsable && s.solicit.nextAt !== undefined ? s.solicit.nextAt : Number.POSITIVE_INFINITY;
  const consider = (t: number | undefined) => {
    if (t !== undefined && t < at) at = t;
  };
  for (const list of [l.routers, l.routes, l.dnsServers, l.searchNames, l.pref64]) for (const e of list) consider(e.expiresAt);
  for (const p of l.prefixes) {
    consider(p.onLinkUntil);
    consider(p.autonomous?.validUntil);
  }
  return at === Number.POSITIVE_INFINITY ? undefined : at;
}

/** Builds the result: the timer when it moved, a publish when what was learned changed. */
function finish(before: RaClientState, tx: Step): RaStepResult {
  const at = nextDue(tx.s, tx.learned);
  if (at !== undefined && at !== before.timer) tx.actions.push({ kind: "timer", at });
  const changed = !sameSnapshot(before.learned, tx.learned);
  if (changed) tx.actions.push({ kind: "publish", snapshot: tx.learned });
  return { state: { ...tx.s, learned: changed ? tx.learned : before.learned, timer: at }, actions: tx.actions };
}

/** Structural equality of two snapshots (their values are plain data). */
function sameSnapshot(a: RaSnapshot, b: RaSnapshot): boolean {
  return JSON.stringify(a, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v)) === JSON.stringify(b, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v));
}

/**
 * Upserts `entry` into `list` by `same`: a known one is replaced (refreshed), a new one added when
 * there is room (else counted as dropped), a lifetime of 0 (`remove`) deletes.
 */
function upsert<T>(list: T[], entry: T, same: (e: T) => boolean, remove: boolean, bound: number): "kept" | "dropped" {
  const i = list.findIndex(same);
  if (remove) {
    if (i >= 0) list.splice(i, 1);
    return "kept";
  }
  if (i >= 0) list[i] = entry;
  else if (list.length < bound) list.push(entry);
  else return "dropped";
  return "kept";
}

/** RFC 4861 §6.3.4 and the option RFCs: what one valid Router Advertisement changes. */
function takeAdvertisement(tx: Step, ra: RouterAdvertisement, from: Ipv6Address, now: number): void {
  const l = tx.learned;
  const c = tx.s.counters;
  c.advertisements++;
  // RFC 4861 §6.3.7: a valid RA with a non-zero router lifetime ends solicitation.
  if (ra.routerLifetime > 0) tx.s.solicit = { ...tx.s.solicit, phase: "done", nextAt: undefined };
  if (ra.curHopLimit !== 0) l.curHopLimit = ra.curHopLimit;
  if (ra.reachableTime !== 0) l.reachableTime = ra.reachableTime;
  if (ra.retransTimer !== 0) l.retransTimer = ra.retransTimer;
  l.managed = ra.managed;
  l.other = ra.other;

  const router: RouterEntry = { address: from, preference: ra.preference, expiresAt: now + ra.routerLifetime * 1_000 };
  if (upsert(l.routers, router, (r) => r.address === from, ra.routerLifetime === 0, MAX_ROUTERS) === "dropped") c.dropped.routers++;

  for (const option of ra.options) {
    switch (option.kind) {
      case "mtu":
        // RFC 4861 §6.3.4: only between the IPv6 minimum and the link's own MTU.
        if (option.mtu >= IPV6_MIN_MTU && option.mtu <= tx.s.config.linkMtu) l.mtu = option.mtu;
        else c.ignoredOptions++;
        break;
      case "prefix":
        if (!takePrefix(tx, option, now)) c.ignoredOptions++;
        break;
      case "route": {
        const prefixBytes = ipv6Bytes(option.prefix)!;
        if (option.preference === "reserved" || isLinkLocal(prefixBytes) || prefixBytes[0] === 0xff) {
          c.ignoredOptions++;
          break;
        }
        const entry: RouteEntry = { prefix: option.prefix, prefixLength: option.prefixLength, router: from, preference: option.preference, expiresAt: expiry(now, option.lifetime) };
        const same = (r: RouteEntry) => r.prefix === option.prefix && r.prefixLength === option.prefixLength && r.router === from;
        if (upsert(l.routes, entry, same, option.lifetime === 0, MAX_ROUTES) === "dropped") c.dropped.routes++;
        break;
      }
      case "rdnss":
        for (const address of option.servers) {
          const b = ipv6Bytes(address)!;
          // Unspecified, loopback and multicast addresses cannot be a server on this link.
          if (address === "::" || address === "::1" || b[0] === 0xff) {
            c.ignoredOptions++;
            continue;
          }
          const entry: DnsServerEntry = { address, router: from, expiresAt: expiry(now, option.lifetime) };
          if (upsert(l.dnsServers, entry, (e) => e.address === address, option.lifetime === 0, MAX_RDNSS) === "dropped") c.dropped.dnsServers++;
        }
        break;
      case "dnssl":
        for (const name of option.names) {
          const key = name.toLowerCase();
          const entry: SearchNameEntry = { name, router: from, expiresAt: expiry(now, option.lifetime) };
          if (upsert(l.searchNames, entry, (e) => e.name.toLowerCase() === key, option.lifetime === 0, MAX_SEARCH_NAMES) === "dropped") c.dropped.searchNames++;
        }
        break;
      case "pref64": {
        const entry: Pref64Entry = { prefix: option.prefix, prefixLength: option.prefixLength, router: from, expiresAt: now + option.lifetime * 1_000 };
        const same = (e: Pref64Entry) => e.prefix === option.prefix && e.prefixLength === option.prefixLength;
        if (upsert(l.pref64, entry, same, option.lifetime === 0, MAX_PREF64) === "dropped") c.dropped.pref64++;
        break;
      }
      case "malformed":
        c.ignoredOptions++;
        tx.log("debug", `ignored option ${option.type} from ${from}: ${option.error.detail}`);
        break;
      case "sourceLinkLayer":
      case "unknown":
        // The neighbour cache is the kernel's; unknown options are ignored (RFC 4861 §4.6).
        break;
    }
  }
}

/**
 * A Prefix Information option: RFC 4861 §6.3.4 for on-link, RFC 4862 §5.5.3 for autonomous.
 * Returns false when the option is ignored as a whole.
 */
function takePrefix(tx: Step, option: PrefixOption, now: number): boolean {
  const bytes = maskPrefix(ipv6Bytes(option.prefix)!, option.prefixLength);
  // RFC 4861 §6.3.4 and RFC 4862 §5.5.3 b): the link-local prefix is ignored.
  if (isLinkLocal(bytes)) return false;
  const prefix = formatIpv6(bytes);
  const l = tx.learned;
  const i = l.prefixes.findIndex((p) => p.prefix === prefix && p.prefixLength === option.prefixLength);
  const known = i >= 0 ? l.prefixes[i]! : undefined;
  let onLinkUntil = known?.onLinkUntil;
  let autonomous = known?.autonomous;
  let used = false;
  if (option.onLink) {
    // RFC 4861 §6.3.4: a valid lifetime of 0 times the prefix out at once; otherwise it is (re)set.
    onLinkUntil = option.validLifetime === 0 ? undefined : expiry(now, option.validLifetime);
    used = true;
  }
  // RFC 4862 §5.5.3 c) preferred above valid, d) a prefix length our 64-bit identifiers cannot fill.
  if (option.autonomous && option.preferredLifetime <= option.validLifetime && option.prefixLength === 64) {
    used = true;
    const preferredUntil = expiry(now, option.preferredLifetime);
    if (autonomous === undefined) {
      // d): a new prefix with valid lifetime 0 makes no address.
      if (option.validLifetime !== 0) autonomous = { validUntil: expiry(now, option.validLifetime), preferredUntil };
    } else {
      // e): a received valid lifetime above 2 h, or above what is left, is taken; one at most 2 h
      // does not shorten what is left below 2 h (so a forged RA cannot expire an address at once).
      const remaining = autonomous.validUntil - now;
      const received = option.validLifetime === INFINITE_LIFETIME ? Number.POSITIVE_INFINITY : option.validLifetime * 1_000;
      let validUntil: number;
      if (received > TWO_HOURS_S * 1_000 || received > remaining) validUntil = now + received;
      else if (remaining <= TWO_HOURS_S * 1_000) validUntil = autonomous.validUntil;
      else validUntil = now + TWO_HOURS_S * 1_000;
      autonomous = { validUntil, preferredUntil: Math.min(preferredUntil, validUntil) };
    }
  }
  if (!used) return false;
  const entry: PrefixEntry = { prefix, prefixLength: option.prefixLength, onLinkUntil, autonomous };
  const remove = onLinkUntil === undefined && autonomous === undefined;
  if (upsert(l.prefixes, entry, (p) => p.prefix === prefix && p.prefixLength === option.prefixLength, remove, MAX_PREFIXES) === "dropped") tx.s.counters.dropped.prefixes++;
  return true;
}

/** The client's counters (a copy). */
export function raCounters(state: RaClientState): RaCounters {
  return structuredCounters(state.counters);
}
