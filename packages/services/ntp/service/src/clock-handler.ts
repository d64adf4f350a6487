/**
 * The clock handler: the only code of the NTP service that may change the clock, and it runs in
 * the priv. It acts on each adjustment the calf publishes once, by the rules of ./clock-policy.ts,
 * through a clock target (`observe`: compute and report, touch nothing; `system`: CLOCK_REALTIME
 * through clock_adjtime), and writes back what it did (`/clock/applied/…`), which the calf feeds
 * to its core as the `applied` event. A refusal is a log line with its PADDOCK_E_CLOCK_ code and
 * the applied keys say so; nothing a calf publishes makes the handler throw.
 */
import { readKey } from "@paddock/kv";
import { CLOCK_REALTIME, STA_DEL, STA_FREQHOLD, STA_INS, STA_PLL, clockAdjtime, type TimexReadout } from "@paddock/native";
import type { ApplyReport, Handler, HandlerLogger, StoreView } from "@paddock/runtime";
import { DEFAULT_CLOCK_POLICY, decideClock, nextHistory, type Adjustment, type ClockDecision, type ClockHistory, type ClockPolicy, type ClockRefusalCode } from "./clock-policy.ts";
import { ntpKeys, type AppliedResult } from "./schema.ts";
import { formatPpm, formatSeconds } from "./wire.ts";


/** One change to make to a clock: a slew (with the frequency, error bounds and leap) or a step. */
export type ClockOperation =
  | { readonly kind: "slew"; readonly slewSeconds: number; readonly frequencyPpm: number; readonly maxErrorSeconds: number; readonly estErrorSeconds: number; readonly leap: Adjustment["leap"] }
  | { readonly kind: "step"; readonly stepSeconds: number };

/**
 * Where the handler's decisions go. The handler takes it as a parameter: tests give it a double
 * that records the operations, `observe` ignores them, `system` is the real clock.
 */
export interface ClockTarget {
  /** "observe", "system", or a test's name. */
  readonly name: string;
  /** False for a target that changes nothing (observe): its results are reported as "observed". */
  readonly changesClock: boolean;
  /** Carries one operation out; throws when the system refused it. */
  apply(op: ClockOperation): void;
}

/** `--clock observe`: computes and reports what it would do, touches nothing. */
export const observeClock: ClockTarget = { name: "observe", changesClock: false, apply() {} };

/**
 * `--clock system`: CLOCK_REALTIME through clock_adjtime (needs CAP_SYS_TIME). A slew is the
 * kernel's PLL with the frequency held (STA_FREQHOLD: the calf computes the frequency, the kernel
 * must not) and the fastest time constant (0: an offset is mostly gone within seconds, long
 * before the next update); clearing STA_UNSYNC makes adjtimex-style tools and timedatectl read
 * the clock as synchronised.
 */
export function systemClock(adjtime: (clockId: number, req: Parameters<typeof clockAdjtime>[1]) => TimexReadout = clockAdjtime): ClockTarget {
  return {
    name: "system",
    changesClock: true,
    apply(op) {
      if (op.kind === "step") {
        adjtime(CLOCK_REALTIME, { stepSeconds: op.stepSeconds });
        return;
      }
      const leap = op.leap === "insert" ? STA_INS : op.leap === "delete" ? STA_DEL : 0;
      adjtime(CLOCK_REALTIME, {
        slewSeconds: op.slewSeconds,
        frequencyPpm: op.frequencyPpm,
        maxErrorSeconds: op.maxErrorSeconds,
        estErrorSeconds: op.estErrorSeconds,
        status: STA_PLL | STA_FREQHOLD | leap,
        constant: 0,
      });
    },
  };
}

/** An adjustment with its id, as the store holds it. */
export interface PublishedAdjustment {
  readonly id: string;
  readonly adjustment: Adjustment;
}

/** The calf's last adjustment from the store's parsed values, or undefined while any part is missing. */
export function publishedAdjustment(parsed: ReadonlyMap<string, unknown>): PublishedAdjustment | undefined {
  const id = readKey(parsed, ntpKeys.adjustmentId);
  const offsetSeconds = readKey(parsed, ntpKeys.adjustmentOffset);
  const frequencyPpm = readKey(parsed, ntpKeys.adjustmentFrequency);
  const step = readKey(parsed, ntpKeys.adjustmentStep);
  const maxErrorSeconds = readKey(parsed, ntpKeys.adjustmentMaxError);
  const estErrorSeconds = readKey(parsed, ntpKeys.adjustmentEstError);
  const leap = readKey(parsed, ntpKeys.adjustmentLeap);
  if (id === undefined || offsetSeconds === undefined || frequencyPpm === undefined || step === undefined || maxErrorSeconds === undefined || estErrorSeconds === undefined || leap === undefined) return undefined;
  return { id, adjustment: { offsetSeconds, frequencyPpm, step: step === "true", maxErrorSeconds, estErrorSeconds, leap } };
}

/** What the handler did with one adjustment: the `/clock/applied/…` keys. */
export interface AppliedReport {
  readonly id: string;
  readonly result: AppliedResult;
  /** The offset removed (0 when observed or refused). */
  readonly offsetSeconds: number;
  /** The frequency correction held afterwards. */
  readonly frequencyPpm: number;
  readonly code: ClockRefusalCode | "none";
}

/** The applied report as the priv keys it is committed as. */
export function appliedKeys(r: AppliedReport): Record<string, string> {
  return {
    "/clock/applied/id": r.id,
    "/clock/applied/result": r.result,
    "/clock/applied/offset": formatSeconds(r.offsetSeconds),
    "/clock/applied/frequency": formatPpm(r.frequencyPpm),
    "/clock/applied/code": r.code,
  };
}

export interface ClockHandlerOptions {
  readonly target: ClockTarget;
  readonly policy?: ClockPolicy;
  readonly log: HandlerLogger;
  /** Writes the applied keys (the service's `ctx.commit`). */
  readonly commit: (changes: Record<string, string>) => Promise<void>;
  /** The id of an adjustment left in the store by an earlier run: never acted on (it is stale). */
  readonly staleId?: string | undefined;
  /** The frequency correction held at start (observe: 0, what the calf's core assumes). */
  readonly initialFrequencyPpm?: number;
}

/** The clock handler (see the file's comment). */
export class ClockHandler implements Handler<PublishedAdjustment | undefined> {
  readonly name = "clock";
  private history: ClockHistory = { adjustments: 0, steppedSeconds: 0 };
  private lastId: string | undefined;
  private heldFrequencyPpm: number;
  /** The last report, for status and tests. */
  lastReport: (AppliedReport & { decision: ClockDecision }) | undefined;

  constructor(private readonly opts: ClockHandlerOptions) {
    this.lastId = opts.staleId;
    this.heldFrequencyPpm = opts.initialFrequencyPpm ?? 0;
  }

  desired(store: StoreView): PublishedAdjustment | undefined {
    return publishedAdjustment(store.parsed);
  }

  describe(d: PublishedAdjustment | undefined): string {
    return d ? `adjustment ${d.id}: offset ${formatSeconds(d.adjustment.offsetSeconds)} s${d.adjustment.step ? " (step asked)" : ""}, ${formatPpm(d.adjustment.frequencyPpm)} ppm` : "no adjustment";
  }

  async apply(d: PublishedAdjustment | undefined): Promise<ApplyReport> {
    // Level-triggered runs (start, resync, retries) see the same adjustment again: each id once.
    if (!d || d.id === this.lastId) return { changes: [] };
    this.lastId = d.id;
    const report = this.act(d);
    const line = this.line(report);
    if (report.result === "refused") this.opts.log.warn({ code: report.code, id: d.id, offset: d.adjustment.offsetSeconds, target: this.opts.target.name }, line);
    else this.opts.log.info({ id: d.id, result: report.result, offset: d.adjustment.offsetSeconds, target: this.opts.target.name }, line);
    try {
      await this.opts.commit(appliedKeys(report));
    } catch (err) {
      // The calf then takes the adjustment as carried out; its next one corrects that.
      this.opts.log.warn({ err: (err as Error).message }, "could not write the clock handler's report for the calf");
    }
    return { changes: [line] };
  }

  /** Decides and carries out; never throws. */
  private act(d: PublishedAdjustment): AppliedReport & { decision: ClockDecision } {
    const { target } = this.opts;
    let decision = decideClock(d.adjustment, this.opts.policy ?? DEFAULT_CLOCK_POLICY, this.history);
    const adj = d.adjustment;
    let removed = 0;
    if (decision.kind !== "refuse" && target.changesClock) {
      try {
        if (decision.kind === "step") {
          target.apply({ kind: "step", stepSeconds: decision.stepSeconds });
          removed = decision.stepSeconds;
          target.apply({ kind: "slew", slewSeconds: 0, frequencyPpm: decision.frequencyPpm, maxErrorSeconds: adj.maxErrorSeconds, estErrorSeconds: adj.estErrorSeconds, leap: adj.leap });
        } else {
          target.apply({ kind: "slew", slewSeconds: decision.slewSeconds, frequencyPpm: decision.frequencyPpm, maxErrorSeconds: adj.maxErrorSeconds, estErrorSeconds: adj.estErrorSeconds, leap: adj.leap });
          removed = decision.slewSeconds;
        }
        this.heldFrequencyPpm = decision.frequencyPpm;
      } catch (err) {
        decision = { kind: "refuse", code: "PADDOCK_E_CLOCK_FAILED", reason: `the ${target.name} clock refused the change: ${(err as Error).message}` };
      }
    }
    this.history = nextHistory(this.history, decision);
    const result: AppliedResult = decision.kind === "refuse" ? "refused" : !target.changesClock ? "observed" : decision.kind === "step" ? "stepped" : "slewed";
    const report = { id: d.id, result, offsetSeconds: removed, frequencyPpm: this.heldFrequencyPpm, code: decision.kind === "refuse" ? decision.code : ("none" as const), decision };
    this.lastReport = report;
    return report;
  }

  private line(r: AppliedReport & { decision: ClockDecision }): string {
    const d = r.decision;
    const what = d.kind === "refuse" ? `refused (${d.code}): ${d.reason}` : d.kind === "step" ? `step ${formatSeconds(d.stepSeconds)} s, hold ${formatPpm(d.frequencyPpm)} ppm` : `slew ${formatSeconds(d.slewSeconds)} s${d.stepRefused ? " (step not allowed here)" : ""}, hold ${formatPpm(d.frequencyPpm)} ppm`;
    return d.kind === "refuse" ? `clock ${this.opts.target.name}: ${what}` : r.result === "observed" ? `clock observe: would ${what}` : `clock ${this.opts.target.name}: ${what}`;
  }
}
