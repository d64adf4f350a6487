/**
 * The calf's host interface: everything a calf reaches outside its own JavaScript — its two
 * channels to the priv, timers, the real and monotonic clocks, random bytes, its log output and
 * its exit. A calf's code (and the rest of this SDK) goes through `CalfHost` only, so the same
 * calf can run on another JavaScript engine by providing another host (DESIGN.md: a lean engine
 * behind the calf host interface).
 *
 * This module is the Node host, and the only module of a calf bundle that imports `node:`
 * built-ins (test/calf-bundle.test.ts checks the bundle's inputs).
 */
import { getRandomValues } from "node:crypto";
import net from "node:net";
import process from "node:process";

/**
 * A byte stream to the priv (fd 3, control; fd 4, data). Messages on it are framed by the
 * protocol package; a chunk may hold part of a message or several.
 */
export interface HostStream {
  /** Bytes as they arrive. */
  onData(cb: (chunk: Uint8Array) => void): void;
  /** The stream ended or failed (once): `reason` is "closed" (the priv hung up) or "error: …". */
  onClose(cb: (reason: string) => void): void;
  /** Queues bytes for the peer; ignored once the stream is closed. */
  write(bytes: Uint8Array): void;
  /** Resolves when everything written so far has been handed to the kernel. */
  flush(): Promise<void>;
  /** Ends the stream (what was written still goes out). */
  close(): void;
}

/** What a calf may do outside its own code: see the module comment. */
export interface CalfHost {
  /** Opens a pre-opened channel by its fd (CONTROL_FD, DATA_FD). */
  openChannel(fd: number): HostStream;
  /** Calls `fire` after `ms` milliseconds; the returned function cancels it. */
  setTimer(ms: number, fire: () => void): () => void;
  /** Wall-clock time, ms since the epoch (what protocol cores and lease times use). */
  realTimeMs(): number;
  /** Monotonic time in ns from an arbitrary origin: never jumps when the wall clock is set. */
  monotonicNs(): bigint;
  /** `bytes` random bytes from the kernel's CSPRNG. */
  random(bytes: number): Uint8Array;
  /** Writes one log line (JSON, newline included) where the priv collects it (stdout). */
  writeLog(line: string): void;
  /** Calls `cb` with the signal's name when the calf is asked to stop; returns an unsubscribe. */
  onStopRequest(cb: (signal: string) => void): () => void;
  /** Ends the calf's process with `code`. */
  exit(code: number): never;
}

/**
 * Largest request to `random`: the kernel's getrandom() and Web Crypto's getRandomValues both
 * cap one call at 64 KiB, and a calf needs a few bytes (xids, nonces).
 */
export const MAX_RANDOM_BYTES = 65536;

/** A stream-like object with Node's socket surface (a net.Socket, or a test double of one). */
export interface NodeStreamLike {
  on(event: "data", cb: (chunk: Uint8Array) => void): unknown;
  on(event: "close", cb: () => void): unknown;
  on(event: "error", cb: (err: Error) => void): unknown;
  once(event: "drain", cb: () => void): unknown;
  write(bytes: Uint8Array): unknown;
  end(): unknown;
  readonly destroyed: boolean;
  readonly writableLength: number;
}

/** A HostStream over a Node stream socket (what runCalf's `channels` option takes in tests). */
export function hostStreamFromSocket(socket: NodeStreamLike): HostStream {
  const closeListeners: Array<(reason: string) => void> = [];
  let closedReason: string | undefined;
  const closed = (reason: string) => {
    if (closedReason !== undefined) return;
    closedReason = reason;
    for (const l of closeListeners.splice(0)) l(reason);
  };
  socket.on("close", () => closed("closed"));
  socket.on("error", (err: Error) => closed(`error: ${err.message}`));
  return {
    onData: (cb) => void socket.on("data", (chunk: Uint8Array) => cb(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))),
    onClose: (cb) => {
      if (closedReason !== undefined) cb(closedReason);
      else closeListeners.push(cb);
    },
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    flush: () => new Promise((resolve) => (socket.writableLength === 0 || socket.destroyed ? resolve() : socket.once("drain", () => resolve()))),
    close: () => void socket.end(),
  };
}

/** The Node host: fds 3 and 4 as stream sockets, Node's timers and clocks, stdout, process.exit. */
export const nodeHost: CalfHost = {
  openChannel: (fd) => hostStreamFromSocket(new net.Socket({ fd, readable: true, writable: true })),
  setTimer: (ms, fire) => {
    const t = setTimeout(fire, ms);
    return () => clearTimeout(t);
  },
  realTimeMs: () => Date.now(),
  monotonicNs: () => process.hrtime.bigint(),
  random: (bytes) => {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_RANDOM_BYTES) throw new RangeError(`random(${bytes}): ask for 0–${MAX_RANDOM_BYTES} bytes`);
    return getRandomValues(new Uint8Array(bytes));
  },
  writeLog: (line) => void process.stdout.write(line),
  onStopRequest: (cb) => {
    const onTerm = () => cb("SIGTERM");
    const onInt = () => cb("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    return () => {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
    };
  },
  exit: (code) => process.exit(code),
};
