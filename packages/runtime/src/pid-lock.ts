/**
 * Pid lock files: one host per service and interface, and per state directory. A second priv running
 * the same service (e.g. a second `paddock dhcp`) on the
 * same interface would otherwise remove the first's calf container and tc filter as "leftovers
 * of a crashed run", and two stores on one state directory would overwrite each other.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import path from "node:path";

/** Random bytes in a stale lock's temp name: 16 bytes (128 bits) cannot be guessed ahead of time. */
const TEMP_NAME_RANDOM_BYTES = 16;

/** The pid lock a running host holds in each service's state directory (while it holds it, the service runs). */
export function stateDirLockFile(stateDir: string): string {
  return path.join(stateDir, "paddock.pid");
}

/** A held lock; `release()` removes the file if it is still ours. */
export interface PidLock {
  readonly file: string;
  release(): void;
}

/** Why a lock could not be taken: another live process holds it. */
export class LockedError extends Error {
  override readonly name = "LockedError";
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(`${file} is held by process ${pid}`);
  }
}

/**
 * Whether `pid` is a running Paddock process. A lock in a state directory outlives a reboot, and
 * its pid may by then belong to something else: only a process whose command line names
 * paddock counts.
 */
function aliveAsPaddock(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("paddock");
  } catch {
    return false;
  }
}

/**
 * The live Paddock process holding a lock file (`paddock reload` signals it), or undefined when
 * the file is missing, unreadable, or left by a process that no longer runs.
 */
export function lockHolder(file: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && aliveAsPaddock(pid) ? pid : undefined;
}

/**
 * Creates `file` holding our pid, exclusively: O_EXCL fails on anything at the name, a symlink
 * included, so a link planted there is never written through.
 */
function writePid(file: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes the lock: creates `file` holding our pid. A file left by a process that no longer runs
 * (a crash, kill -9) is taken over; one held by a live process is a LockedError.
 */
export function acquirePidLock(file: string): PidLock {
  try {
    writePid(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && aliveAsPaddock(pid)) throw new LockedError(file, pid);
    // Stale: replace it atomically so a reader never sees an empty file. The temp name is
    // unpredictable; rename(2) replaces whatever is at `file` (a symlink too) without following it.
    const tmp = `${file}.${randomBytes(TEMP_NAME_RANDOM_BYTES).toString("hex")}.tmp`;
    writePid(tmp);
    try {
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
  return {
    file,
    release() {
      try {
        if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true });
      } catch {
        // Already gone.
      }
    },
  };
}
