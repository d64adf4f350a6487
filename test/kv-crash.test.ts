/**
 * Crash safety: kill -9 the real `paddock kv serve` in the middle of a burst of pipelined writes,
 * restart it on the same state directory, and check that every acknowledged write is there and
 * that the audit log parses line by line.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { KvClient } from "@paddock/kv";
import { startPaddock, stopProcess, waitForOutput } from "./helpers/paddock.ts";

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
  const client = await KvClient.connect(await serve(dir), { timeoutMs: 10_000 });
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

  const admin = await KvClient.connect(await serve(dir));
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
