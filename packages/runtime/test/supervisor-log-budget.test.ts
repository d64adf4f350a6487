// One log budget per calf, in bytes (issue 13 B8), under the real supervisor and runc: a calf that
// writes 10 MiB to stdout and stderr as fast as it can gets at most the budget's burst plus its
// rate for the time it ran into the log, every other byte is counted as dropped (in its status,
// which is the metric paddock_calf_log_dropped_bytes_total) and said in a drop line. Bounds are
// on bytes: the elapsed time only loosens the bound. Needs root and runc; skipped with a reason
// otherwise, never under CI=true.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_LOG_BUDGET, LOG_LINE_CHARGE_BYTES } from "../src/sandbox/log-lines.ts";
import { assertCanRun, CalfLab, LineClient, NEEDS_ROOT, RUN_RUNC_TESTS, waitFor } from "./sandbox-harness.ts";

const LIMITS = { memoryBytes: 96 * 1024 * 1024, pids: 32 };
/** What fixtures/flood-calf.ts writes: 5 Ki lines of 1023 "x" and a newline on each stream. */
const FLOOD_LINE = "x".repeat(1023);
const FLOOD_LINES = 5 * 1024;
const TOTAL_BYTES = 2 * FLOOD_LINES * (FLOOD_LINE.length + 1);

describe.skipIf(!RUN_RUNC_TESTS)(`calf log budget under runc ${NEEDS_ROOT}`, () => {
  let lab: CalfLab;

  beforeEach(() => {
    assertCanRun();
    lab = new CalfLab();
  });

  afterEach(async () => {
    await lab.cleanup();
    expect(lab.runcIds()).toEqual([]);
  });

  it("forwards at most the burst plus the rate of a 10 MiB flood, counts the rest and says so", async () => {
    const name = lab.name("flood");
    let control: LineClient | undefined;
    const sup = lab.supervisor({ onStart: (_c, ch) => (control ??= new LineClient(ch.control)) });
    const script = await lab.build("flood-calf");
    const t0 = performance.now();
    await sup.start([{ name, script, ...LIMITS }]);
    await waitFor(() => control, 10_000, "start");
    expect(await control!.next()).toBe("flooded");

    const forwarded = () => lab.logs.filter((l) => l["calf"] === name && l["msg"] === FLOOD_LINE);
    const dropped = () => sup.status(name)!.logDroppedBytes;
    // Every byte the calf wrote is either in the log or counted as dropped, once the pipes are read.
    await waitFor(() => forwarded().length * (FLOOD_LINE.length + 1) + dropped() === TOTAL_BYTES, 10_000, "the flood read to its end");
    const elapsedS = (performance.now() - t0) / 1000;

    const lines = forwarded();
    const charged = lines.length * (FLOOD_LINE.length + 1 + LOG_LINE_CHARGE_BYTES);
    expect(charged).toBeLessThanOrEqual(DEFAULT_LOG_BUDGET.burstBytes + DEFAULT_LOG_BUDGET.bytesPerSecond * elapsedS);
    // The burst went through whole, from both streams, under one budget.
    expect(charged).toBeGreaterThan(DEFAULT_LOG_BUDGET.burstBytes - (FLOOD_LINE.length + 1 + LOG_LINE_CHARGE_BYTES));
    expect(dropped()).toBeGreaterThan(TOTAL_BYTES - DEFAULT_LOG_BUDGET.burstBytes - DEFAULT_LOG_BUDGET.bytesPerSecond * elapsedS);

    // The drop lines (one per window) add up to the count in the status, which the metric reads.
    const dropLines = () => lab.logs.filter((l) => l["calf"] === name && l["msg"] === "calf log over budget: output dropped");
    await waitFor(() => dropLines().reduce((n, l) => n + (l["droppedBytes"] as number), 0) === dropped(), 10_000, "drop lines for every dropped byte");
    expect(dropLines().length).toBeGreaterThanOrEqual(1);
    expect(dropLines()[0]).toMatchObject({ level: 40, droppedLines: expect.any(Number) });

    await sup.stop();
    expect(sup.status(name)).toMatchObject({ state: "stopped", logDroppedBytes: dropped() });
  });
});
