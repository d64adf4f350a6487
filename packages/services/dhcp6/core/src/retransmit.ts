/**
 * RFC 8415 §15 retransmission: one exchange (a transaction id and its message type) and when it
 * sends next. Pure arithmetic on the caller's times; RAND comes from the injected random source.
 */

import { RAND_SPREAD, RETRANSMIT, type RetransmitParameters } from "./constants.ts";

/** The message types that run an exchange of their own. */
export type ExchangeType = keyof typeof RETRANSMIT;

/** One exchange in flight. */
export interface Exchange {
  readonly type: ExchangeType;
  /** RFC 8415 §16.1: one random 24-bit id per exchange, kept across its retransmissions. */
  readonly transactionId: number;
  /** When it was first sent (elapsed time counts from here); null before that. */
  readonly startedAt: number | null;
  /** When it is sent next. */
  readonly sendAt: number;
  /** The RT that ended at `sendAt` (0 before the first transmission). */
  readonly rt: number;
  /** Transmissions so far. */
  readonly count: number;
  /** MRD: when the exchange gives up; null: never. */
  readonly endAt: number | null;
  /** MRT in force (SOLICIT and INFORMATION-REQUEST take theirs from the server, RFC 8415 §21.24/§21.25). */
  readonly maxRtMs: number;
}

/** RFC 8415 §15: RAND, uniform in [−0.1, 0.1]. */
function rand(random: () => number): number {
  return (random() * 2 - 1) * RAND_SPREAD;
}

/**
 * A new exchange. The first transmission waits a random delay up to the type's MAX_DELAY
 * (RFC 8415 §18.2.1, §18.2.3, §18.2.6) plus `holdMs`. `durationMs` is the MRD when the type's
 * comes from the lease (RENEW: until T2; REBIND: until the last valid lifetime ends).
 */
export function newExchange(
  type: ExchangeType,
  now: number,
  random: () => number,
  options: { maxRtMs?: number; durationMs?: number | null; holdMs?: number } = {},
): Exchange {
  const p: RetransmitParameters = RETRANSMIT[type];
  const transactionId = Math.min(0xffffff, Math.floor(random() * 0x1000000));
  const delay = p.maxDelayMs > 0 ? random() * p.maxDelayMs : 0;
  const duration = options.durationMs !== undefined ? options.durationMs : p.maxDurationMs > 0 ? p.maxDurationMs : null;
  return {
    type,
    transactionId,
    startedAt: null,
    sendAt: now + (options.holdMs ?? 0) + delay,
    rt: 0,
    count: 0,
    endAt: duration === null ? null : now + (options.holdMs ?? 0) + delay + duration,
    maxRtMs: options.maxRtMs ?? p.maxMs,
  };
}

/** True when the exchange may send again: MRC not reached and MRD not passed (RFC 8415 §15). */
export function canTransmit(x: Exchange, now: number): boolean {
  const p = RETRANSMIT[x.type];
  if (p.maxCount > 0 && x.count >= p.maxCount) return false;
  return x.endAt === null || now < x.endAt;
}

/** The exchange after a transmission at `now`: the next RT per RFC 8415 §15. */
export function transmitted(x: Exchange, now: number, random: () => number): Exchange {
  const p = RETRANSMIT[x.type];
  let rt: number;
  if (x.count === 0) {
    // §15: "the first RT MUST be selected to be strictly greater than IRT" for SOLICIT, so RAND > 0.
    rt = x.type === "SOLICIT" ? p.initialMs * (1 + (1 - random()) * RAND_SPREAD) : p.initialMs * (1 + rand(random));
  } else rt = 2 * x.rt + rand(random) * x.rt;
  if (x.maxRtMs > 0 && rt > x.maxRtMs) rt = x.maxRtMs * (1 + rand(random));
  return { ...x, startedAt: x.startedAt ?? now, sendAt: now + rt, rt, count: x.count + 1 };
}

/** RFC 8415 §21.9: hundredths of a second since the exchange's first transmission, saturating at 0xffff. */
export function elapsedHundredths(x: Exchange, now: number): number {
  if (x.startedAt === null) return 0;
  return Math.min(0xffff, Math.max(0, Math.floor((now - x.startedAt) / 10)));
}
