/**
 * Crash safety: kill -9 the real `paddock kv serve` in the middle of a burst of pipelined writes,
 * restart it on the same state directory, and check that every acknowledged write is there and
 * that the audit log parses line by line. Then the same for commits, against the store and server
 * run from source (the CLI bundle may lag the tree): the store file holds each commit whole or not
 * at all.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { connectKv, KvClient, readDurableSnapshot } from "@paddock/kv";
import { repoRoot, startPaddock, stopProcess, waitForOutput } from "./helpers/paddock.ts";

const KEYS = 16; // the dhcp4 schema allows 16 /state keys
let child: ChildProcess | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await stopProcess(child, "SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(dir: string): Promise<string> {
  const admin = path.join(dir, "admin.sock");
  child = startPaddock(["kv", "serve", "--schema", "dhcp4", "--socket", path.join(dir, "calf.sock"), "--admin-socket", admin, "--state-dir", path.join(dir, "state")]);
  await waitForOutput(child, /store ready/);
  return admin;
}

it.each([150, 400, 900])("keeps every acknowledged write when killed after %i ms of writes", async (killAfterMs) => {
  const dir = mkdtempSync(path.join(tmpdir(), "paddock-crash-"));
  dirs.push(dir);
  const client = await connectKv(await serve(dir), { timeoutMs: 10_000 });
  const acked = new Map<string, number>();
  let counter = 0;
  let stopped = false;
  const writer = async () => {
    while (!stopped) {
      const n = ++counter;
      const key = `/state/k${n % KEYS}`;
      try {
        await client.write(key, String(n));
        acked.set(key, Math.max(acked.get(key) ?? 0, n));
      } catch {
        return; // the server died: unacknowledged writes may or may not have landed
      }
    }
  };
  const writers = Array.from({ length: 32 }, writer); // 32 requests in flight
  await new Promise((r) => setTimeout(r, killAfterMs));
  child!.kill("SIGKILL");
  await new Promise((r) => child!.once("exit", r));
  stopped = true;
  await Promise.all(writers);
  client.close();
  expect(acked.size).toBe(KEYS);

  const admin = await connectKv(await serve(dir));
  for (const [key, n] of acked) {
    const stored = Number(await admin.read(key));
    // A later write to the same key may have landed without its acknowledgement reaching us.
    expect(stored, key).toBeGreaterThanOrEqual(n);
  }
  admin.close();
  const lines = readFileSync(path.join(dir, "state", "audit.log"), "utf8").split("\n").filter(Boolean);
  expect(lines.length).toBeGreaterThanOrEqual([...acked.values()].length);
  for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
});

/** The store and server from source (packages/kv/test/fixtures/kv-serve.ts); returns the sockets. */
async function serveSource(dir: string): Promise<{ calf: string; admin: string }> {
  const calf = path.join(dir, "calf.sock");
  const admin = path.join(dir, "admin.sock");
  const fixture = path.join(repoRoot, "packages/kv/test/fixtures/kv-serve.ts");
  child = spawn(process.execPath, ["--import", "tsx", fixture, path.join(dir, "state"), calf, admin], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  await waitForOutput(child, /store ready/);
  return { calf, admin };
}

/** One commit's keys: a crash must leave all of them from the same commit. */
const GROUP = Array.from({ length: 8 }, (_, i) => `/state/g${i}`);

it.each([150, 400])("keeps every acknowledged commit whole when killed after %i ms of commits", async (killAfterMs) => {
  const dir = mkdtempSync(path.join(tmpdir(), "paddock-crash-commit-"));
  dirs.push(dir);
  const sockets = await serveSource(dir);
  const client = await connectKv(sockets.calf, { timeoutMs: 10_000 });
  let acked = 0;
  let counter = 0;
  let stopped = false;
  // The kill comes killAfterMs after the first acknowledgement, however slow the machine is to get there.
  let firstAck!: () => void;
  const firstAcked = new Promise<void>((r) => (firstAck = r));
  const committer = async () => {
    while (!stopped) {
      const n = ++counter;
      try {
        // Values differ per key and per commit, so a half-applied commit cannot pass for a whole one.
        await client.commit(GROUP.map((key, i) => ({ path: key, value: `${n}:${i}` })));
        acked = Math.max(acked, n);
        firstAck();
      } catch {
        return; // the server died: unacknowledged commits may or may not have landed, whole
      }
    }
  };
  const committers = Array.from({ length: 16 }, committer); // 16 commits in flight
  await firstAcked;
  await new Promise((r) => setTimeout(r, killAfterMs));
  child!.kill("SIGKILL");
  await new Promise((r) => child!.once("exit", r));
  stopped = true;
  await Promise.all(committers);
  client.close();
  expect(acked).toBeGreaterThan(0);

  // The disk as the crash left it (the store file, or the journal's newer snapshot: decision 0012):
  // every key of the group from one commit, at least the last acknowledged.
  const entries = readDurableSnapshot(path.join(dir, "state"), "dhcp4")!.entries;
  const commits = new Set(GROUP.map((key) => entries[key]?.split(":")[0]));
  expect(commits.size).toBe(1);
  const n = Number([...commits][0]);
  expect(n).toBeGreaterThanOrEqual(acked);
  expect(GROUP.map((key) => entries[key])).toEqual(GROUP.map((_, i) => `${n}:${i}`));

  // A power loss would also take audit.log's unsynced end, which a kill does not: cut it back to
  // where the journal's audit lines begin (everything before was fsynced when the journal was last
  // emptied). The journal made them durable; the restart puts them back, once (decision 0012).
  const state = path.join(dir, "state");
  const journaled = readFileSync(path.join(state, "store.journal"), "utf8").split("\n").flatMap((l) => {
    try {
      return (JSON.parse(l) as { audit?: string[] }).audit ?? [];
    } catch {
      return []; // a torn last line: never acknowledged
    }
  });
  const auditText = readFileSync(path.join(state, "audit.log"), "utf8");
  if (journaled.length > 0) {
    const at = auditText.indexOf(journaled[0]! + "\n");
    expect(at).toBeGreaterThanOrEqual(0);
    truncateSync(path.join(state, "audit.log"), Buffer.byteLength(auditText.slice(0, at)));
  }

  // And the restarted store serves it.
  const admin = await connectKv((await serveSource(dir)).admin);
  expect(await Promise.all(GROUP.map((key) => admin.read(key)))).toEqual(GROUP.map((_, i) => `${n}:${i}`));
  admin.close();
  const lines = readFileSync(path.join(state, "audit.log"), "utf8").split("\n").filter(Boolean);
  for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
  for (const l of journaled) expect(lines.filter((x) => x === l), l).toHaveLength(1);
  // The last acknowledged commit's audit lines are there.
  expect(lines.filter((l) => GROUP.some((_, i) => (JSON.parse(l) as { new?: string }).new === `${acked}:${i}`))).toHaveLength(GROUP.length);
});
