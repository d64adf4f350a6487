/** The schema's parsers accept exactly what ./wire.ts writes, and the options' checks. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { adjustmentId, errorSeconds, formatPpm, formatSeconds, frequencyPpm, offsetSeconds, parseServerList } from "../src/index.ts";

describe("value parsers", () => {
  it("seconds round-trip through the calf's formatter, within ns", () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (x) => {
        const r = offsetSeconds(formatSeconds(x));
        expect(r.ok).toBe(true);
        if (r.ok) expect(Math.abs(r.value - x)).toBeLessThanOrEqual(5e-10 + Math.abs(x) * 1e-15);
      }),
    );
    fc.assert(
      fc.property(fc.double({ min: -500, max: 500, noNaN: true }), (x) => {
        expect(frequencyPpm(formatPpm(x)).ok).toBe(true);
      }),
    );
  });

  it.each(["", "1", "1.0", "+0.000000001", "-0.000000000", "01.000000000", "1e3", "0.0000000001", " 0.000000000", "NaN"])("offset %j is refused", (v) => {
    expect(offsetSeconds(v).ok).toBe(false);
  });

  it("bounds: errors 0–16 s, frequency ±500 ppm", () => {
    expect(errorSeconds("16.000000000").ok).toBe(true);
    expect(errorSeconds("16.000000001").ok).toBe(false);
    expect(errorSeconds("-0.000000001").ok).toBe(false);
    expect(frequencyPpm("-500.000").ok).toBe(true);
    expect(frequencyPpm("500.001").ok).toBe(false);
    expect(formatSeconds(-1e-12)).toBe("0.000000000");
  });

  it("adjustment ids", () => {
    expect(adjustmentId("0123456789abcdef-42").ok).toBe(true);
    for (const v of ["0123456789ABCDEF-1", "0123456789abcdef-01", "abc-1", "0123456789abcdef-"]) expect(adjustmentId(v).ok).toBe(false);
  });
});

describe("parseServerList", () => {
  it("takes commas and spaces, in order", () => {
    expect(parseServerList("192.0.2.1, 192.0.2.2 192.0.2.3")).toEqual({ ok: true, servers: ["192.0.2.1", "192.0.2.2", "192.0.2.3"] });
    expect(parseServerList("")).toEqual({ ok: true, servers: [] });
  });

  it("refuses names, non-unicast addresses, duplicates and more than 16, in one sentence", () => {
    expect(parseServerList("pool.ntp.org")).toEqual({ ok: false, reason: '"pool.ntp.org" is a name; give NTP servers as IPv4 addresses (names are not resolved)' });
    expect(parseServerList("224.0.1.1")).toMatchObject({ ok: false, reason: '"224.0.1.1" is not an IPv4 unicast address' });
    expect(parseServerList("192.0.2.1,192.0.2.1")).toMatchObject({ ok: false, reason: "192.0.2.1 is given twice" });
    expect(parseServerList(Array.from({ length: 17 }, (_, i) => `192.0.2.${i + 1}`).join(","))).toMatchObject({ ok: false, reason: "17 servers is more than 16" });
  });
});
