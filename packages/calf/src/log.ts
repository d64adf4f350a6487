/**
 * The calf's logger: one JSON object per line on stdout, which the priv reads, tags with the
 * calf's name and re-emits. Small on purpose: the calf bundle carries no logging library.
 */
import { defaultHost } from "./default-host.ts";

export type CalfLogLevel = "debug" | "info" | "warn" | "error";

/** A structured logger: `log.info({ xid }, "sent DISCOVER")`. */
export interface CalfLogger {
  /** The lowest level written; the priv may ask for more detail through the calf's config. */
  level: CalfLogLevel;
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

const ORDER: Record<CalfLogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing JSON lines to `write` (the engine host's stdout by default) at or above `level`. */
export function createCalfLogger(level: CalfLogLevel = "info", write: (line: string) => void = defaultHost.writeLog, now: () => number = Date.now): CalfLogger {
  const logger: CalfLogger = {
    level,
    debug: (fields, msg) => emit("debug", fields, msg),
    info: (fields, msg) => emit("info", fields, msg),
    warn: (fields, msg) => emit("warn", fields, msg),
    error: (fields, msg) => emit("error", fields, msg),
  };
  function emit(lvl: CalfLogLevel, fields: object, msg: string): void {
    if (ORDER[lvl] < ORDER[logger.level]) return;
    write(JSON.stringify({ level: lvl, time: now(), msg, ...fields }) + "\n");
  }
  return logger;
}

/** Whether a text names a log level. */
export function isCalfLogLevel(text: string | undefined): text is CalfLogLevel {
  return text !== undefined && text in ORDER;
}
