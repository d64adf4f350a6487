/**
 * Atomic persistence of the store: the whole store is one small JSON file, replaced by writing a
 * temporary file, fsyncing it, renaming it over the old one and fsyncing the directory, so that
 * after a crash at any moment the file is either the old or the new version, never a mix.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
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
  const dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
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
