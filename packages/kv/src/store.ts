/**
 * The store: a tree of paths holding canonical text values, guarded by a service schema.
 *
 * Every write and delete goes through `write`/`delete`, which check the path, the caller's rights
 * and the value, append an audit record, apply the change in memory and resolve once the change
 * is durable. Changes arriving in the same event-loop turn are committed together (one fsync of
 * the audit log, one atomic replace of the store file), then delivered to watchers in sequence
 * order. A commit that fails to reach the disk is rolled back and its writers get an error, so
 * an acknowledged write is always on disk.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { AuditLog, auditValue, type AuditRecord } from "./audit.ts";
import { KvError, KvErrorCode } from "./errors.ts";
import { isUnder, parseKvPath, parseKvSegments } from "./path.ts";
import { readSnapshot, STORE_FORMAT, writeFileAtomicSync, type StoreSnapshot } from "./persist.ts";
import { checkSchema, matchEntry, matchesPattern, type Role, type SchemaEntry, type ServiceSchema } from "./schema.ts";

/** Who is asking: the role decides the rights, the name goes into the audit log. */
export interface KvCaller {
  role: Role;
  name: string;
}

/** A value or a typed error. */
export type KvOutcome<T> = { ok: true; value: T } | { ok: false; error: KvError };

/** A committed change, as watchers receive it. */
export interface StoreEvent {
  seq: bigint;
  path: string;
  /** The new value; null when the key was deleted. */
  value: string | null;
}

/** Minimal logger interface (pino-compatible). */
export interface KvLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: KvLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Where the store keeps its files inside the state directory. */
export const STORE_FILE = "store.json";
export const AUDIT_FILE = "audit.log";

interface Pending {
  event: StoreEvent;
  resolve: (r: KvOutcome<void>) => void;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface KvStoreOptions {
  schema: ServiceSchema;
  stateDir: string;
  log?: KvLogger;
  /** Writes the store file; tests substitute a failing one. */
  writeFile?: (file: string, data: string) => Promise<void> | void;
}

export class KvStore {
  readonly schema: ServiceSchema;
  readonly stateDir: string;
  private readonly log: KvLogger;
  private readonly audit: AuditLog;
  private readonly storeFile: string;
  private readonly writeFile: (file: string, data: string) => Promise<void> | void;
  /** What readers see: committed values plus changes of the commit in progress. */
  private current = new Map<string, string>();
  /** What is on disk. */
  private committed = new Map<string, string>();
  private seq: bigint;
  private committedSeq: bigint;
  private batch: Pending[] = [];
  private commitScheduled: Promise<void> | null = null;
  private readonly watchers = new Set<{ prefix: string; onEvent: (e: StoreEvent) => void }>();
  private closed = false;

  /**
   * Opens (or creates) the store in `stateDir`. Values on disk that no longer pass the schema
   * are dropped with a warning, never applied.
   */
  constructor(opts: KvStoreOptions) {
    const problems = checkSchema(opts.schema);
    if (problems.length > 0) throw new Error(`schema ${opts.schema.name} is invalid: ${problems.join("; ")}`);
    this.schema = opts.schema;
    this.stateDir = opts.stateDir;
    this.log = opts.log ?? silent;
    this.writeFile = opts.writeFile ?? writeFileAtomicSync;
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
    this.storeFile = path.join(opts.stateDir, STORE_FILE);
    const snapshot = readSnapshot(this.storeFile);
    if (snapshot && snapshot.schema !== opts.schema.name) {
      throw new Error(`${this.storeFile} belongs to schema ${snapshot.schema}, not ${opts.schema.name}`);
    }
    this.seq = BigInt(snapshot?.seq ?? "0");
    this.committedSeq = this.seq;
    for (const [key, value] of Object.entries(snapshot?.entries ?? {})) {
      const parsed = parseKvPath(key);
      const entry = parsed.ok ? matchEntry(this.schema, parsed.segments) : undefined;
      const valid = entry ? entry.validate(value) : { ok: false as const, reason: "no schema entry" };
      if (!parsed.ok || !entry || !valid.ok) {
        this.log.warn({ path: key, reason: valid.ok ? "bad path" : valid.reason }, "dropping a stored value that fails the schema");
        continue;
      }
      this.current.set(key, value);
    }
    this.committed = new Map(this.current);
    this.audit = new AuditLog(path.join(opts.stateDir, AUDIT_FILE));
  }

  /** The durable view, for handlers: every value here is on disk. */
  get values(): ReadonlyMap<string, string> {
    return this.committed;
  }

  /** The sequence number of the last durable change. */
  get lastSeq(): bigint {
    return this.committedSeq;
  }

  /** Resolves when changes made so far are committed (or rolled back). */
  settled(): Promise<void> {
    return this.commitScheduled ?? Promise.resolve();
  }

  /** Reads a key. A calf may read only keys its schema marks readable. */
  read(caller: KvCaller, segments: readonly string[]): KvOutcome<string> {
    const target = this.resolve(segments);
    if (!target.ok) return this.refuse(caller, "read", segments, null, target.error);
    const { key, entry } = target.value;
    if (caller.role === "calf" && !entry.calfReads) {
      return this.refuse(caller, "read", segments, null, new KvError(KvErrorCode.FORBIDDEN, `a calf may not read ${key}`, key));
    }
    const value = this.current.get(key);
    if (value === undefined) return { ok: false, error: new KvError(KvErrorCode.NOT_FOUND, `${key} is not set`, key) };
    return { ok: true, value };
  }

  /** Writes a key; resolves when the write is durable (or refused, or rolled back). */
  write(caller: KvCaller, segments: readonly string[], bytes: Uint8Array): Promise<KvOutcome<void>> {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return Promise.resolve(this.refuse(caller, "write", segments, `<${bytes.length} bytes, not UTF-8>`,
        new KvError(KvErrorCode.INVALID_VALUE, "the value is not valid UTF-8 text")));
    }
    const target = this.resolve(segments);
    if (!target.ok) return Promise.resolve(this.refuse(caller, "write", segments, text, target.error));
    const { key, entry } = target.value;
    const denied = this.checkWriteRight(caller, key, entry);
    if (denied) return Promise.resolve(this.refuse(caller, "write", segments, text, denied));
    const size = Buffer.byteLength(text);
    if (size > entry.maxBytes) {
      return Promise.resolve(this.refuse(caller, "write", segments, text,
        new KvError(KvErrorCode.TOO_LARGE, `the value for ${key} is ${size} bytes, limit ${entry.maxBytes}`, key)));
    }
    const valid = entry.validate(text);
    if (!valid.ok) {
      return Promise.resolve(this.refuse(caller, "write", segments, text, new KvError(KvErrorCode.INVALID_VALUE, `${key}: ${valid.reason}`, key)));
    }
    const old = this.current.get(key) ?? null;
    if (old === null && entry.maxKeys !== undefined) {
      const count = this.countKeys(entry);
      if (count >= entry.maxKeys) {
        return Promise.resolve(this.refuse(caller, "write", segments, text,
          new KvError(KvErrorCode.TOO_MANY_KEYS, `${entry.pattern} already holds ${count} keys, limit ${entry.maxKeys}`, key)));
      }
    }
    const total = this.totalBytes() - (old === null ? 0 : Buffer.byteLength(old)) + size;
    if (total > this.schema.maxTotalBytes) {
      return Promise.resolve(this.refuse(caller, "write", segments, text,
        new KvError(KvErrorCode.TOO_LARGE, `the store would hold ${total} bytes, limit ${this.schema.maxTotalBytes}`, key)));
    }
    this.record({ client: caller.name, op: "write", path: key, old, new: text, result: "ok" });
    if (old === text) return Promise.resolve({ ok: true, value: undefined });
    this.current.set(key, text);
    return this.enqueue({ seq: ++this.seq, path: key, value: text });
  }

  /** Deletes a key (deleting an absent key succeeds); resolves when durable. */
  delete(caller: KvCaller, segments: readonly string[]): Promise<KvOutcome<void>> {
    const target = this.resolve(segments);
    if (!target.ok) return Promise.resolve(this.refuse(caller, "delete", segments, null, target.error));
    const { key, entry } = target.value;
    const denied = this.checkWriteRight(caller, key, entry);
    if (denied) return Promise.resolve(this.refuse(caller, "delete", segments, null, denied));
    const old = this.current.get(key) ?? null;
    this.record({ client: caller.name, op: "delete", path: key, old, new: null, result: "ok" });
    if (old === null) return Promise.resolve({ ok: true, value: undefined });
    this.current.delete(key);
    return this.enqueue({ seq: ++this.seq, path: key, value: null });
  }

  /** Lists keys at or under a prefix, sorted. Operators and the priv only. */
  list(caller: KvCaller, prefixSegments: readonly string[]): KvOutcome<string[]> {
    if (caller.role === "calf") return { ok: false, error: new KvError(KvErrorCode.FORBIDDEN, "a calf may not list keys") };
    const prefix = parseKvSegments(prefixSegments);
    if (!prefix.ok) return { ok: false, error: new KvError(KvErrorCode.BAD_PATH, prefix.reason) };
    return { ok: true, value: [...this.current.keys()].filter((k) => isUnder(k, prefix.path)).sort() };
  }

  /** Subscribes to durable changes at or under a prefix, delivered in sequence order. */
  watch(prefix: string, onEvent: (e: StoreEvent) => void): () => void {
    const w = { prefix, onEvent };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /** The last audit lines (raw JSON), oldest first. */
  auditTail(count: number, maxBytes: number): string[] {
    return this.audit.tail(count, maxBytes);
  }

  /** Commits what is pending and closes the audit log. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.commitScheduled) await this.commitScheduled;
    this.closed = true;
    this.audit.close();
  }

  private resolve(segments: readonly string[]): KvOutcome<{ key: string; entry: SchemaEntry }> {
    const parsed = parseKvSegments(segments);
    if (!parsed.ok) return { ok: false, error: new KvError(KvErrorCode.BAD_PATH, parsed.reason) };
    const entry = matchEntry(this.schema, parsed.segments);
    if (!entry) return { ok: false, error: new KvError(KvErrorCode.UNKNOWN_PATH, `${parsed.path} is not a path of the ${this.schema.name} schema`, parsed.path) };
    return { ok: true, value: { key: parsed.path, entry } };
  }

  private checkWriteRight(caller: KvCaller, key: string, entry: SchemaEntry): KvError | null {
    if (caller.role === "calf" && entry.writer !== "calf") {
      return new KvError(KvErrorCode.READ_ONLY, `${key} is written by the priv; a calf may only read it`, key);
    }
    return null;
  }

  private refuse<T>(caller: KvCaller, op: AuditRecord["op"], segments: readonly string[], value: string | null, error: KvError): KvOutcome<T> {
    const key = error.path ?? (parseKvSegments(segments).ok ? "/" + segments.join("/") : JSON.stringify(segments.slice(0, 16)));
    this.record({ client: caller.name, op, path: key.slice(0, 300), old: this.current.get(key) ?? null, new: value, result: error.code, reason: error.message });
    this.scheduleCommit();
    return { ok: false, error };
  }

  private record(r: Omit<AuditRecord, "time">): void {
    this.audit.append({ time: new Date().toISOString(), ...r, old: auditValue(r.old), new: auditValue(r.new) });
  }

  private countKeys(entry: SchemaEntry): number {
    let n = 0;
    for (const k of this.current.keys()) {
      const parsed = parseKvPath(k);
      if (parsed.ok && matchesPattern(entry, parsed.segments)) n++;
    }
    return n;
  }

  private totalBytes(): number {
    let n = 0;
    for (const v of this.current.values()) n += Buffer.byteLength(v);
    return n;
  }

  private enqueue(event: StoreEvent): Promise<KvOutcome<void>> {
    return new Promise((resolve) => {
      this.batch.push({ event, resolve });
      this.scheduleCommit();
    });
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = new Promise((done) => setImmediate(() => void this.commit().finally(done)));
  }

  /** Commits the batch: fsync the audit log, replace the store file, then acknowledge and notify. */
  private async commit(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    const seq = this.seq;
    const snapshotted = new Map(this.current);
    try {
      this.audit.sync();
      if (batch.length > 0) {
        const snapshot: StoreSnapshot = { format: STORE_FORMAT, schema: this.schema.name, seq: seq.toString(), entries: Object.fromEntries([...snapshotted].sort()) };
        await this.writeFile(this.storeFile, JSON.stringify(snapshot, null, 1) + "\n");
      }
    } catch (cause) {
      // Roll back to what is on disk, including changes that arrived while we were writing.
      const failed = [...batch, ...this.batch];
      this.batch = [];
      this.current = new Map(this.committed);
      this.seq = this.committedSeq;
      const error = new KvError(KvErrorCode.STORAGE, `could not persist the store in ${this.stateDir}: ${(cause as Error).message}`, undefined, { cause });
      this.log.error({ err: (cause as Error).message, changes: failed.length }, "store commit failed; changes rolled back");
      for (const p of failed) {
        try {
          this.record({ client: "store", op: p.event.value === null ? "delete" : "write", path: p.event.path, old: null, new: p.event.value, result: error.code, reason: "rolled back" });
        } catch {
          // The audit log may be on the same failing disk; the error still reaches the writer.
        }
        p.resolve({ ok: false, error });
      }
      this.commitScheduled = null;
      return;
    }
    this.committedSeq = seq;
    this.committed = snapshotted;
    this.commitScheduled = null;
    // Changes (and refusals to audit) that arrived during the write go with the next commit.
    if (this.batch.length > 0 || this.audit.hasUnsynced) this.scheduleCommit();
    for (const p of batch) p.resolve({ ok: true, value: undefined });
    for (const p of batch) {
      for (const w of this.watchers) {
        if (isUnder(p.event.path, w.prefix)) {
          try {
            w.onEvent(p.event);
          } catch (err) {
            this.log.error({ err: (err as Error).message, path: p.event.path }, "a watcher failed");
          }
        }
      }
    }
  }
}
