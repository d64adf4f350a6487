/**
 * The audit log: one JSON line per change attempted (and per refused read), accepted or refused, appended to a file opened O_APPEND and fsynced with every commit of the store, so the
 * log of an acknowledged write is on disk before the acknowledgement.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";

/** Longest value text kept in an audit line; a 1 MB hostile value is logged by its size. */
export const MAX_AUDIT_VALUE_CHARS = 256;

/** One audit record. */
export interface AuditRecord {
  time: string;
  client: string;
  /** "commit" only for a commit refused as a whole (too many changes), before any change was looked at. */
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
}

/** Shortens a value for the log, saying how long it was. */
export function auditValue(value: string | null): string | null {
  if (value === null || value.length <= MAX_AUDIT_VALUE_CHARS) return value;
  return `${value.slice(0, MAX_AUDIT_VALUE_CHARS)}… (${Buffer.byteLength(value)} bytes)`;
}

/** An append-only audit log file. */
export class AuditLog {
  private readonly fd: number;
  private dirty = false;

  constructor(readonly file: string) {
    this.fd = openSync(file, "a", 0o600);
  }

  append(record: AuditRecord): void {
    // One write() per line: a crash can lose a line that was not yet fsynced, never tear one
    // that was, and the reader skips a torn last line.
    writeSync(this.fd, JSON.stringify(record) + "\n");
    this.dirty = true;
  }

  /** Whether lines were appended since the last sync. */
  get hasUnsynced(): boolean {
    return this.dirty;
  }

  /** Makes every appended line durable. */
  sync(): void {
    if (!this.dirty) return;
    fsyncSync(this.fd);
    this.dirty = false;
  }

  /**
   * The last `count` lines (0: all that fit in `maxBytes`), oldest first, as raw JSON text.
   * Reads only the tail of the file.
   */
  tail(count: number, maxBytes: number): string[] {
    const size = fstatSync(this.fd).size;
    const start = Math.max(0, size - maxBytes);
    const fd = openSync(this.file, "r");
    try {
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
      lines = lines.filter((l) => l.length > 0);
      return count > 0 ? lines.slice(-count) : lines;
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    this.sync();
    closeSync(this.fd);
  }
}
