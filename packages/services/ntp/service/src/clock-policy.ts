/**
 * The clock handler's rules, as a pure function: what it does with one adjustment the calf
 * published, given what it did before in this run. The calf only asks; these rules decide.
 *
 * - Beyond the panic limit nothing is done at all (PADDOCK_E_CLOCK_PANIC): an offset that large
 *   is a broken or hostile source more often than a broken clock, and an operator must look.
 * - A step is made only when the calf asks for one and it is allowed: at the first adjustment of
 *   the run, or beyond the step threshold; and never when the steps of this run would add up to
 *   more than the cumulative cap (PADDOCK_E_CLOCK_STEP_CAP).
 * - Everything else is slewed, at most the kernel's ±0.5 s per adjustment (the rest is reported
 *   as not removed, so the calf's estimates stay true), with the frequency within ±500 ppm.
 */
import { MAX_FREQUENCY_PPM } from "./schema.ts";

/** The default panic limit: RFC 5905's PANICT, 1000 s. */
export const DEFAULT_PANIC_SECONDS = 1000;
/**
 * The default step threshold after the first adjustment: 1 s. Smaller offsets are slewed (at the
 * kernel's 500 ppm at most, a second takes about half an hour); larger ones are stepped when the
 * calf asks (it does after 900 s of such offsets, RFC 5905's stepout).
 */
export const DEFAULT_STEP_THRESHOLD_SECONDS = 1;
/** The default cap on the sum of |steps| in one run: an hour; more means something is wrong. */
export const DEFAULT_STEP_CAP_SECONDS = 3600;
/** The kernel's slew limit per call (ADJ_OFFSET is clamped to ±MAXPHASE, 0.5 s). */
export const MAX_SLEW_SECONDS = 0.5;

/** The handler's limits (the service's options). */
export interface ClockPolicy {
  readonly stepThresholdSeconds: number;
  readonly panicSeconds: number;
  readonly stepCapSeconds: number;
}

export const DEFAULT_CLOCK_POLICY: ClockPolicy = {
  stepThresholdSeconds: DEFAULT_STEP_THRESHOLD_SECONDS,
  panicSeconds: DEFAULT_PANIC_SECONDS,
  stepCapSeconds: DEFAULT_STEP_CAP_SECONDS,
};

/** One adjustment, as the schema parsed it (the core's ClockAdjustment). */
export interface Adjustment {
  readonly offsetSeconds: number;
  readonly frequencyPpm: number;
  readonly step: boolean;
  readonly maxErrorSeconds: number;
  readonly estErrorSeconds: number;
  readonly leap: "none" | "insert" | "delete";
}

/** What the handler did before, in this run. */
export interface ClockHistory {
  /** Adjustments acted on (stepped or slewed) so far (0: the next one is the first, "at start"). */
  readonly adjustments: number;
  /** The sum of |steps| made so far. */
  readonly steppedSeconds: number;
}

/** The stable codes of a refusal. */
export type ClockRefusalCode = "PADDOCK_E_CLOCK_PANIC" | "PADDOCK_E_CLOCK_STEP_CAP" | "PADDOCK_E_CLOCK_BAD_FREQUENCY" | "PADDOCK_E_CLOCK_FAILED";

/** What to do with one adjustment. */
export type ClockDecision =
  | { readonly kind: "step"; readonly stepSeconds: number; readonly frequencyPpm: number }
  | { readonly kind: "slew"; readonly slewSeconds: number; readonly frequencyPpm: number; readonly stepRefused: boolean }
  | { readonly kind: "refuse"; readonly code: ClockRefusalCode; readonly reason: string };

/** A refusal of the handler, as an error value: one sentence and a stable code. */
export class ClockRefusal extends Error {
  constructor(
    readonly code: ClockRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = "ClockRefusal";
  }
}

const s = (x: number) => `${x.toFixed(6)} s`;

/** The rules above. Pure. */
export function decideClock(adj: Adjustment, policy: ClockPolicy, history: ClockHistory): ClockDecision {
  const size = Math.abs(adj.offsetSeconds);
  if (!Number.isFinite(adj.frequencyPpm) || Math.abs(adj.frequencyPpm) > MAX_FREQUENCY_PPM) {
    return { kind: "refuse", code: "PADDOCK_E_CLOCK_BAD_FREQUENCY", reason: `a frequency of ${adj.frequencyPpm} ppm is beyond ±${MAX_FREQUENCY_PPM} ppm` };
  }
  if (!(size <= policy.panicSeconds)) {
    return { kind: "refuse", code: "PADDOCK_E_CLOCK_PANIC", reason: `an offset of ${s(adj.offsetSeconds)} is beyond the panic limit of ${policy.panicSeconds} s; the clock is left alone` };
  }
  if (adj.step && (history.adjustments === 0 || size > policy.stepThresholdSeconds)) {
    if (history.steppedSeconds + size > policy.stepCapSeconds) {
      return { kind: "refuse", code: "PADDOCK_E_CLOCK_STEP_CAP", reason: `a step of ${s(adj.offsetSeconds)} would make this run's steps ${s(history.steppedSeconds + size)}, beyond the cap of ${policy.stepCapSeconds} s` };
    }
    return { kind: "step", stepSeconds: adj.offsetSeconds, frequencyPpm: adj.frequencyPpm };
  }
  const slew = Math.max(-MAX_SLEW_SECONDS, Math.min(MAX_SLEW_SECONDS, adj.offsetSeconds));
  return { kind: "slew", slewSeconds: slew, frequencyPpm: adj.frequencyPpm, stepRefused: adj.step };
}

/** The history after a decision was carried out. */
export function nextHistory(h: ClockHistory, d: ClockDecision): ClockHistory {
  // A refusal changed nothing: the first adjustment acted on is still "at start".
  if (d.kind === "refuse") return h;
  return { adjustments: h.adjustments + 1, steppedSeconds: h.steppedSeconds + (d.kind === "step" ? Math.abs(d.stepSeconds) : 0) };
}
