/**
 * `runCalf(profile, main)`: the entry point of every calf. It opens the two pre-opened channels
 * (fd 3 control: the KV client; fd 4 data), gives `main` a context, and shuts down cleanly: on
 * SIGTERM/SIGINT, or when the priv closes a channel, the context's `signal` is aborted, `main` is
 * given a moment to finish (a DHCP client sends its RELEASE), and the process exits.
 */
import { DataChannel } from "./data.ts";
import { defaultHost } from "./default-host.ts";
import { hostStreamFromSocket, type CalfHost, type NodeStreamLike } from "./host.ts";
import { KvClient } from "./kv.ts";
import { createCalfLogger, type CalfLogger, type CalfLogLevel } from "./log.ts";
import { CONTROL_FD, DATA_FD, type CalfProfile } from "./profile.ts";
import { Timers } from "./timers.ts";

/** How long `main` has to finish after a stop before the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 2000;

/** What a calf's main function gets. */
export interface CalfContext {
  readonly profile: CalfProfile;
  /** The KV store, with this calf's schema rights. */
  readonly kv: KvClient;
  /** Frames, datagrams and link state. */
  readonly data: DataChannel;
  readonly log: CalfLogger;
  /** Named timers at absolute times (ms since the epoch). */
  readonly timers: Timers;
  /** Wall-clock ms since the epoch (inject this into sans-IO cores). */
  now(): number;
  /** Monotonic ns from an arbitrary origin, for measuring intervals: never jumps when the clock is set. */
  monotonicNs(): bigint;
  /** `bytes` bytes from the kernel's CSPRNG (xids, nonces: what an off-path attacker must not guess). */
  random(bytes: number): Uint8Array;
  /**
   * Stops the calf: the signal is aborted, stop handlers run, and the process exits with `code`
   * (non-zero: the priv restarts it with backoff).
   */
  exit(code: number, reason: string): void;
  /** Aborted when the calf must stop; `reason` says why. */
  readonly signal: AbortSignal;
  /**
   * Registers work to finish before the calf exits (a RELEASE and the store writes that withdraw
   * a lease): when the calf stops, every handler runs and is awaited, together bounded by
   * SHUTDOWN_GRACE_MS, while both channels are still open.
   */
  onStop(handler: () => Promise<void> | void): void;
}

/** Where the channels come from; tests and dev harnesses pass connected stream sockets. */
export interface CalfChannels {
  control: NodeStreamLike;
  data: NodeStreamLike;
}

export interface RunCalfOptions {
  /** The host (default: the engine's, ./default-host.ts). */
  host?: CalfHost;
  /** Channels instead of the host's fds 3 and 4. */
  channels?: CalfChannels;
  logLevel?: CalfLogLevel;
  log?: CalfLogger;
  /** Exit the process when main ends (default true; tests pass false). */
  exit?: boolean;
}

/**
 * Runs a calf. `main` may return when it has set up its listeners; the calf then lives until it
 * is stopped. If `main` throws, the calf logs the error and exits non-zero (the priv restarts it).
 */
export async function runCalf(profile: CalfProfile, main: (ctx: CalfContext) => Promise<void> | void, opts: RunCalfOptions = {}): Promise<void> {
  const host = opts.host ?? defaultHost;
  const log = opts.log ?? createCalfLogger(opts.logLevel ?? "info", host.writeLog, host.realTimeMs);
  const control = opts.channels ? hostStreamFromSocket(opts.channels.control) : host.openChannel(CONTROL_FD);
  const dataStream = opts.channels ? hostStreamFromSocket(opts.channels.data) : host.openChannel(DATA_FD);
  const kv = new KvClient(control, { setTimer: host.setTimer });
  const data = new DataChannel(dataStream);
  const timers = new Timers(host.realTimeMs, host.setTimer);
  const controller = new AbortController();
  const exit = opts.exit ?? true;
  let code = 0;
  const stop = (reason: string) => {
    if (controller.signal.aborted) return;
    log.info({ reason }, "stopping");
    controller.abort(reason);
  };
  const unsubscribe = host.onStopRequest((sig) => stop(`received ${sig}`));
  control.onClose((reason) => stop(reason === "closed" ? "the priv closed the control channel" : `control channel ${reason}`));
  data.onClose((reason) => stop(reason));

  const stopHandlers: Array<() => Promise<void> | void> = [];
  const ctx: CalfContext = {
    profile,
    kv,
    data,
    log,
    timers,
    now: host.realTimeMs,
    monotonicNs: host.monotonicNs,
    random: host.random,
    exit: (exitCode, reason) => {
      code = exitCode;
      stop(reason);
    },
    signal: controller.signal,
    onStop: (handler) => void stopHandlers.push(handler),
  };
  try {
    await main(ctx);
  } catch (err) {
    // The stack too: the priv logs it, and `paddock calf dev` maps it back to the sources.
    log.error({ err: (err as Error)?.message ?? String(err), ...((err as Error)?.stack ? { stack: (err as Error).stack } : {}) }, "calf failed");
    code = 1;
    stop("main failed");
  }
  if (!controller.signal.aborted) await new Promise((r) => controller.signal.addEventListener("abort", r, { once: true }));
  // The calf's stop work (a RELEASE, the writes that withdraw its lease) runs to completion while
  // both channels are open, then what it wrote is flushed; all of it within the grace period.
  const finishing = (async () => {
    for (const h of stopHandlers) {
      try {
        await h();
      } catch (err) {
        log.error({ err: (err as Error).message }, "a stop handler failed");
      }
    }
    await data.flush();
  })();
  let timedOut = false;
  let cancelGrace = () => {};
  await Promise.race([finishing, new Promise((r) => (cancelGrace = host.setTimer(SHUTDOWN_GRACE_MS, () => r((timedOut = true)))))]);
  cancelGrace();
  if (timedOut) log.warn({ graceMs: SHUTDOWN_GRACE_MS }, "stop work did not finish in time");
  timers.cancelAll();
  kv.close();
  data.close();
  // When exiting, the handlers stay: a second stop request (Ctrl-C reaches the whole process
  // group, then the supervisor's SIGTERM) must not kill the calf with a signal on its way out.
  if (exit) host.exit(code);
  unsubscribe();
}
