/**
 * The pieces of RFC 5905's algorithm on their own: the intersection of correctness intervals
 * (§11.2.1), clustering and combining (§11.2.2–3), and the clock filter (§10).
 */

import { describe, expect, it } from "vitest";
import { MAXDISP, NSTAGE, PHI, combine, correctFilter, emptyFilter, evaluateFilter, intersect, selectSources, shiftFilter, type Candidate } from "../src/index.ts";

/** A candidate with the interval [low, high]. */
const c = (id: number, low: number, high: number, over: Partial<Candidate> = {}): Candidate => ({
  id,
  offset: (low + high) / 2,
  rootDistance: (high - low) / 2,
  stratum: 2,
  jitter: 0.001,
  ...over,
});

describe("intersection (§11.2.1)", () => {
  it("finds the interval all candidates share, when it holds their offsets", () => {
    expect(intersect([c(0, 9, 13), c(1, 10, 12), c(2, 10.5, 11.5)])).toEqual({ low: 10.5, high: 11.5 });
  });

  it("wants the offsets (midpoints) inside too: one outside counts as one falseticker allowed", () => {
    // All three intervals share [11, 12], but the first one's offset (10) lies outside it, so
    // the interval for one allowed falseticker, [10, 12], is the answer (RFC 5905 §11.2.1).
    expect(intersect([c(0, 8, 12), c(1, 11, 13), c(2, 10, 12)])).toEqual({ low: 10, high: 12 });
    // With the midpoints of two intervals outside the third's, there is no majority at all.
    expect(intersect([c(0, 8, 12), c(1, 11, 13), c(2, 14, 15)])).toBeUndefined();
  });

  it("allows a minority of falsetickers: the interval of the majority", () => {
    expect(intersect([c(0, 9, 13), c(1, 10, 12), c(2, 14, 15)])).toEqual({ low: 10, high: 12 });
    const s = selectSources([c(0, 9, 13), c(1, 10, 12), c(2, 14, 15)], undefined);
    expect(s).toMatchObject({ majority: true, falsetickers: [2] });
    expect([...s.truechimers].sort()).toEqual([0, 1]);
  });

  it("finds no majority when half or more disagree", () => {
    expect(intersect([c(0, 0, 1), c(1, 2, 3)])).toBeUndefined();
    expect(intersect([c(0, 0, 1), c(1, 2, 3), c(2, 4, 5)])).toBeUndefined();
    expect(selectSources([c(0, 0, 1), c(1, 2, 3)], undefined).majority).toBe(false);
    expect(selectSources([], undefined).majority).toBe(false);
  });

  it("a truechimer is a candidate whose offset lies in the intersection", () => {
    // Candidate 2's interval reaches into the others', but its offset lies outside their
    // intersection [9, 10]: it is a falseticker.
    const s = selectSources([c(0, 8, 10), c(1, 9, 11), c(2, 9.5, 20)], undefined);
    expect(s.falsetickers).toEqual([2]);
  });

  it("two liars that agree with each other are still outvoted by three", () => {
    const s = selectSources([c(0, -0.01, 0.01), c(1, -0.012, 0.008), c(2, -0.008, 0.012), c(3, 0.99, 1.01), c(4, 0.995, 1.015)], undefined);
    expect([...s.falsetickers].sort()).toEqual([3, 4]);
    expect(Math.abs(s.offset)).toBeLessThan(0.005);
  });
});

describe("clustering and combining (§11.2.2–3)", () => {
  it("drops the survivor that adds most jitter while more than three remain", () => {
    const cs = [0, 0.0001, -0.0001, 0.00005, 0.004].map((o, id) => ({ id, offset: o, rootDistance: 0.01, stratum: 2, jitter: 0.0001 }));
    const s = selectSources(cs, undefined);
    expect(s.truechimers).toHaveLength(5);
    expect(s.survivors).not.toContain(4);
    expect(s.survivors.length).toBeGreaterThanOrEqual(3);
  });

  it("prefers lower stratum, then shorter root distance; keeps the previous system peer while it survives", () => {
    const cs = [c(0, -0.02, 0.02, { stratum: 3 }), c(1, -0.05, 0.05, { stratum: 1 }), c(2, -0.01, 0.01, { stratum: 3 })];
    expect(selectSources(cs, undefined).survivors[0]).toBe(1);
    expect(selectSources(cs, 2).survivors[0]).toBe(2);
  });

  it("weights offsets by the reciprocal root distance", () => {
    const a = { id: 0, offset: 0, rootDistance: 0.01, stratum: 2, jitter: 0 };
    const b = { id: 1, offset: 0.003, rootDistance: 0.02, stratum: 2, jitter: 0 };
    const r = combine([a, b], a);
    expect(r.offset).toBeCloseTo(0.001, 12); // (0/0.01 + 0.003/0.02) / (1/0.01 + 1/0.02)
    expect(r.selectionJitter).toBeCloseTo(Math.sqrt((0.003 ** 2 / 0.02) / 150), 12);
  });
});

describe("the clock filter (§10)", () => {
  const stage = (offset: number, delay: number, time: number) => ({ offset, delay, dispersion: 1e-6, time, driftRate: 0, driftBase: 0 });

  it("an empty filter has no output; each empty stage counts MAXDISP in the dispersion", () => {
    expect(evaluateFilter(emptyFilter(), 0, 1e-6)).toBeUndefined();
    const one = evaluateFilter(shiftFilter(emptyFilter(), stage(0.001, 0.01, 0)), 0, 1e-6)!;
    expect(one.offset).toBe(0.001);
    expect(one.dispersion).toBeCloseTo(1e-6 / 2 + MAXDISP * (1 / 2 - 1 / 2 ** NSTAGE), 9);
    expect(one.valid).toBe(1);
  });

  it("takes the stage of least distance (half the delay plus aged dispersion), and the jitter of the rest against it", () => {
    let f = emptyFilter();
    f = shiftFilter(f, stage(0.002, 0.020, 0));
    f = shiftFilter(f, stage(0.001, 0.010, 1));
    f = shiftFilter(f, stage(0.003, 0.030, 2));
    const out = evaluateFilter(f, 2, 1e-6)!;
    expect(out).toMatchObject({ offset: 0.001, delay: 0.01, time: 1, valid: 3 });
    expect(out.jitter).toBeCloseTo(Math.sqrt((0.001 ** 2 + 0.002 ** 2) / 2), 12);
    // A sample 1000 s old has aged by PHI × 1000 = 15 ms: a newer one with a 20 ms longer round trip wins.
    const aged = evaluateFilter(shiftFilter(shiftFilter(emptyFilter(), stage(0.005, 0.010, 0)), stage(0.006, 0.029, 1000)), 1000, 1e-6)!;
    expect(aged.time).toBe(1000);
    expect(PHI * 1000).toBeGreaterThan((0.029 - 0.01) / 2);
  });

  it("samples are corrected for an adjustment: the offset removed, and a frequency change as it grows", () => {
    let f = shiftFilter(emptyFilter(), stage(0.004, 0.01, 0));
    f = correctFilter(f, 0.004, 1e-6, 100); // removed 4 ms at t=100, clock made 1 ppm faster
    expect(evaluateFilter(f, 100, 1e-9)!.offset).toBeCloseTo(0, 12);
    expect(evaluateFilter(f, 1100, 1e-9)!.offset).toBeCloseTo(-0.001, 12); // 1000 s at +1 ppm
    // Empty stages are left alone.
    expect(f.slice(1)).toEqual(emptyFilter().slice(1));
  });
});
