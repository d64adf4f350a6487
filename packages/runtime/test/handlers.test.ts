// Unit tests of the handler runner (level-triggering, coalescing, backoff, status, wake-ups) and
// ownership records. No root needed.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { HandlerRunner, OwnershipFile, backoffDelay } from "../src/handlers/index.ts";
import type { ApplyReport, Handler, HandlerLogger, HandlerStatus, KvSource } from "../src/handlers/index.ts";

const NOW = 1_700_000_000_000;
const map = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-handlers-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A logger that keeps every line. */
function recordingLogger(): HandlerLogger & { lines: { level: string; obj: object; msg: string | undefined }[] } {
  const lines: { level: string; obj: object; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * An in-memory KvSource: set() changes a value and notifies watchers on the next macrotask, like a
 * store commit. Its parsed values are the text itself (as a schema of check-only validators gives).
 */
class FakeSource implements KvSource {
  readonly values = new Map<string, string>();
  get parsed(): ReadonlyMap<string, unknown> {
    return this.values;
  }
  private readonly watchers = new Set<(e: unknown) => void>();
  set(k: string, v: string | null): void {
    if (v === null) this.values.delete(k);
    else this.values.set(k, v);
    setImmediate(() => {
      for (const w of this.watchers) w({ path: k, value: v });
    });
  }
  watch(_prefix: string, cb: (e: unknown) => void): () => void {
    this.watchers.add(cb);
    return () => this.watchers.delete(cb);
  }
}

/** Waits until `pred` holds; `ms` bounds a hang, not speed (load only delays what is awaited). */
async function waitFor(pred: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("HandlerRunner", () => {
  /** A handler recording what it saw; fails while `failures` > 0. */
  function fakeHandler(opts: { failures?: number; wakeAt?: () => number | undefined } = {}) {
    const seen: Record<string, string>[] = [];
    let failures = opts.failures ?? 0;
    const h: Handler<Record<string, string>> & { seen: typeof seen; setFailures(n: number): void } = {
      name: "fake",
      seen,
      setFailures: (n) => void (failures = n),
      desired: (store) => Object.fromEntries(store.parsed) as Record<string, string>,
      describe: (d) => `${Object.keys(d).length} keys`,
      ...(opts.wakeAt ? { wakeAt: opts.wakeAt } : {}),
      async apply(d): Promise<ApplyReport> {
        seen.push(d);
        if (failures > 0) {
          failures--;
          throw Object.assign(new Error("interface not there"), { code: "PADDOCK_E_TEST" });
        }
        return { changes: [`applied ${Object.keys(d).length}`] };
      },
    };
    return h;
  }

  it("reconciles at start from what is already stored, without any event", async () => {
    const src = new FakeSource();
    src.values.set("/ip", "10.0.0.5/24");
    const h = fakeHandler();
    const runner = new HandlerRunner({ source: src, handlers: [h], resyncMs: 0 });
    runner.start();
    await runner.settled();
    expect(h.seen).toEqual([{ "/ip": "10.0.0.5/24" }]);
    expect(runner.status()[0]).toMatchObject({ name: "fake", state: "converged", reconciles: 1, failures: 0, desired: "1 keys" });
    await runner.stop();
  });

  it("reconciles at each change, without a timer, and coalesces changes that arrive during an apply", async () => {
    const src = new FakeSource();
    let release: () => void = () => {};
    const seen: Array<Record<string, string>> = [];
    const gate: Handler<Record<string, string>> = {
      name: "gated",
      desired: (store) => Object.fromEntries(store.parsed) as Record<string, string>,
      apply: async (d) => {
        seen.push(d);
        // The first apply after start waits until the test lets it go.
        if (seen.length === 2) await new Promise<void>((r) => (release = r));
        return { changes: [] };
      },
    };
    const runner = new HandlerRunner({ source: src, handlers: [gate], resyncMs: 0 });
    runner.start();
    await runner.settled();
    src.set("/ip", "10.0.0.5/24");
    await waitFor(() => seen.length === 2, undefined, "the apply of the first change");
    // Two more changes while that apply runs: one more reconcile, seeing both.
    src.set("/gateway", "10.0.0.1");
    src.set("/mtu", "1400");
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    release();
    await runner.settled();
    expect(seen).toEqual([{}, { "/ip": "10.0.0.5/24" }, { "/ip": "10.0.0.5/24", "/gateway": "10.0.0.1", "/mtu": "1400" }]);
    await runner.stop();
  });

  it("retries a failing apply with exponential backoff, reports it in status and logs, and recovers", async () => {
    const src = new FakeSource();
    const log = recordingLogger();
    // The status between the first failure and its retry, 20 ms later: read by a timer set when the
    // failure is logged, which fires before the retry's timer however late both run (timers fire
    // in the order they are due), where polling the status could miss the window on a loaded machine.
    let firstFailure: Promise<HandlerStatus> | undefined;
    const snapshotLog: HandlerLogger = {
      ...log,
      error: (obj, msg) => {
        log.error(obj, msg);
        firstFailure ??= new Promise((r) => setTimeout(() => r(runner.status()[0]!), 0));
      },
    };
    const h = fakeHandler({ failures: 3 });
    const runner = new HandlerRunner({ source: src, handlers: [h], log: snapshotLog, retry: { initialMs: 20, maxMs: 40, factor: 2 }, resyncMs: 0 });
    runner.start();
    await waitFor(() => firstFailure !== undefined, undefined, "first failure");
    const st = await firstFailure!;
    expect(st.state).toBe("failing");
    expect(st.consecutiveFailures).toBe(1);
    expect(st.lastError).toMatchObject({ message: "interface not there", code: "PADDOCK_E_TEST" });
    // The retry is due one backoff (20 ms) after the failure.
    expect(st.nextRetryAt).toBeGreaterThanOrEqual(st.lastError!.at + 20);
    await waitFor(() => runner.status()[0]!.state === "converged" && h.seen.length === 4, undefined, "recovery");
    expect(runner.status()[0]).toMatchObject({ reconciles: 4, failures: 3, consecutiveFailures: 0 });
    const errors = log.lines.filter((l) => l.level === "error");
    expect(errors.map((e) => (e.obj as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    expect(errors.map((e) => (e.obj as { retryInMs: number }).retryInMs)).toEqual([20, 40, 40]);
    expect(errors[0]!.msg).toContain("interface not there");
    expect(log.lines.some((l) => l.level === "info" && l.msg?.includes("recovered"))).toBe(true);
    await runner.stop();
  });

  it("a store change during backoff retries at once instead of waiting", async () => {
    const src = new FakeSource();
    const h = fakeHandler({ failures: 1 });
    const runner = new HandlerRunner({ source: src, handlers: [h], retry: { initialMs: 60_000, maxMs: 60_000, factor: 2 }, resyncMs: 0 });
    runner.start();
    await waitFor(() => runner.status()[0]!.state === "failing", undefined, "failure");
    src.set("/ip", "10.0.0.7/24");
    await waitFor(() => runner.status()[0]!.state === "converged", undefined, "retry on change");
    expect(h.seen.at(-1)).toEqual({ "/ip": "10.0.0.7/24" });
    await runner.stop();
  });

  it("wakes up when the desired state changes by itself (a lease expiring)", async () => {
    const src = new FakeSource();
    // The desired state changes 80 ms after the first apply (asked for right after it).
    let at: number | undefined;
    const h = fakeHandler({ wakeAt: () => ((at ??= Date.now() + 80), Date.now() < at ? at : undefined) });
    const appliedAt: number[] = [];
    const apply = h.apply.bind(h);
    h.apply = (d, ctx) => (appliedAt.push(Date.now()), apply(d, ctx));
    const runner = new HandlerRunner({ source: src, handlers: [h], resyncMs: 0 });
    runner.start();
    await runner.settled();
    await waitFor(() => h.seen.length === 2, undefined, "wake-up");
    // The second apply is the wake-up, not an early reconcile.
    expect(appliedAt[1]).toBeGreaterThanOrEqual(at!);
    await runner.stop();
  });

  it("backoff doubles up to the cap", () => {
    const p = { initialMs: 250, maxMs: 60_000, factor: 2 };
    expect([1, 2, 3, 4, 8, 9, 100, 5000].map((n) => backoffDelay(p, n))).toEqual([250, 500, 1000, 2000, 32000, 60000, 60000, 60000]);
  });
});
