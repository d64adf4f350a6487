import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCalfLogLine } from "../src/sandbox/log-lines.ts";

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
