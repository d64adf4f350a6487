/**
 * Processes a lab started: their output kept for assertions and readiness, waited for by log
 * line, stopped by pid (SIGTERM, then SIGKILL after a grace). Also the /proc walks that let a
 * cleanup find what a started process left behind.
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { DEFAULT_WAIT_MS, waitFor } from "./wait.ts";

/** SIGTERM → SIGKILL grace: `paddock dhcp` releases and stops its calf within 5 s. */
export const STOP_GRACE_MS = 8000;
/** Output a process may accumulate before the oldest half is dropped (a flood of logs). */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;
/** How much of a process's output an error message quotes. */
const OUTPUT_TAIL_CHARS = 3000;

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of {@link LabProcess.waitForLog}. */
export interface WaitForLogOptions {
  /** Give up after this long (default DEFAULT_WAIT_MS, 10 s). */
  timeoutMs?: number;
  /** Wait for the n-th matching line, counting lines already printed (default 1). */
  occurrence?: number;
}

/**
 * A process a lab started (or any child process wrapped to wait on its output and stop it), with its stdout and stderr kept (interleaved, as `output`). Stopped by
 * its pid only: never by name.
 */
export class LabProcess {
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output = "";
  /** Resolves when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** When it was started (Date.now()). */
  readonly startedAt = Date.now();
  /** /proc start time of the pid, to tell it from a later process that reuses the pid. */
  readonly procStart: string | undefined;

  constructor(
    /** A name for messages ("dnsmasq", "paddock dhcp"). */
    readonly name: string,
    /** The Node child process. */
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString();
      if (this.output.length > MAX_OUTPUT_CHARS) this.output = this.output.slice(-MAX_OUTPUT_CHARS / 2);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
        : new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    // A command that cannot start (ENOENT) fails the wait that needs it, not the test process.
    child.once("error", (err) => (this.output += `\n[testkit] ${name} could not start: ${err.message}\n`));
    this.procStart = child.pid === undefined ? undefined : procStartTime(child.pid);
  }

  /** Its logs: the same as {@link output}. */
  get logs(): string {
    return this.output;
  }

  /** The process id (undefined when it could not start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether it is still running. */
  get running(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Lines of output matching `pattern`. */
  lines(pattern: RegExp): string[] {
    return this.output.split("\n").filter((l) => pattern.test(l));
  }

  /** The last part of the output, for error messages. */
  tail(chars = OUTPUT_TAIL_CHARS): string {
    return this.output.slice(-chars);
  }

  /**
   * Waits until a line of output matches `pattern` (lines already printed count); returns the
   * line. Fails at once if the process exits first, quoting its output.
   */
  async waitForLog(pattern: RegExp, options: WaitForLogOptions = {}): Promise<string> {
    const occurrence = options.occurrence ?? 1;
    return waitFor(() => this.lines(pattern)[occurrence - 1], {
      timeoutMs: options.timeoutMs ?? DEFAULT_WAIT_MS,
      what: `${this.name} to print ${pattern}${occurrence > 1 ? ` (×${occurrence})` : ""}`,
      abortOnExit: this,
      state: () => `output:\n${this.tail()}`,
    });
  }

  /**
   * The positional form of {@link waitForLog}, kept for this repository's older tests.
   * @deprecated use `waitForLog(pattern, { timeoutMs, occurrence })`.
   */
  waitFor(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS, occurrence = 1): Promise<string> {
    return this.waitForLog(pattern, { timeoutMs, occurrence });
  }

  /** Sends `signal` to the process (by its pid) and waits for it to exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = STOP_GRACE_MS): Promise<ProcessExit> {
    if (!this.running) return this.child.pid === undefined ? { code: null, signal: null } : this.exited;
    signalPid(this.child.pid!, signal);
    const timer = setTimeout(() => {
      if (this.running) signalPid(this.child.pid!, "SIGKILL");
    }, graceMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

/** Sends a signal to a pid; false when it is already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or undefined when the pid is gone. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces: fields restart after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether `pid` is alive and still the process that had `start` (not a later one reusing the pid). */
export function isSameProcess(pid: number, start: string | undefined): boolean {
  const now = procStartTime(pid);
  return now !== undefined && (start === undefined || now === start);
}

/** `pid` and all its descendants now alive (a walk of /proc by parent pid), `pid` first. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // The process exited while we looked.
    }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Pids of processes (never this one) whose command line names `text`, e.g. a lab's directory. */
export function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}
