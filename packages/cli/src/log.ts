/**
 * The CLI's logger: pino, as JSON lines (for collectors) or as one readable line per event (the
 * default: what a person at a terminal or in the journal reads).
 *
 * A calf's lines are re-emitted here with text the calf chose (its message, its fields' names and
 * values), so both formats escape control characters and Unicode line terminators: one event is
 * always one line, and nothing a calf writes can forge a line, move the cursor or send a terminal
 * escape sequence (escapeControlText, escapeJsonControls).
 */
import { fstatSync } from "node:fs";
import { Writable } from "node:stream";
import { escapeControlText, escapeJsonControls } from "@paddock/runtime";
import pino, { type Logger } from "pino";

export type LogFormat = "text" | "json";
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_NAMES: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const OMIT = new Set(["level", "time", "msg", "pid", "hostname", "component"]);
/** stream=stdout is the normal case for a calf line; only stderr is worth saying. */
const isNoise = (k: string, v: unknown) => k === "stream" && v === "stdout";

/** syslog(3) priorities by pino level, for journald's "<N>" line prefix (sd-daemon(3)). */
const SYSLOG_PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/**
 * Whether `fd` is a journald stream: systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it
 * connected stdout/stderr to, and a program compares it with fstat() of the descriptor it writes
 * (systemd.exec(5)). The text log goes to stdout, so that is the one checked by default.
 */
export function isJournalStream(fd: number = 1, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^([0-9]+):([0-9]+)$/.exec(env["JOURNAL_STREAM"] ?? "");
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * Formats one pino JSON line as "HH:MM:SS.mmm level component: msg key=value …", one line of
 * printable text: every control character or line terminator in it is escaped. With `journal`,
 * the line starts with its syslog priority ("<6>" for info), which journald takes as the entry's
 * PRIORITY and strips (so `journalctl -p warning` works).
 */
export function formatLogLine(json: string, journal = false): string {
  const text = escapeControlText(formatFields(json));
  if (!journal) return text;
  let level: unknown;
  try {
    level = (JSON.parse(json) as { level?: unknown }).level;
  } catch {
    level = undefined;
  }
  return `<${SYSLOG_PRIORITY[level as number] ?? 6}>${text}`;
}

function formatFields(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(typeof o.time === "number" ? o.time : Date.now()).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES[o.level as number] ?? String(o.level)).padEnd(5);
  const who = [o.component, o.calf].filter((x) => typeof x === "string" && x).join("/");
  const fields = Object.entries(o)
    .filter(([k, v]) => !OMIT.has(k) && !isNoise(k, v) && !(k === "calf" && who.includes(String(o.calf))))
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${time} ${level} ${who ? `${who}: ` : ""}${String(o.msg ?? "")}${fields.length ? ` ${fields.join(" ")}` : ""}`;
}

/**
 * The logger of a command, writing to `dest` (standard output when not given). Text lines carry
 * the journald priority prefix when `journal` says so (default: standard output is a journal
 * stream, isJournalStream).
 */
export function createLogger(level: LogLevel, format: LogFormat, dest?: NodeJS.WritableStream, journal: boolean = dest === undefined && isJournalStream(1)): Logger {
  if (format === "json") {
    // pino hands the hook one record with its line feed, the one control character that stays.
    const streamWrite = (line: string) => (line.endsWith("\n") ? `${escapeJsonControls(line.slice(0, -1))}\n` : escapeJsonControls(line));
    const opts = { level, base: undefined, hooks: { streamWrite } };
    return dest ? pino(opts, dest) : pino(opts);
  }
  const target = dest ?? process.stdout;
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) target.write(formatLogLine(line, journal) + "\n");
      done();
    },
  });
  return pino({ level, base: undefined }, out);
}
