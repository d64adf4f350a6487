/**
 * The clock adjustment: what the client core asks of whoever may touch the clock (the clock
 * handler in the priv, issue 10 item 3). The core computes it; it never applies it.
 */

/** The leap second announced by the selected source, carried through to the handler. */
export type LeapSecond = "none" | "insert" | "delete";

/**
 * One adjustment request.
 *
 * Sign convention (RFC 5905 §8): `offsetSeconds` is reference time minus local time at the
 * moment of the measurement, so a positive offset means the local clock is behind and must be
 * advanced by that much.
 */
export interface ClockAdjustment {
  /** Reference minus local time, seconds: the correction to slew (or to step, with `step`). */
  readonly offsetSeconds: number;
  /**
   * The frequency correction the local clock needs, parts per million, absolute (not a delta):
   * positive makes the clock run faster. Within ±500 ppm (RFC 5905 §11.3, MAXFREQ).
   */
  readonly frequencyPpm: number;
  /**
   * A request to step rather than slew: the offset is above the step threshold (0.128 s) at the
   * first update, or has stayed above it for the stepout interval. The handler decides whether
   * a step is allowed (at start, its own threshold, panic limit, cumulative cap).
   */
  readonly step: boolean;
  /** Upper bound of the clock's error once the offset is removed: the root distance, seconds. */
  readonly maxErrorSeconds: number;
  /** Estimated error (the system jitter), seconds. */
  readonly estErrorSeconds: number;
  readonly leap: LeapSecond;
}
