/**
 * The supervisor: runs each calf under runc with its two channels, turns its stdout/stderr into
 * JSON log lines tagged with its name, restarts it with exponential backoff when it exits, and
 * stops everything cleanly.
 *
 * Start-up order: remove what a crashed run left (our runc containers, bundle dirs), write each
 * calf's bundle, then per calf: make the fd 3/fd 4 socket pairs, `runc run --preserve-fds 2`,
 * hand priv's ends to `onStart`. Readiness (sd_notify READY=1) is the caller's call, through
 * notifyReady(), because only it knows when a calf's channels answer.
 *
 * A calf's output is bounded: lines are cut at MAX_LOG_LINE_BYTES (marked `truncated`), and one
 * byte budget per calf (LogBudget: stdout and stderr together, across restarts) decides which
 * lines reach the log; what it drops is counted in the calf's status and said in one line per
 * LOG_DROP_REPORT_MS.
 *
 * A calf is pid 1 of its pid namespace, so SIGTERM reaches it only if it installed a handler (the
 * calf SDK does); stop() sends SIGTERM, waits `stopTimeoutMs`, then SIGKILL.
 *
 * With `external` set, calves are started by something else (their own systemd units, a
 * launcher): the supervisor runs no runc and writes no bundle; it waits for each calf to connect
 * to its socket (./sandbox/external.ts) and treats a disconnect as the calf's exit — same state,
 * counters, log line and onExit — then waits for the next connection (the calf's unit restarts it,
 * so the backoff is systemd's RestartSec). Its output goes to its own unit's journal, not here.
 */

import type { ChildProcess } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import type net from "node:net";
import path from "node:path";
import { pino, type Logger } from "pino";
import {
  calfContainerId,
  createCalfBundle,
  type BundleOptions,
  type CalfName,
  type CalfSandboxSpec,
} from "./sandbox/bundle.ts";
import { type SocketPair } from "./sandbox/channels.ts";
import { removeStaleCalves, runCalfContainer, runRunc, type StartedCalf } from "./sandbox/spawn.ts";
import type { ContainerRuntime } from "./sandbox/container-runtime.ts";
import { SandboxError } from "./sandbox/errors.ts";
import { CalfListener, type ExternalCalfOptions, type ExternalConnection } from "./sandbox/external.ts";
import {
  DEFAULT_LOG_BUDGET,
  LOG_DROP_REPORT_MS,
  LogBudget,
  LogLineSplitter,
  MAX_LOG_LINE_BYTES,
  parseCalfLogLine,
  type LogBudgetPolicy,
} from "./sandbox/log-lines.ts";
import { SdNotifier } from "./sd-notify.ts";

/** A calf started before the supervisor existed, for it to take over (see start()). */
export interface AdoptedCalf {
  readonly bundleDir: string;
  readonly started: StartedCalf;
}

/** priv's ends of a calf's channels: fd 3 in the calf is `control`, fd 4 is `data`. */
export interface CalfChannels {
  readonly control: net.Socket;
  readonly data: net.Socket;
}

/** Restart delays: `initialMs` doubling up to `maxMs`; a calf that ran `stableMs` starts over. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly stableMs: number;
}

/**
 * 100 ms lets a calf that died of a transient fault come back before a DHCP retransmission
 * matters; 30 s caps the cost of a crash loop; 10 s of uptime means the last crash is history.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 30_000, stableMs: 10_000 };

/** SIGTERM → SIGKILL grace: enough for a calf to flush its KV writes and close its channels. */
export const DEFAULT_STOP_TIMEOUT_MS = 5_000;

/**
 * The delay before the next restart. `previousMs` is the delay used before the run that just
 * ended (undefined for the first crash); `uptimeMs` how long that run lasted.
 */
export function nextRestartDelay(previousMs: number | undefined, uptimeMs: number, policy: BackoffPolicy): number {
  if (previousMs === undefined || uptimeMs >= policy.stableMs) return policy.initialMs;
  return Math.min(previousMs * 2, policy.maxMs);
}

/** How a calf run ended and what happens next. */
export interface CalfExit {
  /** runc's exit status: the calf's own, or 128 + signal number when it was killed. */
  readonly code: number | null;
  /** Set when runc itself was killed by a signal. */
  readonly signal: NodeJS.Signals | null;
  readonly uptimeMs: number;
  /** Restarts so far, counting the one now scheduled. */
  readonly restarts: number;
  /** Delay before the restart; undefined when the supervisor is stopping. */
  readonly restartInMs: number | undefined;
}

/** A calf's current state, for logs, metrics and the admin view. */
export interface CalfStatus {
  readonly name: CalfName;
  readonly containerId: string;
  readonly state: "starting" | "running" | "backoff" | "stopping" | "stopped";
  readonly restarts: number;
  readonly lastExit: CalfExit | undefined;
  /** Bytes of the calf's stdout/stderr dropped by its log budget, over the supervisor's life. */
  readonly logDroppedBytes: number;
}

/** What the supervisor needs to know; targets are parameters so tests use throwaway ones. */
export interface SupervisorOptions {
  /** Parent of the calves' bundle directories, e.g. /run/paddock/calves. */
  readonly runtimeDir: string;
  /** runc's state directory (`runc --root`), e.g. /run/paddock/runc. */
  readonly runcRoot: string;
  /** The runc binary. */
  readonly runc?: string;
  /** The runtime the calves run under (runc or crun, ./sandbox/container-runtime.ts); default runc. */
  readonly runtime?: ContainerRuntime;
  readonly logger?: Logger;
  /** Bundle options other than the runtime dir (Node path, id mapping, cgroup parent). */
  readonly bundle?: Omit<BundleOptions, "runtimeDir">;
  readonly backoff?: Partial<BackoffPolicy>;
  readonly stopTimeoutMs?: number;
  /** Defaults to one built from NOTIFY_SOCKET (which it removes from process.env). */
  readonly notifier?: SdNotifier;
  /** Called at every (re)start with priv's ends of the new channels. */
  readonly onStart?: (calf: CalfName, channels: CalfChannels) => void;
  /** Called when a run ends, before the restart is scheduled. */
  readonly onExit?: (calf: CalfName, exit: CalfExit) => void;
  /** Each calf's log budget; DEFAULT_LOG_BUDGET when not given. */
  readonly logBudget?: Partial<LogBudgetPolicy>;
  /** The clock the log budget runs on (ms); performance.now when not given. */
  readonly now?: () => number;
  /** Calves started outside the priv connect here instead of being run (./sandbox/external.ts). */
  readonly external?: ExternalCalfOptions;
}


/** Runs calves under runc and keeps them running. */
export class Supervisor {
  private readonly runners = new Map<CalfName, CalfRunner>();
  private readonly log: Logger;
  private readonly notifier: SdNotifier;
  private stopping: Promise<void> | undefined;
  readonly backoff: BackoffPolicy;

  constructor(readonly opts: SupervisorOptions) {
    this.log = opts.logger ?? pino({ name: "paddock-priv" });
    this.notifier = opts.notifier ?? SdNotifier.fromEnv();
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  }

  /**
   * Removes stale state, writes every calf's bundle and starts the calves. A calf in `adopted`
   * is already running (started early, before the rest of the priv loaded, by ../early.ts, which
   * removed its stale state and wrote its bundle): the supervisor takes it over as its first run.
   */
  async start(calves: readonly CalfSandboxSpec[], adopted: ReadonlyMap<string, AdoptedCalf> = new Map()): Promise<void> {
    if (this.stopping) throw new SandboxError("PADDOCK_E_SANDBOX_STATE", "start() after stop()");
    for (const spec of calves) {
      if (this.runners.has(spec.name)) throw new SandboxError("PADDOCK_E_SANDBOX_STATE", "calf started twice", spec.name);
    }
    const external = this.opts.external;
    if (external) {
      for (const spec of calves) {
        const listener = await CalfListener.open(spec.name, external, this.log.child({ calf: spec.name }));
        const runner = new CalfRunner(this, spec.name, undefined, calfContainerId(spec.name), this.log.child({ calf: spec.name }), listener);
        this.runners.set(spec.name, runner);
        runner.launch();
      }
      return;
    }
    await this.removeStale(calves.filter((c) => !adopted.has(c.name)));
    for (const spec of calves) {
      const early = adopted.get(spec.name);
      // A bundle written beforehand (paddock generate) leaves the runtime directory to us: the
      // calves' channel sockets are made there.
      if (spec.prebuiltBundle) await mkdir(this.opts.runtimeDir, { recursive: true, mode: 0o711 });
      const bundleDir = early?.bundleDir ?? spec.prebuiltBundle ?? (await createCalfBundle(spec, { ...this.opts.bundle, runtimeDir: this.opts.runtimeDir })).dir;
      const runner = new CalfRunner(this, spec.name, bundleDir, calfContainerId(spec.name), this.log.child({ calf: spec.name }));
      this.runners.set(spec.name, runner);
      runner.launch(early?.started);
    }
  }

  /** sd_notify READY=1: call it once the first calf is up and its channels answered. */
  async notifyReady(): Promise<void> {
    try {
      await this.notifier.ready();
      if (this.notifier.enabled) this.log.info("sd_notify READY=1 sent");
    } catch (e) {
      this.log.error({ err: e }, "sd_notify READY=1 failed");
    }
  }

  /** The state of one calf, or undefined for an unknown name. */
  status(name: string): CalfStatus | undefined {
    return this.runners.get(name as CalfName)?.status();
  }

  /** Every calf's state. */
  statuses(): CalfStatus[] {
    return [...this.runners.values()].map((r) => r.status());
  }

  /** The host pid of a running calf's process (from `runc state`, or SO_PEERCRED for an external calf), or undefined. */
  async calfPid(name: string): Promise<number | undefined> {
    const runner = this.runners.get(name as CalfName);
    if (!runner) return undefined;
    if (runner.external) return runner.connectedPid;
    const r = await this.runc(["state", runner.containerId]);
    if (r.code !== 0) return undefined;
    try {
      const state = JSON.parse(r.stdout) as { pid?: unknown; status?: unknown };
      return state.status === "running" && typeof state.pid === "number" && state.pid > 0 ? state.pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Stops every calf (SIGTERM, then SIGKILL after the timeout), removes their runc state and
   * bundle dirs, and sends STOPPING=1. Idempotent: later calls return the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.notifier.stopping();
      } catch (e) {
        this.log.error({ err: e }, "sd_notify STOPPING=1 failed");
      }
      await Promise.all([...this.runners.values()].map((r) => r.stop(this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS)));
      this.log.info("all calves stopped");
    })();
    return this.stopping;
  }

  /**
   * Restarts one calf now: SIGTERM (its stop work runs), then a fresh start without backoff. For a
   * calf whose view of the host changed under it (its interface came back with another MAC).
   */
  async restart(name: string): Promise<void> {
    if (this.stopping) return;
    await this.runners.get(name as CalfName)?.restart(this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
  }

  /** Makes SIGTERM and SIGINT stop the calves and then exit; returns a function that undoes it. */
  handleSignals(exit: (code: number) => void = (code) => process.exit(code)): () => void {
    const onSignal = (signal: NodeJS.Signals): void => {
      this.log.info({ signal }, "stopping on signal");
      this.stop().then(
        () => exit(0),
        (e: unknown) => {
          this.log.error({ err: e }, "stop failed");
          exit(1);
        },
      );
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    return () => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    };
  }

  /** @internal */
  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** @internal Runs `runc --root R …`; never rejects. */
  runc(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runRunc(this.opts, args);
  }

  /** @internal */
  get logger(): Logger {
    return this.log;
  }

  /** Removes what a crashed run of these calves left, and logs what it removed. */
  private async removeStale(calves: readonly CalfSandboxSpec[]): Promise<void> {
    const removed = await removeStaleCalves(this.opts, calves.map((c) => c.name), this.opts.bundle?.cgroupParent);
    for (const r of removed) {
      if (r.kind === "dir") this.log.warn({ dir: r.name }, "removed stale calf bundle dir");
      else if (r.kind === "cgroup") this.log.warn({ cgroup: r.path }, "removed stale calf cgroup");
      else if (r.ok) this.log.warn({ containerId: r.id }, "removed stale calf container");
      else this.log.error({ containerId: r.id, stderr: r.stderr }, "could not remove stale calf container");
    }
  }
}

/** One calf's lifecycle: run, watch, restart; one instance per calf for the supervisor's life. */
class CalfRunner {
  private child: ChildProcess | undefined;
  private channels: SocketPair[] = [];
  /** An external calf's connection while it is connected. */
  private connection: ExternalConnection | undefined;
  private state: CalfStatus["state"] = "starting";
  private restarts = 0;
  private lastDelay: number | undefined;
  private lastExit: CalfExit | undefined;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  private launching: Promise<ChildProcess | undefined> = Promise.resolve(undefined);
  private readonly logBudget: LogBudget;
  private dropReport: NodeJS.Timeout | undefined;
  /** The running calf was stopped by restart(): start it again at once, not as a crash. */
  private restartRequested = false;

  constructor(
    private readonly sup: Supervisor,
    readonly name: CalfName,
    private readonly bundleDir: string | undefined,
    readonly containerId: string,
    private readonly log: Logger,
    /** Set for a calf started outside the priv: its socket. */
    readonly external?: CalfListener,
  ) {
    this.logBudget = new LogBudget({ ...DEFAULT_LOG_BUDGET, ...sup.opts.logBudget });
  }

  status(): CalfStatus {
    return { name: this.name, containerId: this.containerId, state: this.state, restarts: this.restarts, lastExit: this.lastExit, logDroppedBytes: this.logBudget.droppedBytes };
  }

  /** Says how much of the calf's output the budget dropped since the last report, if any. */
  private reportDrops(): void {
    if (this.dropReport) clearTimeout(this.dropReport);
    this.dropReport = undefined;
    const d = this.logBudget.takeDrops();
    if (d) this.log.warn({ droppedBytes: d.bytes, droppedLines: d.lines }, "calf log over budget: output dropped");
  }

  /** Forwards one line of a calf's output if its budget allows, else counts it for the next report. */
  private forwardLine(stream: "stdout" | "stderr", text: string, truncated: boolean): void {
    const now = this.sup.opts.now ?? performance.now.bind(performance);
    if (!this.logBudget.admit(Buffer.byteLength(text), now())) {
      this.dropReport ??= setTimeout(() => this.reportDrops(), LOG_DROP_REPORT_MS);
      return;
    }
    const rec = parseCalfLogLine(text, stream === "stdout" ? "info" : "warn");
    this.log[rec.level]({ ...rec.fields, stream, ...(truncated ? { truncated: true } : {}) }, rec.msg);
  }

  launch(started?: StartedCalf): void {
    this.timer = undefined;
    if (this.sup.isStopping && !started) return;
    this.state = "starting";
    let resolveExited!: () => void;
    this.exited = new Promise((r) => (resolveExited = r));
    this.launching = (this.external ? this.runExternal(this.external) : this.run(started)).then(
      (run) => {
        void run.closed.then(({ code, signal }) => {
          this.afterExit(code, signal);
          resolveExited();
        });
        return run.child;
      },
      (e: unknown) => {
        if (!this.sup.isStopping) this.log.error({ err: e }, "calf could not be started");
        this.afterExit(null, null);
        resolveExited();
        return undefined;
      },
    );
  }

  /** The pid of the external calf connected now (SO_PEERCRED), or undefined. */
  get connectedPid(): number | undefined {
    return this.connection?.pid;
  }

  /** Waits for an external calf to connect; its run ends when either channel closes. */
  private async runExternal(listener: CalfListener): Promise<{ child: undefined; closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
    const conn = await listener.next();
    if (this.sup.isStopping) {
      conn.control.destroy();
      conn.data.destroy();
      throw new SandboxError("PADDOCK_E_SANDBOX_STATE", "stopping", this.name);
    }
    this.connection = conn;
    this.startedAt = performance.now();
    this.state = "running";
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      const ended = (): void => {
        conn.control.destroy();
        conn.data.destroy();
        resolve({ code: null, signal: null });
      };
      for (const s of [conn.control, conn.data]) {
        s.once("close", ended);
        // An error closes the socket too ("close" follows); the log line is the exit's.
        s.on("error", () => undefined);
      }
    });
    this.log.info({ pid: conn.pid, restarts: this.restarts, launch: "external" }, "calf started");
    this.sup.opts.onStart?.(this.name, { control: conn.control, data: conn.data });
    return { child: undefined, closed };
  }

  private async run(started?: StartedCalf): Promise<StartedCalf> {
    let run = started;
    if (!run) {
      if (this.restarts > 0) {
        // `runc run` removes its container when it exits; this covers a runc that was killed.
        await this.sup.runc(["delete", "--force", this.containerId]);
      }
      if (this.sup.isStopping) throw new SandboxError("PADDOCK_E_SANDBOX_STATE", "stopping", this.name);
      run = await runCalfContainer({ ...this.sup.opts }, this.name, this.bundleDir!);
      if (this.sup.isStopping) {
        run.child.kill("SIGKILL");
        destroyPair(run.control);
        destroyPair(run.data);
        throw new SandboxError("PADDOCK_E_SANDBOX_STATE", "stopping", this.name);
      }
    }
    const { child, control, data } = run;
    this.channels = [control, data];
    this.child = child;
    this.startedAt = performance.now();
    if (!this.sup.isStopping) this.state = "running";
    for (const stream of ["stdout", "stderr"] as const) {
      // No line count here: the calf's byte budget (forwardLine) bounds lines and bytes at once.
      const splitter = new LogLineSplitter(MAX_LOG_LINE_BYTES, Number.POSITIVE_INFINITY);
      const source = child[stream];
      if (!source) continue;
      const emit = (events: ReturnType<LogLineSplitter["push"]>): void => {
        for (const ev of events) if (ev.kind === "line") this.forwardLine(stream, ev.text, ev.truncated);
      };
      source.on("data", (chunk: Buffer) => emit(splitter.push(chunk, 0)));
      source.on("end", () => {
        emit(splitter.end(0));
        this.reportDrops();
      });
    }
    child.on("error", (e) => this.log.error({ err: e }, "runc could not be run"));
    this.log.info({ containerId: this.containerId, restarts: this.restarts, ...(started ? { early: true } : {}) }, "calf started");
    this.sup.opts.onStart?.(this.name, { control: control.priv, data: data.priv });
    return run;
  }

  private afterExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.child = undefined;
    for (const p of this.channels) destroyPair(p);
    this.channels = [];
    const pid = this.connection?.pid;
    this.connection = undefined;
    this.external?.release();
    const uptimeMs = this.startedAt > 0 ? performance.now() - this.startedAt : 0;
    if (this.sup.isStopping) {
      this.state = "stopped";
      this.lastExit = { code, signal, uptimeMs, restarts: this.restarts, restartInMs: undefined };
      this.log.info({ code, signal }, "calf stopped");
      this.sup.opts.onExit?.(this.name, this.lastExit);
      return;
    }
    if (this.restartRequested) {
      this.restartRequested = false;
      this.restarts++;
      this.lastExit = { code, signal, uptimeMs, restarts: this.restarts, restartInMs: 0 };
      this.log.info({ code, signal }, "calf restarted on request");
      this.launch();
      return;
    }
    if (this.external) {
      // The calf's own unit restarts it (systemd's RestartSec is the backoff): wait for it now.
      this.restarts++;
      this.state = "backoff";
      this.lastExit = { code, signal, uptimeMs, restarts: this.restarts, restartInMs: 0 };
      this.log.warn({ code, signal, pid, uptimeMs: Math.round(uptimeMs), restarts: this.restarts, restartInMs: 0, launch: "external" }, "calf exited; restarting");
      this.sup.opts.onExit?.(this.name, this.lastExit);
      this.launch();
      return;
    }
    const delay = nextRestartDelay(this.lastDelay, uptimeMs, this.sup.backoff);
    this.lastDelay = delay;
    this.restarts++;
    this.state = "backoff";
    this.lastExit = { code, signal, uptimeMs, restarts: this.restarts, restartInMs: delay };
    this.log.warn({ code, signal, uptimeMs: Math.round(uptimeMs), restarts: this.restarts, restartInMs: delay }, "calf exited; restarting");
    this.sup.opts.onExit?.(this.name, this.lastExit);
    this.timer = setTimeout(() => this.launch(), delay);
  }

  /** See Supervisor.restart. A calf waiting out a backoff starts at once. */
  async restart(timeoutMs: number): Promise<void> {
    if (this.external) {
      // Closing its channels ends the calf (EOF on fd 3); its unit starts it again.
      if (!this.connection || this.sup.isStopping) return;
      const exited = this.exited;
      this.restartRequested = true;
      this.connection.control.destroy();
      this.connection.data.destroy();
      await exited;
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.launch();
      return;
    }
    const child = await this.launching;
    if (!child || child.exitCode !== null || child.signalCode !== null || this.sup.isStopping) return;
    const exited = this.exited;
    this.restartRequested = true;
    await this.sup.runc(["kill", this.containerId, "SIGTERM"]);
    if (!(await settlesWithin(exited, timeoutMs))) {
      this.log.warn({ timeoutMs }, "calf ignored SIGTERM; killing");
      await this.sup.runc(["kill", this.containerId, "SIGKILL"]);
    }
  }

  async stop(timeoutMs: number): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.reportDrops();
    this.state = "stopping";
    if (this.external) {
      // Closing the channels ends the calf; closing the listener (which waits for every
      // connection it accepted to close) ends a wait for the next one.
      this.connection?.control.destroy();
      this.connection?.data.destroy();
      await this.external.close();
      await this.launching;
      await this.exited;
      this.state = "stopped";
      return;
    }
    // A launch in flight finishes (or is refused, seeing isStopping) before we look at the child.
    const child = await this.launching;
    if (child && child.exitCode === null && child.signalCode === null) {
      await this.sup.runc(["kill", this.containerId, "SIGTERM"]);
      if (!(await settlesWithin(this.exited, timeoutMs))) {
        this.log.warn({ timeoutMs }, "calf ignored SIGTERM; killing");
        await this.sup.runc(["kill", this.containerId, "SIGKILL"]);
        if (!(await settlesWithin(this.exited, timeoutMs))) child.kill("SIGKILL");
      }
    }
    await this.exited;
    const del = await this.sup.runc(["delete", "--force", this.containerId]);
    if (del.code !== 0 && !/does not exist|not found/.test(del.stderr)) this.log.error({ stderr: del.stderr.trim() }, "runc delete failed");
    if (this.bundleDir !== undefined) await rm(this.bundleDir, { recursive: true, force: true });
    this.state = "stopped";
  }
}

function destroyPair(p: SocketPair): void {
  p.priv.destroy();
  p.calf.destroy();
}

async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const ok = await Promise.race([p.then(() => true), t]);
  clearTimeout(timer);
  return ok;
}
