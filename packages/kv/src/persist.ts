/**
 * Atomic persistence of the store: the whole store is one small JSON file, replaced by writing a
 * temporary file, fsyncing it, renaming it over the old one and fsyncing the directory, so that
 * after a crash at any moment the file is either the old or the new version, never a mix.
 */
import { closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
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

/**
 * Writes `data` to `file` atomically and durably: temp file, fsync, rename, fsync of the
 * directory. Synchronous on purpose: the store file is a few KiB, the fsyncs are what costs, and
 * doing it all in one callback avoids a dozen thread-pool round trips per commit.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Reads the store file; null when there is none yet. Throws with a clear message when it is unreadable. */
export function readSnapshot(file: string): StoreSnapshot | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const data = JSON.parse(text) as Partial<StoreSnapshot>;
  if (data.format !== STORE_FORMAT || typeof data.entries !== "object" || data.entries === null || typeof data.seq !== "string") {
    throw new Error(`${file} is not a ${STORE_FORMAT} store file`);
  }
  return data as StoreSnapshot;
}
