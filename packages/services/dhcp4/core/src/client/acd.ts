/**
 * IPv4 address conflict detection (RFC 5227): its timing constants and which ARP packets are a
 * conflict. The state machine (./machine.ts) runs the probes, announcements and defence; this
 * module holds what the RFC fixes, so the two read side by side.
 */

import { ArpOp, type ArpPacket } from "../arp.ts";
import type { Ipv4 } from "../message.ts";
import { bytesEqual } from "./addr.ts";

// RFC 5227 §1.1, "Constants".
/** Initial random delay before the first probe. */
export const PROBE_WAIT_MS = 1_000;
/** Number of probes. */
export const PROBE_NUM = 3;
/** Minimum delay between probes. */
export const PROBE_MIN_MS = 1_000;
/** Maximum delay between probes. */
export const PROBE_MAX_MS = 2_000;
/** Delay after the last probe before the address is used. */
export const ANNOUNCE_WAIT_MS = 2_000;
/** Number of announcements. */
export const ANNOUNCE_NUM = 2;
/** Time between announcements. */
export const ANNOUNCE_INTERVAL_MS = 2_000;
/** After this many conflicts, new addresses are tried at most once per RATE_LIMIT_INTERVAL. */
export const MAX_CONFLICTS = 10;
/** The rate limit after MAX_CONFLICTS conflicts. */
export const RATE_LIMIT_INTERVAL_MS = 60_000;
/** Minimum time between two defences of an address (§2.4 (b)). */
export const DEFEND_INTERVAL_MS = 10_000;

const UNSPECIFIED: Ipv4 = "0.0.0.0";

/**
 * §2.1.1: while probing `address`, a conflict is any ARP packet (request or reply) whose sender
 * IP is `address`, or an ARP probe for `address` (sender IP 0.0.0.0, target IP `address`) — in
 * both cases from a sender hardware address that is not ours (`mac`).
 */
export function isProbeConflict(arp: ArpPacket, address: Ipv4, mac: Uint8Array): boolean {
  if (bytesEqual(arp.senderMac, mac)) return false;
  if (arp.senderIp === address) return true;
  return arp.op === ArpOp.REQUEST && arp.senderIp === UNSPECIFIED && arp.targetIp === address;
}

/**
 * §2.4: while `address` is in use, a conflicting ARP packet is one (request or reply) whose
 * sender IP is `address` and whose sender hardware address is not ours.
 */
export function isBoundConflict(arp: ArpPacket, address: Ipv4, mac: Uint8Array): boolean {
  return arp.senderIp === address && !bytesEqual(arp.senderMac, mac);
}

/**
 * The wait before restarting after a conflict (RFC 2131 §3.1 step 5: at least 10 s after a
 * DECLINE; RFC 5227 §2.1.1: after MAX_CONFLICTS conflicts, one new address per RATE_LIMIT_INTERVAL).
 */
export function conflictHoldoffMs(conflicts: number, minimumMs: number): number {
  return conflicts >= MAX_CONFLICTS ? Math.max(RATE_LIMIT_INTERVAL_MS, minimumMs) : minimumMs;
}
