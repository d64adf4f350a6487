/**
 * Pid lock files: one host per service and interface, and per state directory. A second priv running
 * the same service (e.g. a second `paddock dhcp`) on the
 * same interface would otherwise remove the first's calf container and tc filter as "leftovers
 * of a crashed run", and two stores on one state directory would overwrite each other.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";

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

function writePid(file: string, flags: "wx" | "w"): void {
  const fd = openSync(file, flags, 0o644);
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
    writePid(file, "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && aliveAsPaddock(pid)) throw new LockedError(file, pid);
    // Stale: replace it atomically so a reader never sees an empty file.
    const tmp = `${file}.${process.pid}`;
    writePid(tmp, "w");
    renameSync(tmp, file);
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
