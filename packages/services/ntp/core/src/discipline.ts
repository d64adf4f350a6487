/**
 * The clock discipline (RFC 5905 §11.3), reduced to what a core that does not own the clock can
 * do: it turns each combined offset into an adjustment request, estimates the frequency, and
 * sets the poll interval. It assumes the clock handler removes each requested offset before the
 * next update (a step at once, a slew within the poll interval); docs/ntp.md says where this
 * departs from the RFC's hybrid PLL/FLL.
 */

import { AVG, LIMIT, MAXFREQ, PGATE, STEPT, WATCH } from "./constants.ts";

/**
 * The discipline's states, after RFC 5905 appendix A.5.5.6:
 * - NSET: no update yet;
 * - FREQ: the first offset was removed; offsets are slewed while the frequency is measured over
 *   at least WATCH seconds (the RFC does not slew here; see docs/ntp.md);
 * - SPIK: an offset above STEPT arrived; it is ignored until it has lasted WATCH seconds;
 * - SYNC: normal operation.
 */
export type DisciplineMode = "NSET" | "FREQ" | "SPIK" | "SYNC";

/** The discipline's state. Times are monotonic seconds. */
export interface DisciplineState {
  readonly mode: DisciplineMode;
  /** Frequency correction, seconds per second (positive: the clock is made faster). */
  readonly frequency: number;
  /** When the last adjustment was requested. */
  readonly lastUpdate: number;
  /** The last offset seen (for the clock jitter). */
  readonly lastOffset: number;
  /**
   * FREQ: when the measurement began, the offset then, and the offsets removed since (that one
   * included). The clock's drift over the span is what the offsets moved by, less what was removed.
   */
  readonly frequencyBase: number;
  readonly baseOffset: number;
  readonly removedSinceBase: number;
  /** SPIK: when the current run of large offsets began. */
  readonly spikeStart: number;
  /** RMS of differences between successive offsets, exponentially averaged, seconds. */
  readonly jitter: number;
  /** The poll exponent and the hysteresis counter that moves it (§11.3). */
  readonly poll: number;
  readonly pollCount: number;
}

/** The start state: frequency from configuration (e.g. what the kernel holds now). */
export function initialDiscipline(frequencyPpm: number, poll: number): DisciplineState {
  return {
    mode: "NSET",
    frequency: clampFrequency(frequencyPpm * 1e-6),
    lastUpdate: 0,
    lastOffset: 0,
    frequencyBase: 0,
    baseOffset: 0,
    removedSinceBase: 0,
    spikeStart: 0,
    jitter: 0,
    poll,
    pollCount: 0,
  };
}

function clampFrequency(f: number): number {
  return Math.max(-MAXFREQ, Math.min(MAXFREQ, f));
}

/**
 * The clock handler reports what it did with the last adjustment: it removed `extraOffset` more
 * than was asked (negative when it removed less, −offset when it refused) and holds
 * `frequency` (s/s). The frequency measurement counts what was really removed.
 */
export function reportApplied(d: DisciplineState, extraOffset: number, frequency: number): DisciplineState {
  return { ...d, frequency: clampFrequency(frequency), removedSinceBase: d.removedSinceBase + extraOffset };
}

/** What one update decided. */
export type DisciplineResult =
  | { kind: "ignore"; reason: string }
  | { kind: "adjust"; step: boolean; offset: number; frequency: number };

/** Limits the update works within. */
export interface DisciplineLimits {
  readonly minPoll: number;
  readonly maxPoll: number;
  /** Local clock precision, seconds: the jitter's floor. */
  readonly precision: number;
}

/**
 * System jitter above which an offset does not teach the frequency: 32 ms, a quarter of the step
 * threshold. Sources that disagree by that much (one just stepped, a spike being averaged in)
 * make an offset that says nothing about the oscillator, and one such update at a long poll
 * would move the frequency by ppm.
 */
export const FREQUENCY_GATE_SECONDS = STEPT / 4;

/**
 * One update with the combined offset `offset` at monotonic time `now`; `systemJitter` is the
 * estimated error of that offset.
 */
export function updateDiscipline(
  d: DisciplineState,
  offset: number,
  systemJitter: number,
  now: number,
  limits: DisciplineLimits,
): { state: DisciplineState; result: DisciplineResult } {
  const mu = now - d.lastUpdate;
  const big = Math.abs(offset) > STEPT;
  if (d.mode === "NSET") {
    const state: DisciplineState = { ...d, mode: "FREQ", lastUpdate: now, lastOffset: 0, frequencyBase: now, baseOffset: offset, removedSinceBase: offset, jitter: limits.precision };
    return { state, result: { kind: "adjust", step: big, offset, frequency: d.frequency } };
  }
  if (big) {
    if (d.mode !== "SPIK") return { state: { ...d, mode: "SPIK", spikeStart: now }, result: { kind: "ignore", reason: `offset ${offset.toFixed(6)} s is above the step threshold: a spike until it lasts ${WATCH} s` } };
    if (now - d.spikeStart < WATCH) return { state: d, result: { kind: "ignore", reason: `offset ${offset.toFixed(6)} s is above the step threshold since ${(now - d.spikeStart).toFixed(0)} s` } };
    // The offset outlasted the stepout interval: it is real. Step, and measure the frequency anew.
    const state: DisciplineState = { ...d, mode: "FREQ", lastUpdate: now, lastOffset: 0, frequencyBase: now, baseOffset: offset, removedSinceBase: offset, pollCount: 0 };
    return { state, result: { kind: "adjust", step: true, offset, frequency: d.frequency } };
  }
  // Clock jitter: exponential average of squared differences of successive offsets (§11.3).
  const diff = Math.max(Math.abs(offset - d.lastOffset), limits.precision);
  const jitter = Math.sqrt(d.jitter ** 2 + (diff ** 2 - d.jitter ** 2) / AVG);
  let { frequency, mode, removedSinceBase } = d;
  if (d.mode === "FREQ") {
    // Over the span the offset went from baseOffset to offset, with removedSinceBase taken out
    // on the way: the rest is what the frequency error accumulated.
    const span = now - d.frequencyBase;
    if (span >= WATCH) {
      frequency = clampFrequency(frequency + (offset + removedSinceBase - d.baseOffset) / span);
      mode = "SYNC";
    }
    removedSinceBase += offset;
  } else if (mu > 0 && systemJitter <= FREQUENCY_GATE_SECONDS) {
    // SYNC (or back from a spike): a frequency-locked update on the residual offset, averaged.
    // Over at least a poll: two updates moments apart (a source joining) must not read a
    // small offset over a small interval as a large frequency error.
    frequency = clampFrequency(frequency + offset / (Math.max(mu, 2 ** d.poll) * AVG));
    mode = "SYNC";
  }
  // §11.3 poll adjustment: small offsets (against the jitter) lengthen the poll, large shorten it.
  let { poll, pollCount } = d;
  if (Math.abs(offset) < PGATE * jitter) {
    pollCount += poll;
    if (pollCount > LIMIT) {
      pollCount = LIMIT;
      if (poll < limits.maxPoll) {
        pollCount = 0;
        poll++;
      }
    }
  } else {
    pollCount -= 2 * poll;
    if (pollCount < -LIMIT) {
      pollCount = -LIMIT;
      if (poll > limits.minPoll) {
        pollCount = 0;
        poll--;
      }
    }
  }
  poll = Math.max(limits.minPoll, Math.min(limits.maxPoll, poll));
  const state: DisciplineState = { ...d, mode, frequency, lastUpdate: now, lastOffset: offset, removedSinceBase, jitter, poll, pollCount };
  return { state, result: { kind: "adjust", step: false, offset, frequency } };
}
