/**
 * Property tests on the DHCPv6 client over arbitrary event sequences (timers firing early or late,
 * servers answering with anything, the link flapping, operators renewing and releasing, the host
 * declining an address, the configuration switching between stateful and stateless):
 * - it never sends more often than RFC 8415 §15 allows: within one exchange (same message type and
 *   transaction id), every gap is at least 0.9 × IRT (RAND ≥ −0.1), and MRC is never exceeded;
 * - one event sends at most one message;
 * - the timer it asks for is never in the past (the caller would spin), and is armed again after
 *   every tick while something is due;
 * - every lease it publishes holds what a handler needs and nothing expired.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { INFINITY, MessageType, RETRANSMIT, StatusCode, step, type Dhcp6ClientEvent, type Dhcp6ClientState, type Dhcp6Option } from "../src/index.ts";
import { seeded } from "../../../dhcp4/core/test/client-fixtures.ts";
import { client, decodeSent, encoded, fromServer, iaNa, iaPd, OTHER_SERVER_DUID, SERVER_ADDRESS } from "./fixtures.ts";

const lifetime = fc.oneof(fc.constantFrom(0, 60, 600, 3600, INFINITY), fc.integer({ min: 0, max: 200_000 }));
/** Lifetimes and T1/T2: mostly as servers send them (preferred ≤ valid, T1 ≤ T2), sometimes anything. */
const times = fc.oneof(
  { weight: 3, arbitrary: fc.record({ valid: fc.integer({ min: 1, max: 100_000 }), share: fc.double({ min: 0, max: 1, noNaN: true }), t0: fc.boolean() }).map(({ valid, share, t0 }) => ({ preferred: Math.floor(valid * share), valid, t1: t0 ? 0 : Math.floor(valid * share * 0.5), t2: t0 ? 0 : Math.floor(valid * share * 0.8) })) },
  { weight: 1, arbitrary: fc.record({ preferred: lifetime, valid: lifetime, t1: lifetime, t2: lifetime }) },
);
const ias = fc.constantFrom("na" as const, "pd" as const, "both" as const);
/** Now and then a second server answers (which REQUEST and RENEW must refuse). */
const other = fc.constantFrom(false, false, false, true);

/** What a server does with the last message the client sent. */
const answer = fc.oneof(
  fc.record({ kind: fc.constant("advertise" as const), preference: fc.integer({ min: 0, max: 255 }), ias, other }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reply" as const), times, rapid: fc.boolean(), ias, other }) },
  fc.record({ kind: fc.constant("status" as const), status: fc.constantFrom(StatusCode.UNSPEC_FAIL, StatusCode.NO_ADDRS_AVAIL, StatusCode.NO_BINDING, StatusCode.NOT_ON_LINK, StatusCode.USE_MULTICAST), inIa: fc.boolean() }),
  fc.record({ kind: fc.constant("wrongXid" as const) }),
  fc.record({ kind: fc.constant("reconfigure" as const) }),
  fc.record({ kind: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 80 }) }),
);

type Move =
  | { kind: "wait"; ms: number }
  | { kind: "fire" }
  | { kind: "answer"; after: number; answer: typeof answer extends fc.Arbitrary<infer A> ? A : never }
  | { kind: "link"; up: boolean }
  | { kind: "renew" }
  | { kind: "decline" }
  | { kind: "config"; mode: "stateful" | "stateless"; prefix: boolean }
  | { kind: "release" }
  | { kind: "start" };

const move: fc.Arbitrary<Move> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 4_000_000 })) }) },
  { weight: 6, arbitrary: fc.constant({ kind: "fire" as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("answer" as const), after: fc.integer({ min: 0, max: 50 }), answer }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("link" as const), up: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "renew" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "decline" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("config" as const), mode: fc.constantFrom("stateful" as const, "stateless" as const), prefix: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "release" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "start" as const }) },
);

function iaOptions(which: "na" | "pd" | "both", t: { preferred: number; valid: number; t1: number; t2: number }): Dhcp6Option[] {
  const na = iaNa("2001:db8::13c", t.preferred, t.valid, t.t1, t.t2);
  const pd = iaPd("2001:db8:100::", 56, t.preferred, t.valid, t.t1, t.t2);
  return which === "na" ? [na] : which === "pd" ? [pd] : [na, pd];
}

/** The datagram a server sends for `a`, answering transaction `xid`. */
function serverBytes(a: Move & { kind: "answer" }, xid: number): Uint8Array {
  const x = a.answer;
  const server = "other" in x && x.other ? OTHER_SERVER_DUID : undefined;
  switch (x.kind) {
    case "advertise":
      return encoded(fromServer(MessageType.ADVERTISE, xid, [...iaOptions(x.ias, { preferred: 3600, valid: 7200, t1: 0, t2: 0 }), { kind: "preference", value: x.preference }], server));
    case "reply":
      return encoded(fromServer(MessageType.REPLY, xid, [...(x.rapid ? [{ kind: "rapidCommit" as const }] : []), ...iaOptions(x.ias, x.times)], server));
    case "status": {
      const st: Dhcp6Option = { kind: "statusCode", status: x.status, message: "" };
      return encoded(fromServer(MessageType.REPLY, xid, x.inIa ? [{ kind: "iaNa", iaid: 0x008a3e1c, t1: 0, t2: 0, options: [st] }] : [st]));
    }
    case "wrongXid":
      return encoded(fromServer(MessageType.REPLY, (xid + 1) & 0xffffff, [{ kind: "rapidCommit" }, iaNa()]));
    case "reconfigure":
      return encoded(fromServer(MessageType.RECONFIGURE, 0, [{ kind: "reconfMsg", messageType: MessageType.RENEW }]));
    case "garbage":
      return x.bytes;
  }
}

const IRT_OF: Record<number, number> = {
  [MessageType.SOLICIT]: RETRANSMIT.SOLICIT.initialMs,
  [MessageType.REQUEST]: RETRANSMIT.REQUEST.initialMs,
  [MessageType.CONFIRM]: RETRANSMIT.CONFIRM.initialMs,
  [MessageType.RENEW]: RETRANSMIT.RENEW.initialMs,
  [MessageType.REBIND]: RETRANSMIT.REBIND.initialMs,
  [MessageType.INFORMATION_REQUEST]: RETRANSMIT.INFORMATION_REQUEST.initialMs,
  [MessageType.RELEASE]: RETRANSMIT.RELEASE.initialMs,
  [MessageType.DECLINE]: RETRANSMIT.DECLINE.initialMs,
};
const MRC_OF: Record<number, number> = { [MessageType.REQUEST]: RETRANSMIT.REQUEST.maxCount, [MessageType.RELEASE]: RETRANSMIT.RELEASE.maxCount, [MessageType.DECLINE]: RETRANSMIT.DECLINE.maxCount };

/** The configuration a state runs with, as the caller would give it again. */
function configOf(s: Dhcp6ClientState) {
  return { mode: s.config.mode, iaid: s.config.iaid, duid: { kind: "duid" as const, duid: s.config.duid }, rapidCommit: s.config.rapidCommit, random: s.config.random };
}

/** Runs one event sequence; returns whether a lease was ever published (so the runs can be seen to reach it). */
function run(initial: Dhcp6ClientState, moves: readonly Move[]): boolean {
  let leased = false;
  let state = initial;
  let now = 0;
  let lastXid = 0;
  const sends: { at: number; type: number; xid: number }[] = [];
  const apply = (event: Dhcp6ClientEvent) => {
    const r = step(state, event);
    state = r.state;
    const sent = r.actions.filter((a) => a.kind === "send");
    expect(sent.length).toBeLessThanOrEqual(1);
    for (const s of sent) {
      if (s.kind !== "send") continue;
      const m = decodeSent(s.bytes);
      sends.push({ at: now, type: m.type, xid: m.transactionId });
      lastXid = m.transactionId;
    }
    if (state.timerAt !== null) expect(state.timerAt).toBeGreaterThan(now);
    // A tick spends the caller's timer: whenever something is still due, the step arms it again.
    if (event.kind === "tick" && state.timerAt !== null) expect(r.actions).toContainEqual({ kind: "timer", at: state.timerAt });
    for (const a of r.actions) {
      if (a.kind !== "publish" || a.lease === null) continue;
      leased = true;
      for (const l of [...a.lease.addresses, ...a.lease.prefixes]) {
        expect(l.validUntil === null || l.validUntil > now).toBe(true);
        expect(l.preferred).toBeLessThanOrEqual(l.valid);
      }
      expect(a.lease.addresses.length + a.lease.prefixes.length > 0 || a.lease.mode === "stateless").toBe(true);
    }
  };
  apply({ kind: "start", now });
  for (const m of moves) {
    switch (m.kind) {
      case "wait":
        now += m.ms;
        apply({ kind: "tick", now });
        break;
      case "fire":
        if (state.timerAt !== null) {
          now = Math.max(now, state.timerAt);
          apply({ kind: "tick", now });
        }
        break;
      case "answer":
        now += m.after;
        apply({ kind: "datagram", bytes: serverBytes(m, lastXid), from: SERVER_ADDRESS, rxTimeMs: now });
        break;
      case "link":
        apply({ kind: "link", up: m.up, now });
        break;
      case "decline":
        apply({ kind: "decline", addresses: ["2001:db8::13c"], now });
        break;
      case "config":
        apply({ kind: "config", config: { ...configOf(state), mode: m.mode, prefix: m.prefix }, now });
        break;
      default:
        apply({ kind: m.kind, now });
    }
  }
  // Within one exchange: gaps of at least 0.9 × IRT, at most MRC transmissions.
  const byExchange = new Map<string, number[]>();
  for (const s of sends) {
    const key = `${s.type}/${s.xid}`;
    const times = byExchange.get(key) ?? [];
    times.push(s.at);
    byExchange.set(key, times);
  }
  for (const [key, times] of byExchange) {
    const type = Number(key.split("/")[0]);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, `${key} gap ${i}`).toBeGreaterThanOrEqual(0.9 * IRT_OF[type]! - 1e-6);
    if (MRC_OF[type] !== undefined) expect(times.length, key).toBeLessThanOrEqual(MRC_OF[type]!);
  }
  return leased;
}

/** Bounds a hang only: 300 runs take 1–5 s here, several times that beside stress-ng on 2 shared cores. */
const PROPERTY_TIMEOUT_MS = 120_000;

describe("the client over arbitrary event sequences", () => {
  it.each([
    ["stateful with an address", { rapidCommit: true }],
    ["stateful with an address and a prefix, no rapid commit", { rapidCommit: false, prefix: { length: 56 } }],
    ["stateless", { mode: "stateless" as const }],
  ])("%s: never sends faster than RFC 8415 §15 allows, never arms a timer in the past", (_, over) => {
    let runs = 0;
    let leased = 0;
    fc.assert(
      fc.property(fc.integer(), fc.array(move, { minLength: 10, maxLength: 100, size: "max" }), (seed, moves) => {
        runs += 1;
        if (run(client({ ...over, random: seeded(seed) }), moves)) leased += 1;
      }),
      { numRuns: 300 },
    );
    // The sequences reach a lease often enough that RENEW, REBIND, CONFIRM and RELEASE are exercised too.
    // Observed: 13–35 % of runs for the stateful cases, ~70 % stateless; 5 % leaves room for chance.
    expect(leased / runs).toBeGreaterThan(0.05);
  }, PROPERTY_TIMEOUT_MS);
});
