/**
 * Hooks, dhcpcd style: the administrator's executables in one directory, run by the priv on a
 * service's events (a lease bound, renewed, withdrawn), with the event in environment variables
 * and as one JSON document on stdin (docs/hooks.md).
 *
 * - **Which files.** Every executable regular file directly in the directory, in byte order of
 *   their names; dotfiles, editor and package-manager leftovers (`*~`, `*.dpkg-*`, `*.ucf-*`,
 *   `*.rpmnew`, `*.rpmsave`, `*.swp`, `*.bak`, `*.orig`) and anything that is not a regular file
 *   (a symbolic link included) are skipped. A missing directory means no hooks.
 * - **Whose files.** The directory and each hook must belong to the priv's user (root) and not be
 *   writable by group or others — the rule the state directory follows (`foreignWriteAccess`):
 *   whoever can change a hook runs code as root. Anything else is refused with one log line.
 * - **How.** One at a time, never two at once for one service and interface; each in its own
 *   process group, cwd "/", with only PATH and the event's variables in its environment. After
 *   the timeout (10 s by default) the whole group gets SIGTERM, then SIGKILL. A hook's run ends
 *   when it has exited and its output is closed: a process it leaves in the background must
 *   close stdout and stderr, or it is killed with the group at the timeout.
 * - **Output.** stdout and stderr are kept up to 64 KiB each (the rest counted, not kept) and
 *   logged line by line with control characters escaped (escapeControlText); a non-zero exit is
 *   logged with the hook's name and code.
 * - **Never blocking the priv.** `emit` queues the event and returns; handlers go on. The queue
 *   is bounded: when it is full the oldest event is dropped, counted and said in the log.
 * - **Calf text.** Some values come from a calf (a lease's domain). The service's store parsers
 *   restrict them, but the runner does not rely on that: variable names must be PADDOCK_ and
 *   upper-case letters, digits and '_'; values have control characters (NUL included) escaped and
 *   are bounded; nothing goes through a shell.
 */
import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { foreignWriteAccess } from "./handlers/files.ts";
import type { HandlerLogger, StoreView } from "./handlers/reconciler.ts";
import type { MetricSource } from "./metrics.ts";
import { escapeControlText, escapeJsonControls } from "./sandbox/log-lines.ts";

/** How long a hook may run: dhcpcd's own default for its script is not bounded; 10 s keeps a stuck hook from holding later events long. */
export const DEFAULT_HOOK_TIMEOUT_MS = 10_000;
/** Between SIGTERM and SIGKILL of a hook's process group: time to clean up, not to go on working. */
export const HOOK_KILL_GRACE_MS = 2_000;
/** Output kept per stream and run: a hook's diagnostics, not a log pipe. */
export const MAX_HOOK_OUTPUT_BYTES = 64 * 1024;
/**
 * Events waiting for the hooks. A lease changes a few times an hour; 32 is hours of events
 * behind a hook that always times out, and bounds what a calf that churns its lease can queue.
 */
export const MAX_HOOK_QUEUE = 32;
/** One variable's value, after escaping: a search list is at most 256 bytes, a lease's DNS list ~120. */
export const MAX_HOOK_VALUE_BYTES = 4096;
/** Variables an event may set besides the fixed ones. */
export const MAX_HOOK_VARIABLES = 64;
/** The only PATH a hook gets. */
export const HOOK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The stable codes of the hook runner's log lines (field `code`), for alerts and searches. */
export const HookLogCode = {
  /** A hook exited non-zero or was killed by a signal (`exitCode`, `signal`). */
  EXIT: "PADDOCK_E_HOOK_EXIT",
  /** A hook ran past its timeout; its process group was killed. */
  TIMEOUT: "PADDOCK_E_HOOK_TIMEOUT",
  /** A hook could not be started (`err`: EACCES, ENOENT for a missing interpreter, …). */
  SPAWN: "PADDOCK_E_HOOK_SPAWN",
  /** A hook or the directory was refused for its owner, mode or kind. */
  REFUSED: "PADDOCK_E_HOOK_REFUSED",
  /** An event was dropped because the queue was full. */
  QUEUE_FULL: "PADDOCK_E_HOOK_QUEUE_FULL",
  /** An event variable was left out (its name or length). */
  VARIABLE: "PADDOCK_E_HOOK_VARIABLE",
} as const;

/** An event variable's name: PADDOCK_ and upper-case letters, digits, '_' (never '=', never a loader variable). */
const VARIABLE_NAME = /^PADDOCK_[A-Z0-9_]{1,64}$/;
/** The variables the runner sets itself; an event cannot override them. */
const FIXED_VARIABLES = new Set(["PADDOCK_SERVICE", "PADDOCK_INTERFACE", "PADDOCK_REASON"]);
/** A reason: BOUND, RENEW, … */
const REASON = /^[A-Z][A-Z0-9_]{0,31}$/;
/** Names that are somebody's backup or a package manager's leftover, never a hook. */
const SKIPPED_NAME = /^\.|~$|\.(dpkg|ucf)-|\.(rpmnew|rpmsave|rpmorig|swp|bak|orig)$/;

/** One event for the hooks. */
export interface HookEvent {
  /** PADDOCK_REASON: upper-case letters, digits and '_' ("BOUND"). */
  readonly reason: string;
  /** The event's own variables (PADDOCK_IP, …); an absent value is simply not set. */
  readonly env: Readonly<Record<string, string>>;
  /** The event as JSON, merged into the stdin document after service, interface and reason. */
  readonly json?: Readonly<Record<string, unknown>>;
}

/** How a service's handler last left the system: what its hook events are computed from. */
export interface AppliedState<D = unknown> {
  /** The desired state the handler applied. */
  readonly desired: D;
  /** The store snapshot it was computed from. */
  readonly store: StoreView;
  /** When the reconcile started (ms since the epoch). */
  readonly at: number;
}

/**
 * Where the service is when its event is asked for: "running"; "stopping" (the priv is stopping
 * its calves: what a calf withdraws now, it released); "stopped" (the final call, with `next`
 * equal to `prev`: the calves are gone and the handlers have converged).
 */
export type HookPhase = "running" | "stopping" | "stopped";

/** What a service declares in its setup (`ServiceSetup.hooks`). */
export interface ServiceHooks<D = any> {
  /** The hooks directory; missing: no hooks. */
  readonly dir: string;
  /** Per hook (default DEFAULT_HOOK_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /**
   * The handler whose successful applies the events follow: an event is computed only after it
   * applied a state without an error, so a hook sees the system as that apply left it.
   */
  readonly after: string;
  /** The event between the state last applied (undefined: none since the priv started) and this one, or null. */
  event(prev: AppliedState<D> | undefined, next: AppliedState<D>, phase: HookPhase): HookEvent | null;
}

/** Options of a hook runner. */
export interface HookRunnerOptions {
  readonly dir: string;
  readonly service: string;
  readonly iface: string;
  readonly log: HandlerLogger;
  readonly timeoutMs?: number;
  readonly killGraceMs?: number;
  readonly maxQueue?: number;
  readonly maxOutputBytes?: number;
  /** Who must own the directory and the hooks (default: the priv's own uid, root). */
  readonly ownerUid?: number;
}

/** What the runner did, for metrics and tests. */
export interface HookStats {
  /** Events accepted into the queue. */
  events: number;
  /** Events dropped because the queue was full (the oldest go first). */
  dropped: number;
  /** Hooks that exited 0. */
  succeeded: number;
  /** Hooks that exited non-zero, were killed by a signal, or could not be started. */
  failed: number;
  /** Hooks killed at the timeout. */
  timedOut: number;
  /** Hooks (or a whole directory) refused for their owner, mode or kind. */
  refused: number;
}

/** One hook's run. */
export interface HookResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** Why it could not be started (spawn's error code), if it could not. */
  readonly spawnError: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** Output bytes beyond the bound, not kept. */
  readonly droppedBytes: number;
}

/** What `listHooks` found. */
export interface HookListing {
  /** Hooks to run, absolute paths, in order. */
  readonly hooks: readonly string[];
  /** One sentence per refused hook (or the refused directory). */
  readonly refused: readonly string[];
}

const mode4 = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");

function whyForeign(what: string, st: { uid: number; mode: number }, uid: number): string | null {
  const why = foreignWriteAccess(st, uid);
  if (why?.kind === "owner") return `${what} belongs to uid ${why.owner}, not ${uid}, so that user could run code as the priv: refused (chown ${uid} it)`;
  if (why?.kind === "mode") return `${what} is writable by group or others (mode ${mode4(why.mode)}), so they could run code as the priv: refused (chmod go-w it)`;
  return null;
}

/** The hooks of `dir` to run, in name order, and what was refused (see the module comment). */
export async function listHooks(dir: string, uid: number): Promise<HookListing> {
  let st;
  try {
    st = await fsp.stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { hooks: [], refused: [] };
    return { hooks: [], refused: [`the hooks directory ${escapeControlText(dir)} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`] };
  }
  const shownDir = escapeControlText(dir);
  if (!st.isDirectory()) return { hooks: [], refused: [`the hooks directory ${shownDir} is not a directory`] };
  const dirProblem = whyForeign(`the hooks directory ${shownDir}`, st, uid);
  if (dirProblem) return { hooks: [], refused: [dirProblem] };
  const names = (await fsp.readdir(dir)).filter((n) => !SKIPPED_NAME.test(n));
  // Byte order of the UTF-8 names, as ls and run-parts sort under LC_ALL=C.
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hooks: string[] = [];
  const refused: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let hs;
    try {
      hs = await fsp.lstat(file);
    } catch {
      continue; // Removed meanwhile.
    }
    const shown = `the hook ${escapeControlText(file)}`;
    if (hs.isSymbolicLink()) {
      refused.push(`${shown} is a symbolic link; hooks must be regular files (its target's directory could be writable by others)`);
      continue;
    }
    if (!hs.isFile() || (hs.mode & 0o111) === 0) continue; // A subdirectory, a README: not a hook.
    const problem = whyForeign(shown, hs, uid);
    if (problem) refused.push(problem);
    else hooks.push(file);
  }
  return { hooks, refused };
}

/** Why an event's variables cannot all be passed (one sentence each); the variables that can. */
export function hookEnvironment(base: { service: string; iface: string }, event: HookEvent): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {
    PATH: HOOK_PATH,
    PADDOCK_SERVICE: escapeControlText(base.service),
    PADDOCK_INTERFACE: escapeControlText(base.iface),
    PADDOCK_REASON: event.reason,
  };
  const problems: string[] = [];
  let count = 0;
  for (const [name, raw] of Object.entries(event.env)) {
    if (!VARIABLE_NAME.test(name) || FIXED_VARIABLES.has(name)) {
      problems.push(`the variable name ${JSON.stringify(escapeControlText(name.slice(0, 80)))} is not PADDOCK_ and upper-case letters, digits and '_' (or is one the runner sets): left out`);
      continue;
    }
    if (++count > MAX_HOOK_VARIABLES) {
      problems.push(`more than ${MAX_HOOK_VARIABLES} variables: ${name} and the rest left out`);
      break;
    }
    const value = escapeControlText(String(raw));
    if (Buffer.byteLength(value) > MAX_HOOK_VALUE_BYTES) {
      problems.push(`${name} is longer than ${MAX_HOOK_VALUE_BYTES} bytes: left out`);
      continue;
    }
    env[name] = value;
  }
  return { env, problems };
}

/** A stream's first `max` bytes, and how many more came. */
function capture(stream: NodeJS.ReadableStream, max: number): { text(): string; dropped(): number } {
  const chunks: Buffer[] = [];
  let kept = 0;
  let dropped = 0;
  stream.on("data", (b: Buffer) => {
    const room = max - kept;
    if (room >= b.length) {
      chunks.push(b);
      kept += b.length;
    } else {
      if (room > 0) chunks.push(b.subarray(0, room));
      kept += Math.max(0, room);
      dropped += b.length - Math.max(0, room);
    }
  });
  stream.on("error", () => {});
  return { text: () => Buffer.concat(chunks).toString("utf8"), dropped: () => dropped };
}

/**
 * Runs one hook: `file` with exactly `env`, `input` on stdin, in its own process group; after
 * `timeoutMs` the group gets SIGTERM, `killGraceMs` later SIGKILL. Never rejects.
 */
export function runHook(file: string, opts: { env: Record<string, string>; input: string; timeoutMs: number; killGraceMs?: number; maxOutputBytes?: number }): Promise<HookResult> {
  const grace = opts.killGraceMs ?? HOOK_KILL_GRACE_MS;
  const max = opts.maxOutputBytes ?? MAX_HOOK_OUTPUT_BYTES;
  return new Promise((resolve) => {
    // detached: setsid(), so the hook leads a process group of its own that we can kill whole.
    const child = spawn(file, [], { env: opts.env, cwd: "/", detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const out = capture(child.stdout, max);
    const err = capture(child.stderr, max);
    let timedOut = false;
    let spawnError: string | undefined;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    timers.push(setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      timers.push(setTimeout(() => {
        killGroup("SIGKILL");
        // Something outside the group (it called setsid) may still hold the pipes: stop reading.
        timers.push(setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, grace));
      }, grace));
    }, opts.timeoutMs));
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      resolve({ code, signal, timedOut, spawnError, stdout: out.text(), stderr: err.text(), droppedBytes: out.dropped() + err.dropped() });
    };
    child.on("error", (e: NodeJS.ErrnoException) => {
      spawnError = e.code ?? e.message;
      if (child.pid === undefined) finish(null, null);
    });
    child.on("close", (code, signal) => finish(code, signal));
    // A hook that does not read its stdin closes the pipe: EPIPE is its choice, not an error.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input);
  });
}

/** Output as log lines: escaped, without the final newline's empty line. */
function outputLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.replace(/\n$/, "").split("\n");
  return lines.map(escapeControlText);
}

/** Runs one service's hooks on its events, one event and one hook at a time (see the module comment). */
export class HookRunner {
  readonly stats: HookStats = { events: 0, dropped: 0, succeeded: 0, failed: 0, timedOut: 0, refused: 0 };
  private readonly queue: HookEvent[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private dir: string;
  private timeoutMs: number;
  private readonly uid: number;

  constructor(private readonly opts: HookRunnerOptions) {
    this.dir = opts.dir;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    this.uid = opts.ownerUid ?? process.getuid?.() ?? 0;
  }

  /** Another directory or timeout (a reload): applies from the next event on. */
  configure(dir: string, timeoutMs = DEFAULT_HOOK_TIMEOUT_MS): void {
    this.dir = dir;
    this.timeoutMs = timeoutMs;
  }

  /** Queues an event (never waits). A full queue drops its oldest event. */
  emit(event: HookEvent): void {
    const log = this.opts.log;
    if (this.closed) return;
    if (!REASON.test(event.reason)) {
      log.error({ service: this.opts.service, reason: escapeControlText(event.reason.slice(0, 40)) }, "a hook event's reason must be upper-case letters, digits and '_'; the event is ignored (a bug in the service)");
      return;
    }
    this.stats.events++;
    const max = this.opts.maxQueue ?? MAX_HOOK_QUEUE;
    if (this.queue.length >= max) {
      const old = this.queue.shift()!;
      this.stats.dropped++;
      log.warn({ service: this.opts.service, code: HookLogCode.QUEUE_FULL, dropped: old.reason, droppedTotal: this.stats.dropped }, `hook queue full (${max} events waiting): dropped the oldest event, ${old.reason} (${this.stats.dropped} dropped so far)`);
    }
    this.queue.push(event);
    this.running ??= this.drain();
  }

  /** Resolves when no event is waiting or running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Accepts no more events; resolves once the queued ones have run (each bounded by its timeouts). */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  private async drain(): Promise<void> {
    try {
      for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) {
        try {
          await this.runEvent(e);
        } catch (err) {
          this.opts.log.error({ service: this.opts.service, reason: e.reason, err: (err as Error).message }, `running the hooks for ${e.reason} failed: ${(err as Error).message}`);
        }
      }
    } finally {
      this.running = null;
    }
  }

  private async runEvent(event: HookEvent): Promise<void> {
    const { log, service, iface } = this.opts;
    const listing = await listHooks(this.dir, this.uid);
    for (const why of listing.refused) {
      this.stats.refused++;
      log.warn({ service, reason: event.reason, code: HookLogCode.REFUSED }, why);
    }
    if (listing.hooks.length === 0) return;
    const { env, problems } = hookEnvironment({ service, iface }, event);
    for (const p of problems) log.warn({ service, reason: event.reason, code: HookLogCode.VARIABLE }, `hook event ${event.reason}: ${p}`);
    const input = escapeJsonControls(JSON.stringify({ service, interface: iface, reason: event.reason, ...event.json })) + "\n";
    for (const file of listing.hooks) {
      const hook = escapeControlText(path.basename(file));
      const r = await runHook(file, { env, input, timeoutMs: this.timeoutMs, ...(this.opts.killGraceMs !== undefined ? { killGraceMs: this.opts.killGraceMs } : {}), ...(this.opts.maxOutputBytes !== undefined ? { maxOutputBytes: this.opts.maxOutputBytes } : {}) });
      const fields = {
        service,
        hook,
        reason: event.reason,
        ...(r.stdout ? { stdout: outputLines(r.stdout) } : {}),
        ...(r.stderr ? { stderr: outputLines(r.stderr) } : {}),
        ...(r.droppedBytes > 0 ? { outputDroppedBytes: r.droppedBytes } : {}),
      };
      if (r.timedOut) {
        this.stats.timedOut++;
        this.stats.failed++;
        log.warn({ ...fields, code: HookLogCode.TIMEOUT, timeoutMs: this.timeoutMs }, `hook ${hook} (${event.reason}) did not finish within ${this.timeoutMs / 1000} s: its process group was killed`);
      } else if (r.spawnError !== undefined) {
        this.stats.failed++;
        log.warn({ ...fields, code: HookLogCode.SPAWN, err: r.spawnError }, `hook ${hook} (${event.reason}) could not be started: ${r.spawnError}`);
      } else if (r.code !== 0) {
        this.stats.failed++;
        const how = r.code === null ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
        log.warn({ ...fields, code: HookLogCode.EXIT, exitCode: r.code, signal: r.signal }, `hook ${hook} (${event.reason}) ${how}`);
      } else {
        this.stats.succeeded++;
        log.info(fields, `hook ${hook} (${event.reason}) done`);
      }
    }
  }
}

/**
 * Connects a service's hook declaration to its handler runner: `applied` is the runner's
 * `onApplied`; `declare` takes the declaration of the service's latest setup (a reload may change
 * the directory; undefined: no hooks); `stopping()` is called before the calves are stopped,
 * `stop()` after the handlers converged for the last time (it asks for the final event and waits
 * for the queue). One per service for the priv's life, so events stay in order across setups.
 */
export class HookTrigger {
  readonly runner: HookRunner;
  private hooks: ServiceHooks | undefined;
  private last: AppliedState | undefined;
  private phase: Exclude<HookPhase, "stopped"> = "running";

  constructor(private readonly opts: Omit<HookRunnerOptions, "dir" | "timeoutMs">) {
    this.runner = new HookRunner({ ...opts, dir: "" });
  }

  /** The declaration to follow from now on. */
  declare(hooks: ServiceHooks | undefined): void {
    this.hooks = hooks;
    if (hooks) this.runner.configure(hooks.dir, hooks.timeoutMs);
  }

  /** A handler applied `state` without an error. */
  readonly applied = (handler: string, state: AppliedState): void => {
    if (handler !== this.hooks?.after) return;
    const prev = this.last;
    this.last = state;
    this.ask(prev, state, this.phase);
  };

  /** The priv is about to stop the calves. */
  stopping(): void {
    this.phase = "stopping";
  }

  /** The final event, then waits for the queued ones to run. */
  async stop(): Promise<void> {
    if (this.last) this.ask(this.last, this.last, "stopped");
    await this.runner.close();
  }

  private ask(prev: AppliedState | undefined, next: AppliedState, phase: HookPhase): void {
    if (!this.hooks) return;
    let event: HookEvent | null;
    try {
      event = this.hooks.event(prev, next, phase);
    } catch (err) {
      this.opts.log.error({ service: this.opts.service, err: (err as Error).message }, `computing the hook event failed (a bug in the service): ${(err as Error).message}`);
      return;
    }
    if (event) this.runner.emit(event);
  }
}

/** The hook runners' metrics, read at scrape time. */
export function hookMetrics(read: () => ReadonlyArray<{ service: string; stats: HookStats }>): MetricSource[] {
  return [
    { name: "paddock_hook_runs_total", help: "Hook runs by result (ok, failed, timeout) and hooks refused for their owner, mode or kind", type: "counter", labelNames: ["service", "result"], read: () =>
      read().flatMap(({ service, stats }) => [
        { labels: { service, result: "ok" }, value: stats.succeeded },
        { labels: { service, result: "failed" }, value: stats.failed - stats.timedOut },
        { labels: { service, result: "timeout" }, value: stats.timedOut },
        { labels: { service, result: "refused" }, value: stats.refused },
      ]) },
    { name: "paddock_hook_events_dropped_total", help: "Hook events dropped because the queue was full (the oldest go first)", type: "counter", labelNames: ["service"], read: () =>
      read().map(({ service, stats }) => ({ labels: { service }, value: stats.dropped })) },
  ];
}
