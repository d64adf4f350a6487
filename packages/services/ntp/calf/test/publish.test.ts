/**
 * What the calf publishes always passes the store's own parsers (the schema's), whatever the core
 * hands it: a value the store refused would make a whole commit fail and the handler act on
 * nothing. And the realtime reader the calf feeds the core: exact at a millisecond's edge,
 * re-anchored when the system clock jumps.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { matchEntry } from "@paddock/kv";
import { ntpSchema } from "@paddock/service-ntp";
import type { ClockAdjustment, SourceStatus } from "@paddock/ntp";
import { adjustmentChanges, realtimeReader, sourceChanges } from "../src/main.ts";

function acceptedByStore(changes: Array<{ path: string; value: string | null }>): void {
  for (const c of changes) {
    const entry = matchEntry(ntpSchema, c.path.split("/").filter(Boolean));
    expect(entry, c.path).toBeDefined();
    expect(entry!.writer, c.path).toBe("calf");
    if (c.value === null) continue;
    expect(new TextEncoder().encode(c.value).length, `${c.path} = ${c.value}`).toBeLessThanOrEqual(entry!.maxBytes);
    const r = entry!.validate(c.value);
    expect(r.ok, `${c.path} = ${c.value}: ${r.ok ? "" : r.reason}`).toBe(true);
  }
}

const seconds = fc.oneof(fc.double({ min: -1e5, max: 1e5, noNaN: true }), fc.double({ min: -1e-6, max: 1e-6, noNaN: true }), fc.constantFrom(0, -0, 16, 16.0000001, 1e9));
const positive = fc.oneof(fc.double({ min: 0, max: 100, noNaN: true }), fc.constantFrom(0, 16, 1e6));
const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).filter(([a]) => a !== 127).map((p) => p.join("."));

describe("published values pass the schema", () => {
  it("any adjustment the core can make", () => {
    fc.assert(
      fc.property(seconds, fc.double({ min: -500, max: 500, noNaN: true }), fc.boolean(), positive, positive, fc.constantFrom("none", "insert", "delete"), fc.nat(), (offsetSeconds, frequencyPpm, step, maxErrorSeconds, estErrorSeconds, leap, n) => {
        const a: ClockAdjustment = { offsetSeconds, frequencyPpm, step, maxErrorSeconds, estErrorSeconds, leap: leap as ClockAdjustment["leap"] };
        acceptedByStore(adjustmentChanges(`0123456789abcdef-${n}`, a));
      }),
    );
  });

  it("any source status", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 23 }),
        ipv4,
        fc.constantFrom("selected", "candidate", "falseticker", "unreachable", "unfit", "kod"),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 16 }),
        fc.integer({ min: 4, max: 17 }),
        fc.option(seconds, { nil: undefined }),
        fc.option(positive, { nil: undefined }),
        fc.option(positive, { nil: undefined }),
        (i, address, state, reach, stratum, poll, offsetSeconds, delaySeconds, jitterSeconds) => {
          const s: SourceStatus = { address, port: 123, state: state as SourceStatus["state"], combined: false, reach, stratum, pollSeconds: 2 ** poll, ...(offsetSeconds === undefined ? {} : { offsetSeconds }), ...(delaySeconds === undefined ? {} : { delaySeconds }), ...(jitterSeconds === undefined ? {} : { jitterSeconds }) };
          acceptedByStore(sourceChanges(i, s));
        },
      ),
    );
  });
});

describe("realtimeReader", () => {
  it("anchors at the edge of a millisecond, so readings are exact, and follows a jump of the system clock", () => {
    let mono = 5_000_000_000n; // ns
    let offsetNs = 1_800_000_000_000_000_000n + 123_456n; // the system clock minus mono, ns
    // Each system reading advances the monotonic clock by 1 µs, like a busy loop.
    const nowMs = () => {
      mono += 1000n;
      return Number((mono + offsetNs) / 1_000_000n);
    };
    const read = realtimeReader(nowMs, () => mono);
    // Within the few µs the simulated loop takes per reading (not the 1 ms a truncated reading costs).
    for (let i = 0; i < 3; i++) expect(Math.abs(Number(read() - (mono + offsetNs)))).toBeLessThanOrEqual(3000);
    offsetNs += 2_000_000_000n; // stepped by 2 s
    expect(Math.abs(Number(read() - (mono + offsetNs)))).toBeLessThanOrEqual(3000);
  });
});
