/**
 * What a REPLY does to the lease (RFC 8415 §18.2.10.1): IAs checked (T1 ≤ T2, §21.4/§21.21),
 * addresses and prefixes whose preferred lifetime exceeds the valid one dropped (§21.6/§21.22),
 * lifetime 0 removing a lease, leases the reply does not mention kept until they expire, and T1/T2
 * of 0 chosen by the client (0.5 and 0.8 of the shortest preferred lifetime).
 */

import type { Ipv6 } from "./bytes.ts";
import { INFINITY, IRT_DEFAULT_SECONDS, IRT_MINIMUM_SECONDS, StatusCode } from "./constants.ts";
import type { Dhcp6Message } from "./codec.ts";
import type { Duid } from "./duid.ts";
import type { DelegatedPrefix, Dhcp6Lease, LeasedAddress } from "./lease.ts";
import { excludedPrefix, optionOf, optionsOf, type Dhcp6Option } from "./options.ts";

/**
 * A server cannot make us renew more often than once a minute (RFC 8415 §14.1 asks clients to
 * rate-limit; a T1 of 1 s from a hostile server would otherwise be a datagram per second).
 */
export const MIN_T1_SECONDS = 60;

/** Absolute time `seconds` after `at` (ms), null for infinity. */
export function untilTime(at: number, seconds: number): number | null {
  return seconds === INFINITY ? null : at + seconds * 1000;
}

/** What one REPLY's IAs say, for the machine to act on. */
export interface ReplyOutcome {
  /** The lease after the reply (null: it holds nothing). */
  lease: Dhcp6Lease | null;
  /** An IA of ours came back NoBinding (RENEW/REBIND: the server lost it; RFC 8415 §18.2.10.1 says send REQUEST). */
  noBinding: boolean;
  /** IAs of ours refused with NoAddrsAvail / NoPrefixAvail. */
  refused: number;
}

/** The status code in `options` (absent means Success, RFC 8415 §21.13). */
export function statusOf(options: readonly Dhcp6Option[]): { status: number; message: string } {
  const s = optionOf(options, "statusCode");
  return s === undefined ? { status: StatusCode.SUCCESS, message: "" } : { status: s.status, message: s.message };
}

/** The stateful part of a REPLY applied to `previous` (null for a fresh binding). */
export function applyReply(
  reply: Dhcp6Message,
  previous: Dhcp6Lease | null,
  wanted: { iaid: number; address: boolean; prefix: boolean },
  server: { duid: Duid; address: Ipv6 },
  now: number,
): ReplyOutcome {
  const addresses = new Map<string, LeasedAddress>();
  const prefixes = new Map<string, DelegatedPrefix>();
  for (const a of previous?.addresses ?? []) addresses.set(a.address, a);
  for (const p of previous?.prefixes ?? []) prefixes.set(`${p.prefix}/${p.prefixLength}`, p);
  let noBinding = false;
  let refused = 0;
  const t1s: number[] = [];
  const t2s: number[] = [];
  for (const ia of reply.options) {
    if (ia.kind !== "iaNa" && ia.kind !== "iaPd") continue;
    if (ia.iaid !== wanted.iaid || (ia.kind === "iaNa" ? !wanted.address : !wanted.prefix)) continue;
    const status = statusOf(ia.options).status;
    if (status === StatusCode.NO_BINDING) {
      noBinding = true;
      continue;
    }
    if (status !== StatusCode.SUCCESS) {
      refused += 1;
      continue;
    }
    // §21.4 / §21.21: T1 > T2 (both non-zero) makes the whole IA invalid.
    if (ia.t1 > 0 && ia.t2 > 0 && ia.t1 > ia.t2) continue;
    let bound = false;
    if (ia.kind === "iaNa") {
      for (const a of optionsOf(ia.options, "iaAddr")) {
        if (a.preferred > a.valid || statusOf(a.options).status !== StatusCode.SUCCESS) continue;
        if (a.valid === 0) {
          addresses.delete(a.address);
          continue;
        }
        addresses.set(a.address, { iaid: ia.iaid, address: a.address, preferred: a.preferred, valid: a.valid, preferredUntil: untilTime(now, a.preferred), validUntil: untilTime(now, a.valid) });
        bound = true;
      }
    } else {
      for (const p of optionsOf(ia.options, "iaPrefix")) {
        if (p.preferred > p.valid || statusOf(p.options).status !== StatusCode.SUCCESS) continue;
        const key = `${p.prefix}/${p.prefixLength}`;
        if (p.valid === 0) {
          prefixes.delete(key);
          continue;
        }
        const ex = optionOf(p.options, "pdExclude");
        prefixes.set(key, {
          iaid: ia.iaid,
          prefix: p.prefix,
          prefixLength: p.prefixLength,
          preferred: p.preferred,
          valid: p.valid,
          preferredUntil: untilTime(now, p.preferred),
          validUntil: untilTime(now, p.valid),
          exclude: ex === undefined ? null : excludedPrefix(p.prefix, p.prefixLength, ex),
        });
        bound = true;
      }
    }
    if (bound) {
      if (ia.t1 > 0) t1s.push(ia.t1);
      if (ia.t2 > 0) t2s.push(ia.t2);
    }
  }
  if (addresses.size === 0 && prefixes.size === 0) return { lease: null, noBinding, refused };
  const leases = [...addresses.values(), ...prefixes.values()];
  const shortestPreferred = Math.min(...leases.map((l) => l.preferred));
  // §14.2 / §21.4: a T1 or T2 of 0 leaves the times to the client: 0.5 and 0.8 of the shortest preferred lifetime.
  let t1 = t1s.length > 0 ? Math.min(...t1s) : shortestPreferred === INFINITY ? INFINITY : Math.floor(shortestPreferred * 0.5);
  let t2 = t2s.length > 0 ? Math.min(...t2s) : shortestPreferred === INFINITY ? INFINITY : Math.floor(shortestPreferred * 0.8);
  if (t1 !== INFINITY) t1 = Math.max(t1, MIN_T1_SECONDS);
  if (t2 < t1) t2 = t1;
  const dns = optionOf(reply.options, "dnsServers");
  const domains = optionOf(reply.options, "domainList");
  return {
    lease: {
      mode: "stateful",
      serverDuid: server.duid,
      serverAddress: server.address,
      obtainedAt: now,
      t1,
      t2,
      renewAt: untilTime(now, t1),
      rebindAt: untilTime(now, t2),
      addresses: [...addresses.values()],
      prefixes: [...prefixes.values()],
      dnsServers: dns?.servers ?? previous?.dnsServers ?? [],
      domains: domains?.domains ?? previous?.domains ?? [],
      refreshAt: null,
    },
    noBinding,
    refused,
  };
}

/** The stateless lease from a REPLY to INFORMATION-REQUEST (RFC 8415 §18.2.6, §21.23). */
export function informationLease(reply: Dhcp6Message, server: { duid: Duid; address: Ipv6 }, now: number): Dhcp6Lease {
  const irt = optionOf(reply.options, "informationRefreshTime")?.seconds ?? IRT_DEFAULT_SECONDS;
  // §21.23: below IRT_MINIMUM the client uses IRT_MINIMUM; infinity means never refresh.
  const refresh = irt === INFINITY ? INFINITY : Math.max(irt, IRT_MINIMUM_SECONDS);
  return {
    mode: "stateless",
    serverDuid: server.duid,
    serverAddress: server.address,
    obtainedAt: now,
    t1: INFINITY,
    t2: INFINITY,
    renewAt: null,
    rebindAt: null,
    addresses: [],
    prefixes: [],
    dnsServers: optionOf(reply.options, "dnsServers")?.servers ?? [],
    domains: optionOf(reply.options, "domainList")?.domains ?? [],
    refreshAt: untilTime(now, refresh),
  };
}

/** The lease without what has expired by `now`; the same object when nothing has. */
export function pruneExpired(lease: Dhcp6Lease, now: number): Dhcp6Lease {
  const live = (l: { validUntil: number | null }) => l.validUntil === null || l.validUntil > now;
  if (lease.addresses.every(live) && lease.prefixes.every(live)) return lease;
  return { ...lease, addresses: lease.addresses.filter(live), prefixes: lease.prefixes.filter(live) };
}

/** The earliest time something in the lease expires, or null. */
export function nextExpiry(lease: Dhcp6Lease): number | null {
  let at: number | null = null;
  for (const l of [...lease.addresses, ...lease.prefixes]) if (l.validUntil !== null && (at === null || l.validUntil < at)) at = l.validUntil;
  return at;
}

/** The time the last lease expires: null when one never does (REBIND's MRD, RFC 8415 §18.2.5). */
export function lastExpiry(lease: Dhcp6Lease): number | null {
  let at = Number.NEGATIVE_INFINITY;
  for (const l of [...lease.addresses, ...lease.prefixes]) {
    if (l.validUntil === null) return null;
    at = Math.max(at, l.validUntil);
  }
  return Number.isFinite(at) ? at : null;
}
