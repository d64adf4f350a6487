// journald priorities (issue 13 A7): when standard output is the journal (JOURNAL_STREAM names its
// device and inode), each text log line starts with its syslog priority, which journald takes as
// the entry's PRIORITY; anywhere else the lines are unchanged.
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger, formatLogLine, isJournalStream } from "../src/log.ts";

const dir = mkdtempSync(path.join(tmpdir(), "paddock-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lines(journal: boolean): string[] {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createLogger("debug", "text", out, journal);
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  return chunks.join("").split("\n").filter(Boolean);
}

describe("journald priorities", () => {
  it("prefixes each text line with its syslog priority when writing to the journal", () => {
    const got = lines(true);
    expect(got.map((l) => l.slice(0, 3))).toEqual(["<7>", "<6>", "<4>", "<3>"]);
    expect(got[1]).toMatch(/^<6>\d\d:\d\d:\d\d\.\d{3} info  i$/);
    expect(formatLogLine(JSON.stringify({ level: 60, time: 0, msg: "f" }), true)).toMatch(/^<2>/);
  });

  it("leaves lines alone elsewhere", () => {
    expect(lines(false).every((l) => !l.startsWith("<"))).toBe(true);
  });

  it("recognises the journal stream by the device and inode in JOURNAL_STREAM", () => {
    const a = openSync(path.join(dir, "a"), "w");
    const b = openSync(path.join(dir, "b"), "w");
    try {
      const st = fstatSync(a, { bigint: true });
      const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
      expect(isJournalStream(a, env)).toBe(true);
      expect(isJournalStream(b, env)).toBe(false);
      expect(isJournalStream(a, {})).toBe(false);
      expect(isJournalStream(a, { JOURNAL_STREAM: `${st.dev}:${st.ino}x` })).toBe(false);
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });
});
