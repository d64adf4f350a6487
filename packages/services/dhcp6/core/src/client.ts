/**
 * The sans-IO DHCPv6 client (RFC 8415 §18.2): `step(state, event)` returns the next state and the
 * actions the caller performs (send, arm the timer, publish the lease, log). It does no I/O,
 * reads no clock (time arrives in the events) and draws randomness only from `config.random`.
 */

import type { Ipv6 } from "./bytes.ts";
import { resolveConfig, type Dhcp6ClientConfig, type Dhcp6ConfigError, type ResolvedConfig } from "./config.ts";
import type { Dhcp6Lease } from "./lease.ts";

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
  | "releasing"
  /** After RELEASE (or its retransmissions ran out): stays quiet until `start`, `renew` or `config`. */
  | "released";

/** What the caller tells the client. Times are ms on one monotonic clock of the caller's. */
export type Dhcp6ClientEvent =
  | { kind: "start"; now: number }
  /** The armed timer fired (early or late firings are harmless: the state holds the deadlines). */
  | { kind: "tick"; now: number }
  /** A UDP datagram to port 546 arrived from `from` (the kernel's receive time). */
  | { kind: "datagram"; bytes: Uint8Array; from: Ipv6; rxTimeMs: number }
  /** The link went down or came up (RFC 8415 §18.2.12: CONFIRM or REBIND after it returns). */
  | { kind: "link"; up: boolean; now: number }
  /** Give the lease back (RFC 8415 §18.2.7) and stay quiet. */
  | { kind: "release"; now: number }
  /** Renew now (an operator's request), or ask again when stateless or unbound. */
  | { kind: "renew"; now: number }
  /** A new configuration (e.g. the RA's M/O flags changed): the client starts over with it. */
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

/** The client's whole state: plain data, replaced (never mutated) by each step. */
export interface Dhcp6ClientState {
  readonly config: ResolvedConfig;
  readonly name: Dhcp6StateName;
  /** The current lease (what was last published), or null. */
  readonly lease: Dhcp6Lease | null;
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
  return { ok: true, state: { config: resolved.value, name: "idle", lease: null } };
}

/** Advances the client by one event. */
export function step(state: Dhcp6ClientState, event: Dhcp6ClientEvent): Dhcp6StepResult {
  void event;
  return { state, actions: [] };
}
