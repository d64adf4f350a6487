/**
 * The clock filter of one source (RFC 5905 §10): the last eight samples, of which the best (the
 * least distance: half its delay plus its aged dispersion) gives the source's offset and delay;
 * the others give its dispersion and jitter.
 */

import { MAXDISP, NSTAGE, PHI } from "./constants.ts";

/**
 * One sample: a measurement of one request/reply exchange, or a dummy for a missed one.
 *
 * A sample's offset is against the clock as it was when measured; every adjustment asked since
 * changes that clock. So that a sample still says something true about the clock now, each
 * adjustment is subtracted from every stored sample (chrony does the same; RFC 5905's filter does
 * not, see docs/ntp.md): the offset removed at once, and a frequency change Δf from time t as a
 * term growing with time, kept as `driftBase + driftRate × now`.
 */
export interface FilterStage {
  /** Offset when measured, less the offsets removed since. */
  readonly offset: number;
  /** Sum of the frequency changes (s/s) since the sample, and of each change × its time. */
  readonly driftRate: number;
  readonly driftBase: number;
  readonly delay: number;
  /** The dispersion when taken; it grows by PHI per second from `time`. */
  readonly dispersion: number;
  /** Monotonic time of the sample, seconds. */
  readonly time: number;
}

/** What the filter says about its source now. */
export interface FilterOutput {
  readonly offset: number;
  readonly delay: number;
  readonly dispersion: number;
  readonly jitter: number;
  /** Monotonic time of the sample the offset comes from. */
  readonly time: number;
  /** Stages holding real samples (dispersion below MAXDISP). */
  readonly valid: number;
}

/** A filter with no samples: every stage empty. */
export function emptyFilter(): FilterStage[] {
  return Array.from({ length: NSTAGE }, () => ({ offset: 0, driftRate: 0, driftBase: 0, delay: MAXDISP, dispersion: MAXDISP, time: Number.NEGATIVE_INFINITY }));
}

/** The filter with `sample` as its newest stage and its oldest stage gone. */
export function shiftFilter(stages: readonly FilterStage[], sample: FilterStage): FilterStage[] {
  return [sample, ...stages.slice(0, NSTAGE - 1)];
}

/** The stages after an adjustment at `now` that removed `offset` and changed the frequency by `frequencyChange` (s/s). */
export function correctFilter(stages: readonly FilterStage[], offset: number, frequencyChange: number, now: number): FilterStage[] {
  return stages.map((s) =>
    s.dispersion >= MAXDISP ? s : { ...s, offset: s.offset - offset, driftRate: s.driftRate + frequencyChange, driftBase: s.driftBase - frequencyChange * now },
  );
}

/**
 * Evaluates the filter at monotonic time `now`. `precision` (seconds) is the jitter's floor.
 * Undefined when no stage holds a real sample.
 */
export function evaluateFilter(stages: readonly FilterStage[], now: number, precision: number): FilterOutput | undefined {
  const aged = stages.map((s) => {
    const dispersion = Math.min(MAXDISP, s.dispersion + (Number.isFinite(s.time) ? PHI * Math.max(0, now - s.time) : 0));
    // A frequency change since the sample has moved the clock by Δf × (now − t) since.
    const offset = s.offset - (s.driftBase + s.driftRate * now);
    return { ...s, offset, dispersion, valid: s.dispersion < MAXDISP };
  });
  // §10 sorts by delay. Here by distance, half the delay plus the aged dispersion: an old sample
  // has been moved since by a frequency error nobody knows yet, and PHI × age bounds that (a
  // departure, docs/ntp.md). Stages without a real sample go last.
  const distance = (s: { delay: number; dispersion: number }) => s.delay / 2 + s.dispersion;
  aged.sort((a, b) => (a.valid === b.valid ? distance(a) - distance(b) : a.valid ? -1 : 1));
  const valid = aged.filter((s) => s.valid).length;
  const best = aged[0];
  if (valid === 0 || best === undefined) return undefined;
  let dispersion = 0;
  aged.forEach((s, i) => {
    dispersion += (s.valid ? s.dispersion : MAXDISP) / 2 ** (i + 1);
  });
  let sum = 0;
  for (let i = 1; i < valid; i++) sum += (aged[i]!.offset - best.offset) ** 2;
  const jitter = Math.max(precision, valid > 1 ? Math.sqrt(sum / (valid - 1)) : 0);
  return { offset: best.offset, delay: best.delay, dispersion, jitter, time: best.time, valid };
}
