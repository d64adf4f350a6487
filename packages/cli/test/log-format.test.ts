// The CLI's log output (issue 13 B8): a calf's line, re-emitted by the supervisor's logger, prints
// as one line in either format, with every control character and Unicode line terminator escaped.
import { Writable } from "node:stream";
import { parseCalfLogLine } from "@paddock/runtime";
import { describe, expect, it } from "vitest";
import { createLogger, formatLogLine } from "../src/log.ts";

/** A sink that collects what a logger writes. */
function sink(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { out, text: () => chunks.join("") };
}

/** Logs one calf line the way the supervisor does (calf tag, stream, the calf's level and fields). */
function logCalfLine(format: "text" | "json", line: string): string {
  const s = sink();
  const log = createLogger("debug", format, s.out).child({ calf: "dhcp4-eth0" });
  const rec = parseCalfLogLine(line, "info");
  log[rec.level]({ ...rec.fields, stream: "stdout" }, rec.msg);
  return s.text();
}

const HOSTILE = ["\n11:04:29.000 info  priv: forged", "\u001b[2J", "\u2028", "\u2029", "\u0085", "\u009b31m", "\u007f", "\r", "\u0000"];

describe("text log lines", () => {
  it("print a calf's forged line, screen clear and line separators as one line of escapes", () => {
    const out = logCalfLine("text", `lease\n11:04:29.000 info  priv: forged\u001b[2J\u2028end`);
    expect(out.split("\n")).toHaveLength(2);
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} info  dhcp4-eth0: lease\\x0a11:04:29\.000 info  priv: forged\\x1b\[2J\\u2028end\n$/);
  });

  it("escape a calf's field names and values too, and every control character", () => {
    const fields = Object.fromEntries(HOSTILE.map((h, i) => [`k${i}${h}`, `v${h}`]));
    const out = logCalfLine("text", JSON.stringify({ level: "warn", msg: HOSTILE.join(""), ...fields }));
    expect(out.split("\n")).toHaveLength(2);
    expect(out.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u);
    expect(out).toContain("\\x0a11:04:29.000 info  priv: forged\\x1b[2J\\u2028\\u2029\\x85\\x9b31m\\x7f\\x0d\\x00");
    expect(out).toContain("k1\\x1b[2J=");
  });

  it("leave text without controls as it was", () => {
    expect(formatLogLine(JSON.stringify({ level: 30, time: 0, msg: "café → BOUND \\n", a: "x=y" }))).toBe("00:00:00.000 info  café → BOUND \\n a=x=y");
    expect(formatLogLine("not json\u001b[2J")).toBe("not json\\x1b[2J");
  });
});

describe("JSON log lines", () => {
  it("are one line each with U+2028/U+2029, DEL and C1 escaped, and parse back to the calf's text", () => {
    const msg = HOSTILE.join("");
    const out = logCalfLine("json", JSON.stringify({ msg, note: "\u2028\u0085" }));
    expect(out.split("\n")).toHaveLength(2);
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/u);
    expect(out).toContain("\\u2028");
    const o = JSON.parse(out) as Record<string, unknown>;
    expect(o).toMatchObject({ msg, note: "\u2028\u0085", calf: "dhcp4-eth0" });
  });
});
