/**
 * The system calls of the priv's own sandbox (native/src/sandbox.cc): drop capabilities on every
 * thread, install a seccomp filter with NoNewPrivs on every thread, and make SIGUSR1 do nothing
 * (Node's handler for it opens the inspector). Which capabilities and which filter is decided by
 * the caller (packages/runtime/src/priv-sandbox/); these only make the calls.
 */
import { addon } from "./addon.ts";

/** What dropCapabilities did. */
export interface CapabilityDrop {
  /** Threads that now hold only the kept capabilities (the calling one included). */
  readonly threads: number;
  /**
   * Threads that block every signal, so could not be reached (Node's idle SIGUSR1 watcher): they
   * keep their capabilities but run no code once ignoreDebugSignal() has replaced the handler
   * that wakes them.
   */
  readonly unreachable: readonly number[];
}

/**
 * Keeps only the capabilities numbered in `keep` (0…lastCap) in every thread's bounding,
 * permitted and effective sets; empties the inheritable and ambient sets. Throws a NativeError
 * (EPERM without CAP_SETPCAP).
 */
export function dropCapabilities(keep: readonly number[], lastCap: number): CapabilityDrop {
  let mask = 0n;
  for (const cap of keep) mask |= 1n << BigInt(cap);
  return addon().dropCapabilities(mask, lastCap);
}

/** Sets NoNewPrivs and installs `program` (struct sock_filter[] bytes) as a seccomp filter on every thread. */
export function installSeccomp(program: Uint8Array): void {
  addon().installSeccomp(program);
}

/** From now on SIGUSR1 does nothing: it no longer opens Node's inspector. */
export function ignoreDebugSignal(): void {
  addon().ignoreDebugSignal();
}
