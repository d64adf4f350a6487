/**
 * clock_adjtime's struct timex encoding, as pure code, and the addon only with modes = 0: these
 * tests never change any clock. A request with any mode bit set is never passed to the addon here.
 */
import { describe, expect, it } from "vitest";
import {
  ADJ_ESTERROR,
  ADJ_FREQUENCY,
  ADJ_MAXERROR,
  ADJ_NANO,
  ADJ_OFFSET,
  ADJ_SETOFFSET,
  ADJ_STATUS,
  ADJ_TIMECONST,
  CLOCK_REALTIME,
  STA_FREQHOLD,
  STA_INS,
  STA_NANO,
  STA_PLL,
  TIMEX_LAYOUT,
  TimexEncodeError,
  clockAdjtime,
  decodeTimex,
  encodeTimex,
  timexModes,
} from "../lib/clock.ts";

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const long = (b: Uint8Array, at: number) => view(b).getBigInt64(at, true);

describe("encodeTimex", () => {
  it("an empty request is 208 zero bytes: modes 0, a read", () => {
    const b = encodeTimex({});
    expect(b.length).toBe(208);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  it("a slew is ADJ_OFFSET|ADJ_NANO in nanoseconds, the frequency scaled ppm (2^16), errors in µs", () => {
    const b = encodeTimex({ slewSeconds: -0.000123456, frequencyPpm: 12.5, maxErrorSeconds: 0.0105, estErrorSeconds: 0.000002, status: STA_PLL | STA_FREQHOLD | STA_INS, constant: 0 });
    expect(timexModes(b)).toBe(ADJ_OFFSET | ADJ_NANO | ADJ_FREQUENCY | ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS | ADJ_TIMECONST);
    expect(long(b, TIMEX_LAYOUT.offset)).toBe(-123456n);
    expect(long(b, TIMEX_LAYOUT.freq)).toBe(819200n);
    expect(long(b, TIMEX_LAYOUT.maxerror)).toBe(10500n);
    expect(long(b, TIMEX_LAYOUT.esterror)).toBe(2n);
    expect(view(b).getInt32(TIMEX_LAYOUT.status, true)).toBe(STA_PLL | STA_FREQHOLD | STA_INS);
    expect(long(b, TIMEX_LAYOUT.constant)).toBe(0n);
  });

  it("a step is ADJ_SETOFFSET|ADJ_NANO with a normalized time: a negative step borrows a second", () => {
    const fwd = encodeTimex({ stepSeconds: 2.25 });
    expect(timexModes(fwd)).toBe(ADJ_SETOFFSET | ADJ_NANO);
    expect([long(fwd, TIMEX_LAYOUT.timeSec), long(fwd, TIMEX_LAYOUT.timeUsec)]).toEqual([2n, 250_000_000n]);
    const back = encodeTimex({ stepSeconds: -2.25 });
    expect([long(back, TIMEX_LAYOUT.timeSec), long(back, TIMEX_LAYOUT.timeUsec)]).toEqual([-3n, 750_000_000n]);
  });

  it("errors are capped at the kernel's 16 s", () => {
    expect(long(encodeTimex({ maxErrorSeconds: 100 }), TIMEX_LAYOUT.maxerror)).toBe(16_000_000n);
  });

  it.each([
    [{ slewSeconds: 0.6 }, "slew"],
    [{ slewSeconds: Number.NaN }, "slew"],
    [{ frequencyPpm: 500.1 }, "frequency"],
    [{ maxErrorSeconds: -1 }, "maxErrorSeconds"],
    [{ status: 0x10000 }, "status"],
    [{ constant: 11 }, "time constant"],
    [{ stepSeconds: 0 }, "step"],
    [{ stepSeconds: 1, slewSeconds: 0.1 }, "one call"],
  ])("refuses %j with a typed error", (req, word) => {
    let err: unknown;
    try {
      encodeTimex(req);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TimexEncodeError);
    expect((err as TimexEncodeError).code).toBe("PADDOCK_E_CLOCK_BAD_REQUEST");
    expect((err as Error).message).toContain(word);
  });
});

describe("decodeTimex", () => {
  it("reads the units back, ns or µs offsets by STA_NANO", () => {
    const b = new Uint8Array(208);
    const v = view(b);
    v.setBigInt64(TIMEX_LAYOUT.offset, 1500n, true);
    v.setBigInt64(TIMEX_LAYOUT.freq, -655360n, true);
    v.setBigInt64(TIMEX_LAYOUT.maxerror, 16_000_000n, true);
    v.setInt32(TIMEX_LAYOUT.status, STA_PLL | STA_NANO, true);
    const r = decodeTimex(b, 0);
    expect(r).toMatchObject({ state: "ok", offsetSeconds: 1.5e-6, frequencyPpm: -10, maxErrorSeconds: 16, synchronised: true });
    v.setInt32(TIMEX_LAYOUT.status, 0x40, true);
    expect(decodeTimex(b, 5)).toMatchObject({ state: "error", offsetSeconds: 1.5e-3, synchronised: false });
  });
});

describe("clockAdjtime with modes 0 (read-only)", () => {
  it("reads CLOCK_REALTIME's discipline without changing it", () => {
    const before = clockAdjtime(CLOCK_REALTIME, {});
    expect(["ok", "insert", "delete", "oop", "wait", "error"]).toContain(before.state);
    expect(Math.abs(before.frequencyPpm)).toBeLessThanOrEqual(500);
    expect(before.maxErrorSeconds).toBeGreaterThanOrEqual(0);
    const after = clockAdjtime(CLOCK_REALTIME, {});
    expect(after.frequencyPpm).toBe(before.frequencyPpm);
    expect(after.status).toBe(before.status);
  });

  it("an invalid clock id is a NativeError with the errno", () => {
    expect(() => clockAdjtime(99, {})).toThrow(expect.objectContaining({ code: "PADDOCK_E_NATIVE_EINVAL", syscall: "clock_adjtime" }));
  });
});
