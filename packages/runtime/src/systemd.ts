/**
 * What the priv tells systemd (sd_notify(3), `Type=notify`) beyond STOPPING=1:
 *
 * - **READY=1** once every hosted service says it is ready — a service's `readiness` (service.ts;
 *   the DHCP client: its first lease applied), or, for a service without one, its calf's first
 *   KV request — or when `readyTimeoutMs` has passed, whichever comes first. A timed-out READY=1
 *   goes with a STATUS= line that says who is not ready, so `systemctl status` shows why; the
 *   unit's dependants start anyway (a machine without a DHCP server still boots).
 * - **STATUS=** whenever the services' status line changes: each service's one line
 *   ("dhcp4: bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min"), joined by "; ".
 * - **WATCHDOG=1** every half `WATCHDOG_USEC` (set by systemd for `WatchdogSec=`; ignored when
 *   `WATCHDOG_PID` names another process), from a timer on the priv's own event loop, and only
 *   while `healthy()` says so: a blocked loop or an unhealthy host stops the pings, and systemd
 *   restarts the unit.
 *
 * Readiness and status are evaluated after each commit of a service's store once its handlers
 * have settled (so "applied" means applied), and once a second until READY=1 is sent (a handler
 * retry succeeds without a commit). Everything here is a no-op without NOTIFY_SOCKET.
 */
import type { Logger } from "pino";
import type { KvStore } from "@paddock/kv";
import type { HandlerRunner } from "./handlers/reconciler.ts";
import type { SdNotifier } from "./sd-notify.ts";
import type { ServiceDefinition } from "./service.ts";
import type { CalfStatus } from "./supervisor.ts";

/** What a service reports for systemd and operators. */
export interface ServiceReadiness {
  /** Ready for READY=1 (the DHCP client: a lease applied). */
  readonly ready: boolean;
  /** One line for STATUS= ("bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min"). */
  readonly status: string;
}

/** One hosted service as the bridge sees it. */
export interface ReadinessSource {
  /** Unique in the process: "SERVICE-IFACE". */
  readonly name: string;
  readonly service: string;
  readonly iface: string;
  /** Its report now; undefined when the service defines none (it is ready once its calf spoke). */
  evaluate(): ServiceReadiness | undefined;
  /** Resolves when its handlers have applied what its store holds (the evaluation waits for it). */
  settled(): Promise<void>;
  /** Subscribes to its store's commits; returns the unsubscribe function. */
  watch(onCommit: () => void): () => void;
}

/**
 * A hosted service as a readiness source: its definition's `readiness` over its store and its
 * handlers (the runner is asked for each time: the host may replace it when the interface returns).
 */
export function readinessSource(def: ServiceDefinition<any>, iface: string, store: KvStore, runner: () => HandlerRunner | undefined): ReadinessSource {
  return {
    name: `${def.name}-${iface}`,
    service: def.name,
    iface,
    evaluate: () =>
      def.readiness?.({
        store: { get: (p) => store.values.get(p), get parsed() { return store.parsed; } },
        handlers: runner()?.status() ?? [],
        now: Date.now(),
      }),
    settled: async () => {
      await store.settled();
      await runner()?.settled();
    },
    watch: (onCommit) => store.watch("/", () => onCommit()),
  };
}

/**
 * Healthy enough for a watchdog ping: no calf is crash-looping at the longest restart delay
 * (`maxBackoffMs`). A calf restarting now and then is normal; one that cannot stay up is not,
 * and systemd's restart of the unit (with its own limits) is then the operator's signal.
 */
export function calvesHealthy(statuses: readonly CalfStatus[], maxBackoffMs: number): boolean {
  return statuses.every((s) => !(s.state === "backoff" && (s.lastExit?.restartInMs ?? 0) >= maxBackoffMs));
}

/** Default wait for readiness before READY=1 is sent anyway (`--ready-timeout`). */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

/** How often readiness is re-evaluated until READY=1 (a retry that succeeds commits nothing). */
const READY_POLL_MS = 1_000;

/** The watchdog interval from the environment (µs → ms, halved), or undefined when not asked for. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usec = Number(env["WATCHDOG_USEC"]);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const owner = env["WATCHDOG_PID"];
  if (owner !== undefined && owner !== "" && Number(owner) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface SystemdBridgeOptions {
  readonly notifier: SdNotifier;
  readonly log: Logger;
  /** READY=1 anyway after this long (default DEFAULT_READY_TIMEOUT_MS). */
  readonly readyTimeoutMs?: number;
  /** Where WATCHDOG_USEC/WATCHDOG_PID are read from (default process.env; they are removed). */
  readonly env?: NodeJS.ProcessEnv;
  /** Whether the host is healthy enough for a watchdog ping. */
  readonly healthy: () => boolean;
}

/**
 * Readiness, status and watchdog for one priv process: every host in it (one per interface) adds
 * its services with add(); whoever owns the bridge calls start() once they all have.
 */
export class SystemdBridge {
  private readonly sources: ReadinessSource[] = [];
  private readonly spoken = new Set<string>();
  private readonly cleanups: Array<() => void> = [];
  private readySent = false;
  private lastStatus: string | undefined;
  private stopped = false;
  private sending: Promise<void> = Promise.resolve();
  private readonly watchdogMs: number | undefined;

  private started = false;
  /** Services announced before their hosts have added them (a host waiting for its interface). */
  private readonly expected: Array<{ readonly name: string; readonly service: string; readonly iface: string }> = [];

  constructor(private readonly opts: SystemdBridgeOptions) {
    const env = opts.env ?? process.env;
    this.watchdogMs = watchdogIntervalMs(env);
    // Like NOTIFY_SOCKET: a child (a hook, a helper) must not think it is the watched process.
    delete env["WATCHDOG_USEC"];
    delete env["WATCHDOG_PID"];
  }

  /** Whether anything is sent at all. */
  get enabled(): boolean {
    return this.opts.notifier.enabled;
  }

  /** Whether READY=1 has been sent (or would have been, without NOTIFY_SOCKET). */
  get ready(): boolean {
    return this.readySent;
  }

  /** The notifier it sends with (the supervisors send STOPPING=1 with it too). */
  get notifier(): SdNotifier {
    return this.opts.notifier;
  }

  /**
   * Announces the services that will be added (every host's, before the hosts start): READY=1
   * waits for all of them, and one not added yet shows as "waiting for IFACE" — so the ready
   * timeout runs from the process's start, also while a host waits for its interface.
   */
  expect(services: ReadonlyArray<{ readonly service: string; readonly iface: string }>): void {
    for (const e of services) this.expected.push({ name: `${e.service}-${e.iface}`, ...e });
  }

  /** Adds services to follow (a host, once its services are up); evaluated from start() on. */
  add(sources: readonly ReadinessSource[]): void {
    this.sources.push(...sources);
    for (const s of sources) {
      this.cleanups.push(
        s.watch(() => {
          // After every watcher of this commit ran (the handler runner marks itself busy), then
          // once the handlers settled: "applied" is read after the apply, not before it.
          setImmediate(() => void s.settled().then(() => this.update()));
        }),
      );
    }
    this.update();
  }

  /** Starts the ready timeout and the watchdog, and evaluates readiness from now on. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const poll = setInterval(() => {
      if (this.readySent) clearInterval(poll);
      else this.update();
    }, READY_POLL_MS);
    poll.unref();
    this.cleanups.push(() => clearInterval(poll));
    const timeoutMs = this.opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const timeout = setTimeout(() => this.readyAnyway(timeoutMs), timeoutMs);
    timeout.unref();
    this.cleanups.push(() => clearTimeout(timeout));
    if (this.watchdogMs !== undefined) {
      this.opts.log.info({ intervalMs: this.watchdogMs }, "systemd watchdog: pinging at half WatchdogSec");
      const ping = setInterval(() => {
        if (this.stopped) return;
        if (!this.opts.healthy()) {
          this.opts.log.warn({}, "systemd watchdog: the host is not healthy, no ping");
          return;
        }
        this.send("WATCHDOG=1");
      }, this.watchdogMs);
      this.cleanups.push(() => clearInterval(ping));
    }
    this.update();
  }

  /** A service's calf ("SERVICE-IFACE") made its first KV request (readiness of a service without `readiness`). */
  calfSpoke(service: string): void {
    this.spoken.add(service);
    this.update();
  }

  /** Re-evaluates readiness and status; sends what changed. */
  update(): void {
    if (!this.started || this.stopped || this.entries().length === 0) return;
    const reports = this.reports();
    const status = this.statusLine(reports);
    if (status !== this.lastStatus) {
      this.lastStatus = status;
      this.send(`STATUS=${status}`);
    }
    if (!this.readySent && reports.every((r) => this.isReady(r))) {
      this.readySent = true;
      this.send("READY=1");
      this.opts.log.info({ status }, this.enabled ? "ready (sd_notify READY=1)" : "ready");
    }
  }

  /** Stops the timers; what was sent stays. */
  stop(): void {
    this.stopped = true;
    for (const c of this.cleanups.splice(0)) c();
  }

  /** Waits for what was queued to be sent (tests). */
  flushed(): Promise<void> {
    return this.sending;
  }

  private readyAnyway(timeoutMs: number): void {
    if (this.readySent || this.stopped) return;
    const reports = this.reports();
    const waiting = reports.filter((r) => !this.isReady(r)).map((r) => this.label(r.name));
    const status = `${this.statusLine(reports)} (not ready after ${Math.round(timeoutMs / 1000)} s: ${waiting.join(", ")}; ready anyway)`;
    this.lastStatus = status;
    this.send(`STATUS=${status}`);
    this.readySent = true;
    this.send("READY=1");
    this.opts.log.warn({ waiting, timeoutMs }, `not ready after ${Math.round(timeoutMs / 1000)} s (${waiting.join(", ")})${this.enabled ? "; sd_notify READY=1 sent anyway" : ""}`);
  }

  /** Every service, announced or added, in that order, each once. */
  private entries(): Array<{ name: string; service: string; iface: string; source: ReadinessSource | undefined }> {
    const out = this.expected.map((e) => ({ ...e, source: this.sources.find((s) => s.name === e.name) }));
    for (const s of this.sources) if (!out.some((e) => e.name === s.name)) out.push({ name: s.name, service: s.service, iface: s.iface, source: s });
    return out;
  }

  /** Each service's report now; `added` false for one whose host has not added it yet. */
  private reports(): Array<{ name: string; iface: string; added: boolean; report: ServiceReadiness | undefined }> {
    return this.entries().map((e) => ({ name: e.name, iface: e.iface, added: e.source !== undefined, report: e.source?.evaluate() }));
  }

  private isReady(r: { name: string; added: boolean; report: ServiceReadiness | undefined }): boolean {
    return r.added && (r.report ? r.report.ready : this.spoken.has(r.name));
  }

  private statusLine(reports: ReadonlyArray<{ name: string; iface: string; added: boolean; report: ServiceReadiness | undefined }>): string {
    const text = (r: (typeof reports)[number]) => (!r.added ? `waiting for ${r.iface}` : (r.report?.status ?? (this.spoken.has(r.name) ? "running" : "starting")));
    return reports.map((r) => `${this.label(r.name)}: ${text(r)}`).join("; ");
  }

  /** A service's name in STATUS= lines: "dhcp4", or "dhcp4 on eth0" when it runs on several interfaces. */
  private label(name: string): string {
    const all = this.entries();
    const s = all.find((x) => x.name === name);
    if (!s) return name;
    return all.some((x) => x !== s && x.service === s.service) ? `${s.service} on ${s.iface}` : s.service;
  }

  /** Sends in order, one at a time; a failure is logged, never thrown. */
  private send(state: "READY=1" | "WATCHDOG=1" | `STATUS=${string}`): void {
    if (!this.opts.notifier.enabled) return;
    this.sending = this.sending.then(() =>
      this.opts.notifier.notify(state).catch((err: unknown) => this.opts.log.error({ err: (err as Error).message, state: state.slice(0, 40) }, "sd_notify failed")),
    );
  }
}
