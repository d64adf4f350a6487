/**
 * Splits a calf's stdout/stderr into lines for priv's log, with bounds: a calf is untrusted, so
 * neither a line without end nor a flood of lines may cost priv unbounded memory or CPU.
 * Sans-IO: bytes and the time in, lines and suppression counts out. The text is never parsed.
 */

/** Longest line kept; longer lines are cut here and marked truncated (a log line, not a payload). */
export const MAX_LOG_LINE_BYTES = 4096;
/**
 * Lines per second a splitter lets through when its caller asks it to count lines. The supervisor
 * does not: it charges a calf's lines to one byte budget (LogBudget) instead.
 */
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

/**
 * Characters that must never reach a log line, a terminal or a line-oriented file raw: C0 controls
 * (line feed, carriage return and escape included: a forged line, a moved cursor, a terminal
 * escape sequence), DEL, C1 controls (U+0085 next line; U+009B is CSI to terminals that honour
 * 8-bit controls) and the Unicode line and paragraph separators U+2028/U+2029.
 */
const CONTROL_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;

/**
 * Text a calf controls made safe to print: each control character or line terminator becomes a
 * visible escape ("\x0a", "\x1b", "\x85", "\u2028"), so the result is one line of printable text.
 * Everything else, the backslash included, is left as it is: text without controls (every value
 * a schema validator normally accepts) prints unchanged, which keeps output usable by scripts. The
 * one shared escape: the CLI's text logs and `paddock kv` output use it.
 */
export function escapeControlText(text: string): string {
  CONTROL_TEXT.lastIndex = 0;
  if (!CONTROL_TEXT.test(text)) return text;
  return text.replace(CONTROL_TEXT, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

/**
 * A JSON text with the same characters written as \u escapes. JSON allows DEL, C1 controls and
 * U+2028/U+2029 raw in strings (RFC 8259 §7 requires escaping only U+0000–U+001F, which
 * JSON.stringify does), and a raw one reaches a terminal or a log viewer that splits lines on it.
 * JSON can hold none of them outside a string, so a valid JSON text parses to the same value
 * after this; a text that is not JSON (a torn line) is made printable all the same.
 */
export function escapeJsonControls(json: string): string {
  CONTROL_TEXT.lastIndex = 0;
  if (!CONTROL_TEXT.test(json)) return json;
  return json.replace(CONTROL_TEXT, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** How many bytes of a calf's output reach the log (a token bucket). */
export interface LogBudgetPolicy {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
}

/**
 * 64 KiB/s is over a hundred times what a busy calf logs (a DHCP exchange is a few lines of
 * ~200 bytes) and still caps one calf at ~5.5 GB a day; a 256 KiB burst keeps a start-up or a
 * crash's stack trace whole.
 */
export const DEFAULT_LOG_BUDGET: LogBudgetPolicy = { bytesPerSecond: 64 * 1024, burstBytes: 256 * 1024 };

/**
 * What one line costs beyond its bytes: the priv's own fields around it (time, level, calf,
 * stream) are ~100 bytes of output, so a flood of empty lines spends the budget too.
 */
export const LOG_LINE_CHARGE_BYTES = 64;

/** How often, at most, the supervisor says how much of a calf's output it dropped. */
export const LOG_DROP_REPORT_MS = 1000;

/** Output dropped since the last report. */
export interface LogDrops {
  readonly bytes: number;
  readonly lines: number;
}

/**
 * One calf's log budget, shared by its stdout and stderr and kept across restarts (a crash loop
 * gets no fresh burst): a token bucket in bytes, each line charged its bytes and newline plus
 * LOG_LINE_CHARGE_BYTES. A line is forwarded whole or dropped whole, so what reaches the log is
 * never a splice of two lines. Sans-IO: the caller passes the time.
 */
export class LogBudget {
  private tokens: number;
  private last: number | undefined;
  private pending: { bytes: number; lines: number } = { bytes: 0, lines: 0 };
  /** Bytes of the calf's output dropped so far (the lines and their newlines). */
  droppedBytes = 0;

  constructor(private readonly policy: LogBudgetPolicy = DEFAULT_LOG_BUDGET) {
    this.tokens = policy.burstBytes;
  }

  /**
   * Whether a line of `lineBytes` bytes read at `nowMs` may be forwarded; when it may not, its
   * bytes (and newline) are counted as dropped.
   */
  admit(lineBytes: number, nowMs: number): boolean {
    if (this.last !== undefined && nowMs > this.last) {
      this.tokens = Math.min(this.policy.burstBytes, this.tokens + ((nowMs - this.last) * this.policy.bytesPerSecond) / 1000);
    }
    if (this.last === undefined || nowMs > this.last) this.last = nowMs;
    const cost = lineBytes + 1 + LOG_LINE_CHARGE_BYTES;
    if (cost <= this.tokens) {
      this.tokens -= cost;
      return true;
    }
    this.pending.bytes += lineBytes + 1;
    this.pending.lines++;
    this.droppedBytes += lineBytes + 1;
    return false;
  }

  /** What was dropped since the last call, or undefined if nothing; the count starts over. */
  takeDrops(): LogDrops | undefined {
    if (this.pending.lines === 0) return undefined;
    const d = this.pending;
    this.pending = { bytes: 0, lines: 0 };
    return d;
  }
}
