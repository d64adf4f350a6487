/**
 * The KV client, as a calf (or an operator tool) uses it: a promise per request, requests
 * pipelined on one connection and matched by id, each with a timeout.
 *
 * This module imports nothing of the store, so a calf bundle that uses it carries no priv code.
 */
import net from "node:net";
import {
  FrameReader,
  MAX_ADMIN_FRAME_BYTES,
  decodeKvResponse,
  encodeKvRequest,
  splitPath,
  type KvOp,
  type KvResult,
} from "@paddock/protocol";
import { KvError, KvErrorCode } from "./errors.ts";

/** Default time to wait for a response: the store answers in milliseconds, a fsync in tens. */
export const DEFAULT_TIMEOUT_MS = 5000;

/**
 * A change delivered to a watch. The changes of one commit arrive as consecutive events with
 * the same `seq`: group by seq to see a commit whole.
 */
export interface WatchEvent {
  seq: bigint;
  path: string;
  /** null: deleted. */
  value: string | null;
}

export interface KvClientOptions {
  timeoutMs?: number;
  /** Largest response accepted (an audit tail is the largest). */
  maxFrameBytes?: number;
}

interface Waiting {
  resolve: (r: KvResult) => void;
  reject: (e: KvError) => void;
  timer: NodeJS.Timeout | undefined;
  path: string;
  onEvent?: (e: WatchEvent) => void;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class KvClient {
  private readonly reader: FrameReader;
  private readonly waiting = new Map<number, Waiting>();
  private readonly watches = new Map<number, (e: WatchEvent) => void>();
  private nextId = 1;
  private closedError: KvError | null = null;
  private corked = false;
  private readonly timeoutMs: number;

  private constructor(
    private readonly socket: net.Socket,
    opts: KvClientOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.reader = new FrameReader({ maxFrameBytes: opts.maxFrameBytes ?? MAX_ADMIN_FRAME_BYTES });
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.fail(new KvError(KvErrorCode.CLOSED, `connection to the store failed: ${err.message}`)));
    socket.on("close", () => this.fail(new KvError(KvErrorCode.CLOSED, "the store closed the connection")));
  }

  /** Connects to a Unix socket path. */
  static connect(socketPath: string, opts: KvClientOptions = {}): Promise<KvClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      socket.once("connect", () => {
        socket.removeAllListeners("error");
        resolve(new KvClient(socket, opts));
      });
      socket.once("error", (err: NodeJS.ErrnoException) => {
        const why = err.code === "ENOENT" ? "no such socket" : err.code === "ECONNREFUSED" ? "nobody is listening" : err.code === "EACCES" ? "permission denied" : err.message;
        reject(new KvError(KvErrorCode.CONNECT, `cannot connect to the store at ${socketPath}: ${why}`, undefined, { cause: err }));
      });
    });
  }

  /** Uses an already connected stream, e.g. a calf's pre-opened fd 3 (`new net.Socket({ fd: 3 })`). */
  static fromSocket(socket: net.Socket, opts: KvClientOptions = {}): KvClient {
    return new KvClient(socket, opts);
  }

  async read(path: string): Promise<string> {
    const r = await this.request(path, { kind: "read" });
    if (r.kind !== "ok") throw unexpected(r, path);
    return fromUtf8.decode(r.value);
  }

  async write(path: string, value: string): Promise<void> {
    const r = await this.request(path, { kind: "write", value: utf8.encode(value) });
    if (r.kind !== "ok") throw unexpected(r, path);
  }

  async delete(path: string): Promise<void> {
    const r = await this.request(path, { kind: "delete" });
    if (r.kind !== "ok") throw unexpected(r, path);
  }

  /**
   * Applies several changes atomically (a value to write, or null to delete): all or none, one
   * sequence number, one watch event. Rejects with the error of the first change refused, whose
   * message names its path; nothing is applied then. An empty commit changes nothing.
   */
  async commit(changes: ReadonlyArray<{ path: string; value: string | null }>): Promise<void> {
    const op: KvOp = {
      kind: "commit",
      changes: changes.map((c) => ({ path: splitPath(c.path), value: c.value === null ? null : utf8.encode(c.value) })),
    };
    const r = await this.send(this.allocateId(), "/", op, []);
    if (r.kind === "error") throw KvError.fromWire(r.message);
    if (r.kind !== "ok") throw unexpected(r, "/");
  }

  /** Keys at or under `prefix`, sorted (operators and the priv only). */
  async list(prefix = "/"): Promise<string[]> {
    const r = await this.request(prefix, { kind: "list" });
    if (r.kind !== "paths") throw unexpected(r, prefix);
    return r.paths;
  }

  /** The last `tail` audit lines (0: as many as fit), as parsed records. */
  async audit(tail = 0): Promise<string[]> {
    const r = await this.request("/", { kind: "audit", tail });
    if (r.kind !== "ok") throw unexpected(r, "/");
    return fromUtf8.decode(r.value).split("\n").filter((l) => l.length > 0);
  }

  /**
   * Delivers every durable change at or under `prefix`, in commit order, until the returned
   * function is called or the connection closes.
   */
  async watch(prefix: string, onEvent: (e: WatchEvent) => void): Promise<() => void> {
    const id = this.allocateId();
    this.watches.set(id, onEvent);
    try {
      const r = await this.send(id, prefix, { kind: "watch" });
      if (r.kind !== "ok") throw unexpected(r, prefix);
    } catch (err) {
      this.watches.delete(id);
      throw err;
    }
    return () => this.watches.delete(id);
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private request(path: string, op: KvOp): Promise<KvResult> {
    return this.send(this.allocateId(), path, op).then((r) => {
      if (r.kind === "error") throw KvError.fromWire(r.message, path);
      return r;
    });
  }

  private allocateId(): number {
    // Int32 on the wire; wrap before 2^31 and skip ids still waiting.
    do this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    while (this.waiting.has(this.nextId) || this.watches.has(this.nextId));
    return this.nextId;
  }

  /** `segments` overrides the path sent on the wire (a commit sends none); `path` still names the request in errors. */
  private send(id: number, path: string, op: KvOp, segments: string[] = splitPath(path)): Promise<KvResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer =
        this.timeoutMs > 0
          ? setTimeout(() => {
              this.waiting.delete(id);
              reject(new KvError(KvErrorCode.TIMEOUT, `no answer from the store within ${this.timeoutMs} ms`, path));
            }, this.timeoutMs)
          : undefined;
      this.waiting.set(id, { resolve, reject, timer, path });
      // Requests issued in the same turn leave in one write: fewer syscalls, and the store
      // persists them with one fsync. Applying changes as one is `commit`'s job, not this.
      if (!this.corked) {
        this.corked = true;
        this.socket.cork();
        process.nextTick(() => {
          this.corked = false;
          this.socket.uncork();
        });
      }
      this.socket.write(encodeKvRequest({ id, path: segments, op }));
    });
  }

  private onData(chunk: Buffer): void {
    const { frames, error } = this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (const frame of frames) {
      const res = decodeKvResponse(frame);
      if (!res.ok) {
        this.fail(new KvError(KvErrorCode.PROTOCOL, `bad response from the store: ${res.error.detail}`));
        this.socket.destroy();
        return;
      }
      const { id, result } = res.value;
      if (result.kind === "event") {
        const onEvent = this.watches.get(id);
        const c = result.event.change;
        onEvent?.({ seq: result.event.seq, path: "/" + result.event.path.join("/"), value: c.kind === "written" ? fromUtf8.decode(c.value) : null });
        continue;
      }
      const w = this.waiting.get(id);
      if (!w) continue;
      this.waiting.delete(id);
      clearTimeout(w.timer);
      w.resolve(result);
    }
    if (error) {
      this.fail(new KvError(KvErrorCode.PROTOCOL, `bad framing from the store: ${error.detail}`));
      this.socket.destroy();
    }
  }

  private fail(err: KvError): void {
    if (!this.closedError) this.closedError = err;
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(err);
      this.waiting.delete(id);
    }
    this.watches.clear();
  }
}

function unexpected(r: KvResult, path: string): KvError {
  return new KvError(KvErrorCode.PROTOCOL, `unexpected ${r.kind} response`, path);
}

export { KvError, KvErrorCode } from "./errors.ts";
