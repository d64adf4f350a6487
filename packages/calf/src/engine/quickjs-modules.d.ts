/**
 * What the QuickJS calf process (native/quickjs/host.c) lets a calf import, as far as the calf
 * host uses it. The QuickJS build (packages/bundler/src/bundle-quickjs.ts) maps "quickjs:NAME" to
 * the engine's module NAME; the prefix keeps these apart from Node's own "os".
 */

/** QuickJS's "os" module (quickjs-libc.c, 2021-03-27): descriptors, handlers, timers, signals. */
declare module "quickjs:os" {
  /** A pending timer (opaque). */
  export interface Timer {
    readonly __quickjsTimer: never;
  }
  /** read(2) into `buffer` at `offset`: bytes read, 0 at end of file, or -errno. */
  export function read(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  /** write(2) from `buffer` at `offset`: bytes written, or -errno. */
  export function write(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  export function close(fd: number): number;
  /** Calls `fn` from the event loop while `fd` is readable; null removes it. */
  export function setReadHandler(fd: number, fn: (() => void) | null): void;
  /** Calls `fn` from the event loop while `fd` is writable; null removes it. */
  export function setWriteHandler(fd: number, fn: (() => void) | null): void;
  /** Calls `fn` from the event loop when signal `sig` arrives; null restores the default action. */
  export function signal(sig: number, fn: (() => void) | null): void;
  /** Calls `fn` once after `ms` (the engine's monotonic clock). */
  export function setTimeout(fn: () => void, ms: number): Timer;
  export function clearTimeout(timer: Timer): void;
  export const SIGINT: number;
  export const SIGTERM: number;
}

/** The calf process's own module (native/quickjs/host.c). */
declare module "quickjs:paddock-host" {
  /** CLOCK_MONOTONIC in ns. */
  export function monotonicNs(): bigint;
  /** `bytes` bytes from getrandom(2), 0–65536. */
  export function random(bytes: number): ArrayBuffer;
  /** Ends the process with `code`. */
  export function exit(code: number): never;
}
