/**
 * The KV client, as a calf and an operator tool both use it: a promise per request, requests
 * pipelined on one connection and matched by id, each with a timeout.
 *
 * It runs over any byte stream (`KvStream`): a calf's fd 3 through its host, or a Unix socket
 * (`connectKv` in ./connect.ts, which is where `node:net` lives). This module imports nothing of
 * the store and no Node built-in, so a calf bundle that uses it carries no priv code and runs on
 * any JavaScript engine its host supports.
 */
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

/** A connected byte stream to the store. */
export interface KvStream {
  /** Bytes as they arrive. */
  onData(cb: (chunk: Uint8Array) => void): void;
  /** The stream ended or failed (once): `reason` is "closed" (the peer hung up) or "error: …". */
  onClose(cb: (reason: string) => void): void;
  /** Queues bytes for the peer; ignored once the stream is closed. */
  write(bytes: Uint8Array): void;
  /** Ends the stream. */
  close(): void;
}

/** Arms a timer; the returned function cancels it. */
export type SetTimer = (ms: number, fire: () => void) => () => void;

/** A change delivered to a watch. */
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
  /** The timers of the host (a calf's); the engine's setTimeout by default. */
  setTimer?: SetTimer;
}

interface Waiting {
  resolve: (r: KvResult) => void;
  reject: (e: KvError) => void;
  cancelTimer: (() => void) | undefined;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

const defaultSetTimer: SetTimer = (ms, fire) => {
  const t = setTimeout(fire, ms);
  return () => clearTimeout(t);
};

export class KvClient {
  private readonly reader: FrameReader;
  private readonly waiting = new Map<number, Waiting>();
  private readonly watches = new Map<number, (e: WatchEvent) => void>();
  private readonly closeListeners: Array<(err: KvError) => void> = [];
  private nextId = 1;
  private closedError: KvError | null = null;
  /** Requests of the current turn, written together when it ends. */
  private batch: Uint8Array[] = [];
  private readonly timeoutMs: number;
  private readonly setTimer: SetTimer;

  constructor(
    private readonly stream: KvStream,
    opts: KvClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.setTimer = opts.setTimer ?? defaultSetTimer;
    this.reader = new FrameReader({ maxFrameBytes: opts.maxFrameBytes ?? MAX_ADMIN_FRAME_BYTES });
    stream.onData((chunk) => this.onData(chunk));
    stream.onClose((reason) =>
      this.fail(new KvError(KvErrorCode.CLOSED, reason === "closed" ? "the store closed the connection" : `connection to the store failed: ${reason.replace(/^error: /, "")}`)),
    );
  }

  /** A key's value; rejects with KvError PADDOCK_E_KV_NOT_FOUND when it is not set. */
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

  /** The last `tail` audit lines (0: as many as fit), as raw JSON lines. */
  async audit(tail = 0): Promise<string[]> {
    const r = await this.request("/", { kind: "audit", tail });
    if (r.kind !== "ok") throw unexpected(r, "/");
    return fromUtf8.decode(r.value).split("\n").filter((l) => l.length > 0);
  }

  /** The priv's view of the service behind an admin socket (its calf, its handlers): one JSON object. */
  async info(): Promise<Record<string, unknown>> {
    const r = await this.send(this.allocateId(), "/", { kind: "info" }, []);
    if (r.kind === "error") throw KvError.fromWire(r.message);
    if (r.kind !== "ok") throw unexpected(r, "/");
    let parsed: unknown;
    try {
      parsed = JSON.parse(fromUtf8.decode(r.value));
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new KvError(KvErrorCode.PROTOCOL, "the info answer is not a JSON object");
    return parsed as Record<string, unknown>;
  }

  /**
   * Delivers every durable change at or under `prefix`, in commit order (the changes of one
   * commit share its `seq`), until the returned function is called or the connection closes.
   */
  async watch(prefix: string, onEvent: (e: WatchEvent) => void): Promise<() => void> {
    const id = this.allocateId();
    this.watches.set(id, onEvent);
    try {
      const r = await this.send(id, prefix, { kind: "watch" });
      if (r.kind === "error") throw KvError.fromWire(r.message, prefix);
      if (r.kind !== "ok") throw unexpected(r, prefix);
    } catch (err) {
      this.watches.delete(id);
      throw err;
    }
    return () => this.watches.delete(id);
  }

  /** Calls `cb` (once) when the connection is gone: closed by either side, or failed. */
  onClose(cb: (err: KvError) => void): void {
    if (this.closedError) cb(this.closedError);
    else this.closeListeners.push(cb);
  }

  /** Ends the connection. */
  close(): void {
    this.stream.close();
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
      const cancelTimer =
        this.timeoutMs > 0
          ? this.setTimer(this.timeoutMs, () => {
              this.waiting.delete(id);
              reject(new KvError(KvErrorCode.TIMEOUT, `no answer from the store within ${this.timeoutMs} ms`, path));
            })
          : undefined;
      this.waiting.set(id, { resolve, reject, cancelTimer });
      // Requests issued in the same turn leave in one write: fewer syscalls, and the store
      // persists them with one fsync. Applying changes as one is `commit`'s job, not this.
      if (this.batch.length === 0) void Promise.resolve().then(() => this.writeBatch());
      this.batch.push(encodeKvRequest({ id, path: segments, op }));
    });
  }

  private writeBatch(): void {
    const parts = this.batch;
    this.batch = [];
    if (parts.length === 1) return this.stream.write(parts[0]!);
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    this.stream.write(all);
  }

  private onData(chunk: Uint8Array): void {
    const { frames, error } = this.reader.push(chunk);
    for (const frame of frames) {
      const res = decodeKvResponse(frame);
      if (!res.ok) {
        this.fail(new KvError(KvErrorCode.PROTOCOL, `bad response from the store: ${res.error.detail}`));
        this.stream.close();
        return;
      }
      const { id, result } = res.value;
      if (result.kind === "event") {
        const c = result.event.change;
        this.watches.get(id)?.({ seq: result.event.seq, path: "/" + result.event.path.join("/"), value: c.kind === "written" ? fromUtf8.decode(c.value) : null });
        continue;
      }
      const w = this.waiting.get(id);
      // A late answer (after its timeout) has nobody waiting.
      if (!w) continue;
      this.waiting.delete(id);
      w.cancelTimer?.();
      w.resolve(result);
    }
    if (error) {
      this.fail(new KvError(KvErrorCode.PROTOCOL, `bad framing from the store: ${error.detail}`));
      this.stream.close();
    }
  }

  private fail(err: KvError): void {
    if (!this.closedError) {
      this.closedError = err;
      for (const l of this.closeListeners.splice(0)) l(err);
    }
    for (const [id, w] of this.waiting) {
      w.cancelTimer?.();
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
