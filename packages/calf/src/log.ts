/**
 * The calf's logger: one JSON object per line on stdout, which the priv reads, tags with the
 * calf's name and re-emits. Small on purpose: the calf bundle carries no logging library.
 */

export type CalfLogLevel = "debug" | "info" | "warn" | "error";

/** A structured logger: `log.info({ xid }, "sent DISCOVER")`. */
export interface CalfLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

const ORDER: Record<CalfLogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing JSON lines to `write` (stdout by default) at or above `level`. */
export function createCalfLogger(level: CalfLogLevel = "info", write: (line: string) => void = (l) => process.stdout.write(l)): CalfLogger {
  const emit = (lvl: CalfLogLevel) => (fields: object, msg: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(JSON.stringify({ level: lvl, time: Date.now(), msg, ...fields }) + "\n");
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
