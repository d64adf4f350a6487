/**
 * Client configuration: what the calf passes in, its defaults, and its validation into the
 * resolved form the state machine uses (client identifier bytes computed once, lists frozen).
 */

import type { Ipv4 } from "../message.ts";
import { isIpv4, isUnicastHost, normaliseDomainName } from "./addr.ts";
import { requestListFor } from "./ipv6-only.ts";
import { MIN_LEASE_SECONDS } from "./lease.ts";

/**
 * How the client identifies itself (option 61).
 * - `duid` (default): RFC 4361 §6.1 — type 255, a 4-byte IAID, then a DUID; the DUID defaults to
 *   DUID-LL from the MAC (RFC 8415 §11.4: type 3, hardware type 1, the address) and the IAID to
 *   the MAC's last four bytes, so it is stable across restarts without any stored state.
 * - `mac`: the RFC 2132 §9.14 classic form, hardware type 1 followed by the MAC.
 * - `raw`: exactly these bytes (e.g. to keep an identifier another client used before).
 * - `none`: no option 61; servers then key the lease on chaddr.
 */
export type ClientIdConfig =
  | { kind: "duid"; iaid?: number; duid?: Uint8Array }
  | { kind: "mac" }
  | { kind: "raw"; data: Uint8Array }
  | { kind: "none" };

/** What the calf configures. Only `mac` and `random` are required. */
export interface ClientConfig {
  /** The interface's Ethernet address (6 bytes): chaddr, and the DUID-LL source. */
  mac: Uint8Array;
  /**
   * Uniform random numbers in [0, 1): xids, retransmission jitter, the initial delay. Injected so
   * that tests are deterministic; the runtime passes a crypto-seeded source.
   */
  random: () => number;
  clientId?: ClientIdConfig;
  /** Sent as option 12 (RFC 2132 §3.14). Ignored when `fqdn` is set (RFC 4702 §3: not both). */
  hostname?: string;
  /** Sent as option 60 (RFC 2132 §9.13) in DISCOVER and REQUEST: 1–255 bytes, opaque to the client. */
  vendorClass?: Uint8Array;
  /** Sent as option 81 (RFC 4702). `serverUpdate` (default true) sets S, else N. */
  fqdn?: { name: string; serverUpdate?: boolean };
  /** Option 55; default {@link DEFAULT_PARAMETER_REQUEST_LIST}. */
  parameterRequestList?: readonly number[];
  /** Option 57; default {@link DEFAULT_MAX_MESSAGE_SIZE}. */
  maxMessageSize?: number;
  /** Put option 80 in DISCOVER and accept a committed ACK there (RFC 4039). Default true. */
  rapidCommit?: boolean;
  /** Upper bound of a uniformly random wait before the first message (RFC 2131 §4.4.1 suggests 1–10 s). Default 0. */
  initialDelayMs?: number;
  /** How long to wait for an offer of the preferred address once another offer is in. Default {@link DEFAULT_OFFER_WINDOW_MS}. */
  offerWindowMs?: number;
  /** Send RELEASE when stopped, unless the stop event says otherwise. Default false. */
  releaseOnStop?: boolean;
  /** An address to ask for (option 50 in DISCOVER) and to prefer among offers when there is no previous lease. */
  requestedAddress?: Ipv4;
  /**
   * What to do when REBOOTING gets no answer. `init` (default): withdraw the lease and discover
   * anew. `keepLease`: keep using the unexpired lease (RFC 2131 §3.2 allows it), resuming BOUND,
   * RENEWING or REBINDING according to the clock.
   */
  onRebootTimeout?: "init" | "keepLease";
  /**
   * Set the BROADCAST flag in DISCOVER and in REQUESTs sent before an address is configured, for
   * a runtime that cannot receive unicast to an address it does not have yet, e.g. one using a
   * kernel UDP socket (RFC 2131 §4.1). Default false: the calf's packet socket receives unicast.
   */
  broadcastFlag?: boolean;
  /**
   * RFC 5227 address conflict detection: probe an ACKed new address with ARP before taking it
   * (DECLINE on conflict), announce it, defend it while bound. Default false: only a runtime that
   * delivers ARP frames (`arp` events) and can send `sendArp` actions sets it.
   */
  arpProbe?: boolean;
  /**
   * Leases shorter than this are stretched to it (default {@link MIN_LEASE_SECONDS}, 60 s, and
   * never more). Lower only in tests, so that an expiry test does not wait a minute: RFC 2131
   * §4.4.5 retransmits renewals no faster than every 60 s, so a shorter real lease would lapse
   * between two renewals.
   */
  minLeaseSeconds?: number;
  /**
   * RFC 8925 (IPv6-only preferred): ask for option 108, and when an OFFER answers with it, take no
   * IPv4 address and pause DHCPv4 for the time it says (at least MIN_V6ONLY_WAIT, 300 s).
   * Default false: 108 is neither requested nor acted on, even when a server sends it.
   */
  ipv6OnlyPreferred?: boolean;
}

/** RFC 2131 §4.1/§4.4: what most clients ask for; 121 after 3 does not matter (the server decides). */
export const DEFAULT_PARAMETER_REQUEST_LIST: readonly number[] = [
  1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121,
];
/** An Ethernet frame's payload: larger replies would be fragmented, which the codec refuses. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1500;
/** RFC 2132 §9.10: the minimum legal value of option 57. */
export const MIN_MAX_MESSAGE_SIZE = 576;
/** Long enough for a second server on the same link to answer, short enough not to matter at boot. */
export const DEFAULT_OFFER_WINDOW_MS = 1000;
/** RFC 4702 §2.1 / RFC 1035: one option 81 or 12 holds a name of at most 255 bytes; 253 as text. */
const MAX_HOSTNAME_CHARS = 253;
/** Option 55 is one option of at most 255 codes without RFC 3396 splitting, which servers rarely handle. */
const MAX_PARAMETER_REQUESTS = 255;
/** Bounds a configured initial delay: RFC 2131 §4.4.1 speaks of up to 10 s; a minute is plenty. */
const MAX_INITIAL_DELAY_MS = 60_000;
/** Bounds the offer window: beyond the first DISCOVER retransmission (4 s) collecting is pointless. */
const MAX_OFFER_WINDOW_MS = 4_000;

/** Why a configuration was refused; `field` names the offending setting. */
export interface ClientConfigError {
  code: "PADDOCK_E_DHCP4_CLIENT_CONFIG";
  field: string;
  detail: string;
}

/** The validated configuration kept in the client state. */
export interface ResolvedConfig {
  mac: Uint8Array;
  random: () => number;
  /** Option 61 payload, or undefined for none. */
  clientId: Uint8Array | undefined;
  hostname: string | undefined;
  vendorClass: Uint8Array | undefined;
  fqdn: { name: string; flags: number } | undefined;
  parameterRequestList: readonly number[];
  maxMessageSize: number;
  rapidCommit: boolean;
  initialDelayMs: number;
  minLeaseSeconds: number;
  offerWindowMs: number;
  releaseOnStop: boolean;
  requestedAddress: Ipv4 | undefined;
  onRebootTimeout: "init" | "keepLease";
  broadcastFlag: boolean;
  arpProbe: boolean;
  ipv6OnlyPreferred: boolean;
}

/** RFC 4702 §2.1 flag bits. */
const FQDN_S = 0x01;
const FQDN_E = 0x04;
const FQDN_N = 0x08;

function fail(field: string, detail: string): { ok: false; error: ClientConfigError } {
  return { ok: false, error: { code: "PADDOCK_E_DHCP4_CLIENT_CONFIG", field, detail } };
}

function isMs(n: unknown, max: number): boolean {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max;
}

/** Builds the option 61 payload for a client identifier setting. */
export function buildClientId(mac: Uint8Array, cfg: ClientIdConfig): Uint8Array | undefined {
  switch (cfg.kind) {
    case "none":
      return undefined;
    case "raw":
      return cfg.data.slice();
    case "mac":
      return Uint8Array.of(1, ...mac);
    case "duid": {
      // Default IAID: the MAC's last four bytes (stable per interface, RFC 4361 §6.1 asks for that).
      const iaid = cfg.iaid ?? (((mac[2] ?? 0) << 24) | ((mac[3] ?? 0) << 16) | ((mac[4] ?? 0) << 8) | (mac[5] ?? 0)) >>> 0;
      const duid = cfg.duid ?? Uint8Array.of(0, 3, 0, 1, ...mac);
      return Uint8Array.of(255, (iaid >>> 24) & 255, (iaid >>> 16) & 255, (iaid >>> 8) & 255, iaid & 255, ...duid);
    }
  }
}

/** Validates a configuration and fills in defaults. */
export function resolveConfig(
  config: ClientConfig,
): { ok: true; config: ResolvedConfig } | { ok: false; error: ClientConfigError } {
  if (!(config.mac instanceof Uint8Array) || config.mac.length !== 6) {
    return fail("mac", "must be 6 bytes (Ethernet)");
  }
  if (typeof config.random !== "function") return fail("random", "must be a function");
  const idCfg = config.clientId ?? { kind: "duid" };
  if (idCfg.kind === "duid") {
    if (idCfg.iaid !== undefined && !(Number.isInteger(idCfg.iaid) && idCfg.iaid >= 0 && idCfg.iaid <= 0xffffffff)) {
      return fail("clientId.iaid", "must be a 32-bit unsigned integer");
    }
    // RFC 8415 §11.1: a DUID is 2-byte type plus up to 128 bytes.
    if (idCfg.duid !== undefined && (idCfg.duid.length < 3 || idCfg.duid.length > 130)) {
      return fail("clientId.duid", "must be 3 to 130 bytes");
    }
  }
  // RFC 2132 §9.14: at least 2 bytes; one option holds 255.
  if (idCfg.kind === "raw" && (idCfg.data.length < 2 || idCfg.data.length > 255)) {
    return fail("clientId.data", "must be 2 to 255 bytes");
  }
  let hostname: string | undefined;
  if (config.hostname !== undefined) {
    const h = normaliseDomainName(config.hostname);
    if (h === undefined || h.length > MAX_HOSTNAME_CHARS) return fail("hostname", "not a valid host name");
    hostname = h;
  }
  // RFC 2132 §9.13: option 60 carries at least one byte; one option holds 255.
  if (config.vendorClass !== undefined && !(config.vendorClass instanceof Uint8Array && config.vendorClass.length >= 1 && config.vendorClass.length <= 255)) {
    return fail("vendorClass", "must be 1 to 255 bytes");
  }
  let fqdn: ResolvedConfig["fqdn"];
  if (config.fqdn !== undefined) {
    const n = normaliseDomainName(config.fqdn.name);
    if (n === undefined) return fail("fqdn.name", "not a valid domain name");
    fqdn = { name: n, flags: FQDN_E | ((config.fqdn.serverUpdate ?? true) ? FQDN_S : FQDN_N) };
    hostname = undefined;
  }
  const prl = config.parameterRequestList ?? DEFAULT_PARAMETER_REQUEST_LIST;
  if (prl.length > MAX_PARAMETER_REQUESTS || prl.some((c) => !Number.isInteger(c) || c < 1 || c > 254)) {
    return fail("parameterRequestList", "codes must be 1–254, at most 255 of them");
  }
  const maxMessageSize = config.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < MIN_MAX_MESSAGE_SIZE || maxMessageSize > 65535) {
    return fail("maxMessageSize", `must be ${MIN_MAX_MESSAGE_SIZE}–65535`);
  }
  const initialDelayMs = config.initialDelayMs ?? 0;
  if (!isMs(initialDelayMs, MAX_INITIAL_DELAY_MS)) return fail("initialDelayMs", `must be 0–${MAX_INITIAL_DELAY_MS}`);
  const minLeaseSeconds = config.minLeaseSeconds ?? MIN_LEASE_SECONDS;
  if (!(Number.isInteger(minLeaseSeconds) && minLeaseSeconds >= 1 && minLeaseSeconds <= MIN_LEASE_SECONDS)) return fail("minLeaseSeconds", `must be 1–${MIN_LEASE_SECONDS}`);
  const offerWindowMs = config.offerWindowMs ?? DEFAULT_OFFER_WINDOW_MS;
  if (!isMs(offerWindowMs, MAX_OFFER_WINDOW_MS)) return fail("offerWindowMs", `must be 0–${MAX_OFFER_WINDOW_MS}`);
  if (config.requestedAddress !== undefined && !(isIpv4(config.requestedAddress) && isUnicastHost(config.requestedAddress))) {
    return fail("requestedAddress", "must be a unicast IPv4 address");
  }
  return {
    ok: true,
    config: {
      mac: config.mac.slice(),
      random: config.random,
      clientId: buildClientId(config.mac, idCfg),
      hostname,
      vendorClass: config.vendorClass?.slice(),
      fqdn,
      parameterRequestList: Object.freeze(requestListFor(prl, config.ipv6OnlyPreferred ?? false)),
      maxMessageSize,
      rapidCommit: config.rapidCommit ?? true,
      initialDelayMs,
      minLeaseSeconds,
      offerWindowMs,
      releaseOnStop: config.releaseOnStop ?? false,
      requestedAddress: config.requestedAddress,
      onRebootTimeout: config.onRebootTimeout ?? "init",
      broadcastFlag: config.broadcastFlag ?? false,
      arpProbe: config.arpProbe ?? false,
      ipv6OnlyPreferred: config.ipv6OnlyPreferred ?? false,
    },
  };
}
