// Pure tests of two start-up helpers (issue 14 item 3; docs/decisions/0014-priv-start-up.md):
// - the ELF interpreter of a binary (sandbox/elf-interp.ts), whose `--list` replaces ldd's three
//   loader runs: read from hand-made ELF headers (with and without PT_INTERP, truncated, not ELF),
//   and from this host's Node, where the library list it gives equals ldd's;
// - the start-up phases marked before the logger exists (start-phases.ts): kept in order, logged
//   once, with `at` the wall-clock time of the mark.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseLdd, resolveNodeRuntime } from "../src/sandbox/bundle.ts";
import { elfInterpreter } from "../src/sandbox/elf-interp.ts";
import { logStartPhases, markStartPhase, takeStartPhases } from "../src/start-phases.ts";

const dir = mkdtempSync(path.join(tmpdir(), "ps6-elf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An ELF-64 little-endian header with the given program headers ([type, payload]), payloads after them. */
function elf(headers: ReadonlyArray<readonly [number, string]>, opts: { class?: number; data?: number } = {}): Buffer {
  const phoff = 64;
  const phentsize = 56;
  const head = Buffer.alloc(phoff + phentsize * headers.length);
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = opts.class ?? 2;
  head[5] = opts.data ?? 1;
  head.writeBigUInt64LE(BigInt(phoff), 32);
  head.writeUInt16LE(phentsize, 54);
  head.writeUInt16LE(headers.length, 56);
  const payloads: Buffer[] = [];
  let offset = head.length;
  headers.forEach(([type, text], i) => {
    const data = Buffer.from(`${text}\0`);
    const ph = phoff + i * phentsize;
    head.writeUInt32LE(type, ph);
    head.writeBigUInt64LE(BigInt(offset), ph + 8);
    head.writeBigUInt64LE(BigInt(data.length), ph + 32);
    payloads.push(data);
    offset += data.length;
  });
  return Buffer.concat([head, ...payloads]);
}

function file(name: string, bytes: Buffer | string): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe("elfInterpreter", () => {
  const PT_LOAD = 1;
  const PT_INTERP = 3;
  const cases: ReadonlyArray<readonly [string, Buffer | string, string | undefined]> = [
    ["a dynamic binary", elf([[PT_LOAD, "x"], [PT_INTERP, "/lib64/ld-linux-x86-64.so.2"]]), "/lib64/ld-linux-x86-64.so.2"],
    ["a static binary (no PT_INTERP)", elf([[PT_LOAD, "x"]]), undefined],
    ["a relative interpreter", elf([[PT_INTERP, "ld.so"]]), undefined],
    ["ELF-32", elf([[PT_INTERP, "/lib/ld-linux.so.2"]], { class: 1 }), undefined],
    ["big-endian", elf([[PT_INTERP, "/lib/ld.so.1"]], { data: 2 }), undefined],
    ["truncated program headers", elf([[PT_INTERP, "/lib64/ld-linux-x86-64.so.2"]]).subarray(0, 80), undefined],
    ["a script", "#!/bin/sh\nexit 0\n", undefined],
    ["an empty file", "", undefined],
  ];
  it.each(cases)("%s", (name, bytes, want) => {
    expect(elfInterpreter(file(name.replace(/\W+/g, "-"), bytes))).toBe(want);
  });

  it("a missing file: undefined, not an exception", () => {
    expect(elfInterpreter(path.join(dir, "absent"))).toBeUndefined();
  });

  it.skipIf(!existsSync("/usr/bin/node") || !existsSync("/usr/bin/ldd"))("this host's Node: its loader exists, and --list gives ldd's libraries", async () => {
    const loader = elfInterpreter("/usr/bin/node");
    expect(loader).toMatch(/^\//);
    expect(existsSync(loader!)).toBe(true);
    const viaLdd = parseLdd(execFileSync("ldd", ["/usr/bin/node"], { encoding: "utf8", env: { LC_ALL: "C" } }), "/usr/bin/node");
    expect((await resolveNodeRuntime("/usr/bin/node")).libraries).toEqual(viaLdd);
  });
});

describe("start-up phases", () => {
  it("are logged once, in the order marked, with the wall-clock time of each mark", () => {
    takeStartPhases();
    const before = performance.timeOrigin + performance.now();
    markStartPhase("one");
    markStartPhase("two");
    const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    logStartPhases({ debug: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) });
    expect(lines.map((l) => [l.msg, l.obj.phase])).toEqual([["start-up phase", "one"], ["start-up phase", "two"]]);
    const [one, two] = lines.map((l) => l.obj as { ms: number; at: number });
    expect(two!.ms).toBeGreaterThanOrEqual(one!.ms);
    // `at` is the mark's wall-clock time (timeOrigin + ms), not the time it was logged.
    expect(one!.at).toBeGreaterThanOrEqual(Math.floor(before) - 1);
    expect(one!.at).toBeCloseTo(performance.timeOrigin + one!.ms, 0);
    // Logged once: nothing is left to log.
    expect(takeStartPhases()).toEqual([]);
  });

  it("keep the marks of bin/paddock.mjs, which pushes [name, ms] to the same global", () => {
    takeStartPhases();
    ((globalThis as Record<string, unknown>).__paddockStartPhases as Array<[string, number]>).push(["node started", 12.34]);
    markStartPhase("after");
    expect(takeStartPhases().map((p) => p.phase)).toEqual(["node started", "after"]);
  });
});
