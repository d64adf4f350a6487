/**
 * Splits a calf's stdout/stderr into lines for priv's log, with bounds: a calf is untrusted, so
 * neither a line without end nor a flood of lines may cost priv unbounded memory or CPU.
 * Sans-IO: bytes and the time in, lines and suppression counts out. The text is never parsed.
 */

/** Longest line kept; longer lines are cut here and marked truncated (a log line, not a payload). */
export const MAX_LOG_LINE_BYTES = 4096;
/** Lines per calf per second that reach the log; the rest are counted and reported once. */
export const MAX_LOG_LINES_PER_SECOND = 200;

/** One line for the log, or a note that lines were dropped. */
export type LogLineEvent =
  | { readonly kind: "line"; readonly text: string; readonly truncated: boolean }
  | { readonly kind: "suppressed"; readonly count: number };

/** Turns chunks of a byte stream into bounded, rate-limited lines. */
export class LogLineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** True while discarding the rest of an over-long line. */
  private skipping = false;
  private windowStart = Number.NEGATIVE_INFINITY;
  private windowLines = 0;
  private suppressed = 0;

  constructor(
    private readonly maxLineBytes: number = MAX_LOG_LINE_BYTES,
    private readonly maxLinesPerSecond: number = MAX_LOG_LINES_PER_SECOND,
  ) {}

  /** Feeds a chunk read at `nowMs`; returns the events it completes. */
  push(chunk: Uint8Array, nowMs: number): LogLineEvent[] {
    const out: LogLineEvent[] = [];
    let start = 0;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl < 0 ? buf.length : nl;
      if (!this.skipping) {
        const room = this.maxLineBytes - this.pendingBytes;
        const take = Math.min(room, end - start);
        if (take > 0) {
          this.pending.push(buf.subarray(start, start + take));
          this.pendingBytes += take;
        }
        if (end - start > room) {
          this.emit(out, nowMs, true);
          this.skipping = true;
        }
      }
      if (nl < 0) break;
      if (this.skipping) this.skipping = false;
      else this.emit(out, nowMs, false);
      start = nl + 1;
    }
    return out;
  }

  /** Flushes a final unterminated line (the stream ended). */
  end(nowMs: number): LogLineEvent[] {
    const out: LogLineEvent[] = [];
    if (this.pendingBytes > 0 && !this.skipping) this.emit(out, nowMs, false);
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = false;
    this.flushSuppressed(out);
    return out;
  }

  private emit(out: LogLineEvent[], nowMs: number, truncated: boolean): void {
    const text = Buffer.concat(this.pending, this.pendingBytes).toString("utf8");
    this.pending = [];
    this.pendingBytes = 0;
    if (nowMs - this.windowStart >= 1000) {
      this.flushSuppressed(out);
      this.windowStart = nowMs;
      this.windowLines = 0;
    }
    if (this.windowLines >= this.maxLinesPerSecond) {
      this.suppressed++;
      return;
    }
    this.windowLines++;
    out.push({ kind: "line", text, truncated });
  }

  private flushSuppressed(out: LogLineEvent[]): void {
    if (this.suppressed > 0) out.push({ kind: "suppressed", count: this.suppressed });
    this.suppressed = 0;
  }
}

/** A calf log line as the priv re-emits it: a level, a message and the calf's own fields. */
export interface CalfLogRecord {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields: Record<string, unknown>;
}

/** Fields the priv sets itself; a calf's line cannot override them. */
const RESERVED_FIELDS = new Set(["level", "time", "msg", "calf", "stream", "component", "pid", "hostname", "truncated"]);
/** A calf's structured line keeps at most this many fields. */
const MAX_CALF_FIELDS = 16;

/**
 * Reads a calf's structured log line (the calf SDK writes one JSON object per line) so it can be
 * re-emitted as a proper log record with the calf's level and fields. Anything else, or a line
 * that tries to be clever, is kept verbatim as the message at `fallback` level. The line is
 * bounded (MAX_LOG_LINE_BYTES) and comes from a calf: its level is capped at "error" and its
 * fields can never replace the priv's own tags.
 */
export function parseCalfLogLine(text: string, fallback: "info" | "warn"): CalfLogRecord {
  if (text.startsWith("{")) {
    try {
      const o = JSON.parse(text) as unknown;
      if (o !== null && typeof o === "object" && !Array.isArray(o) && typeof (o as { msg?: unknown }).msg === "string") {
        const rec = o as Record<string, unknown>;
        const level = rec.level === "debug" || rec.level === "info" || rec.level === "warn" || rec.level === "error" ? rec.level : fallback;
        const fields: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(rec).slice(0, MAX_CALF_FIELDS + RESERVED_FIELDS.size)) {
          if (!RESERVED_FIELDS.has(k) && Object.keys(fields).length < MAX_CALF_FIELDS) fields[k] = v;
        }
        return { level, msg: rec.msg as string, fields };
      }
    } catch {
      // Not JSON: kept verbatim below.
    }
  }
  return { level: fallback, msg: text, fields: {} };
}
