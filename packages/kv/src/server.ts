/**
 * The KV server: one connection per calf (or operator) over a stream socket, framed Cap'n Proto
 * requests answered by id, so a client may pipeline.
 *
 * A connection that breaks the protocol (bad framing, an oversized or undecodable message) is
 * closed, and only that one: the server and other connections go on. Each connection has a rate
 * limit (token bucket), a budget of store-file bytes its commits may make the priv write per
 * second (another token bucket), a frame size limit and a bound on requests in flight; past that
 * bound the server stops reading from the socket, so a flooding client is slowed by TCP-like
 * backpressure instead of growing our memory.
 */
import { chmodSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import {
  FrameReader,
  MAX_ADMIN_FRAME_BYTES,
  MAX_CALF_FRAME_BYTES,
  decodeKvRequest,
  encodeKvResponse,
  type KvRequest,
  type KvResult,
} from "@paddock/protocol";
import { KvError, KvErrorCode } from "./errors.ts";
import { parseKvSegments } from "./path.ts";
import { calfMayWatch, type Role } from "./schema.ts";
import type { KvCaller, KvCommitOptions, KvLogger, KvStore } from "./store.ts";

/** Limits applied to one connection. */
export interface ConnectionLimits {
  maxFrameBytes: number;
  /** Sustained requests per second. */
  ratePerSecond: number;
  /** Requests allowed in a burst above the sustained rate. */
  burst: number;
  /** Requests being processed before the server stops reading the socket. */
  maxInFlight: number;
  /** Response bytes queued for a slow reader before the connection is dropped. */
  maxQueuedResponseBytes: number;
  /**
   * Sustained bytes of store file per second the connection's commits may make the priv write
   * and fsync. Each commit that changes something is charged the whole file it makes the priv
   * write (at least `STORE_WRITE_MIN_CHARGE_BYTES`), even when group commit writes it together
   * with others.
   */
  storeWriteBytesPerSecond: number;
  /** Store-file bytes allowed in a burst; a commit whose file is larger needs the full burst. */
  storeWriteBurstBytes: number;
}

/**
 * The least a commit is charged against a store-write budget: a store rewrite writes at least one
 * filesystem block and fsyncs the file and the directory whatever its size, so a calf committing
 * one-byte changes still pays for what the disk does.
 */
export const STORE_WRITE_MIN_CHARGE_BYTES = 4096;

/**
 * A calf: a DHCP client writes a dozen keys per lease; 100/s sustained and a burst of 200
 * leave it ample room while bounding the audit log and disk writes a hostile calf can cause.
 *
 * Store writes: a DHCP lease is one commit of a store file of 1–3 KiB, at start and at each
 * renewal. 32 KiB/s sustained (eight small commits a second) with a burst of 512 KiB (two
 * rewrites of a 256 KiB store, the DHCP schema's cap, or 128 small commits) never slows that
 * down, and bounds a hostile calf's rewrites to 32 KiB/s (2.7 GB a day) where the request rate
 * alone let it make the priv write and fsync ~76–157 MB/s (issue 13 B2).
 */
export const CALF_LIMITS: ConnectionLimits = {
  maxFrameBytes: MAX_CALF_FRAME_BYTES,
  ratePerSecond: 100,
  burst: 200,
  maxInFlight: 64,
  maxQueuedResponseBytes: 1024 * 1024,
  storeWriteBytesPerSecond: 32 * 1024,
  storeWriteBurstBytes: 512 * 1024,
};

/** An operator (root, through the 0600 admin socket): no rate limit, larger frames for audit tails. */
export const ADMIN_LIMITS: ConnectionLimits = {
  maxFrameBytes: MAX_ADMIN_FRAME_BYTES,
  ratePerSecond: Number.POSITIVE_INFINITY,
  burst: Number.POSITIVE_INFINITY,
  maxInFlight: 256,
  maxQueuedResponseBytes: 16 * 1024 * 1024,
  storeWriteBytesPerSecond: Number.POSITIVE_INFINITY,
  storeWriteBurstBytes: Number.POSITIVE_INFINITY,
};

/**
 * How long a partial frame may sit in our buffer. A client writes each request in one go, so a
 * frame that stays incomplete this long is a stalled or hostile peer holding our memory.
 */
export const PARTIAL_FRAME_TIMEOUT_MS = 10_000;

/** Bytes of audit text one response may carry: an admin frame with room for the envelope. */
const MAX_AUDIT_RESPONSE_BYTES = MAX_ADMIN_FRAME_BYTES - 4096;

const utf8 = new TextEncoder();

/** Counters a metrics exporter can read. */
export interface KvServerStats {
  connections: number;
  requests: Record<string, number>;
  protocolViolations: number;
  /** Requests refused for the request rate. */
  rateLimited: number;
  /** Commits refused for the store-write budget (also counted in `requests` as PADDOCK_E_KV_RATE_LIMITED). */
  storeWriteLimited: number;
}

/** Server options. */
export interface KvServerOptions {
  /** A monotonic clock in milliseconds for the rate limits (default `performance.now`); tests inject one. */
  now?: () => number;
  /**
   * Answers the admin-only `info` request: the priv's own view of the service behind the socket
   * (what the store does not hold: its calf's state and restarts, its handlers), as one JSON
   * object. Without it, `info` answers `{}`.
   */
  info?: () => Record<string, unknown>;
}

/**
 * A token bucket: `rate` tokens a second up to `burst`. Infinite rates take nothing. A charge
 * larger than the burst is taken from a full bucket, so it is slow, never impossible.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `amount` tokens if there are that many; false (and nothing taken) if not. */
  take(amount: number): boolean {
    if (this.rate === Number.POSITIVE_INFINITY) return true;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.rate);
    this.last = now;
    const need = Math.min(amount, this.burst);
    if (this.tokens < need) return false;
    this.tokens -= need;
    return true;
  }
}

export class KvServer {
  readonly stats: KvServerStats = { connections: 0, requests: {}, protocolViolations: 0, rateLimited: 0, storeWriteLimited: 0 };
  private readonly sockets = new Set<net.Socket>();
  private readonly servers = new Set<net.Server>();
  private nextConnection = 1;
  /** @internal The clock of the rate limits. */
  readonly now: () => number;

  constructor(
    readonly store: KvStore,
    private readonly log: KvLogger,
    opts: KvServerOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.info = opts.info ?? (() => ({}));
  }

  /** @internal The answer to `info` (KvServerOptions.info). */
  readonly info: () => Record<string, unknown>;

  /**
   * Listens on a Unix socket path. Connections get `role` rights. A stale socket file from a
   * crashed run is replaced; an admin socket is made 0600 before it accepts anyone.
   */
  async listen(socketPath: string, role: Role, name: string = role): Promise<net.Server> {
    try {
      if (statSync(socketPath).isSocket()) rmSync(socketPath);
    } catch {
      // Absent: nothing to remove.
    }
    const server = net.createServer((socket) => this.serve(socket, { role, name: `${name}#${this.nextConnection++}` }));
    // Create the socket unreadable by others, then widen for calf sockets only.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(socketPath, role === "admin" ? 0o600 : 0o660);
    this.servers.add(server);
    server.on("close", () => this.servers.delete(server));
    return server;
  }

  /** Serves one connected stream (a Unix socket, or a socketpair end given to a calf as an fd). */
  serve(socket: net.Socket, caller: KvCaller, limits: ConnectionLimits = caller.role === "admin" ? ADMIN_LIMITS : CALF_LIMITS): void {
    new Connection(this, socket, caller, limits, this.log).start();
  }

  /** Closes every listener and connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([...this.servers].map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** @internal */
  track(socket: net.Socket): void {
    this.sockets.add(socket);
    this.stats.connections++;
    socket.once("close", () => {
      this.sockets.delete(socket);
      this.stats.connections--;
    });
  }

  /** @internal */
  count(result: string): void {
    this.stats.requests[result] = (this.stats.requests[result] ?? 0) + 1;
  }
}

class Connection {
  private readonly reader: FrameReader;
  private readonly requests: TokenBucket;
  private readonly storeWrites: TokenBucket;
  private readonly commitOptions: KvCommitOptions;
  private inFlight = 0;
  private readonly unwatch: Array<() => void> = [];
  private closed = false;
  private partialTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: KvServer,
    private readonly socket: net.Socket,
    private readonly caller: KvCaller,
    private readonly limits: ConnectionLimits,
    private readonly log: KvLogger,
  ) {
    this.reader = new FrameReader({ maxFrameBytes: limits.maxFrameBytes });
    this.requests = new TokenBucket(limits.ratePerSecond, limits.burst, server.now);
    this.storeWrites = new TokenBucket(limits.storeWriteBytesPerSecond, limits.storeWriteBurstBytes, server.now);
    this.commitOptions = { budget: (fileBytes) => this.chargeStoreWrite(fileBytes) };
  }

  start(): void {
    this.server.track(this.socket);
    this.log.debug({ client: this.caller.name }, "kv connection opened");
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (err) => this.log.debug({ client: this.caller.name, err: err.message }, "kv connection error"));
    this.socket.on("end", () => {
      if (this.reader.pendingBytes > 0) this.violation("PADDOCK_E_PROTO_TRUNCATED", `connection ended inside a frame (${this.reader.pendingBytes} bytes)`);
    });
    this.socket.on("close", () => {
      this.closed = true;
      clearTimeout(this.partialTimer);
      for (const u of this.unwatch) u();
      this.log.debug({ client: this.caller.name }, "kv connection closed");
    });
  }

  private onData(chunk: Buffer): void {
    const { frames, error } = this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (const frame of frames) {
      if (this.closed) return;
      const req = decodeKvRequest(frame);
      if (!req.ok) return this.violation(req.error.code, req.error.detail);
      this.handle(req.value);
    }
    if (error) return this.violation(error.code, error.detail);
    clearTimeout(this.partialTimer);
    if (this.reader.pendingBytes > 0) {
      this.partialTimer = setTimeout(
        () => this.violation("PADDOCK_E_PROTO_STALLED", `a partial frame was not completed within ${PARTIAL_FRAME_TIMEOUT_MS} ms`),
        PARTIAL_FRAME_TIMEOUT_MS,
      );
    }
  }

  private violation(code: string, detail: string): void {
    this.server.stats.protocolViolations++;
    this.log.warn({ client: this.caller.name, code, detail }, "kv client broke the protocol; closing its connection");
    this.closed = true;
    this.socket.destroy();
  }

  /** The store's question before a commit applies: may this connection make the priv write `fileBytes` of store file now? */
  private chargeStoreWrite(fileBytes: number): KvError | null {
    if (this.storeWrites.take(Math.max(fileBytes, STORE_WRITE_MIN_CHARGE_BYTES))) return null;
    this.server.stats.storeWriteLimited++;
    return new KvError(
      KvErrorCode.RATE_LIMITED,
      `this commit would make the priv rewrite the ${fileBytes}-byte store file beyond this connection's budget of ` +
        `${this.limits.storeWriteBytesPerSecond} bytes of store writes per second (burst ${this.limits.storeWriteBurstBytes}); nothing was applied`,
    );
  }

  private handle(req: KvRequest): void {
    if (!this.requests.take(1)) {
      this.server.stats.rateLimited++;
      this.reply(req.id, errorResult(new KvError(KvErrorCode.RATE_LIMITED, `more than ${this.limits.ratePerSecond} requests per second`)));
      return;
    }
    this.inFlight++;
    if (this.inFlight >= this.limits.maxInFlight) this.socket.pause();
    void this.execute(req)
      .then((result) => this.reply(req.id, result))
      .catch((err: unknown) => {
        this.log.error({ client: this.caller.name, err: (err as Error).message }, "kv request failed unexpectedly");
        this.reply(req.id, errorResult(new KvError("PADDOCK_E_KV_INTERNAL", "internal error")));
      })
      .finally(() => {
        this.inFlight--;
        if (this.inFlight < this.limits.maxInFlight && !this.closed) this.socket.resume();
      });
  }

  private async execute(req: KvRequest): Promise<KvResult> {
    const store = this.server.store;
    switch (req.op.kind) {
      case "read": {
        await store.settled();
        const r = store.read(this.caller, req.path);
        return r.ok ? { kind: "ok", value: utf8.encode(r.value) } : errorResult(r.error);
      }
      case "write": {
        const r = await store.write(this.caller, req.path, req.op.value, this.commitOptions);
        return r.ok ? { kind: "ok", value: new Uint8Array(0) } : errorResult(r.error);
      }
      case "delete": {
        const r = await store.delete(this.caller, req.path, this.commitOptions);
        return r.ok ? { kind: "ok", value: new Uint8Array(0) } : errorResult(r.error);
      }
      case "list": {
        await store.settled();
        const r = store.list(this.caller, req.path);
        return r.ok ? { kind: "paths", paths: r.value } : errorResult(r.error);
      }
      case "watch":
        return this.watch(req);
      case "commit": {
        if (req.path.length > 0) {
          return errorResult(new KvError(KvErrorCode.BAD_PATH, "a commit carries its paths in its changes; the request's path must be empty"));
        }
        // One token for the whole commit: its size is bounded by the frame and MAX_COMMIT_CHANGES.
        const r = await store.commit(this.caller, req.op.changes, this.commitOptions);
        return r.ok ? { kind: "ok", value: new Uint8Array(0) } : errorResult(r.error);
      }
      case "audit": {
        if (this.caller.role !== "admin") return errorResult(new KvError(KvErrorCode.FORBIDDEN, "only an operator may read the audit log"));
        await store.settled();
        const lines = store.auditTail(req.op.tail, MAX_AUDIT_RESPONSE_BYTES);
        return { kind: "ok", value: utf8.encode(lines.map((l) => l + "\n").join("")) };
      }
      case "info": {
        if (this.caller.role !== "admin") return errorResult(new KvError(KvErrorCode.FORBIDDEN, "only an operator may read the priv's view of the service"));
        if (req.path.length > 0) return errorResult(new KvError(KvErrorCode.BAD_PATH, "an info request carries no path"));
        return { kind: "ok", value: utf8.encode(JSON.stringify(this.server.info())) };
      }
    }
  }

  private watch(req: KvRequest): KvResult {
    const prefix = parseKvSegments(req.path);
    if (!prefix.ok) return errorResult(new KvError(KvErrorCode.BAD_PATH, prefix.reason));
    // A calf watches only what it may read: a prefix under which every declared key is
    // calf-readable (the operator's /control/… requests, say), never its lease keys.
    if (this.caller.role === "calf" && !calfMayWatch(this.server.store.schema, prefix.segments)) {
      return errorResult(new KvError(KvErrorCode.FORBIDDEN, `a calf may watch only a prefix whose keys it may all read, not ${prefix.path}`));
    }
    this.unwatch.push(
      // The wire keeps one Event per changed path (as before commits existed): a commit's events
      // go out back to back with the commit's seq, and a client groups them by seq.
      this.server.store.watch(prefix.path, (e) => {
        for (const c of e.changes) {
          const change = c.value === null ? ({ kind: "deleted" } as const) : ({ kind: "written", value: utf8.encode(c.value) } as const);
          this.reply(req.id, { kind: "event", event: { seq: e.seq, path: c.path.split("/").filter(Boolean), change } });
        }
      }),
    );
    return { kind: "ok", value: new Uint8Array(0) };
  }

  private reply(id: number, result: KvResult): void {
    if (this.closed) return;
    this.server.count(result.kind === "error" ? result.message.split(":")[0]! : result.kind);
    if (this.socket.writableLength > this.limits.maxQueuedResponseBytes) {
      this.log.warn({ client: this.caller.name }, "kv client does not read its responses; closing its connection");
      this.closed = true;
      this.socket.destroy();
      return;
    }
    this.socket.write(encodeKvResponse({ id, result }));
  }
}

function errorResult(err: KvError): KvResult {
  return { kind: "error", message: err.toWire() };
}
