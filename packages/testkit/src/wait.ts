/**
 * Polling waits with a clear timeout error: what was awaited, for how long, and the last state
 * seen. Readiness is always a condition (a log line, an address, a socket), never a fixed sleep.
 */
import { inspect } from "node:util";
import { TestkitError } from "./errors.ts";
import type { LabProcess } from "./process.ts";

/** Default poll interval: short against a veth's sub-millisecond latency, cheap on 2 cores. */
const DEFAULT_INTERVAL_MS = 20;
/** Default wait: a local server or client answers in well under a second; 10 s is a hang. */
export const DEFAULT_WAIT_MS = 10_000;

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** What is awaited, for the timeout message ("an IPv4 address on eth0"). */
  what: string;
  /** Give up after this long (default {@link DEFAULT_WAIT_MS}). */
  timeoutMs?: number;
  /** Poll interval (default 20 ms). */
  intervalMs?: number;
  /** Give up at once (with their output) when one of these processes exits. */
  abortOnExit?: LabProcess | readonly LabProcess[];
  /** Describes the state for the timeout message; default: the check's last value or error. */
  state?: () => unknown;
}

/**
 * Calls `check` until it returns a truthy value, and returns that value. A check that throws
 * counts as "not yet" (its error is reported if time runs out). On timeout, throws a
 * {@link TestkitError} `PADDOCK_E_TESTKIT_TIMEOUT` naming `what` and the last state seen.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const watched = options.abortOnExit === undefined ? [] : Array.isArray(options.abortOnExit) ? options.abortOnExit : [options.abortOnExit as LabProcess];
  const start = Date.now();
  let last: { value?: unknown; error?: unknown } = {};
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const dead = watched.find((p) => !p.running);
    if (dead) throw exitedError(dead, options.what);
    if (Date.now() - start >= timeoutMs) {
      let state: unknown;
      try {
        state = options.state ? options.state() : "error" in last ? last.error : last.value;
      } catch (err) {
        state = err;
      }
      const shown = typeof state === "string" ? state : state instanceof Error ? state.message : inspect(state, { depth: 4, breakLength: 120 });
      throw new TestkitError("PADDOCK_E_TESTKIT_TIMEOUT", `timed out after ${timeoutMs} ms waiting for ${options.what}; last seen: ${shown}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Fails a wait early: the process ended before the awaited thing happened. */
function exitedError(p: LabProcess, what: string): TestkitError {
  const how = p.child.exitCode !== null ? `exit code ${p.child.exitCode}` : `signal ${p.child.signalCode}`;
  return new TestkitError("PADDOCK_E_TESTKIT_EXITED", `${p.name} (pid ${p.pid}) exited (${how}) while waiting for ${what}; output:\n${p.tail()}`);
}
