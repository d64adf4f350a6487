/**
 * The client core in a simulated network (simulated time, seeded randomness): selection with a
 * liar, kiss-o'-death, unsynchronized servers, poll control, frequency, leap, unreachable servers.
 */

import { describe, expect, it } from "vitest";
import { createNtpClient, sourceStatus, type SourceStateName } from "../src/index.ts";
import { Simulation, type SimServer } from "./simulation.ts";

const HOUR = 3600;
const good = (address: string, over: Partial<SimServer> = {}): SimServer => ({ address, offset: 0, delay: 0.004, jitter: 0.0004, ...over });
const states = (sim: Simulation): Record<string, SourceStateName> => Object.fromEntries(sourceStatus(sim.state).map((s) => [s.address, s.state]));

describe("selection", () => {
  it("3 good servers and 1 liar: the liar is a falseticker and every estimate is within 1 ms of the truth", () => {
    const sim = new Simulation({
      servers: [good("192.0.2.1"), good("192.0.2.2", { delay: 0.012 }), good("192.0.2.3", { delay: 0.02, jitter: 0.001 }), good("192.0.2.66", { offset: 3.2 })],
      localOffset: -0.4,
      driftPpm: 25,
      seed: 7,
    });
    sim.start();
    sim.runUntil(6 * HOUR);
    expect(sim.adjustments.length).toBeGreaterThan(10);
    // The first estimate asks for a step (0.4 s is above the 0.128 s threshold); none after it.
    expect(sim.adjustments[0]!.adjustment.step).toBe(true);
    expect(sim.adjustments.slice(1).every((a) => !a.adjustment.step)).toBe(true);
    for (const a of sim.adjustments) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset), `at ${a.at} s`).toBeLessThan(0.001);
    expect(Math.abs(sim.localOffset)).toBeLessThan(0.001);
    const s = states(sim);
    expect(s["192.0.2.66"]).toBe("falseticker");
    expect(["192.0.2.1", "192.0.2.2", "192.0.2.3"].map((a) => s[a]).sort()).toEqual(["candidate", "candidate", "selected"]);
    // The liar never counted: it was a falseticker from the first selection it took part in.
    expect(sourceStatus(sim.state).find((x) => x.address === "192.0.2.66")!.combined).toBe(false);
  });

  it("with 3 sources, one liar never moves the clock", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.66", { offset: -0.9 }), good("192.0.2.2", { delay: 0.03 })], localOffset: 0.05, seed: 3 });
    sim.start();
    sim.runUntil(2 * HOUR);
    expect(sim.adjustments.length).toBeGreaterThan(3);
    for (const a of sim.adjustments) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset)).toBeLessThan(0.001);
    expect(states(sim)["192.0.2.66"]).toBe("falseticker");
  });

  it("two servers that disagree give no majority: the clock is not adjusted", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.66", { offset: 5 })], seed: 5 });
    sim.start();
    sim.runUntil(HOUR);
    expect(sim.adjustments).toEqual([]);
    expect(Object.values(states(sim)).every((s) => s !== "selected")).toBe(true);
  });

  it("the first adjustment follows the start burst, whatever the jitter of the delays", () => {
    // The filter keeps a burst's lowest-delay sample, often one of its first: the first update
    // must take it, not wait a poll or more for a fresher one to win (FIRST_ROUND_WINDOW_SECONDS).
    for (const jitter of [0.002, 0.02, 0.2]) {
      for (let seed = 1; seed <= 40; seed++) {
        const sim = new Simulation({ servers: [{ address: "192.0.2.1", offset: 2, delay: 0.004, jitter }], seed });
        sim.start();
        sim.runUntil(120);
        // 8 samples 2 s apart: the burst ends after about 14 s; the next poll would be 64 s later.
        expect(sim.adjustments[0]?.at, `jitter ${jitter}, seed ${seed}`).toBeLessThan(30);
        // The server is 2 s ahead: that is the offset to correct, within the path's asymmetry.
        expect(Math.abs(sim.adjustments[0]!.adjustment.offsetSeconds - 2)).toBeLessThan(0.01 + jitter);
      }
    }
  });

  it("one server alone is selected", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1")], localOffset: 0.02, seed: 9 });
    sim.start();
    sim.runUntil(600);
    expect(states(sim)["192.0.2.1"]).toBe("selected");
    expect(sim.adjustments[0]!.adjustment.step).toBe(false);
    expect(Math.abs(sim.localOffset)).toBeLessThan(0.001);
  });

  it("the first estimate comes from the start burst, seconds after start", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3")], localOffset: 1.5, seed: 11 });
    sim.start();
    sim.runUntil(30);
    expect(sim.adjustments.length).toBeGreaterThan(0);
    expect(sim.adjustments[0]!.at).toBeLessThan(20);
    expect(sim.adjustments[0]!.adjustment).toMatchObject({ step: true, leap: "none" });
  });

  it("servers that never answer do not hold the first estimate back a poll: they stop counting toward the majority after 8 unanswered requests", () => {
    const dead = (address: string) => good(address, { silentAfter: 0 });
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3"), dead("192.0.2.4"), dead("192.0.2.5"), dead("192.0.2.6"), dead("192.0.2.7")], localOffset: 0.05, seed: 12 });
    sim.start();
    sim.runUntil(30);
    // Four dead of seven would be a majority still warming up, until their first poll after the burst (~80 s).
    expect(sim.adjustments.length).toBeGreaterThan(0);
    expect(sim.adjustments[0]!.at).toBeLessThan(20);
    expect(Math.abs(sim.adjustments[0]!.adjustment.offsetSeconds - sim.adjustments[0]!.trueOffset)).toBeLessThan(0.001);
    const st = states(sim);
    for (const a of ["192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7"]) expect(st[a]).toBe("unreachable");
  });
});

describe("servers the client must not use", () => {
  it("stratum 16, leap-unsynchronized and stratum 0 servers are ignored", () => {
    const sim = new Simulation({
      servers: [good("192.0.2.1"), good("192.0.2.16", { stratum: 16, offset: 2 }), good("192.0.2.3", { leap: 3, offset: -2 }), good("192.0.2.4", { stratum: 0, offset: 2 })],
      seed: 13,
    });
    sim.start();
    sim.runUntil(HOUR);
    const st = sourceStatus(sim.state);
    for (const a of ["192.0.2.16", "192.0.2.3", "192.0.2.4"]) expect(st.find((s) => s.address === a)).toMatchObject({ state: "unfit", unfitReason: "unsynchronized" });
    expect(states(sim)["192.0.2.1"]).toBe("selected");
    for (const a of sim.adjustments) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset)).toBeLessThan(0.001);
    expect(sim.state.counters.unsynchronized).toBeGreaterThan(0);
  });

  it("only unsynchronized servers: no adjustment", () => {
    const sim = new Simulation({ servers: [good("192.0.2.16", { stratum: 16 }), good("192.0.2.3", { leap: 3 })], seed: 17 });
    sim.start();
    sim.runUntil(HOUR);
    expect(sim.adjustments).toEqual([]);
  });

  it("a root distance above MAXDIST (1.5 s) makes a server unfit", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1", { rootDispersion: 2 })], seed: 19 });
    sim.start();
    sim.runUntil(600);
    expect(sourceStatus(sim.state)[0]).toMatchObject({ state: "unfit", unfitReason: "distance" });
    expect(sim.adjustments).toEqual([]);
  });
});

describe("kiss-o'-death", () => {
  it("RATE: the poll interval to that server grows with each kiss, and the others are unaffected", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.9", { kiss: "RATE", kissAfter: 2 })], seed: 23 });
    sim.start();
    sim.runUntil(12 * HOUR);
    const rated = sim.intervals("192.0.2.9");
    // Two answered burst requests, then RATE: each following interval at least doubles.
    const after = rated.slice(2);
    expect(after.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < after.length; i++) expect(after[i]!).toBeGreaterThanOrEqual(2 * after[i - 1]! - 1);
    expect(after[0]!).toBeGreaterThanOrEqual(2 ** 7);
    expect(sourceStatus(sim.state).find((s) => s.address === "192.0.2.9")!.pollSeconds).toBeGreaterThanOrEqual(2 ** 11);
    // Every request from the third on was answered with a kiss: one more request than intervals.
    expect(sim.state.counters.kissOfDeath).toBe(after.length + 1);
    expect(states(sim)["192.0.2.1"]).toMatch(/selected|candidate/);
  });

  it("DENY and RSTR: the server is dropped and never asked again", () => {
    for (const kiss of ["DENY", "RSTR"]) {
      const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.9", { kiss })], seed: 29 });
      sim.start();
      sim.runUntil(HOUR);
      expect(sim.sent.filter((s) => s.address === "192.0.2.9")).toHaveLength(1);
      expect(sourceStatus(sim.state).find((s) => s.address === "192.0.2.9")).toMatchObject({ state: "kod", kissCode: kiss });
      expect(states(sim)["192.0.2.1"]).toBe("selected");
    }
  });

  it("the server's advertised poll is a floor", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1", { poll: 9 })], seed: 31 });
    sim.start();
    sim.runUntil(4 * HOUR);
    const regular = sim.intervals("192.0.2.1").filter((i) => i > 10);
    expect(regular.length).toBeGreaterThan(3);
    for (const i of regular) expect(i).toBeGreaterThanOrEqual(512);
  });
});

describe("poll control and discipline", () => {
  it("the poll interval rises from 64 s to 1024 s while the clock is stable, and no further", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3")], driftPpm: -12, seed: 37 });
    sim.start();
    sim.runUntil(24 * HOUR);
    const iv = sim.intervals("192.0.2.1").filter((i) => i > 10);
    expect(iv[0]).toBe(64);
    expect(Math.max(...iv)).toBe(1024);
    expect(iv.slice(-5)).toEqual([1024, 1024, 1024, 1024, 1024]);
    expect(sourceStatus(sim.state)[0]!.pollSeconds).toBe(1024);
    for (const a of sim.adjustments) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset)).toBeLessThan(0.001);
  });

  it("estimates the local oscillator's frequency error", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3")], driftPpm: -42, seed: 41 });
    sim.start();
    sim.runUntil(12 * HOUR);
    const last = sim.adjustments[sim.adjustments.length - 1]!.adjustment;
    expect(Math.abs(last.frequencyPpm - 42)).toBeLessThan(0.5);
    expect(Math.abs(sim.localOffset)).toBeLessThan(0.001);
    expect(last.maxErrorSeconds).toBeGreaterThan(0);
    expect(last.estErrorSeconds).toBeGreaterThan(0);
    expect(last.estErrorSeconds).toBeLessThan(last.maxErrorSeconds);
  });

  it("the selected server's leap indicator is carried to the adjustment", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1", { leap: 1 })], seed: 43 });
    sim.start();
    sim.runUntil(300);
    expect(sim.adjustments.length).toBeGreaterThan(0);
    expect(sim.adjustments.every((a) => a.adjustment.leap === "insert")).toBe(true);
  });

  it("an offset above the step threshold later is a spike for 900 s, then a step", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3")], seed: 47 });
    sim.start();
    sim.runUntil(HOUR);
    const before = sim.adjustments.length;
    sim.localOffset += 0.5; // something else stepped the clock
    const jumpedAt = sim.t;
    sim.runUntil(3 * HOUR);
    const after = sim.adjustments.slice(before);
    const step = after.find((a) => a.adjustment.step);
    expect(step).toBeDefined();
    expect(step!.at - jumpedAt).toBeGreaterThanOrEqual(900);
    expect(Math.abs(step!.adjustment.offsetSeconds - step!.trueOffset)).toBeLessThan(0.001);
    expect(step!.trueOffset).toBeLessThan(-0.4);
    expect(Math.abs(sim.localOffset)).toBeLessThan(0.001);
  });

  it("a server that stops answering becomes unreachable; the others keep the clock", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3", { silentAfter: 1800 })], seed: 53 });
    sim.start();
    sim.runUntil(10 * HOUR);
    const st = sourceStatus(sim.state);
    expect(st.find((s) => s.address === "192.0.2.3")).toMatchObject({ state: "unreachable", reach: 0 });
    expect(st.filter((s) => s.state === "selected")).toHaveLength(1);
    const late = sim.adjustments.filter((a) => a.at > 5 * HOUR);
    expect(late.length).toBeGreaterThan(0);
    for (const a of late) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset)).toBeLessThan(0.001);
  });
});

describe("the clock handler's report", () => {
  const servers = () => [good("192.0.2.1"), good("192.0.2.2", { delay: 0.012 }), good("192.0.2.3", { delay: 0.02 }), good("192.0.2.66", { offset: 3.2 })];

  it("observe mode: nothing is removed and every estimate is still within 1 ms of the truth", () => {
    const sim = new Simulation({ servers: servers(), localOffset: 0.05, driftPpm: 20, seed: 61, handler: "observe" });
    sim.start();
    sim.runUntil(3 * HOUR);
    expect(sim.adjustments.length).toBeGreaterThan(10);
    for (const a of sim.adjustments) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset), `at ${a.at} s`).toBeLessThan(0.001);
    // The clock was left alone: 50 ms plus 20 ppm for 3 h.
    expect(sim.localOffset).toBeCloseTo(0.05 + 20e-6 * 3 * HOUR, 6);
    expect(states(sim)["192.0.2.66"]).toBe("falseticker");
    // The frequency measured over the first 900 s is the drift, though nothing was corrected.
    const firstSync = sim.adjustments.find((a) => a.adjustment.frequencyPpm !== 0)!;
    expect(Math.abs(firstSync.adjustment.frequencyPpm + 20)).toBeLessThan(0.5);
  });

  it("a refused step: the estimates stay true, and the step is asked again after the stepout", () => {
    const sim = new Simulation({ servers: servers(), localOffset: -0.6, seed: 67, handler: "no-steps" });
    sim.start();
    sim.runUntil(2 * HOUR);
    const steps = sim.adjustments.filter((a) => a.adjustment.step);
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps[1]!.at - steps[0]!.at).toBeGreaterThanOrEqual(900);
    for (const a of sim.adjustments) expect(Math.abs(a.adjustment.offsetSeconds - a.trueOffset), `at ${a.at} s`).toBeLessThan(0.001);
    expect(sim.localOffset).toBeCloseTo(-0.6, 3);
  });

  it("a report with nothing to report on is ignored with a warning", () => {
    const sim = new Simulation({ servers: servers(), seed: 71 });
    sim.event({ kind: "applied", offsetSeconds: 1, frequencyPpm: 0 });
    expect(sim.logs.some((l) => l.includes("not asked for"))).toBe(true);
  });
});

describe("configuration", () => {
  it("refuses what it cannot run with, in one sentence with a stable code", () => {
    const cases = [
      { sources: Array.from({ length: 17 }, (_, i) => ({ address: `192.0.2.${i}` })) },
      { sources: [{ address: "" }] },
      { sources: [{ address: "192.0.2.1", port: 0 }] },
      { sources: [{ address: "192.0.2.1" }, { address: "192.0.2.1", port: 123 }] },
      { sources: [], minPoll: 11, maxPoll: 10 },
      { sources: [], maxPoll: 18 },
      { sources: [], precision: 3 },
    ];
    for (const c of cases) {
      const r = createNtpClient(c);
      expect(r.ok, JSON.stringify(c)).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("PADDOCK_E_NTP_BAD_CONFIG");
        expect(r.error.detail).toMatch(/^[^\n]+\.$/);
      }
    }
  });

  it("setSources keeps the state of servers it keeps and starts the new ones with a burst", () => {
    const sim = new Simulation({ servers: [good("192.0.2.1"), good("192.0.2.2"), good("192.0.2.3"), good("192.0.2.4")], seed: 59 });
    sim.start();
    sim.runUntil(600);
    const reach1 = sourceStatus(sim.state)[0]!.reach;
    sim.event({ kind: "setSources", sources: [{ address: "192.0.2.1" }, { address: "192.0.2.4" }, { address: "192.0.2.3" }] });
    expect(sourceStatus(sim.state).map((s) => s.address)).toEqual(["192.0.2.1", "192.0.2.4", "192.0.2.3"]);
    expect(sourceStatus(sim.state)[0]!.reach).toBe(reach1);
    sim.runUntil(1200);
    expect(sourceStatus(sim.state).filter((s) => s.state === "selected")).toHaveLength(1);
  });
});
