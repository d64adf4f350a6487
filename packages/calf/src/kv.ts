/**
 * The calf's KV client on fd 3: read, write, delete and commit, a promise per request, requests
 * pipelined on the one connection and matched by id, each with a timeout.
 *
 * It speaks the same protocol as @paddock/kv's KvClient (which operators use over the admin
 * socket), but over the host's channel: that client also dials Unix sockets and so imports
 * `node:net`, which a calf reaches only through its host (./host.ts).
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
// The error class itself, not @paddock/kv/client (see the module comment): one KvError for calf
// code and operator tools alike. errors.ts is plain TypeScript with no imports.
import { KvError, KvErrorCode } from "../../kv/src/errors.ts";
import type { HostStream } from "./host.ts";
import type { ScheduleTimer } from "./timers.ts";

export { KvError, KvErrorCode };

/** Default time to wait for a response: the store answers in milliseconds, a fsync in tens. */
export const DEFAULT_KV_TIMEOUT_MS = 5000;

/** What the client needs besides its channel. */
export interface CalfKvOptions {
  /** Timers of the host (a timeout per request). */
  readonly setTimer: ScheduleTimer;
  readonly timeoutMs?: number;
}

interface Waiting {
  resolve: (r: KvResult) => void;
  reject: (e: KvError) => void;
  cancelTimer: (() => void) | undefined;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The store as a calf sees it: its schema's calf rights, nothing else. */
export class KvClient {
  private readonly reader = new FrameReader({ maxFrameBytes: MAX_ADMIN_FRAME_BYTES });
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closedError: KvError | null = null;
  /** Requests of the current turn, written together when it ends. */
  private batch: Uint8Array[] = [];
  private readonly timeoutMs: number;

  constructor(
    private readonly channel: HostStream,
    private readonly opts: CalfKvOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_KV_TIMEOUT_MS;
    channel.onData((chunk) => this.onData(chunk));
    channel.onClose((reason) => this.fail(new KvError(KvErrorCode.CLOSED, `the store's channel closed: ${reason}`)));
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
    const r = await this.send("/", op, []);
    if (r.kind === "error") throw KvError.fromWire(r.message);
    if (r.kind !== "ok") throw unexpected(r, "/");
  }

  /** Ends the connection (the runtime does this when the calf stops). */
  close(): void {
    this.channel.close();
  }

  private request(path: string, op: KvOp): Promise<KvResult> {
    return this.send(path, op).then((r) => {
      if (r.kind === "error") throw KvError.fromWire(r.message, path);
      return r;
    });
  }

  /** `segments` overrides the path sent on the wire (a commit sends none); `path` still names the request in errors. */
  private send(path: string, op: KvOp, segments: string[] = splitPath(path)): Promise<KvResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    // Int32 on the wire; wrap before 2^31 and skip ids still waiting.
    do this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    while (this.waiting.has(this.nextId));
    const id = this.nextId;
    return new Promise((resolve, reject) => {
      const cancelTimer =
        this.timeoutMs > 0
          ? this.opts.setTimer(this.timeoutMs, () => {
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
    if (parts.length === 1) return this.channel.write(parts[0]!);
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    this.channel.write(all);
  }

  private onData(chunk: Uint8Array): void {
    const { frames, error } = this.reader.push(chunk);
    for (const frame of frames) {
      const res = decodeKvResponse(frame);
      if (!res.ok) {
        this.fail(new KvError(KvErrorCode.PROTOCOL, `bad response from the store: ${res.error.detail}`));
        this.channel.close();
        return;
      }
      const { id, result } = res.value;
      const w = this.waiting.get(id);
      // Watch events and late answers (after a timeout): a calf asks for neither.
      if (!w || result.kind === "event") continue;
      this.waiting.delete(id);
      w.cancelTimer?.();
      w.resolve(result);
    }
    if (error) {
      this.fail(new KvError(KvErrorCode.PROTOCOL, `bad framing from the store: ${error.detail}`));
      this.channel.close();
    }
  }

  private fail(err: KvError): void {
    if (!this.closedError) this.closedError = err;
    for (const [id, w] of this.waiting) {
      w.cancelTimer?.();
      w.reject(err);
      this.waiting.delete(id);
    }
  }
}

function unexpected(r: KvResult, path: string): KvError {
  return new KvError(KvErrorCode.PROTOCOL, `unexpected ${r.kind} response`, path);
}
