// Crash safety of the ACKed address (decision 0012): the priv's /lease/acked reaches the disk in
// the same write as the calf's next commit (the lease), not in one of its own ahead of it. A real
// process (fixtures/acked-process.ts: a KvStore with its journal and the DHCP service's setup) is
// killed with SIGKILL at each point; the store a restart opens holds both or neither.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KvStore } from "@paddock/kv";
import { dhcp4Schema } from "../src/index.ts";

const FIXTURE = path.join(import.meta.dirname, "fixtures/acked-process.ts");
/** Bounds a hang only: the fixture starts (tsx) and reaches its stopping point in a few seconds, more under load. */
const STEP_TIMEOUT_MS = 60_000;

describe("the ACKed address across a crash", () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0).reverse()) c();
  });

  /** Runs the fixture in MODE until it stops, kills it with SIGKILL, and opens its store as a restart would. */
  async function crashAt(mode: string): Promise<{ allowed: boolean; values: ReadonlyMap<string, string> }> {
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-pa6-acked-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", FIXTURE, dir, mode], { stdio: ["ignore", "pipe", "pipe"] });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    let out = "";
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    const stopped = await new Promise<{ allowed: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode}: no stopping point within ${STEP_TIMEOUT_MS} ms:\n${out}${err}`)), STEP_TIMEOUT_MS);
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        const line = out.split("\n").find((l) => l.startsWith('{"step":"stopped"'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { allowed: boolean });
      });
      child.on("exit", (code, signal) => reject(new Error(`${mode}: the fixture exited (${code ?? signal}) before its stopping point:\n${out}${err}`)));
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const values = new Map(store.values);
    await store.close();
    return { allowed: stopped.allowed, values };
  }

  it("killed after the ACK was observed, before any commit: nothing of it is durable, though its address was allowed at once", async () => {
    const { allowed, values } = await crashAt("observed");
    expect(allowed).toBe(true);
    expect(values.has("/lease/acked")).toBe(false);
    expect(values.has("/ip")).toBe(false);
  });

  it("killed inside the lease's persist, before its write: neither the ACKed address nor the lease is durable", async () => {
    const { values } = await crashAt("in-persist");
    expect(values.has("/lease/acked")).toBe(false);
    expect(values.has("/ip")).toBe(false);
  });

  it("killed after the lease's commit was acknowledged: both are durable", async () => {
    const { values } = await crashAt("committed");
    expect(values.get("/lease/acked")).toBe("10.77.0.5");
    expect(values.get("/ip")).toBe("10.77.0.5/24");
  });
});
