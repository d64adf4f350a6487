/**
 * The store: a tree of paths holding canonical text values, guarded by a service schema.
 *
 * Every change goes through `commit` (`write` and `delete` are commits of one change): each change
 * is checked (path, the caller's rights, the value) and the commit as a whole against the schema's
 * key counts and total size, before anything is applied; then the audit records are appended, the
 * changes applied in memory under one sequence number, and the promise resolves once they are
 * durable. All or none: a refused commit changes nothing. Commits arriving in the same event-loop
 * turn are persisted together (one journal line holding the new state and the audit lines, one
 * fdatasync; decision 0012),
 * then delivered to watchers one event per commit, in sequence order. Persisting that fails is
 * rolled back whole and its writers get an error, so an acknowledged commit is always on disk.
 *
 * Each value is parsed once, by its schema entry's parser, when it is written or loaded; the store
 * keeps the parsed value next to the text (`parsed` beside `values`), so handlers act on typed
 * values and never parse store text again (DESIGN.md invariant 1: the schema check at this edge is
 * the priv's validation).
 */
import { mkdirSync, renameSync } from "node:fs";
import path from "node:path";
import { MAX_COMMIT_CHANGES } from "@paddock/protocol";
import { AuditLog, auditValue, type AuditLogOptions, type AuditRecord } from "./audit.ts";
import { KvError, KvErrorCode } from "./errors.ts";
import { isUnder, parseKvPath, parseKvSegments } from "./path.ts";
import { entryFileBytes, JOURNAL_COMPACT_BYTES, readSnapshot, serializeSnapshot, StoreJournal, STORE_FORMAT, storeFileBytes, writeFileAtomicSync, type StoreSnapshot } from "./persist.ts";
import { checkSchema, matchEntry, matchesPattern, type Role, type SchemaEntry, type ServiceSchema } from "./schema.ts";
import { parseWith } from "./validators.ts";

/** Who is asking: the role decides the rights, the name goes into the audit log. */
export interface KvCaller {
  role: Role;
  name: string;
}

/** A value or a typed error. */
export type KvOutcome<T> = { ok: true; value: T } | { ok: false; error: KvError };

/** One change asked of `commit`: path segments (as on the wire), and the value's bytes or null to delete. */
export interface KvStoreChange {
  readonly path: readonly string[];
  readonly value: Uint8Array | null;
}

/** One applied change: the key's text path and its new value, null when it was deleted. */
export interface StoreChange {
  path: string;
  value: string | null;
}

/**
 * A durable commit, as a watcher receives it: one event per commit that changed something at or
 * under the watcher's prefix, holding only those changes, in the order the commit listed them.
 */
export interface StoreEvent {
  seq: bigint;
  changes: StoreChange[];
}

/** What a before-persist hook sees: the values about to be persisted, parsed and as text (one consistent snapshot). */
export interface PendingView {
  readonly parsed: ReadonlyMap<string, unknown>;
  readonly values: ReadonlyMap<string, string>;
}

/**
 * Called when commits are about to be persisted, with the store as it will be once they are
 * durable. A record it sets with `writeRecord` before its promise settles goes into the same
 * durable write as those commits (decision 0012). Bounded by `PREPARE_TIMEOUT_MS`.
 */
export type BeforePersistHook = (view: PendingView) => Promise<void> | void;

/**
 * How long a persist waits for its before-persist hooks (a handler asking the kernel what it
 * holds: a netlink round trip takes well under a millisecond). Past it the commits are persisted
 * without what the hooks had not set yet: a record set later goes with the next persist, and the
 * handler writes it ahead of its change as it would without a hook.
 */
export const PREPARE_TIMEOUT_MS = 250;

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

/** A commit applied in memory, waiting to be persisted. */
interface Pending {
  seq: bigint;
  client: string;
  changes: StoreChange[];
  resolve: (r: KvOutcome<void>) => void;
}

/** A change that passed its own checks, with the value it replaces. */
interface Checked {
  key: string;
  entry: SchemaEntry;
  old: string | null;
  value: string | null;
  /** What the entry's parser made of `value` (undefined for a delete). */
  parsed: unknown;
}

/** Why a commit was refused: the error, and the change it names (for the audit line). */
interface Refusal {
  error: KvError;
  change: KvStoreChange | null;
  /** The value as text for the audit line (or a note on why it is not shown). */
  text: string | null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The wall clock in milliseconds with microseconds (performance.now() from the wall clock at
 * process start): the `at` of the apply path's debug lines, which bench/apply.ts lines up with
 * tcpdump's kernel timestamps (Date.now() has only whole milliseconds).
 */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * CLOCK_MONOTONIC in microseconds: the clock a calf's `monotonicNs` reads too, so the apply path's
 * debug lines on both sides of the boundary line up exactly (bench/apply.ts).
 */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface KvStoreOptions {
  schema: ServiceSchema;
  stateDir: string;
  log?: KvLogger;
  /**
   * Makes each new state durable by replacing the store file with `data`; tests substitute a
   * failing one. Default: the store's journal (one fsync'd append per persist, folded into the
   * store file now and then; decision 0012).
   */
  writeFile?: (file: string, data: string) => Promise<void> | void;
  /** The wall clock in milliseconds (audit times, the audit log's repeat window); tests inject one. */
  now?: () => number;
  /** The audit log's rotation and collapsing limits (tests make them small). */
  audit?: Omit<AuditLogOptions, "now" | "onLinesWritten">;
}

/** What a connection adds to a commit it forwards. */
export interface KvCommitOptions {
  /**
   * Asked once a commit has passed every check and would change something: may the caller make
   * the priv rewrite (and fsync) a store file of `fileBytes` bytes now? An error refuses the commit
   * whole, audited like any refusal. The server charges each calf connection's commits to a
   * budget of store-file bytes per second (`CALF_LIMITS`).
   */
  budget?: (fileBytes: number) => KvError | null;
  /**
   * Applied now (reads see it) but not persisted on its own: the commit joins the next persist
   * that another commit, a record or `close` starts, in the same durable write, and resolves when
   * that write is. For what the priv observes that only matters together with a commit sure to
   * follow (the DHCP client's ACKed address and the calf's lease: decision 0012), so the pair costs
   * one write and the first does not hold the second back.
   */
  withNextPersist?: boolean;
}

export class KvStore {
  readonly schema: ServiceSchema;
  readonly stateDir: string;
  private readonly log: KvLogger;
  private readonly audit: AuditLog;
  private readonly storeFile: string;
  private readonly writeFile: ((file: string, data: string) => Promise<void> | void) | undefined;
  /** Where each persist goes when no `writeFile` is given (decision 0012). */
  private readonly journal: StoreJournal | null = null;
  private readonly now: () => number;
  /** What readers see: committed values plus the commits being persisted. */
  private current = new Map<string, string>();
  /** The parsed form of every value in `current`, same keys. */
  private currentParsed = new Map<string, unknown>();
  /** The sum of `entryFileBytes` over `current`: what its entries add to the store file. */
  private currentEntryBytes = 0;
  /** What is on disk. */
  private committed = new Map<string, string>();
  /** The parsed form of every value in `committed`, same keys. */
  private committedParsed = new Map<string, unknown>();
  /** The sum of `entryFileBytes` over `committed`. */
  private committedEntryBytes = 0;
  private seq: bigint;
  private committedSeq: bigint;
  private batch: Pending[] = [];
  private persistScheduled: Promise<void> | null = null;
  private readonly watchers = new Set<{ prefix: string; onEvent: (e: StoreEvent) => void }>();
  private readonly hooks = new Set<BeforePersistHook>();
  /** The priv's records as on disk, and those set since, waiting for the next persist. */
  private committedRecords = new Map<string, unknown>();
  private pendingRecords = new Map<string, { value: unknown; done: Array<(error: KvError | null) => void> }>();
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
    this.writeFile = opts.writeFile;
    this.now = opts.now ?? Date.now;
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
    this.storeFile = path.join(opts.stateDir, STORE_FILE);
    let snapshot = this.load();
    if (this.writeFile === undefined) {
      this.journal = StoreJournal.open(opts.stateDir, this.now, (movedTo, reason) => this.log.warn({ movedTo, reason }, "store journal unusable: moved aside"));
      // The journal's last complete line is newer than the store file (a crash before it was folded in).
      const newest = this.journal.newest(this.schema.name);
      if (newest.invalid) this.log.warn({ file: this.journal.file, usable: newest.snapshot !== null }, "store journal holds lines that are not this store's snapshots: ignored");
      if (newest.snapshot !== null && BigInt(newest.snapshot.seq) >= BigInt(snapshot?.seq ?? "0")) snapshot = newest.snapshot;
    }
    this.seq = BigInt(snapshot?.seq ?? "0");
    this.committedSeq = this.seq;
    for (const [key, value] of Object.entries(snapshot?.entries ?? {})) {
      const parsed = parseKvPath(key);
      const entry = parsed.ok ? matchEntry(this.schema, parsed.segments) : undefined;
      const valid = entry ? parseWith(entry.validate, value) : { ok: false as const, reason: "no schema entry" };
      if (!parsed.ok || !entry || !valid.ok) {
        this.log.warn({ path: key, reason: valid.ok ? "bad path" : valid.reason }, "dropping a stored value that fails the schema");
        continue;
      }
      this.current.set(key, value);
      this.currentParsed.set(key, valid.value);
      this.currentEntryBytes += entryFileBytes(key, value);
    }
    this.committed = new Map(this.current);
    this.committedParsed = new Map(this.currentParsed);
    for (const [name, value] of Object.entries(snapshot?.records ?? {})) this.committedRecords.set(name, Object.freeze(value));
    this.committedEntryBytes = this.currentEntryBytes;
    this.audit = new AuditLog(path.join(opts.stateDir, AUDIT_FILE), {
      ...opts.audit,
      now: this.now,
      // Lines the audit log writes on its own (a run of repeated refusals, at the end of its window) are made durable like any other.
      onLinesWritten: () => {
        if (!this.closed) this.schedulePersist();
      },
    });
    if (this.journal !== null && this.journal.size > 0) {
      // The audit lines the journal made durable that audit.log lost in a crash go back first.
      const restored = this.audit.restore(this.journal.auditLines(this.schema.name));
      if (restored > 0) this.log.warn({ lines: restored }, "audit.log had lost lines of acknowledged commits in a crash: restored from the store journal");
      // What the journal held goes into the store file now, so the journal starts empty. If the disk
      // refuses, the journal keeps it (and takes the next commits): the store still opens.
      try {
        this.compact();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "could not fold the store journal into the store file at start; the journal keeps the state");
      }
    }
  }

  /**
   * The store file's snapshot, or null to start empty. A file that is not a store file (torn by a
   * disk that lied about fsync, edited by hand, a symlink) is renamed `store.json.corrupt-<ms>`
   * with a warning, kept for a post-mortem, and the store starts empty: the calf asks for its lease
   * again, and the handlers withdraw nothing they do not own. A valid store file of another schema
   * is refused instead: it is another service's state, so the state directory is the wrong one, and
   * moving it aside would throw that service's state away.
   */
  private load(): StoreSnapshot | null {
    const read = readSnapshot(this.storeFile);
    if (read.kind === "absent") return null;
    if (read.kind === "ok") {
      if (read.snapshot.schema === this.schema.name) return read.snapshot;
      throw new Error(`${this.storeFile} holds the state of the service ${JSON.stringify(read.snapshot.schema)}, not ${this.schema.name}: this is another service's state directory, so give ${this.schema.name} its own`);
    }
    const aside = `${this.storeFile}.corrupt-${this.now()}`;
    renameSync(this.storeFile, aside);
    this.log.warn({ file: this.storeFile, movedTo: aside, reason: read.reason }, "store file unreadable: moved aside; starting with an empty store");
    return null;
  }

  /** The durable view as canonical text: every value here is on disk. */
  get values(): ReadonlyMap<string, string> {
    return this.committed;
  }

  /**
   * The durable view as parsed values, for handlers: the same keys as `values`, each holding what
   * its schema entry's parser returned (an `Ipv4Cidr` for "/ip"; the text for a validator that
   * returns no value). Replaced, never mutated, at each durable commit, so a reference taken
   * together with `values` is a consistent snapshot.
   */
  get parsed(): ReadonlyMap<string, unknown> {
    return this.committedParsed;
  }

  /**
   * The size the store file has (or, while a commit is being persisted, is about to have), counting
   * the sequence number at its longest: what the schema's `maxTotalBytes` bounds.
   */
  get fileBytes(): number {
    return storeFileBytes(this.schema.name, this.current.size, this.currentEntryBytes);
  }

  /**
   * A durable record of the priv's, by name (a handler's ownership record: `OwnershipFile` with a
   * store), as last persisted; undefined when there is none. Records are not KV paths: no calf or
   * operator request reads or writes them. Replaced, never mutated, at each persist.
   */
  readRecord(name: string): unknown {
    return this.committedRecords.get(name);
  }

  /**
   * Sets a record; it is persisted with the next persist — the same durable write as the commits
   * being persisted, when called from a before-persist hook — and the promise
   * resolves once it is durable (or rejects with `PADDOCK_E_KV_STORAGE`; nothing of it is then on
   * disk). The value must be JSON (it is stored as its JSON text's parse).
   */
  writeRecord(name: string, value: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new KvError(KvErrorCode.STORAGE, `the store in ${this.stateDir} is closed`));
    const copy = JSON.parse(JSON.stringify(value)) as unknown;
    return new Promise((resolve, reject) => {
      const before = this.pendingRecords.get(name);
      const done = [...(before?.done ?? []), (error: KvError | null) => (error ? reject(error) : resolve())];
      this.pendingRecords.set(name, { value: copy, done });
      this.schedulePersist();
    });
  }

  /**
   * Registers a hook called before each persist that holds commits (see `BeforePersistHook`);
   * returns the function that removes it.
   */
  beforePersist(hook: BeforePersistHook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** The sequence number of the last durable commit. */
  get lastSeq(): bigint {
    return this.committedSeq;
  }

  /** Resolves when commits made so far are persisted (or rolled back); a `withNextPersist` commit waits for its persist to start. */
  settled(): Promise<void> {
    return this.persistScheduled ?? Promise.resolve();
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

  /** Writes a key (a commit of one change); resolves when the write is durable (or refused, or rolled back). */
  write(caller: KvCaller, segments: readonly string[], bytes: Uint8Array, opts?: KvCommitOptions): Promise<KvOutcome<void>> {
    return this.commit(caller, [{ path: segments, value: bytes }], opts);
  }

  /** Deletes a key (deleting an absent key succeeds); resolves when durable. */
  delete(caller: KvCaller, segments: readonly string[], opts?: KvCommitOptions): Promise<KvOutcome<void>> {
    return this.commit(caller, [{ path: segments, value: null }], opts);
  }

  /**
   * Applies several changes atomically. Every change is checked (path, rights, UTF-8, size,
   * validator), then the commit as a whole (wildcard key counts and the size of the store file, as
   * if every change applied), then, for a commit that changes something, the caller's budget of
   * store-file rewrites (`opts.budget`), before anything is applied: a refusal names the first
   * failing change (a budget refusal names none: the path is "/") and changes nothing. An accepted commit gets one sequence number, is persisted once, reaches
   * each watcher as one event, and resolves when durable; if persisting fails it is rolled back
   * whole. A path may appear only once; an empty commit succeeds and changes nothing.
   */
  commit(caller: KvCaller, changes: readonly KvStoreChange[], opts: KvCommitOptions = {}): Promise<KvOutcome<void>> {
    if (changes.length === 0) return Promise.resolve({ ok: true, value: undefined });
    const result = this.check(caller, changes);
    if (!result.ok) {
      const { error, change, text } = result.error;
      const op = change === null ? "commit" : change.value === null ? "delete" : "write";
      const r = this.refuse<void>(caller, op, change?.path ?? [], text, error, changes.length);
      return Promise.resolve(r);
    }
    const { checked, entryBytes } = result.value;
    const applied = checked.filter((c) => c.old !== c.value);
    if (applied.length > 0 && opts.budget) {
      const over = opts.budget(storeFileBytes(this.schema.name, result.value.count, entryBytes));
      if (over) return Promise.resolve(this.refuse<void>(caller, "commit", [], null, over, changes.length));
    }
    const seq = applied.length > 0 ? ++this.seq : undefined;
    const many = changes.length > 1 ? changes.length : undefined;
    for (const c of checked) {
      this.record({ client: caller.name, op: c.value === null ? "delete" : "write", path: c.key, old: c.old, new: c.value, result: "ok", seq: seq?.toString(), commit: many });
    }
    if (seq === undefined) {
      // Nothing changed; the audit lines still reach the disk with the next persist.
      if (!opts.withNextPersist) this.schedulePersist();
      return Promise.resolve({ ok: true, value: undefined });
    }
    for (const c of applied) {
      if (c.value === null) {
        this.current.delete(c.key);
        this.currentParsed.delete(c.key);
      } else {
        this.current.set(c.key, c.value);
        this.currentParsed.set(c.key, c.parsed);
      }
    }
    this.currentEntryBytes = entryBytes;
    this.log.debug({ seq: seq.toString(), client: caller.name, changes: applied.length, at: wallClockMs(), monoUs: monotonicUs() }, "commit accepted");
    return new Promise((resolve) => {
      this.batch.push({ seq, client: caller.name, changes: applied.map((c) => ({ path: c.key, value: c.value })), resolve });
      if (!opts.withNextPersist) this.schedulePersist();
    });
  }

  /** Lists keys at or under a prefix, sorted. Operators and the priv only. */
  list(caller: KvCaller, prefixSegments: readonly string[]): KvOutcome<string[]> {
    if (caller.role === "calf") return { ok: false, error: new KvError(KvErrorCode.FORBIDDEN, "a calf may not list keys") };
    const prefix = parseKvSegments(prefixSegments);
    if (!prefix.ok) return { ok: false, error: new KvError(KvErrorCode.BAD_PATH, prefix.reason) };
    return { ok: true, value: [...this.current.keys()].filter((k) => isUnder(k, prefix.path)).sort() };
  }

  /**
   * Subscribes to durable commits at or under a prefix: one event per commit that changed a key
   * there, with only those changes, in sequence order.
   */
  watch(prefix: string, onEvent: (e: StoreEvent) => void): () => void {
    const w = { prefix, onEvent };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /**
   * The last audit lines (raw JSON), oldest first, across the rotated files. A run of repeated
   * refusals still being counted is written first, so the tail is complete up to now.
   */
  auditTail(count: number, maxBytes: number): string[] {
    const lines = this.audit.tail(count, maxBytes);
    if (this.audit.hasUnsynced && !this.closed) this.schedulePersist();
    return lines;
  }

  /** Persists what is pending, folds the journal into the store file, and closes the audit log. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Commits waiting for the next persist (`withNextPersist`) get it now.
    if (this.batch.length > 0 || this.audit.hasUnsynced) this.schedulePersist();
    while (this.persistScheduled) await this.persistScheduled;
    this.closed = true;
    if (this.journal !== null) {
      try {
        if (this.journal.size > 0) this.compact();
      } catch (err) {
        // The journal still holds it: the next start folds it in.
        this.log.error({ err: (err as Error).message }, "could not fold the store journal into the store file");
      }
      this.journal.close();
    }
    this.audit.close();
  }

  /**
   * Writes the durable state to the store file (temp, fsync, rename, directory fsync) and empties
   * the journal, whose last line held that state.
   */
  private compact(): void {
    // The journal's lines carry audit lines audit.log holds without an fsync of its own: fsync it first.
    this.audit.sync();
    writeFileAtomicSync(this.storeFile, serializeSnapshot(this.durableSnapshot()));
    this.journal!.truncate();
  }

  /** The durable state as a snapshot: values sorted, records by name. */
  private durableSnapshot(): StoreSnapshot {
    return this.snapshotOf(this.committedSeq, this.committed, this.committedRecords);
  }

  private snapshotOf(seq: bigint, values: ReadonlyMap<string, string>, records: ReadonlyMap<string, unknown>): StoreSnapshot {
    const snapshot: StoreSnapshot = { format: STORE_FORMAT, schema: this.schema.name, seq: seq.toString(), entries: Object.fromEntries([...values].sort()) };
    if (records.size > 0) snapshot.records = Object.fromEntries([...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return snapshot;
  }

  /**
   * Checks every change, then the commit as a whole, against the current values. Applies nothing.
   * Gives the checked changes with the key count and entry bytes the store would have after them.
   */
  private check(
    caller: KvCaller,
    changes: readonly KvStoreChange[],
  ): { ok: true; value: { checked: Checked[]; count: number; entryBytes: number } } | { ok: false; error: Refusal } {
    if (changes.length > MAX_COMMIT_CHANGES) {
      return refusal(null, null, new KvError(KvErrorCode.BAD_COMMIT, `a commit may hold at most ${MAX_COMMIT_CHANGES} changes, not ${changes.length}`));
    }
    const checked: Checked[] = [];
    const seen = new Set<string>();
    for (const change of changes) {
      const c = this.checkChange(caller, change);
      if (!c.ok) return c;
      if (seen.has(c.value.key)) {
        return refusal(change, c.value.value, new KvError(KvErrorCode.BAD_COMMIT, `${c.value.key} appears twice in one commit`, c.value.key));
      }
      seen.add(c.value.key);
      checked.push(c.value);
    }
    const after = new Map(this.current);
    for (const c of checked) {
      if (c.value === null) after.delete(c.key);
      else after.set(c.key, c.value);
    }
    // Key counts: a commit may not leave a wildcard pattern with more keys than it allows (nor
    // add to one already over, after a schema change); the first change adding a key is named.
    const counts = new Map<SchemaEntry, { before: number; after: number }>();
    for (const [i, c] of checked.entries()) {
      const max = c.entry.maxKeys;
      if (max === undefined || c.value === null || c.old !== null) continue;
      let n = counts.get(c.entry);
      if (!n) counts.set(c.entry, (n = { before: countKeys(this.current, c.entry), after: countKeys(after, c.entry) }));
      if (n.after > max && n.after > n.before) {
        return refusal(changes[i]!, c.value, new KvError(KvErrorCode.TOO_MANY_KEYS, `${c.key}: ${c.entry.pattern} would hold ${n.after} keys, limit ${max}`, c.key));
      }
    }
    // The store file's size, as written (keys, JSON escapes, framing), counted after the whole
    // commit: a value of control characters costs six bytes a character, not one. The first change
    // that grows the file is named.
    const growth = checked.map((c) => (c.value === null ? 0 : entryFileBytes(c.key, c.value)) - (c.old === null ? 0 : entryFileBytes(c.key, c.old)));
    const entryBytes = this.currentEntryBytes + growth.reduce((a, b) => a + b, 0);
    const before = this.fileBytes;
    const total = storeFileBytes(this.schema.name, after.size, entryBytes);
    if (total > this.schema.maxTotalBytes && total > before) {
      const i = Math.max(0, growth.findIndex((g) => g > 0));
      const c = checked[i]!;
      return refusal(
        changes[i]!,
        c.value,
        new KvError(KvErrorCode.TOO_LARGE, `${c.key}: the store file would be ${total} bytes, limit ${this.schema.maxTotalBytes}`, c.key),
      );
    }
    return { ok: true, value: { checked, count: after.size, entryBytes } };
  }

  /** One change's own checks: path, rights, then (for a write) UTF-8, size and validator. */
  private checkChange(caller: KvCaller, change: KvStoreChange): { ok: true; value: Checked } | { ok: false; error: Refusal } {
    const bytes = change.value;
    const target = this.resolve(change.path);
    if (!target.ok) {
      // A malformed path has no key to put in the error: quote what was sent, so the refusal still names it.
      const error = target.error.path ? target.error : new KvError(target.error.code, `${JSON.stringify("/" + change.path.join("/")).slice(0, 300)}: ${target.error.message}`);
      return refusal(change, bytes === null ? null : describeBytes(bytes), error);
    }
    const { key, entry } = target.value;
    let text: string | null = null;
    let parsed: unknown = undefined;
    if (bytes !== null) {
      try {
        text = utf8.decode(bytes);
      } catch {
        return refusal(change, describeBytes(bytes), new KvError(KvErrorCode.INVALID_VALUE, `the value for ${key} is not valid UTF-8 text`, key));
      }
    }
    if (caller.role === "calf" && entry.writer !== "calf") {
      return refusal(change, text, new KvError(KvErrorCode.READ_ONLY, `${key} is written by the priv; a calf may only read it`, key));
    }
    if (text !== null) {
      const size = Buffer.byteLength(text);
      if (size > entry.maxBytes) {
        return refusal(change, text, new KvError(KvErrorCode.TOO_LARGE, `the value for ${key} is ${size} bytes, limit ${entry.maxBytes}`, key));
      }
      const valid = parseWith(entry.validate, text);
      if (!valid.ok) return refusal(change, text, new KvError(KvErrorCode.INVALID_VALUE, `${key}: ${valid.reason}`, key));
      parsed = valid.value;
    }
    return { ok: true, value: { key, entry, old: this.current.get(key) ?? null, value: text, parsed } };
  }

  private resolve(segments: readonly string[]): KvOutcome<{ key: string; entry: SchemaEntry }> {
    const parsed = parseKvSegments(segments);
    if (!parsed.ok) return { ok: false, error: new KvError(KvErrorCode.BAD_PATH, parsed.reason) };
    const entry = matchEntry(this.schema, parsed.segments);
    if (!entry) return { ok: false, error: new KvError(KvErrorCode.UNKNOWN_PATH, `${parsed.path} is not a path of the ${this.schema.name} schema`, parsed.path) };
    return { ok: true, value: { key: parsed.path, entry } };
  }

  private refuse<T>(caller: KvCaller, op: AuditRecord["op"], segments: readonly string[], value: string | null, error: KvError, commit?: number): KvOutcome<T> {
    const key = error.path ?? (parseKvSegments(segments).ok ? "/" + segments.join("/") : JSON.stringify(segments.slice(0, 16)));
    this.record({
      client: caller.name,
      op,
      path: key.slice(0, 300),
      old: this.current.get(key) ?? null,
      new: value,
      result: error.code,
      reason: error.message,
      commit: commit !== undefined && commit > 1 ? commit : undefined,
    });
    this.schedulePersist();
    return { ok: false, error };
  }

  private record(r: Omit<AuditRecord, "time">): void {
    this.audit.append({ time: new Date(this.now()).toISOString(), ...r, old: auditValue(r.old), new: auditValue(r.new) });
  }

  private schedulePersist(): void {
    if (this.persistScheduled) return;
    this.persistScheduled = new Promise((done) => setImmediate(() => void this.persist().finally(done)));
  }

  /**
   * Persists the batch: lets the before-persist hooks set the records that go with it, appends the
   * new state (values and records) with the audit lines since the last persist as one journal line
   * and fdatasyncs it (with a `writeFile`: fsyncs the audit log, then writes the file), then
   * acknowledges and notifies.
   */
  private async persist(): Promise<void> {
    const started = wallClockMs();
    const batch = this.batch;
    this.batch = [];
    const seq = this.seq;
    // Commits are applied to `current` whole, in one synchronous step, so this copy never holds half of one.
    const snapshotted = new Map(this.current);
    const snapshottedParsed = new Map(this.currentParsed);
    const snapshottedEntryBytes = this.currentEntryBytes;
    // The hooks see exactly what this write holds; commits that arrive while they run go in the next one.
    if (batch.length > 0 && this.hooks.size > 0) await this.runHooks({ parsed: snapshottedParsed, values: snapshotted });
    const hooksMs = wallClockMs() - started;
    const records = this.pendingRecords;
    this.pendingRecords = new Map();
    const nextRecords = new Map(this.committedRecords);
    for (const [name, r] of records) nextRecords.set(name, Object.freeze(r.value));
    let auditMs = 0;
    let journaled: string[] = [];
    try {
      if (this.journal !== null && (batch.length > 0 || records.size > 0)) {
        // One write: the journal line carries the audit lines, its one fdatasync makes both durable.
        journaled = this.audit.takeForJournal();
        this.journal.append(this.snapshotOf(seq, snapshotted, nextRecords), journaled);
      } else {
        this.audit.sync();
        auditMs = wallClockMs() - started - hooksMs;
        if (batch.length > 0 || records.size > 0) await this.writeFile!(this.storeFile, serializeSnapshot(this.snapshotOf(seq, snapshotted, nextRecords)));
      }
    } catch (cause) {
      this.audit.giveBack(journaled);
      // Roll back to what is on disk, including commits that arrived while we were writing.
      const failed = [...batch, ...this.batch];
      this.batch = [];
      this.current = new Map(this.committed);
      this.currentParsed = new Map(this.committedParsed);
      this.currentEntryBytes = this.committedEntryBytes;
      this.seq = this.committedSeq;
      const error = new KvError(KvErrorCode.STORAGE, `could not persist the store in ${this.stateDir}: ${(cause as Error).message}`, undefined, { cause });
      this.log.error({ err: (cause as Error).message, commits: failed.length, records: records.size }, "store commit failed; changes rolled back");
      for (const p of failed) {
        try {
          for (const c of p.changes) {
            this.record({ client: p.client, op: c.value === null ? "delete" : "write", path: c.path, old: null, new: c.value, result: error.code, reason: "rolled back", seq: p.seq.toString() });
          }
        } catch {
          // The audit log may be on the same failing disk; the error still reaches the writer.
        }
        p.resolve({ ok: false, error });
      }
      for (const r of records.values()) for (const done of r.done) done(error);
      this.persistScheduled = null;
      return;
    }
    this.committedSeq = seq;
    this.committed = snapshotted;
    this.committedParsed = snapshottedParsed;
    this.committedEntryBytes = snapshottedEntryBytes;
    this.committedRecords = nextRecords;
    this.persistScheduled = null;
    // Commits, records (and refusals to audit) that arrived during the write go with the next persist.
    if (this.batch.length > 0 || this.pendingRecords.size > 0 || this.audit.hasUnsynced) this.schedulePersist();
    if (batch.length > 0) this.log.debug({ seq: seq.toString(), commits: batch.length, records: records.size, persistMs: wallClockMs() - started, hooksMs, auditMs, at: wallClockMs() }, "store persisted");
    // After the acknowledgements: a long journal is folded into the store file, off their path.
    if (this.journal !== null && this.journal.size > JOURNAL_COMPACT_BYTES) setImmediate(() => this.compactOrLog());
    for (const r of records.values()) for (const done of r.done) done(null);
    for (const p of batch) p.resolve({ ok: true, value: undefined });
    for (const p of batch) {
      for (const w of this.watchers) {
        const changes = p.changes.filter((c) => isUnder(c.path, w.prefix));
        if (changes.length === 0) continue;
        try {
          w.onEvent({ seq: p.seq, changes });
        } catch (err) {
          this.log.error({ err: (err as Error).message, seq: p.seq.toString() }, "a watcher failed");
        }
      }
    }
  }

  private compactOrLog(): void {
    if (this.closed || this.persistScheduled || this.journal === null) return;
    try {
      this.compact();
    } catch (err) {
      // The journal keeps everything; the next persist past the threshold tries again.
      this.log.error({ err: (err as Error).message }, "could not fold the store journal into the store file");
    }
  }

  /** Runs the before-persist hooks on the values about to be persisted, each bounded by PREPARE_TIMEOUT_MS; a failing hook is logged. */
  private async runHooks(view: PendingView): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn({ timeoutMs: PREPARE_TIMEOUT_MS }, "a before-persist hook took too long: persisting without waiting for it");
        resolve();
      }, PREPARE_TIMEOUT_MS);
    });
    const run = async (hook: BeforePersistHook): Promise<void> => {
      try {
        await hook(view);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "a before-persist hook failed");
      }
    };
    await Promise.race([Promise.all([...this.hooks].map(run)), timeout]);
    clearTimeout(timer);
  }
}

function refusal(change: KvStoreChange | null, text: string | null, error: KvError): { ok: false; error: Refusal } {
  return { ok: false, error: { error, change, text } };
}

/** How a value's bytes appear in the audit log when they are not (or not yet known to be) text. */
function describeBytes(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return `<${bytes.length} bytes, not UTF-8>`;
  }
}

function countKeys(values: ReadonlyMap<string, string>, entry: SchemaEntry): number {
  let n = 0;
  for (const k of values.keys()) {
    const parsed = parseKvPath(k);
    if (parsed.ok && matchesPattern(entry, parsed.segments)) n++;
  }
  return n;
}

