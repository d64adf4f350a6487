/**
 * The audit log: one JSON line per change attempted (and per refused read), accepted or refused, appended to a file opened O_APPEND and made durable with every persist of the store, so the
 * log of an acknowledged write is on disk before the acknowledgement: a persist that writes the
 * store's journal carries the lines written since the last one in its journal line (one fsync for
 * both, decision 0012), and audit.log itself is fsynced before the journal is emptied; a restart
 * after a crash puts back (`restore`) the lines audit.log lost. Other persists fsync audit.log.
 *
 * A hostile calf must not be able to fill the disk through it (issue 13 B3: refusals at the
 * request rate limit, each up to ~2 KB of escaped value, were 12–27 GB a day):
 * - **Rotation by size.** When a line would take `audit.log` past `MAX_AUDIT_FILE_BYTES`, it is
 *   renamed `audit.log.1` (`.1` becomes `.2`, …; `AUDIT_ROTATED_FILES` are kept) and a new one is
 *   started, so the log never holds more than (1 + AUDIT_ROTATED_FILES) × MAX_AUDIT_FILE_BYTES.
 *   `tail` reads across the files.
 * - **Repeated refusals collapse.** The first refusal of a run is written as it happens; further
 *   refusals identical to it (same client, operation, path and code) are counted, not written, and
 *   the count goes out as one line, the last of them with `"repeated": N` (N refusals), when a
 *   different record of that client arrives, when the run has waited `AUDIT_REPEAT_WINDOW_MS`, when
 *   the tail is read or the log closed.
 * - **A budget of refusal lines per client.** A client refused for something else each time is
 *   not collapsed: past `AUDIT_REFUSAL_LINE_BURST` lines (refilled at
 *   `AUDIT_REFUSAL_LINES_PER_SECOND`), its refusals are counted and written as one line with
 *   `"suppressed": N` per window.
 * Accepted changes, and every line of a commit (they carry `seq`), are never collapsed nor
 * budgeted. The number of attempts a refusal line stands for is its `repeated` or `suppressed`,
 * 1 when it has neither.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, writeSync } from "node:fs";
import path from "node:path";

/** Longest value text kept in an audit line; a 1 MB hostile value is logged by its size. */
export const MAX_AUDIT_VALUE_CHARS = 256;

/**
 * Size at which `audit.log` is rotated: some 15 000 lines of a busy store (a lease is a dozen
 * lines an hour), small enough that the whole log, rotated files included, stays a few MiB on the
 * smallest flash a Paddock host runs from.
 */
export const MAX_AUDIT_FILE_BYTES = 4 * 1024 * 1024;

/** Rotated files kept (`audit.log.1`, `audit.log.2`): the log holds at most 12 MiB. */
export const AUDIT_ROTATED_FILES = 2;

/**
 * How long a run of repeated refusals is counted before its line is written: short enough that
 * an operator watching the log sees a flood within seconds, long enough that a calf refused at
 * its full request rate costs one line per window instead of hundreds.
 */
export const AUDIT_REPEAT_WINDOW_MS = 5_000;

/**
 * Refusal lines a client may cause in a burst, then a second: a calf that varies what it is
 * refused (another path each time) is not collapsed, and without this bound would rotate the
 * log's history away within minutes. Past it the client's refusals are counted, of whatever kind,
 * and written as one line with `"suppressed": N` per window.
 */
export const AUDIT_REFUSAL_LINE_BURST = 100;
export const AUDIT_REFUSAL_LINES_PER_SECOND = 1;

/**
 * How far past the journal's audit lines `restore` looks back in audit.log for the last of them it
 * still has: lines written after the journal's last line (refusals, whose own persist fsyncs them).
 */
const AUDIT_RESTORE_MARGIN_BYTES = 256 * 1024;

/** Clients tracked at once; past it the oldest one's counts are written out and it is forgotten. */
const MAX_TRACKED_CLIENTS = 64;

/** One audit record. */
export interface AuditRecord {
  time: string;
  client: string;
  /** "commit" for a commit refused as a whole (too many changes, or over its budget of store writes), before or without naming a change. */
  op: "write" | "delete" | "read" | "commit";
  path: string;
  /** The value before (null: absent). */
  old: string | null;
  /** The value asked for (null for delete/read). */
  new: string | null;
  /** "ok", or the error code. */
  result: string;
  /** Why it was refused, for refused attempts. */
  reason?: string;
  /** The commit's sequence number (decimal), on the lines of an accepted commit that changed something: one commit, one seq. */
  seq?: string;
  /**
   * How many changes the commit held, when more than one. A refused commit is audited as one line,
   * the change that was refused, with this count: none of its changes were applied.
   */
  commit?: number;
  /**
   * On a line standing for a run of identical refusals (same client, op, path and result) that
   * followed a line like it: how many there were. The line is the last of them (its time, value
   * and reason); `first` is the time of the first. Absent on a line that stands for itself.
   */
  repeated?: number;
  /**
   * On a line standing for refusals of this client past its budget of refusal lines (of any path
   * and code): how many there were. The line is the last of them; `first` the time of the first.
   */
  suppressed?: number;
  /** With `repeated` or `suppressed`: the time of the first refusal the line stands for. */
  first?: string;
}

/** Shortens a value for the log, saying how long it was. */
export function auditValue(value: string | null): string | null {
  if (value === null || value.length <= MAX_AUDIT_VALUE_CHARS) return value;
  return `${value.slice(0, MAX_AUDIT_VALUE_CHARS)}… (${Buffer.byteLength(value)} bytes)`;
}

/** Limits and hooks of an audit log; each defaults to the named constant. */
export interface AuditLogOptions {
  maxFileBytes?: number;
  rotatedFiles?: number;
  repeatWindowMs?: number;
  refusalLineBurst?: number;
  refusalLinesPerSecond?: number;
  /** Milliseconds, for the repeat window; the store passes its clock. */
  now?: () => number;
  /** Called after the log wrote lines on its own (a run's line at the end of its window), so the owner can make them durable. */
  onLinesWritten?: () => void;
}

/** Refusals of one client counted but not yet written. */
interface Tally {
  count: number;
  /** The last of them: the line written for the tally is this record with the count. */
  last: AuditRecord | null;
  /** The time of the first of them. */
  first: string;
  /** When the first of them arrived (`now()`). */
  since: number;
}

/** What the log keeps about a client that was refused. */
interface ClientState {
  /** The collapse key of the client's last written refusal: identical refusals after it go to `repeats`. */
  runKey: string | null;
  repeats: Tally;
  /** Refusals, of any kind, past the client's budget of refusal lines. */
  suppressed: Tally;
  /** The refusal-line budget: tokens left, and when they were counted. */
  tokens: number;
  refilledAt: number;
}

const emptyTally = (): Tally => ({ count: 0, last: null, first: "", since: 0 });

/** An append-only audit log file, rotated by size, with runs of identical refusals collapsed. */
export class AuditLog {
  private fd: number;
  private size: number;
  /** Lines written that are not durable anywhere yet (neither fsynced nor in a journal line). */
  private dirty = false;
  /** Their text, for the store's journal line to carry (`takeForJournal`). */
  private undurable: string[] = [];
  /** Lines written to audit.log since its last fsync (durable elsewhere or not). */
  private notFsynced = false;
  private readonly maxFileBytes: number;
  private readonly rotatedFiles: number;
  private readonly repeatWindowMs: number;
  private readonly refusalLineBurst: number;
  private readonly refusalLinesPerSecond: number;
  private readonly now: () => number;
  private readonly onLinesWritten: () => void;
  private readonly clients = new Map<string, ClientState>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly file: string,
    opts: AuditLogOptions = {},
  ) {
    this.maxFileBytes = opts.maxFileBytes ?? MAX_AUDIT_FILE_BYTES;
    this.rotatedFiles = opts.rotatedFiles ?? AUDIT_ROTATED_FILES;
    this.repeatWindowMs = opts.repeatWindowMs ?? AUDIT_REPEAT_WINDOW_MS;
    this.refusalLineBurst = opts.refusalLineBurst ?? AUDIT_REFUSAL_LINE_BURST;
    this.refusalLinesPerSecond = opts.refusalLinesPerSecond ?? AUDIT_REFUSAL_LINES_PER_SECOND;
    this.now = opts.now ?? Date.now;
    this.onLinesWritten = opts.onLinesWritten ?? (() => {});
    this.fd = openSync(file, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** The files of the log, newest first: `audit.log`, `audit.log.1`, … */
  get files(): string[] {
    return [this.file, ...Array.from({ length: this.rotatedFiles }, (_, i) => `${this.file}.${i + 1}`)];
  }

  append(record: AuditRecord): void {
    const key = collapseKey(record);
    let c = this.clients.get(record.client);
    if (key === null) {
      // Never collapsed. What the client's refusals counted so far goes first, in order.
      if (c) {
        this.flushClient(c);
        c.runKey = null;
      }
      this.writeLine(record);
      return;
    }
    const now = this.now();
    c ??= this.track(record.client, now);
    if (c.runKey === key) return this.count(c.repeats, "repeated", record, now);
    this.flushTally(c.repeats, "repeated");
    c.runKey = null;
    if (!this.takeLine(c, now)) return this.count(c.suppressed, "suppressed", record, now);
    this.flushTally(c.suppressed, "suppressed");
    this.writeLine(record);
    c.runKey = key;
  }

  private track(client: string, now: number): ClientState {
    if (this.clients.size >= MAX_TRACKED_CLIENTS) {
      const [oldest, state] = this.clients.entries().next().value!;
      this.flushClient(state);
      this.clients.delete(oldest);
    }
    const c: ClientState = { runKey: null, repeats: emptyTally(), suppressed: emptyTally(), tokens: this.refusalLineBurst, refilledAt: now };
    this.clients.set(client, c);
    return c;
  }

  private takeLine(c: ClientState, now: number): boolean {
    c.tokens = Math.min(this.refusalLineBurst, c.tokens + (Math.max(0, now - c.refilledAt) / 1000) * this.refusalLinesPerSecond);
    c.refilledAt = now;
    if (c.tokens < 1) return false;
    c.tokens -= 1;
    return true;
  }

  private count(t: Tally, field: "repeated" | "suppressed", record: AuditRecord, now: number): void {
    if (t.count === 0) {
      t.first = record.time;
      t.since = now;
      this.armTimer();
    }
    t.count++;
    t.last = record;
    if (now - t.since >= this.repeatWindowMs) this.flushTally(t, field);
  }

  /** Whether lines were appended that are not durable yet (not fsynced, nor taken for a journal line). */
  get hasUnsynced(): boolean {
    return this.dirty;
  }

  /** Makes every appended line durable in audit.log itself. */
  sync(): void {
    if (!this.notFsynced) return;
    fsyncSync(this.fd);
    this.notFsynced = false;
    this.dirty = false;
    this.undurable = [];
  }

  /**
   * The lines not durable yet, as text, for the store's journal line to carry: that line's one
   * fdatasync makes them durable (decision 0012). audit.log keeps them too and is fsynced later
   * (`sync`, which the store calls before it empties its journal). If the journal write fails,
   * `giveBack` them.
   */
  takeForJournal(): string[] {
    const lines = this.undurable;
    this.undurable = [];
    this.dirty = false;
    return lines;
  }

  /** Lines `takeForJournal` gave out whose journal write failed: not durable after all. */
  giveBack(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.undurable = [...lines, ...this.undurable];
    this.dirty = true;
  }

  /**
   * At start, with the audit lines the store's journal holds (oldest first): appends those that
   * audit.log lost in a crash (a power loss takes its unsynced end; the journal made them durable)
   * — every line after the last of them audit.log still has — and fsyncs. Returns how many.
   */
  restore(lines: readonly string[]): number {
    if (lines.length === 0) return 0;
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    const present = new Set(this.tail(0, bytes + AUDIT_RESTORE_MARGIN_BYTES));
    let last = lines.length - 1;
    while (last >= 0 && !present.has(lines[last]!)) last--;
    const missing = lines.slice(last + 1);
    if (missing.length === 0) return 0;
    // A torn last line (the crash cut a write) must not swallow the first restored one.
    if (this.size > 0 && !this.endsWithNewline()) {
      writeSync(this.fd, "\n");
      this.size += 1;
    }
    for (const l of missing) this.writeText(l);
    this.sync();
    return missing.length;
  }

  private endsWithNewline(): boolean {
    const fd = openSync(this.file, "r");
    try {
      const end = Buffer.alloc(1);
      return readSync(fd, end, 0, 1, this.size - 1) === 1 && end[0] === 0x0a;
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the line of every tally of refusals still being counted. */
  flushCounts(): void {
    for (const c of this.clients.values()) this.flushClient(c);
  }

  /**
   * The last `count` lines (0: all that fit in `maxBytes`), oldest first, as raw JSON text, read
   * from the end of `audit.log` and on into the rotated files while both allow. Counted
   * refusals are written first. Reads only the tails of the files.
   */
  tail(count: number, maxBytes: number): string[] {
    this.flushCounts();
    let lines: string[] = [];
    let budget = maxBytes;
    for (const file of this.files) {
      if (budget <= 0 || (count > 0 && lines.length >= count)) break;
      const t = readTail(file, budget);
      if (t === null) break;
      lines = [...t.lines, ...lines];
      budget -= t.bytes;
      // The window ended inside this file: the older files are outside it.
      if (!t.whole) break;
    }
    return count > 0 ? lines.slice(-count) : lines;
  }

  close(): void {
    clearTimeout(this.timer);
    this.flushCounts();
    this.sync();
    closeSync(this.fd);
  }

  private flushClient(c: ClientState): void {
    this.flushTally(c.repeats, "repeated");
    this.flushTally(c.suppressed, "suppressed");
  }

  private flushTally(t: Tally, field: "repeated" | "suppressed"): void {
    if (t.count === 0 || t.last === null) return;
    this.writeLine({ ...t.last, [field]: t.count, first: t.first });
    Object.assign(t, emptyTally());
  }

  private armTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushCounts();
      if (this.dirty) this.onLinesWritten();
    }, this.repeatWindowMs);
    this.timer.unref();
  }

  private writeLine(record: AuditRecord): void {
    this.writeText(JSON.stringify(record));
  }

  private writeText(text: string): void {
    const line = Buffer.from(text + "\n");
    if (this.size > 0 && this.size + line.length > this.maxFileBytes) this.rotate();
    // One write() per line: a crash can lose a line that was not yet fsynced, never tear one
    // that was, and the reader skips a torn last line.
    writeSync(this.fd, line);
    this.size += line.length;
    this.dirty = true;
    this.notFsynced = true;
    this.undurable.push(text);
  }

  /**
   * audit.log → audit.log.1 (→ .2 …, the oldest dropped), then a new audit.log. The old file is
   * fsynced before it is renamed and the directory after, so a crash leaves every synced line in
   * one of the files, and at worst an empty new audit.log.
   */
  private rotate(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    const files = this.files;
    for (let i = files.length - 1; i >= 1; i--) {
      try {
        renameSync(files[i - 1]!, files[i]!);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    this.fd = openSync(this.file, "a", 0o600);
    this.size = 0;
    // Every line so far is in the old file, fsynced above.
    this.dirty = false;
    this.notFsynced = false;
    this.undurable = [];
    const dfd = openSync(path.dirname(this.file), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

/** What makes refusals identical for collapsing; null for a record that is never collapsed (accepted, or a line of a commit). */
function collapseKey(r: AuditRecord): string | null {
  if (r.result === "ok" || r.seq !== undefined) return null;
  return JSON.stringify([r.op, r.path, r.result]);
}

/**
 * The lines of the last `maxBytes` of a file (the first one dropped when the window cut it), the
 * bytes read, and whether that was the whole file; null when there is no such file.
 */
function readTail(file: string, maxBytes: number): { lines: string[]; bytes: number; whole: boolean } | null {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    let lines = buf.subarray(0, got).toString("utf8").split("\n");
    // The first line may be cut by the byte window, the last is "" after the final newline.
    if (start > 0) lines = lines.slice(1);
    return { lines: lines.filter((l) => l.length > 0), bytes: got, whole: start === 0 };
  } finally {
    closeSync(fd);
  }
}
