/**
 * Atomic persistence of the store: the whole store is one small JSON file, replaced by writing a
 * temporary file, fsyncing it, renaming it over the old one and fsyncing the directory, so that
 * after a crash at any moment the file is either the old or the new version, never a mix.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";

/** The file format's name and version, checked on load. */
export const STORE_FORMAT = "paddock-kv/1";

/** What the store file holds. */
export interface StoreSnapshot {
  format: typeof STORE_FORMAT;
  schema: string;
  /** Sequence number of the last committed change (a decimal string: it may exceed 2^53 in theory). */
  seq: string;
  entries: Record<string, string>;
  /**
   * The priv's durable records kept beside the values (a handler's ownership record), by name:
   * written in the same atomic replace as the commits they belong to (decision 0012). Absent in a
   * file written before records existed.
   */
  records?: Record<string, unknown>;
  /**
   * In a journal line only: the audit lines (their JSON text) written since the previous persist,
   * made durable by this line's fdatasync instead of an fsync of audit.log of their own (decision
   * 0012); put back into audit.log at start if a crash lost them (`AuditLog.restore`).
   */
  audit?: string[];
}

/** The store file's text: the one place its layout is decided (one space of indent, a final newline). */
export function serializeSnapshot(snapshot: StoreSnapshot): string {
  return JSON.stringify(snapshot, null, 1) + "\n";
}

/**
 * Bytes one entry adds to the store file: its key and value as JSON strings (quotes and escapes
 * included: a U+0001 in a value costs 6 bytes), the two-space indent, ": " and ",\n".
 */
export function entryFileBytes(key: string, value: string): number {
  return Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(value)) + ENTRY_FRAMING_BYTES;
}

/** `  ` before an entry, `: ` inside it, `,\n` after it. */
const ENTRY_FRAMING_BYTES = 6;

/**
 * The longest sequence number a store file can hold (2^64 - 1): file sizes are computed with it,
 * so a bound checked today still holds when the sequence number has grown.
 */
const MAX_SEQ_TEXT = "18446744073709551615";

/**
 * An upper bound on the size of the store file of schema `schema` holding `count` entries whose
 * `entryFileBytes` add up to `entriesBytes`: exact but for the sequence number, counted at its
 * longest. This is what the schema's `maxTotalBytes` bounds.
 */
export function storeFileBytes(schema: string, count: number, entriesBytes: number): number {
  const empty = Buffer.byteLength(serializeSnapshot({ format: STORE_FORMAT, schema, seq: MAX_SEQ_TEXT, entries: {} }));
  // "{}" becomes "{\n" + the entries + "\n }", and the last entry has no ",\n": one byte more than the entries' own.
  return count === 0 ? empty : empty + entriesBytes + 1;
}

/** Random bytes in a temp file's name: 16 bytes (128 bits) cannot be guessed ahead of time. */
const TEMP_NAME_RANDOM_BYTES = 16;

/** The random part of a temp file's name (hex); tests substitute a fixed one. */
export function randomTempSuffix(): string {
  return randomBytes(TEMP_NAME_RANDOM_BYTES).toString("hex");
}

/**
 * Flags for a temp file: created here and now, or not at all. O_EXCL fails on anything already at
 * the name, a symlink included (POSIX: O_CREAT|O_EXCL never follows a final symlink); O_NOFOLLOW
 * says the same again for a reader of these flags. So a file or symlink planted at the temp name
 * is never written through, whatever its name.
 */
export const TEMP_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes `data` to `file` atomically and durably: temp file, fsync, rename, fsync of the
 * directory. Synchronous on purpose: the store file is a few KiB, the fsyncs are what costs, and
 * doing it all in one callback avoids a dozen thread-pool round trips per commit.
 *
 * The temp file has an unpredictable name and is created exclusively (`TEMP_FILE_FLAGS`): a
 * symlink planted at a name we would use cannot make us write elsewhere, and one at an
 * unpredictable name makes the write fail (EEXIST) instead. A symlink at `file` itself does not
 * matter: rename(2) replaces the directory entry, it never follows it.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, suffix: () => string = randomTempSuffix): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${suffix()}.tmp`);
  const fd = openSync(tmp, TEMP_FILE_FLAGS, 0o600);
  try {
    try {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      let at = 0;
      while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    // A full disk must not leave a torn temp file behind; this name is ours (we created it).
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed or gone.
    }
    throw err;
  }
  fsyncDirectory(dir);
}

/** What `readSnapshot` found. */
export type SnapshotRead =
  | { readonly kind: "absent" }
  | { readonly kind: "ok"; readonly snapshot: StoreSnapshot }
  /** Something is there, but not a store file: not a regular file, not UTF-8 JSON, or not this format. */
  | { readonly kind: "corrupt"; readonly reason: string };

/** A sequence number as the file holds it: decimal, at most `MAX_SEQ_TEXT`'s 20 digits. */
const SEQ_TEXT = /^(0|[1-9][0-9]{0,19})$/;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads the store file without following a symlink at its name. A file that is not a store file
 * is "corrupt" (the caller moves it aside); an I/O error reading an existing file (EIO, EACCES,
 * EMFILE) is thrown: it says nothing about the file's content, and discarding the state for it
 * would be wrong. Whether the store file's schema is the right one is for the caller to judge.
 */
export function readSnapshot(file: string): SnapshotRead {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "absent" };
    if (code === "ELOOP") return { kind: "corrupt", reason: "it is a symbolic link" };
    throw err;
  }
  let bytes: Buffer;
  try {
    // O_NONBLOCK above: a FIFO planted at the name must not hang the open; it is refused here.
    if (!fstatSync(fd).isFile()) return { kind: "corrupt", reason: "it is not a regular file" };
    bytes = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  return parseSnapshot(bytes);
}

/** A store file's (or a journal line's) bytes as a snapshot, or why they are not one. */
function parseSnapshot(bytes: Uint8Array): SnapshotRead {
  let data: unknown;
  try {
    data = JSON.parse(strictUtf8.decode(bytes));
  } catch (err) {
    return { kind: "corrupt", reason: `it is not UTF-8 JSON (${(err as Error).message})` };
  }
  const d = data as Partial<Record<keyof StoreSnapshot, unknown>> | null;
  if (
    typeof d !== "object" || d === null || Array.isArray(d) ||
    d.format !== STORE_FORMAT ||
    typeof d.schema !== "string" ||
    typeof d.seq !== "string" || !SEQ_TEXT.test(d.seq) ||
    typeof d.entries !== "object" || d.entries === null || Array.isArray(d.entries) ||
    !Object.values(d.entries).every((v) => typeof v === "string") ||
    (d.records !== undefined && (typeof d.records !== "object" || d.records === null || Array.isArray(d.records)))
  ) {
    return { kind: "corrupt", reason: `it is not a ${STORE_FORMAT} store file` };
  }
  return { kind: "ok", snapshot: d as StoreSnapshot };
}

/** The store's journal, next to the store file in the state directory. */
export const JOURNAL_FILE = "store.journal";

/**
 * Past this size the journal is folded into the store file (and emptied) after the persist that
 * grew it: a DHCP store is 1–3 KiB, so that is every few hundred commits, and a calf's budget of
 * store writes (32 KiB/s) makes it at most every eight seconds.
 */
export const JOURNAL_COMPACT_BYTES = 256 * 1024;

/**
 * The store's write-ahead journal (decision 0012): each persist appends the whole new snapshot as
 * one line and makes it durable with one fdatasync — one write, where replacing the store file
 * costs a temp file, its fsync, a rename and the directory's fsync. The directory is fsynced only
 * when the journal file is created. Now and then (`JOURNAL_COMPACT_BYTES`, at start and at close)
 * the journal is folded into the store file (`writeFileAtomicSync`) and emptied.
 *
 * After a crash the state is the journal's last complete, valid line when there is one, else the
 * store file: a torn last line was never acknowledged. Emptying needs no fsync: the lines an
 * emptying that did not reach the disk leaves behind end with the state the store file holds.
 *
 * The file is opened without following a symlink, without blocking on a FIFO, and must be a
 * regular file; anything else at its name is moved aside (`store.journal.corrupt-<ms>`).
 */
export class StoreJournal {
  private constructor(
    readonly file: string,
    private readonly fd: number,
    private bytes: number,
  ) {}

  /** Opens (creating, with the directory fsynced) the journal in `dir`; `now` names a moved-aside file. */
  static open(dir: string, now: () => number, onMovedAside: (movedTo: string, reason: string) => void): StoreJournal {
    const file = path.join(dir, JOURNAL_FILE);
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    for (let attempt = 0; ; attempt++) {
      let fd: number;
      try {
        fd = openSync(file, flags);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          fd = openSync(file, flags | constants.O_CREAT | constants.O_EXCL, 0o600);
          fsyncDirectory(dir);
          return new StoreJournal(file, fd, 0);
        }
        if (code !== "ELOOP" || attempt > 0) throw err;
        const aside = `${file}.corrupt-${now()}`;
        renameSync(file, aside);
        onMovedAside(aside, "it is a symbolic link");
        continue;
      }
      const st = fstatSync(fd);
      if (st.isFile()) return new StoreJournal(file, fd, st.size);
      closeSync(fd);
      if (attempt > 0) throw new Error(`${file} is not a regular file`);
      const aside = `${file}.corrupt-${now()}`;
      renameSync(file, aside);
      onMovedAside(aside, "it is not a regular file");
    }
  }

  /** Bytes in the journal now. */
  get size(): number {
    return this.bytes;
  }

  /**
   * The newest snapshot the journal holds: its last complete line that is a valid store file of
   * `schema`; null when it holds none. `invalid` says whether it held anything else (a torn last
   * line is not counted: it was never acknowledged).
   */
  newest(schema: string): { snapshot: StoreSnapshot | null; invalid: boolean } {
    if (this.bytes === 0) return { snapshot: null, invalid: false };
    const text = this.readAll();
    const end = text.lastIndexOf(0x0a);
    let invalid = false;
    let snapshot: StoreSnapshot | null = null;
    let start = 0;
    while (start <= end) {
      const nl = text.indexOf(0x0a, start);
      const r = parseSnapshot(text.subarray(start, nl));
      if (r.kind === "ok" && r.snapshot.schema === schema) snapshot = withoutAudit(r.snapshot);
      else invalid = true;
      start = nl + 1;
    }
    return { snapshot, invalid };
  }

  /** Appends one snapshot, with the audit lines it carries, as a line and makes it durable (fdatasync). */
  append(snapshot: StoreSnapshot, audit: readonly string[] = []): void {
    const line = Buffer.from(JSON.stringify(audit.length > 0 ? { ...snapshot, audit } : snapshot) + "\n");
    try {
      let at = 0;
      while (at < line.length) at += writeSync(this.fd, line, at, line.length - at);
      fdatasyncSync(this.fd);
    } catch (err) {
      // The caller rolls this state back: a torn or undurable line must not come back after a
      // crash, nor glue itself to the next one. Cut the journal back to what was acknowledged.
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        // The disk refuses even that; the next append fails too, and the caller reports it.
      }
      throw err;
    }
    this.bytes += line.length;
  }

  /**
   * The audit lines the journal's lines of `schema` carry, oldest first (a torn last line's are
   * not counted: its persist was never acknowledged).
   */
  auditLines(schema: string): string[] {
    if (this.bytes === 0) return [];
    const text = this.readAll();
    const end = text.lastIndexOf(0x0a);
    const lines: string[] = [];
    for (let start = 0; start <= end; ) {
      const nl = text.indexOf(0x0a, start);
      const r = parseSnapshot(text.subarray(start, nl));
      const audit = r.kind === "ok" && r.snapshot.schema === schema ? r.snapshot.audit : undefined;
      if (Array.isArray(audit)) for (const l of audit) if (typeof l === "string") lines.push(l);
      start = nl + 1;
    }
    return lines;
  }

  /** The whole journal, read from its start whatever the file position. */
  private readAll(): Buffer {
    const buf = Buffer.alloc(fstatSync(this.fd).size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(this.fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  }

  /** Empties the journal once its last line is in the store file. */
  truncate(): void {
    ftruncateSync(this.fd, 0);
    this.bytes = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function fsyncDirectory(dir: string): void {
  const dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * The durable state of the store in `dir` as a restart would load it: the journal's newest
 * snapshot, else the store file's (null: neither). For tools and tests that look at the disk.
 */
export function readDurableSnapshot(dir: string, schema: string): StoreSnapshot | null {
  const journal = path.join(dir, JOURNAL_FILE);
  const file = readSnapshot(path.join(dir, STORE_FILE_NAME));
  const base = file.kind === "ok" ? file.snapshot : null;
  let text: Buffer;
  try {
    text = readFileSync(journal);
  } catch {
    return base;
  }
  let newest = base;
  for (const line of text.toString("utf8").split("\n").slice(0, -1)) {
    const r = parseSnapshot(Buffer.from(line));
    if (r.kind === "ok" && r.snapshot.schema === schema) newest = withoutAudit(r.snapshot);
  }
  return newest;
}

/** A journal line's snapshot as the state it holds: without the audit lines it carried. */
function withoutAudit(snapshot: StoreSnapshot): StoreSnapshot {
  if (snapshot.audit === undefined) return snapshot;
  const { audit: _carried, ...state } = snapshot;
  return state;
}

/** The store file's name in the state directory (KvStore's STORE_FILE). */
const STORE_FILE_NAME = "store.json";
