/**
 * NTP time: the 64-bit wire timestamp, the 32-bit short format, and an era-expanded instant that
 * arithmetic is done on (RFC 5905 §6).
 *
 * A wire timestamp counts seconds modulo 2^32 from 1900-01-01 00:00 UTC, so the same bits recur
 * every 136 years (an "era"). The codec keeps the bits as they are; turning them into an instant
 * needs a pivot, a time known to be within 68 years of the timestamp: the client uses its own
 * clock reading (RFC 5905 §6: "the 64-bit timestamp ... is unambiguous if the client clock is
 * within 68 years"), a capture decoder the RFC 4330 §3 rule ({@link RFC4330_PIVOT}).
 *
 * An instant is kept as whole seconds plus a fraction, not one double: a double holding ~3.9e9
 * seconds resolves only ~0.5 µs, while differences of two instants here are exact to 2^-32 s.
 */

/** A timestamp as it is on the wire: seconds and fraction, each an unsigned 32-bit integer. */
export interface NtpTimestamp {
  readonly seconds: number;
  readonly fraction: number;
}

/**
 * A point in time on the NTP timescale: whole seconds since 1900-01-01 00:00 UTC (era 0; values
 * of 2^32 and above are in era 1, from 2036-02-07) plus a fraction of a second in [0, 1).
 */
export interface NtpInstant {
  readonly seconds: number;
  readonly fraction: number;
}

/** 2^32: one era in seconds, and the scale of a timestamp's fraction. */
export const TWO_POW_32 = 4294967296;
/** Seconds from 1900-01-01 (the NTP epoch) to 1970-01-01 (the Unix epoch). */
export const NTP_UNIX_OFFSET_SECONDS = 2208988800;

/**
 * RFC 4330 §3's era rule as a pivot: a timestamp whose top bit is set is in 1968–2036 (era 0),
 * one whose top bit is clear in 2036–2104 (era 1). This is what tshark shows, and what the
 * capture tests compare with. (Half a second before 2^32, so that 2^31 itself, top bit set, is
 * nearer to era 0.)
 */
export const RFC4330_PIVOT: NtpInstant = { seconds: TWO_POW_32 - 1, fraction: 0.5 };

/** The zero timestamp: RFC 5905 §6 gives it the meaning "unknown / not set". */
export function isZeroTimestamp(t: NtpTimestamp): boolean {
  return t.seconds === 0 && t.fraction === 0;
}

/** Whether two wire timestamps are the same 64 bits. */
export function timestampsEqual(a: NtpTimestamp, b: NtpTimestamp): boolean {
  return a.seconds === b.seconds && a.fraction === b.fraction;
}

/** The instant a wire timestamp stands for, in the era that puts it within 2^31 s of `pivot`. */
export function instantFromTimestamp(t: NtpTimestamp, pivot: NtpInstant): NtpInstant {
  const pivotEra = Math.floor(pivot.seconds / TWO_POW_32);
  let best = pivotEra * TWO_POW_32 + t.seconds;
  const distance = (s: number) => Math.abs(s - pivot.seconds - pivot.fraction);
  for (const s of [best - TWO_POW_32, best + TWO_POW_32]) if (s >= 0 && distance(s) < distance(best)) best = s;
  return { seconds: best, fraction: t.fraction / TWO_POW_32 };
}

/** The wire timestamp of an instant (seconds modulo 2^32, fraction rounded to 2^-32 s). */
export function timestampFromInstant(i: NtpInstant): NtpTimestamp {
  let seconds = Math.floor(i.seconds);
  let fraction = Math.round((i.fraction + (i.seconds - seconds)) * TWO_POW_32);
  while (fraction >= TWO_POW_32) {
    fraction -= TWO_POW_32;
    seconds += 1;
  }
  return { seconds: ((seconds % TWO_POW_32) + TWO_POW_32) % TWO_POW_32, fraction };
}

/** `a − b` in seconds, exact to 2^-32 s for instants within a few centuries of each other. */
export function diffSeconds(a: NtpInstant, b: NtpInstant): number {
  return a.seconds - b.seconds + (a.fraction - b.fraction);
}

/** The instant `s` seconds after `i` (before it when negative), normalised. */
export function addSeconds(i: NtpInstant, s: number): NtpInstant {
  const whole = Math.floor(s);
  let seconds = i.seconds + whole;
  let fraction = i.fraction + (s - whole);
  const carry = Math.floor(fraction);
  seconds += carry;
  fraction -= carry;
  return { seconds, fraction };
}

/** The instant of a Unix time given as whole seconds and nanoseconds (what clock_gettime returns). */
export function instantFromUnix(unixSeconds: number, nanoseconds = 0): NtpInstant {
  return addSeconds({ seconds: unixSeconds + NTP_UNIX_OFFSET_SECONDS, fraction: 0 }, nanoseconds / 1e9);
}

/** Unix seconds of an instant, as one double (for display: it resolves ~0.2 µs today). */
export function unixFromInstant(i: NtpInstant): number {
  return i.seconds - NTP_UNIX_OFFSET_SECONDS + i.fraction;
}

/** Seconds of an NTP short-format value (RFC 5905 §6: unsigned 16.16 fixed point). */
export function shortToSeconds(raw: number): number {
  return raw / 65536;
}

/** The short-format bits of a value in seconds, or undefined when it does not fit 16.16 exactly. */
export function secondsToShort(seconds: number): number | undefined {
  const raw = seconds * 65536;
  return Number.isInteger(raw) && raw >= 0 && raw < TWO_POW_32 ? raw : undefined;
}
