/**
 * The calf host on QuickJS (docs/decisions/0010-quickjs-calf-engine.md): the same `CalfHost` as
 * Node's (../host.ts), over the QuickJS calf process (native/quickjs/host.c). The QuickJS build
 * puts this module in the place of ../default-host.ts, so `runCalf` and the calf's code are
 * unchanged.
 *
 * - channels: fds 3 and 4 read when the engine's event loop says they are readable (its read
 *   handlers, select(2)); writes go out at once, and what the socket cannot take yet waits for its
 *   write handler. The priv made the sockets non-blocking, so reads and writes may say EAGAIN.
 * - timers: the globals' (./quickjs-globals.ts: the engine's monotonic timers, fired in deadline
 *   order); clocks: Date.now and CLOCK_MONOTONIC;
 * - random bytes: getrandom(2); log lines: write(2) on stdout; stop requests: SIGTERM, SIGINT.
 */
import * as os from "quickjs:os";
import * as native from "quickjs:paddock-host";
import { MAX_RANDOM_BYTES, type CalfHost, type HostStream } from "../host.ts";

// <asm-generic/errno-base.h>, the same on x86_64 and aarch64.
const EINTR = 4;
const EAGAIN = 11;

/** One read(2) per readable event: what a socket buffer holds at once is well under this. */
export const READ_CHUNK_BYTES = 64 * 1024;

/** A HostStream over a descriptor the calf was given (a non-blocking stream socket to the priv). */
export function fdStream(fd: number): HostStream {
  const dataListeners: Array<(chunk: Uint8Array) => void> = [];
  const closeListeners: Array<(reason: string) => void> = [];
  const flushWaiters: Array<() => void> = [];
  /** Bytes not yet taken by the kernel, oldest first. */
  const pending: Uint8Array[] = [];
  const readBuf = new ArrayBuffer(READ_CHUNK_BYTES);
  let closedReason: string | undefined;
  let ending = false;

  const settleFlush = (): void => {
    for (const w of flushWaiters.splice(0)) w();
  };
  const closed = (reason: string): void => {
    if (closedReason !== undefined) return;
    closedReason = reason;
    os.setReadHandler(fd, null);
    os.setWriteHandler(fd, null);
    pending.length = 0;
    os.close(fd);
    settleFlush();
    for (const l of closeListeners.splice(0)) l(reason);
  };
  /** Writes what is pending; true when all of it went out. */
  const drain = (): boolean => {
    while (pending.length > 0 && closedReason === undefined) {
      const b = pending[0]!;
      const n = os.write(fd, b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);
      if (n === -EAGAIN || n === -EINTR) return false;
      if (n < 0) {
        closed(`error: write failed (errno ${-n})`);
        return false;
      }
      if (n < b.byteLength) pending[0] = b.subarray(n);
      else pending.shift();
    }
    return pending.length === 0;
  };
  const afterDrain = (): void => {
    if (closedReason !== undefined) return;
    if (pending.length > 0) {
      os.setWriteHandler(fd, () => {
        if (drain()) afterDrain();
      });
      return;
    }
    os.setWriteHandler(fd, null);
    settleFlush();
    if (ending) closed("closed");
  };

  os.setReadHandler(fd, () => {
    const n = os.read(fd, readBuf, 0, READ_CHUNK_BYTES);
    if (n === -EAGAIN || n === -EINTR) return;
    if (n === 0) return closed("closed");
    if (n < 0) return closed(`error: read failed (errno ${-n})`);
    // A copy: the listeners may keep the chunk while the next read reuses the buffer.
    const chunk = new Uint8Array(readBuf.slice(0, n));
    for (const l of dataListeners) l(chunk);
  });

  return {
    onData: (cb) => void dataListeners.push(cb),
    onClose: (cb) => {
      if (closedReason !== undefined) cb(closedReason);
      else closeListeners.push(cb);
    },
    write: (bytes) => {
      if (closedReason !== undefined || ending || bytes.byteLength === 0) return;
      // A copy: the caller may reuse its buffer once write returns.
      pending.push(bytes.slice());
      if (pending.length === 1 && drain()) return;
      afterDrain();
    },
    flush: () => new Promise<void>((resolve) => (pending.length === 0 || closedReason !== undefined ? resolve() : flushWaiters.push(resolve))),
    close: () => {
      if (closedReason !== undefined || ending) return;
      ending = true;
      if (pending.length === 0) closed("closed");
    },
  };
}

const stdoutEncoder = new TextEncoder();

/** The QuickJS host (see the module comment). */
export const quickjsHost: CalfHost = {
  openChannel: fdStream,
  // The globals' timers (./quickjs-globals.ts): fired in deadline order, like Node's.
  setTimer: (ms, fire) => {
    const t = setTimeout(fire, ms);
    return () => clearTimeout(t);
  },
  realTimeMs: () => Date.now(),
  monotonicNs: () => native.monotonicNs(),
  random: (bytes) => {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_RANDOM_BYTES) throw new RangeError(`random(${bytes}): ask for 0–${MAX_RANDOM_BYTES} bytes`);
    return new Uint8Array(native.random(bytes));
  },
  writeLog: (line) => {
    const b = stdoutEncoder.encode(line);
    // stdout is a pipe the priv reads; a short write continues where it stopped.
    for (let off = 0; off < b.length; ) {
      const n = os.write(1, b.buffer as ArrayBuffer, off, b.length - off);
      if (n === -EINTR || n === -EAGAIN) continue;
      if (n <= 0) return;
      off += n;
    }
  },
  onStopRequest: (cb) => {
    os.signal(os.SIGTERM, () => cb("SIGTERM"));
    os.signal(os.SIGINT, () => cb("SIGINT"));
    return () => {
      os.signal(os.SIGTERM, null);
      os.signal(os.SIGINT, null);
    };
  },
  exit: (code) => native.exit(code),
};

/** What `runCalf` uses on this engine (this module replaces ../default-host.ts in the QuickJS build). */
export const defaultHost: CalfHost = quickjsHost;
