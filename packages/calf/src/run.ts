/**
 * `runCalf(profile, main)`: the entry point of every calf. It opens the two pre-opened channels
 * (fd 3 control: the KV client; fd 4 data), gives `main` a context, and shuts down cleanly: on
 * SIGTERM/SIGINT, or when the priv closes a channel, the context's `signal` is aborted, `main` is
 * given a moment to finish (a DHCP client sends its RELEASE), and the process exits.
 */
import net from "node:net";
import { KvClient } from "@paddock/kv/client";
import { DataChannel } from "./data.ts";
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
  /** Aborted when the calf must stop; `reason` says why. */
  readonly signal: AbortSignal;
  /**
   * Registers work to finish before the calf exits (a RELEASE and the store writes that withdraw
   * a lease): when the calf stops, every handler runs and is awaited, together bounded by
   * SHUTDOWN_GRACE_MS, while both channels are still open.
   */
  onStop(handler: () => Promise<void> | void): void;
}

/** Where the channels come from; tests and dev harnesses pass other fds or sockets. */
export interface CalfChannels {
  control: net.Socket;
  data: net.Socket;
}

export interface RunCalfOptions {
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
  const log = opts.log ?? createCalfLogger(opts.logLevel ?? "info");
  const channels = opts.channels ?? {
    control: new net.Socket({ fd: CONTROL_FD, readable: true, writable: true }),
    data: new net.Socket({ fd: DATA_FD, readable: true, writable: true }),
  };
  const kv = KvClient.fromSocket(channels.control);
  const data = new DataChannel(channels.data);
  const timers = new Timers();
  const controller = new AbortController();
  const exit = opts.exit ?? true;
  let code = 0;
  const stop = (reason: string) => {
    if (controller.signal.aborted) return;
    log.info({ reason }, "stopping");
    controller.abort(reason);
  };
  const onSignal = (sig: NodeJS.Signals) => stop(`received ${sig}`);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  channels.control.once("close", () => stop("the priv closed the control channel"));
  data.onClose((reason) => stop(reason));

  const stopHandlers: Array<() => Promise<void> | void> = [];
  const ctx: CalfContext = {
    profile,
    kv,
    data,
    log,
    timers,
    now: Date.now,
    signal: controller.signal,
    onStop: (handler) => void stopHandlers.push(handler),
  };
  try {
    await main(ctx);
  } catch (err) {
    log.error({ err: (err as Error).message }, "calf failed");
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
  await Promise.race([finishing, new Promise((r) => setTimeout(() => r((timedOut = true)), SHUTDOWN_GRACE_MS).unref())]);
  if (timedOut) log.warn({ graceMs: SHUTDOWN_GRACE_MS }, "stop work did not finish in time");
  timers.cancelAll();
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  kv.close();
  data.close();
  if (exit) process.exit(code);
}
