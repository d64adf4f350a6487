import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeControlText, escapeJsonControls, LOG_LINE_CHARGE_BYTES, LogBudget, parseCalfLogLine } from "../src/sandbox/log-lines.ts";

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

describe("parseCalfLogLine", () => {
  it("re-emits a calf SDK line with its level, message and fields", () => {
    const line = JSON.stringify({ level: "warn", time: 1, msg: "INIT → SELECTING", state: "SELECTING", xid: "0x1" });
    expect(parseCalfLogLine(line, "info")).toEqual({ level: "warn", msg: "INIT → SELECTING", fields: { state: "SELECTING", xid: "0x1" } });
  });

  it("never lets a calf replace the priv's tags or invent a level", () => {
    const line = JSON.stringify({ level: "fatal", msg: "x", calf: "someone-else", stream: "stderr", component: "kv" });
    expect(parseCalfLogLine(line, "info")).toEqual({ level: "info", msg: "x", fields: {} });
  });

  it("keeps anything else verbatim", () => {
    for (const text of ["plain text", "{not json", "[1,2]", '{"msg":5}', "null"]) {
      expect(parseCalfLogLine(text, "warn")).toEqual({ level: "warn", msg: text, fields: {} });
    }
  });

  it("bounds the fields of a line and never throws", () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(parseCalfLogLine(JSON.stringify({ msg: "m", ...many }), "info").fields).length).toBe(16);
    fc.assert(fc.property(fc.string(), (s) => {
      expect(typeof parseCalfLogLine(s, "info").msg).toBe("string");
    }));
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      expect(["debug", "info", "warn", "error"]).toContain(parseCalfLogLine(JSON.stringify(v), "info").level);
    }));
  });
});

describe("escapeControlText", () => {
  it.each([
    ["lease\n11:04:29 info forged", "lease\\x0a11:04:29 info forged"],
    ["\u001b[2J", "\\x1b[2J"],
    ["a\u2028b\u2029c", "a\\u2028b\\u2029c"],
    ["nel\u0085 csi\u009b del\u007f nul\u0000 cr\r tab\t", "nel\\x85 csi\\x9b del\\x7f nul\\x00 cr\\x0d tab\\x09"],
    ["10.0.0.5/24", "10.0.0.5/24"],
    ['{"s":"a\\u0001b\\n"} café ✓ \u00a0', '{"s":"a\\u0001b\\n"} café ✓ \u00a0'],
  ])("%j prints as %j", (text, shown) => {
    expect(escapeControlText(text)).toBe(shown);
  });

  it("always gives one printable line, and changes text without controls in no way (property)", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => {
      const e = escapeControlText(s);
      expect(e).not.toMatch(CONTROL);
      if (!CONTROL.test(s)) expect(e).toBe(s);
    }));
  });
});

describe("escapeJsonControls", () => {
  it("leaves no control character or line terminator in a JSON text, which parses to the same value (property)", () => {
    fc.assert(fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (v, s) => {
      const json = JSON.stringify({ v, s });
      const e = escapeJsonControls(json);
      expect(e).not.toMatch(CONTROL);
      expect(JSON.parse(e)).toEqual(JSON.parse(json));
    }));
    expect(escapeJsonControls('{"m":"\u2028\u0085"}')).toBe('{"m":"\\u2028\\u0085"}');
  });
});

describe("LogBudget (one per calf, in bytes; the clock is the caller's)", () => {
  const policy = { bytesPerSecond: 1000, burstBytes: 4000 };
  const line = 100 - 1 - LOG_LINE_CHARGE_BYTES; // each line costs exactly 100

  it("forwards a burst, then the rate, and counts every byte it drops", () => {
    const b = new LogBudget(policy);
    const sent = Array.from({ length: 100 }, () => b.admit(line, 0)).filter(Boolean).length;
    expect(sent).toBe(40);
    expect(b.droppedBytes).toBe(60 * (line + 1));
    expect(b.takeDrops()).toEqual({ bytes: 60 * (line + 1), lines: 60 });
    expect(b.takeDrops()).toBeUndefined();
    // Half a second refills 500 bytes: five lines.
    expect(Array.from({ length: 10 }, () => b.admit(line, 500)).filter(Boolean).length).toBe(5);
    // A long quiet refills the burst, no more.
    expect(Array.from({ length: 100 }, () => b.admit(line, 60_000)).filter(Boolean).length).toBe(40);
    expect(b.droppedBytes).toBe((60 + 5 + 60) * (line + 1));
  });

  it("charges an empty line too, and a clock that goes back refills nothing", () => {
    const b = new LogBudget({ bytesPerSecond: 1000, burstBytes: 10 * (1 + LOG_LINE_CHARGE_BYTES) });
    expect(Array.from({ length: 20 }, () => b.admit(0, 1000)).filter(Boolean).length).toBe(10);
    expect(b.admit(0, 0)).toBe(false);
    expect(b.takeDrops()).toEqual({ bytes: 11, lines: 11 });
  });

  it("never forwards more than the burst plus the rate times the time passed (property)", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(9000), fc.nat(300)), { maxLength: 300 }), (steps) => {
      const b = new LogBudget(policy);
      let now = 0;
      let charged = 0;
      let dropped = 0;
      for (const [bytes, dt] of steps) {
        now += dt;
        if (b.admit(bytes, now)) charged += bytes + 1 + LOG_LINE_CHARGE_BYTES;
        else dropped += bytes + 1;
      }
      expect(charged).toBeLessThanOrEqual(policy.burstBytes + (now * policy.bytesPerSecond) / 1000);
      expect(b.droppedBytes).toBe(dropped);
    }));
  });
});
