/**
 * The clock handler's decisions, against a recording clock target and `observe`: these tests never
 * touch a real clock (the system target is tested with a recording clock_adjtime).
 */
import { describe, expect, it } from "vitest";
import { ADJ_NANO, ADJ_OFFSET, ADJ_SETOFFSET, STA_FREQHOLD, STA_INS, STA_PLL, encodeTimex, timexModes, type TimexReadout, type TimexRequest } from "@paddock/native";
import { silentLogger } from "@paddock/runtime";
import {
  ClockHandler,
  DEFAULT_CLOCK_POLICY,
  decideClock,
  nextHistory,
  observeClock,
  systemClock,
  type Adjustment,
  type ClockOperation,
  type ClockTarget,
  type PublishedAdjustment,
} from "../src/index.ts";

const adj = (over: Partial<Adjustment> = {}): Adjustment => ({ offsetSeconds: 0.001, frequencyPpm: 3, step: false, maxErrorSeconds: 0.01, estErrorSeconds: 0.0001, leap: "none", ...over });
const fresh = { adjustments: 0, steppedSeconds: 0 };
const later = { adjustments: 5, steppedSeconds: 0 };

describe("decideClock", () => {
  it("steps at start when asked", () => {
    expect(decideClock(adj({ offsetSeconds: 0.3, step: true }), DEFAULT_CLOCK_POLICY, fresh)).toEqual({ kind: "step", stepSeconds: 0.3, frequencyPpm: 3 });
  });

  it("after start, slews a step request below the threshold (at most 0.5 s), steps beyond it", () => {
    expect(decideClock(adj({ offsetSeconds: 0.8, step: true }), DEFAULT_CLOCK_POLICY, later)).toEqual({ kind: "slew", slewSeconds: 0.5, frequencyPpm: 3, stepRefused: true });
    expect(decideClock(adj({ offsetSeconds: -2, step: true }), DEFAULT_CLOCK_POLICY, later)).toMatchObject({ kind: "step", stepSeconds: -2 });
  });

  it("never steps without a request: a large offset is slewed 0.5 s at a time", () => {
    expect(decideClock(adj({ offsetSeconds: -3 }), DEFAULT_CLOCK_POLICY, fresh)).toMatchObject({ kind: "slew", slewSeconds: -0.5, stepRefused: false });
  });

  it("refuses anything beyond the panic limit, even at start, with PADDOCK_E_CLOCK_PANIC", () => {
    const d = decideClock(adj({ offsetSeconds: 1000.5, step: true }), DEFAULT_CLOCK_POLICY, fresh);
    expect(d).toMatchObject({ kind: "refuse", code: "PADDOCK_E_CLOCK_PANIC" });
    expect(d.kind === "refuse" && d.reason).toMatch(/beyond the panic limit of 1000 s/);
    expect(decideClock(adj({ offsetSeconds: -5000 }), DEFAULT_CLOCK_POLICY, later)).toMatchObject({ code: "PADDOCK_E_CLOCK_PANIC" });
    expect(decideClock(adj({ offsetSeconds: Number.NaN }), DEFAULT_CLOCK_POLICY, later)).toMatchObject({ code: "PADDOCK_E_CLOCK_PANIC" });
  });

  it("refuses a step that would take the run's steps beyond the cumulative cap", () => {
    const policy = { ...DEFAULT_CLOCK_POLICY, stepCapSeconds: 10 };
    let h = nextHistory(fresh, decideClock(adj({ offsetSeconds: 6, step: true }), policy, fresh));
    expect(h).toEqual({ adjustments: 1, steppedSeconds: 6 });
    const d = decideClock(adj({ offsetSeconds: -5, step: true }), policy, h);
    expect(d).toMatchObject({ kind: "refuse", code: "PADDOCK_E_CLOCK_STEP_CAP" });
    h = nextHistory(h, d);
    expect(h).toEqual({ adjustments: 1, steppedSeconds: 6 });
    expect(decideClock(adj({ offsetSeconds: -3, step: true }), policy, h)).toMatchObject({ kind: "step" });
  });

  it("refuses a frequency beyond ±500 ppm", () => {
    expect(decideClock(adj({ frequencyPpm: 501 }), DEFAULT_CLOCK_POLICY, fresh)).toMatchObject({ code: "PADDOCK_E_CLOCK_BAD_FREQUENCY" });
  });
});

/** A clock that records what it is asked. */
function recordingClock(fail?: string): ClockTarget & { ops: ClockOperation[] } {
  const ops: ClockOperation[] = [];
  return {
    name: "recording",
    changesClock: true,
    ops,
    apply(op) {
      if (fail) throw new Error(fail);
      ops.push(op);
    },
  };
}

function handlerWith(target: ClockTarget, opts: { staleId?: string } = {}) {
  const commits: Record<string, string>[] = [];
  const warnings: Array<Record<string, unknown>> = [];
  const log = { ...silentLogger, warn: (o: object) => void warnings.push(o as Record<string, unknown>) };
  const h = new ClockHandler({ target, log, commit: async (c) => void commits.push(c), ...opts });
  return { h, commits, warnings };
}

const published = (id: string, over: Partial<Adjustment> = {}): PublishedAdjustment => ({ id: `0123456789abcdef-${id}`, adjustment: adj(over) });

describe("ClockHandler", () => {
  it("steps at start, then slews; each adjustment once, whatever the number of reconciles", async () => {
    const clock = recordingClock();
    const { h, commits } = handlerWith(clock);
    await h.apply(published("1", { offsetSeconds: 2, step: true }));
    expect(clock.ops).toEqual([
      { kind: "step", stepSeconds: 2 },
      { kind: "slew", slewSeconds: 0, frequencyPpm: 3, maxErrorSeconds: 0.01, estErrorSeconds: 0.0001, leap: "none" },
    ]);
    expect(commits.at(-1)).toEqual({ "/clock/applied/id": "0123456789abcdef-1", "/clock/applied/result": "stepped", "/clock/applied/offset": "2.000000000", "/clock/applied/frequency": "3.000", "/clock/applied/code": "none" });
    const again = await h.apply(published("1", { offsetSeconds: 2, step: true }));
    expect(again.changes).toEqual([]);
    expect(clock.ops).toHaveLength(2);
    await h.apply(published("2", { offsetSeconds: -0.002, frequencyPpm: 4.5, leap: "insert" }));
    expect(clock.ops.at(-1)).toEqual({ kind: "slew", slewSeconds: -0.002, frequencyPpm: 4.5, maxErrorSeconds: 0.01, estErrorSeconds: 0.0001, leap: "insert" });
    expect(commits.at(-1)).toMatchObject({ "/clock/applied/result": "slewed", "/clock/applied/offset": "-0.002000000" });
  });

  it("refuses a step past the panic limit with PADDOCK_E_CLOCK_PANIC: nothing touched, a warning, the code reported", async () => {
    const clock = recordingClock();
    const { h, commits, warnings } = handlerWith(clock);
    const r = await h.apply(published("1", { offsetSeconds: 5000, step: true }));
    expect(clock.ops).toEqual([]);
    expect(r.changes[0]).toMatch(/refused \(PADDOCK_E_CLOCK_PANIC\)/);
    expect(warnings).toEqual([expect.objectContaining({ code: "PADDOCK_E_CLOCK_PANIC" })]);
    expect(commits.at(-1)).toMatchObject({ "/clock/applied/result": "refused", "/clock/applied/offset": "0.000000000", "/clock/applied/code": "PADDOCK_E_CLOCK_PANIC" });
  });

  it("observe computes the decision and touches nothing; the report says nothing was removed", async () => {
    const { h, commits } = handlerWith(observeClock);
    const r = await h.apply(published("1", { offsetSeconds: 2, step: true }));
    expect(r.changes[0]).toMatch(/clock observe: would step 2\.000000000 s/);
    expect(commits.at(-1)).toMatchObject({ "/clock/applied/result": "observed", "/clock/applied/offset": "0.000000000", "/clock/applied/frequency": "0.000" });
  });

  it("a clock that refuses the change is reported as PADDOCK_E_CLOCK_FAILED, never thrown", async () => {
    const { h, commits } = handlerWith(recordingClock("EPERM"));
    await expect(h.apply(published("1"))).resolves.toBeDefined();
    expect(commits.at(-1)).toMatchObject({ "/clock/applied/result": "refused", "/clock/applied/code": "PADDOCK_E_CLOCK_FAILED" });
  });

  it("an adjustment left by an earlier run is never acted on", async () => {
    const clock = recordingClock();
    const { h } = handlerWith(clock, { staleId: "0123456789abcdef-7" });
    expect((await h.apply(published("7", { offsetSeconds: 3, step: true }))).changes).toEqual([]);
    expect(clock.ops).toEqual([]);
  });
});

describe("systemClock", () => {
  it("asks clock_adjtime for a nanosecond slew with the frequency held, or an ADJ_SETOFFSET step", () => {
    const calls: TimexRequest[] = [];
    const target = systemClock((_id, req) => {
      calls.push(req);
      return {} as TimexReadout;
    });
    target.apply({ kind: "slew", slewSeconds: 0.01, frequencyPpm: -2, maxErrorSeconds: 0.02, estErrorSeconds: 0.001, leap: "insert" });
    target.apply({ kind: "step", stepSeconds: -1.5 });
    expect(calls[0]).toEqual({ slewSeconds: 0.01, frequencyPpm: -2, maxErrorSeconds: 0.02, estErrorSeconds: 0.001, status: STA_PLL | STA_FREQHOLD | STA_INS, constant: 0 });
    expect(timexModes(encodeTimex(calls[0]!)) & (ADJ_OFFSET | ADJ_NANO)).toBe(ADJ_OFFSET | ADJ_NANO);
    expect(timexModes(encodeTimex(calls[1]!))).toBe(ADJ_SETOFFSET | ADJ_NANO);
  });
});
