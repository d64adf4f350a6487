/**
 * Property tests over simulated networks: whatever the servers' delays, jitter and the local
 * clock's offset and drift, as long as liars are a minority (2 good + 1 liar at least), every
 * adjustment is within 1 ms of the truth and well-formed, and no liar is ever combined.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sourceStatus } from "../src/index.ts";
import { Simulation, type SimServer } from "./simulation.ts";

const network = fc
  .record({
    good: fc.array(fc.record({ delay: fc.double({ min: 0.0005, max: 0.05, noNaN: true }), jitter: fc.double({ min: 0, max: 0.001, noNaN: true }) }), { minLength: 2, maxLength: 5 }),
    liars: fc.array(
      fc.record({
        // Beyond the good servers' correctness intervals (half their round trip and then some):
        // a liar inside them is indistinguishable from a truechimer (RFC 5905 §11.2.1).
        offset: fc.oneof(fc.double({ min: 0.25, max: 100, noNaN: true }), fc.double({ min: -100, max: -0.25, noNaN: true })),
        delay: fc.double({ min: 0.0005, max: 0.05, noNaN: true }),
      }),
      { maxLength: 2 },
    ),
    localOffset: fc.double({ min: -5, max: 5, noNaN: true }),
    driftPpm: fc.double({ min: -100, max: 100, noNaN: true }),
    seed: fc.nat(),
    order: fc.nat(),
  })
  .filter((n) => n.liars.length < n.good.length);

describe("the client in arbitrary networks with a minority of liars", () => {
  it("every adjustment is within 1 ms of the truth and well-formed; liars are never combined", () => {
    fc.assert(
      fc.property(network, (n) => {
        const servers: SimServer[] = [
          ...n.good.map((g, i) => ({ address: `192.0.2.${i + 1}`, offset: 0, ...g })),
          ...n.liars.map((l, i) => ({ address: `198.51.100.${i + 1}`, ...l, jitter: 0.0004 })),
        ];
        // The order of the servers in the configuration must not matter.
        const k = n.order % servers.length;
        const sim = new Simulation({ servers: [...servers.slice(k), ...servers.slice(0, k)], localOffset: n.localOffset, driftPpm: n.driftPpm, seed: n.seed });
        sim.start();
        let liarCombined = false;
        for (let t = 600; t <= 4 * 3600; t += 600) {
          sim.runUntil(t);
          liarCombined ||= sourceStatus(sim.state).some((s) => s.address.startsWith("198.51.100.") && s.combined);
        }
        expect(liarCombined).toBe(false);
        expect(sim.adjustments.length).toBeGreaterThan(0);
        for (const { adjustment: a, trueOffset } of sim.adjustments) {
          expect(Math.abs(a.offsetSeconds - trueOffset)).toBeLessThan(0.001);
          expect(Math.abs(a.frequencyPpm)).toBeLessThanOrEqual(500);
          expect(a.maxErrorSeconds).toBeGreaterThan(0);
          expect(a.maxErrorSeconds).toBeLessThan(1.6);
          expect(a.estErrorSeconds).toBeGreaterThanOrEqual(0);
          expect(a.leap).toBe("none");
        }
        return true;
      }),
      { numRuns: 25 },
    );
  });
});
