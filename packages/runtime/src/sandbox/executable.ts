/** Finding a command the way execvp(3) would, without running it (for preflight checks). */
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";

/** Whether `cmd` (a path, or a name looked up on PATH) is an executable file. */
export function findExecutable(cmd: string): boolean {
  const candidates = cmd.includes("/") ? [cmd] : (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").map((d) => path.join(d, cmd));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return statSync(c).isFile();
    } catch {
      return false;
    }
  });
}
