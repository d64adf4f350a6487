/**
 * `paddock kv get/ls/watch/audit` print what a calf wrote with its control characters escaped
 * (issue 13 B8): a value can neither forge an output line nor send a terminal escape sequence.
 * The store is `paddock kv serve` with a service whose key accepts any text (as a third-party
 * service's validator might); the values are written through the admin socket, as a calf's would
 * be through its own.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@paddock/testkit";
import { paddock, paddockBin, startPaddock, stopProcess, waitForOutput } from "./helpers/paddock.ts";

/** A built service (what `paddock build` writes) whose /note/* keys take any text. */
const SERVICE_MJS = `
const { defineService } = globalThis[Symbol.for("paddock.runtime")]["@paddock/runtime"];
const anyText = (v) => ({ ok: true, value: v });
export default defineService({
  name: "notes",
  description: "a test service whose notes take any text",
  channels: { udp: { kind: "udp", localPort: 0, remotePort: 9, maxDatagramBytes: 16 } },
  schema: {
    entries: [{ pattern: "/note/*", description: "any text", writer: "calf", calfReads: true, validate: anyText, maxBytes: 256, maxKeys: 8 }],
    maxTotalBytes: 4096,
  },
  calf: { entry: "./calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 1, burst: 1 } },
});
`;

/** What a hostile calf writes: a forged line, a screen clear, CSI as C1, the line terminators. */
const HOSTILE = "lease ok\n12:00:00.000 info  priv: forged\u001b[2J\u009b31m\u0085\u2028\u2029\u007f\r";
const SHOWN = "lease ok\\x0a12:00:00.000 info  priv: forged\\x1b[2J\\x9b31m\\x85\\u2028\\u2029\\x7f\\x0d";
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

let dir: string;
let adminSock: string;
let serve: ChildProcess | undefined;
const watchers: ChildProcess[] = [];

/** The output's lines (without the final newline's empty one); none may hold a control character. */
function printedLines(out: string): string[] {
  expect(out.endsWith("\n")).toBe(true);
  const lines = out.slice(0, -1).split("\n");
  for (const l of lines) expect(l).not.toMatch(CONTROL);
  return lines;
}

/** Runs `paddock ARGS…` without blocking the event loop (a watch's output is read meanwhile); its exit code. */
function paddockAsync(args: string[]): Promise<number | null> {
  const child = spawn(paddockBin, args, { stdio: "ignore" });
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "paddock-kv-escape-"));
  const service = path.join(dir, "notes");
  mkdirSync(service);
  writeFileSync(path.join(service, "service.mjs"), SERVICE_MJS);
  writeFileSync(path.join(service, "calf.mjs"), "");
  adminSock = path.join(dir, "admin.sock");
  serve = startPaddock(["kv", "serve", "--service", service, "--socket", path.join(dir, "calf.sock"), "--admin-socket", adminSock, "--state-dir", path.join(dir, "state")]);
  await waitForOutput(serve, /store ready/);
  const put = paddock(["kv", "put", "/note/a", HOSTILE, "--socket", adminSock]);
  expect(put.stderr).toBe("");
  expect(put.status).toBe(0);
  expect(paddock(["kv", "put", "/note/plain", "10.0.0.5/24 a\\tb", "--socket", adminSock]).status).toBe(0);
});

afterAll(async () => {
  for (const w of watchers) await stopProcess(w, "SIGKILL");
  await stopProcess(serve, "SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("paddock kv output escapes control characters", () => {
  it("get prints one line of escapes, and a value without controls as it is", () => {
    const r = paddock(["kv", "get", "/note/a", "--socket", adminSock]);
    expect(r.status).toBe(0);
    expect(printedLines(r.stdout)).toEqual([SHOWN]);
    expect(paddock(["kv", "get", "/note/plain", "--socket", adminSock]).stdout).toBe("10.0.0.5/24 a\\tb\n");
  });

  it("ls prints one line per key", () => {
    const r = paddock(["kv", "ls", "/note", "--socket", adminSock]);
    expect(r.status).toBe(0);
    expect(printedLines(r.stdout)).toEqual([`/note/a ${SHOWN}`, "/note/plain 10.0.0.5/24 a\\tb"]);
  });

  it("watch prints one line per change", async () => {
    const w = spawn(paddockBin, ["kv", "watch", "/note", "--socket", adminSock], { stdio: ["ignore", "pipe", "pipe"] });
    watchers.push(w);
    let out = "";
    w.stdout?.on("data", (b: Buffer) => (out += b.toString()));
    // The watch is registered once a change shows: write a marker until one does.
    for (let i = 0; !out.includes(" put /note/ping "); i++) {
      expect(i).toBeLessThan(30);
      expect(await paddockAsync(["kv", "put", "/note/ping", String(i), "--socket", adminSock])).toBe(0);
    }
    expect(await paddockAsync(["kv", "put", "/note/b", HOSTILE, "--socket", adminSock])).toBe(0);
    await waitFor(() => /put \/note\/b [^\n]*\n/.test(out), { what: "the watch to print /note/b", timeoutMs: 10_000, state: () => out });
    const lines = printedLines(out).filter((l) => !l.includes("/note/ping"));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^\\d+ put /note/b ${SHOWN.replace(/[\\[]/g, "\\$&")}$`))]);
  });

  it("audit prints JSON lines that stay JSON and hold the value as written", () => {
    const r = paddock(["kv", "audit", "--socket", adminSock]);
    expect(r.status).toBe(0);
    const lines = printedLines(r.stdout);
    const write = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => JSON.stringify(o).includes("forged"));
    expect(Object.values(write!)).toContain(HOSTILE);
  });
});
