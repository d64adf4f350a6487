/**
 * Level-triggered reconcilers from the KV store to the system (DESIGN.md invariant 6).
 *
 * A handler is two functions: `desired(store, now)` computes what the system should look like
 * from the WHOLE durable store (never from the event that woke it), and `apply(desired)` converges
 * the system to it idempotently. The runner calls them when the store changes, at start (from the
 * persisted store, so a restarted priv reconciles what it applied before), when a handler says its
 * desired state changes by itself (a lease expiring), and periodically to repair drift.
 *
 * Handlers read parsed values (`store.parsed`: what each key's schema parser returned when the
 * value was written or loaded), never text to parse again: the store's schema check at the edge is
 * the priv's validation (DESIGN.md invariant 1, STYLE.md 13).
 *
 * No debounce: a calf publishes one result (a lease) as one atomic KV commit, so every change
 * the runner sees is whole, and a reconcile starts at once. Changes that arrive while an apply
 * runs are coalesced into one more reconcile after it.
 *
 * Failures are retried with exponential backoff up to a cap, forever: the system converges as soon
 * as whatever blocked it (a missing interface, a full disk) goes away. Every outcome is counted and
 * kept for the admin view and metrics.
 */

/** Minimal logger (pino-compatible). */
export interface HandlerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything. */
export const silentLogger: HandlerLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * What a handler's `desired` reads: the durable store, parsed. Both maps have the same keys and
 * are one consistent snapshot.
 */
export interface StoreView {
  /**
   * Parsed values by path ("/ip" → an `Ipv4Cidr`), as the key's schema parser returned them; read
   * them with @paddock/kv's `readKey` / `readKeys` and the schema's typed keys.
   */
  readonly parsed: ReadonlyMap<string, unknown>;
  /** The same values as canonical text, for describing and logging only. */
  readonly values: ReadonlyMap<string, string>;
}

/** What the runner reads: the durable values, parsed and as text, and change notifications (KvStore fits). */
export interface KvSource extends StoreView {
  /** Subscribes to committed changes at or under `prefix`; returns the unsubscribe function. */
  watch(prefix: string, onEvent: (e: unknown) => void): () => void;
  /**
   * Optional: registers a hook called with the store as it will be once the commits being
   * persisted are durable, before they are written; records the hook writes into the source
   * (a `RecordStore`) go in the same durable write (KvStore.beforePersist; decision 0012).
   */
  beforePersist?(hook: (view: StoreView) => Promise<void> | void): () => void;
}

/** What `apply` gets besides the desired state. */
export interface HandlerContext {
  /** The runner's logger, bound to the handler's name. */
  readonly log: HandlerLogger;
  /** The clock (ms since the epoch); injected so tests control it. */
  now(): number;
}

/** What an apply did, for the log: empty when the system already matched. */
export interface ApplyReport {
  /** One readable line per change ("add 10.0.0.5/24 dev eth0 valid 3600s"). */
  readonly changes: readonly string[];
  /** Things left alone on purpose (an address someone else owns); logged as warnings. */
  readonly conflicts?: readonly string[];
  /**
   * What the apply put in place when it is less than the desired state (a lease refused whole for
   * a conflict): what the runner's `onApplied` reports instead of the desired state.
   */
  readonly applied?: unknown;
}

/** A reconciler. */
export interface Handler<D = unknown> {
  /** Stable name for logs, metrics and the admin view ("lease", "hostname"). */
  readonly name: string;
  /** The desired state from the whole store's parsed values. Pure: no I/O, no clock but `now`. */
  desired(store: StoreView, now: number): D;
  /** Converges the system to `desired`; idempotent; throws to be retried. */
  apply(desired: D, ctx: HandlerContext): Promise<ApplyReport>;
  /** When (ms since the epoch) `desired` will change without a store change, e.g. a lease's expiry. */
  wakeAt?(desired: D): number | undefined;
  /**
   * Optional, for a source with `beforePersist`: called with the desired state of commits that are
   * about to be persisted, before they are durable, while no apply of this handler runs. It may
   * look at the system (read only) and write the ownership record its next apply would write
   * ahead of its changes (not awaiting it: the write joins the commits' persist), so that the
   * commit and the record reach the disk in one write and the apply changes the system at once
   * (decision 0012). Must change nothing on the system; what it throws is logged, and the apply
   * then writes its record ahead as it would without it.
   */
  prepare?(desired: D, ctx: HandlerContext): Promise<void>;
  /** A one-line summary of a desired state for logs and the admin view. */
  describe?(desired: D): string;
  /**
   * Called once by the runner's stop(), after the last apply finished: hands back what only
   * holds while the service runs (the RA service's accept_ra=0 and autoconf=0 on its link),
   * never what a lease or lifetime still covers (invariant 5). A failure is logged, not thrown.
   */
  stopped?(ctx: HandlerContext): Promise<ApplyReport>;
}

/** Exponential backoff: `initialMs × factor^(n-1)`, capped at `maxMs`. */
export interface RetryPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

/**
 * Default retry policy. 250 ms first: most failures (a link being renamed, a busy netlink socket)
 * clear within a moment. 60 s cap: an error that persists (no interface) is retried often enough
 * to converge within a minute of being fixed, rarely enough that its log line is not a flood.
 */
export const DEFAULT_RETRY: RetryPolicy = { initialMs: 250, maxMs: 60_000, factor: 2 };

/**
 * Periodic reconcile to repair drift (an operator deleting our address by hand). Five minutes:
 * drift is rare and the kernel's lifetimes keep a lease's address correct on their own meanwhile.
 */
export const DEFAULT_RESYNC_MS = 5 * 60_000;

/** The delay before retry number `attempt` (1-based). */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const n = Math.max(1, attempt);
  const delay = policy.initialMs * policy.factor ** (n - 1);
  return Math.min(policy.maxMs, Number.isFinite(delay) ? delay : policy.maxMs);
}

/** A handler's state, for the admin view and metrics. */
export interface HandlerStatus {
  readonly name: string;
  /** "converged": the last apply succeeded and nothing changed since; "pending": a reconcile is due or running; "failing": the last apply failed and a retry is scheduled. */
  readonly state: "converged" | "pending" | "failing";
  /** The desired state's summary at the last reconcile. */
  readonly desired: string | undefined;
  /** Reconciles started (successes + failures). */
  readonly reconciles: number;
  /** Failed reconciles, in total. */
  readonly failures: number;
  /** Failed reconciles since the last success (the retry attempt number). */
  readonly consecutiveFailures: number;
  /** When the last apply succeeded (ms since the epoch). */
  readonly lastSuccessAt: number | undefined;
  /** When the last apply failed, with what. */
  readonly lastError: { readonly at: number; readonly message: string; readonly code: string | undefined } | undefined;
  /** How long the last apply took (ms). */
  readonly lastDurationMs: number | undefined;
  /** When the scheduled retry runs (ms since the epoch). */
  readonly nextRetryAt: number | undefined;
  /** Conflicts the last apply reported (things left alone because they are not ours). */
  readonly conflicts: readonly string[];
}

/** Options of a runner. */
export interface HandlerRunnerOptions {
  readonly source: KvSource;
  /** Handlers, each reconciled independently (one apply at a time per handler). */
  readonly handlers: readonly Handler<any>[];
  readonly log?: HandlerLogger;
  /** Watch only this prefix (default "/": everything). */
  readonly prefix?: string;
  readonly retry?: Partial<RetryPolicy>;
  /** Periodic reconcile interval; 0 disables. */
  readonly resyncMs?: number;
  readonly now?: () => number;
  /**
   * Called after a handler's apply succeeded, with the desired state it applied and the store
   * snapshot it came from (hooks follow these: a hook then sees what the apply did). Must not
   * block; what it throws is logged, not counted as the handler's failure.
   */
  readonly onApplied?: (handler: string, applied: { readonly desired: unknown; readonly store: StoreView; readonly at: number }) => void;
}

/** Longest timer we arm: setTimeout overflows past 2^31-1 ms (~24.8 days) and fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Slot {
  readonly handler: Handler<any>;
  readonly log: HandlerLogger;
  running: Promise<void> | null;
  /** A reconcile is wanted (a change arrived, or a retry/wake/resync is due). */
  dirty: boolean;
  retryTimer: ReturnType<typeof setTimeout> | null;
  wakeTimer: ReturnType<typeof setTimeout> | null;
  nextRetryAt: number | undefined;
  desired: string | undefined;
  reconciles: number;
  failures: number;
  consecutiveFailures: number;
  lastSuccessAt: number | undefined;
  lastError: HandlerStatus["lastError"];
  lastDurationMs: number | undefined;
  conflicts: readonly string[];
  /** Conflicts already warned about, so a persistent one is logged once, not on every resync. */
  warned: Set<string>;
}

/** Runs handlers against a store: level-triggered, retried with backoff. */
export class HandlerRunner {
  private readonly source: KvSource;
  private readonly log: HandlerLogger;
  private readonly prefix: string;
  private readonly retry: RetryPolicy;
  private readonly resyncMs: number;
  private readonly now: () => number;
  private readonly onApplied: HandlerRunnerOptions["onApplied"];
  private readonly slots: Slot[];
  private unwatch: (() => void) | null = null;
  private unhook: (() => void) | null = null;
  private resyncTimer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(opts: HandlerRunnerOptions) {
    this.source = opts.source;
    this.log = opts.log ?? silentLogger;
    this.prefix = opts.prefix ?? "/";
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.resyncMs = opts.resyncMs ?? DEFAULT_RESYNC_MS;
    this.now = opts.now ?? Date.now;
    this.onApplied = opts.onApplied;
    const names = new Set<string>();
    this.slots = opts.handlers.map((handler) => {
      if (names.has(handler.name)) throw new Error(`two handlers are named ${handler.name}`);
      names.add(handler.name);
      return {
        handler,
        log: bindLogger(this.log, handler.name),
        running: null,
        dirty: false,
        retryTimer: null,
        wakeTimer: null,
        nextRetryAt: undefined,
        desired: undefined,
        reconciles: 0,
        failures: 0,
        consecutiveFailures: 0,
        lastSuccessAt: undefined,
        lastError: undefined,
        lastDurationMs: undefined,
        conflicts: [],
        warned: new Set(),
      };
    });
  }

  /** Subscribes to the store and reconciles every handler from the persisted state. */
  start(): void {
    if (this.unwatch || this.stopped) return;
    this.unwatch = this.source.watch(this.prefix, () => this.changed());
    if (this.source.beforePersist && this.slots.some((s) => s.handler.prepare)) this.unhook = this.source.beforePersist((view) => this.prepare(view));
    if (this.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.changed(), Math.min(this.resyncMs, MAX_TIMER_MS));
      this.resyncTimer.unref?.();
    }
    for (const s of this.slots) this.kick(s);
  }

  /** Stops watching and waits for running applies to finish. Nothing is withdrawn: the configuration stays (invariant 5). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    this.unwatch = null;
    this.unhook?.();
    this.unhook = null;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const s of this.slots) {
      for (const t of [s.retryTimer, s.wakeTimer]) if (t) clearTimeout(t);
      s.retryTimer = s.wakeTimer = null;
      s.dirty = false;
    }
    await Promise.all(this.slots.map((s) => s.running));
    for (const s of this.slots) {
      if (s.handler.stopped === undefined) continue;
      const log = s.log;
      try {
        const report = await s.handler.stopped({ log, now: this.now });
        if (report.changes.length > 0) log.info({ handler: s.handler.name, changes: report.changes }, `handler ${s.handler.name} stopped: ${report.changes.join("; ")}`);
      } catch (err) {
        log.error({ handler: s.handler.name, err: (err as Error).message }, `handler ${s.handler.name} could not undo its run-time settings at stop`);
      }
    }
  }

  /** Asks for a reconcile of one handler (or all) now, e.g. from the admin socket or a link event. */
  reconcileNow(name?: string): void {
    for (const s of this.slots) if (name === undefined || s.handler.name === name) this.kick(s);
  }

  /**
   * Resolves once no handler is running: every change seen so far has been applied or has failed
   * (a failed one may have a retry scheduled; see status()).
   */
  async settled(): Promise<void> {
    for (;;) {
      const busy = this.slots.filter((s) => s.running);
      if (busy.length === 0) return;
      await Promise.all(busy.map((s) => s.running));
    }
  }

  /** Every handler's state. */
  status(): HandlerStatus[] {
    return this.slots.map((s) => ({
      name: s.handler.name,
      state: s.running || (s.dirty && !s.retryTimer) ? "pending" : s.consecutiveFailures > 0 ? "failing" : "converged",
      desired: s.desired,
      reconciles: s.reconciles,
      failures: s.failures,
      consecutiveFailures: s.consecutiveFailures,
      lastSuccessAt: s.lastSuccessAt,
      lastError: s.lastError,
      lastDurationMs: s.lastDurationMs,
      nextRetryAt: s.nextRetryAt,
      conflicts: s.conflicts,
    }));
  }

  /**
   * Before commits are persisted: each idle handler with `prepare` looks at the desired state they
   * make and writes its record into the same persist. A handler whose apply is running is skipped:
   * its own record writes would race, and it may be waiting for this very persist. It writes its
   * records ahead itself.
   */
  private async prepare(view: StoreView): Promise<void> {
    if (this.stopped) return;
    const now = this.now();
    await Promise.all(this.slots.map(async (s) => {
      if (!s.handler.prepare) return;
      if (s.running) {
        s.log.debug({ handler: s.handler.name }, `handler ${s.handler.name}: not prepared (an apply is running)`);
        return;
      }
      try {
        await s.handler.prepare(s.handler.desired(view, now), { log: s.log, now: this.now });
      } catch (err) {
        s.log.debug({ handler: s.handler.name, err: (err as Error).message }, `handler ${s.handler.name}: prepare failed; the apply writes its record ahead itself`);
      }
    }));
  }

  /** A store change (one whole commit): reconcile every handler. */
  private changed(): void {
    if (this.stopped) return;
    for (const s of this.slots) this.kick(s);
  }

  /** Reconciles now, or right after the running apply. */
  private kick(s: Slot): void {
    if (this.stopped) return;
    s.dirty = true;
    if (s.running) return;
    if (s.retryTimer) {
      // A change (or an explicit kick) retries at once: the new desired state may well apply.
      clearTimeout(s.retryTimer);
      s.retryTimer = null;
      s.nextRetryAt = undefined;
    }
    s.running = this.reconcile(s).finally(() => {
      s.running = null;
      // A change that arrived during the apply is applied now, even if the apply failed: the new
      // desired state may well succeed, so it does not wait out the backoff.
      if (s.dirty && !this.stopped) this.kick(s);
    });
  }

  private async reconcile(s: Slot): Promise<void> {
    s.dirty = false;
    const h = s.handler;
    const started = this.now();
    // For bench/apply.ts: when the reconcile began, to the microsecond (the wall clock's `now` has milliseconds).
    const startedAt = performance.timeOrigin + performance.now();
    s.log.debug({ handler: h.name, at: startedAt }, `handler ${h.name}: reconcile begins`);
    let desired: unknown;
    s.reconciles++;
    try {
      // The source replaces (never mutates) its maps at each durable commit: one snapshot.
      const store: StoreView = { parsed: this.source.parsed, values: this.source.values };
      desired = h.desired(store, started);
      s.desired = h.describe ? h.describe(desired) : undefined;
      const report = await h.apply(desired, { log: s.log, now: this.now });
      const took = this.now() - started;
      s.lastDurationMs = took;
      s.lastSuccessAt = this.now();
      if (s.consecutiveFailures > 0) s.log.info({ handler: h.name, afterFailures: s.consecutiveFailures }, `handler ${h.name} recovered`);
      s.consecutiveFailures = 0;
      s.conflicts = report.conflicts ?? [];
      for (const c of s.conflicts) {
        if (!s.warned.has(c)) s.log.warn({ handler: h.name, conflict: c }, `handler ${h.name}: ${c}`);
      }
      s.warned = new Set(s.conflicts);
      if (report.changes.length > 0) {
        s.log.info({ handler: h.name, desired: s.desired, changes: report.changes, durationMs: took }, `handler ${h.name} applied: ${report.changes.join("; ")}`);
      } else {
        s.log.debug({ handler: h.name, desired: s.desired, durationMs: took }, `handler ${h.name}: system already matches`);
      }
      try {
        this.onApplied?.(h.name, { desired: report.applied !== undefined ? report.applied : desired, store, at: started });
      } catch (err) {
        s.log.error({ handler: h.name, err: (err as Error).message }, `after handler ${h.name} applied: ${(err as Error).message}`);
      }
    } catch (err) {
      s.lastDurationMs = this.now() - started;
      s.failures++;
      s.consecutiveFailures++;
      const e = err as Error & { code?: unknown };
      const message = e instanceof Error ? e.message : String(err);
      const code = typeof e?.code === "string" ? e.code : undefined;
      s.lastError = { at: this.now(), message, code };
      const delay = backoffDelay(this.retry, s.consecutiveFailures);
      s.nextRetryAt = this.now() + delay;
      s.log.error(
        { handler: h.name, err: message, code, attempt: s.consecutiveFailures, retryInMs: delay },
        `handler ${h.name} failed (attempt ${s.consecutiveFailures}), retrying in ${delay} ms: ${message}`,
      );
      if (!this.stopped) {
        s.retryTimer = setTimeout(() => {
          s.retryTimer = null;
          s.nextRetryAt = undefined;
          this.kick(s);
        }, delay);
      }
    }
    this.armWake(s, desired);
  }

  /** Arms a timer for when the desired state changes by itself (a lease's expiry). */
  private armWake(s: Slot, desired: unknown): void {
    if (s.wakeTimer) clearTimeout(s.wakeTimer);
    s.wakeTimer = null;
    if (this.stopped || desired === undefined || !s.handler.wakeAt) return;
    const at = s.handler.wakeAt(desired);
    if (at === undefined) return;
    // Long waits are re-armed in steps; a wake-up before the time just recomputes the same state.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.now()) + 1);
    s.wakeTimer = setTimeout(() => {
      s.wakeTimer = null;
      this.kick(s);
    }, delay);
    s.wakeTimer.unref?.();
  }
}

/** The runner's logger with `{ handler: name }` added to every line. */
function bindLogger(log: HandlerLogger, name: string): HandlerLogger {
  const add = (obj: object): object => ({ handler: name, ...obj });
  return {
    debug: (o, m) => log.debug(add(o), m),
    info: (o, m) => log.info(add(o), m),
    warn: (o, m) => log.warn(add(o), m),
    error: (o, m) => log.error(add(o), m),
  };
}
