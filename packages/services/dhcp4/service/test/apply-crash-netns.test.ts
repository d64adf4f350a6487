// Crash safety of the apply path (decision 0012): the lease's commit and the lease handler's
// ownership record reach the disk in one write, before the handler adds the address. A real
// process (fixtures/apply-process.ts: KvStore, LeaseHandler, HandlerRunner) is killed with
// SIGKILL at each point of the path, then restarted on the same state directory; after every
// crash the restarted priv either knows it added the address or did not add it, and converges.
// Needs root (a network namespace): skipped with a reason otherwise, never under CI=true. The
// namespace, processes and files are a @paddock/testkit lab ("pap"), removed even on failure.

import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, type Lab, type LabProcess, type Netns } from "@paddock/testkit";

const FIXTURE = path.join(import.meta.dirname, "fixtures/apply-process.ts");
/** Bounds a hang only: a fixture starts (tsx) and reaches its stopping point in a few seconds, more under load. */
const STEP_TIMEOUT_MS = 60_000;

interface Outcome { step: string; state: string; conflicts: string[]; lastError: string | null; owned: { index: number; cidr: string }[]; record: unknown }

describe.skipIf(!canCreateLabs)("the apply path across a crash (needs root: skipped when not root, unless CI=true)", () => {
  let lab: Lab | undefined;
  let ns: Netns = { name: "", path: "" };
  let dev = "";

  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error("CI=true but not root: the namespace tests cannot run and must not be skipped");
    lab = createLab({ prefix: "pap" });
    ns = lab.namespace("n");
    dev = lab.veth(ns, ns).a.name;
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const inet = (): string[] =>
    lab!.ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(ns, ["addr", "show", "dev", dev])[0]!.addr_info
      .filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
  const storeFile = (stateDir: string): { entries: Record<string, string>; records?: Record<string, { addresses: unknown[] }> } | null => {
    try {
      return JSON.parse(readFileSync(path.join(stateDir, "store.json"), "utf8"));
    } catch {
      return null;
    }
  };
  const run = (stateDir: string, mode: string): LabProcess =>
    lab!.spawn(null, [process.execPath, "--import", "tsx", FIXTURE, stateDir, ns.path, dev, mode], { name: `apply ${mode}` });
  const lines = (p: LabProcess): Outcome[] => p.lines(/^\{"step"/).map((l) => JSON.parse(l) as Outcome);

  /** Runs MODE until it stops, kills it with SIGKILL, then restarts on the same state dir: the restart's two outcomes. */
  async function crashAt(mode: string): Promise<{ stateDir: string; afterCrash: string[]; reconciled: Outcome; withdrawn: Outcome }> {
    const stateDir = lab!.uniqueFile("state");
    const p = run(stateDir, mode);
    await p.waitForLog(/"step":"stopped"/, { timeoutMs: STEP_TIMEOUT_MS });
    const exit = await p.stop("SIGKILL");
    expect(exit.signal).toBe("SIGKILL");
    const afterCrash = inet();
    const again = run(stateDir, "restart");
    await again.waitForLog(/"step":"withdrawn"/, { timeoutMs: STEP_TIMEOUT_MS });
    const [reconciled, withdrawn] = lines(again);
    await again.exited;
    return { stateDir, afterCrash, reconciled: reconciled!, withdrawn: withdrawn! };
  }

  it("killed before the store file is written: nothing is durable, nothing applied, and the restart applies nothing", async () => {
    const r = await crashAt("block-in-persist");
    expect(r.afterCrash).toEqual([]);
    expect(r.reconciled).toMatchObject({ state: "converged", conflicts: [], owned: [] });
    expect(inet()).toEqual([]);
  });

  it("killed between the durable write and RTM_NEWADDR: the record names an address that is not there; the restart adds it, and withdraws it", async () => {
    const stateDir = lab!.uniqueFile("state");
    const p = run(stateDir, "before-address");
    await p.waitForLog(/"step":"stopped"/, { timeoutMs: STEP_TIMEOUT_MS });
    // The record did not wait for a write of its own: it was in the lease's.
    expect(lines(p)[0]).toMatchObject({ step: "stopped", leaseWriteHadRecord: true });
    await p.stop("SIGKILL");
    // One write made the lease and the record durable together; the kernel has no address yet.
    const file = storeFile(stateDir)!;
    expect(file.entries["/ip"]).toBe("10.66.0.5/24");
    expect(file.records?.["handler-lease.json"]?.addresses).toEqual([{ index: expect.any(Number), cidr: "10.66.0.5/24" }]);
    expect(inet()).toEqual([]);
    const again = run(stateDir, "restart");
    await again.waitForLog(/"step":"withdrawn"/, { timeoutMs: STEP_TIMEOUT_MS });
    const [reconciled, withdrawn] = lines(again);
    expect(reconciled).toMatchObject({ state: "converged", conflicts: [], owned: [{ cidr: "10.66.0.5/24" }] });
    expect(withdrawn).toMatchObject({ state: "converged", owned: [] });
    expect(inet()).toEqual([]);
  });

  it("killed just after RTM_NEWADDR: the address is there and recorded; the restart keeps it as ours (no conflict) and withdraws it", async () => {
    const r = await crashAt("after-address");
    expect(r.afterCrash).toEqual(["10.66.0.5/24"]);
    expect(r.reconciled).toMatchObject({ state: "converged", conflicts: [], owned: [{ cidr: "10.66.0.5/24" }] });
    expect(r.withdrawn).toMatchObject({ state: "converged", owned: [] });
    expect(inet()).toEqual([]);
  });

  it("sends the address, the MTU and the route one after the other, before the first answer (one pipelined batch)", async () => {
    const p = run(lab!.uniqueFile("state"), "order");
    await p.waitForLog(/"step":"applied"/, { timeoutMs: STEP_TIMEOUT_MS });
    const applied = lines(p).find((l) => l.step === "applied") as Outcome & { events: string[] };
    expect(applied).toMatchObject({ state: "converged", conflicts: [] });
    const sends = applied.events.filter((e) => e.startsWith("send"));
    expect(sends).toEqual(["send replaceAddress", "send setLinkMtu", "send replaceRoute"]);
    // Every change was asked before any answer was awaited.
    expect(applied.events.findIndex((e) => e.startsWith("answer"))).toBe(sends.length);
    await p.stop("SIGKILL");
  });
});
