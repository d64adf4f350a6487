/**
 * Errors a user can cause end the command with one sentence and a non-zero exit, no stack trace.
 * Anything else is a bug: it is reported as such, with the stack when PADDOCK_DEBUG is set.
 */
import { KvError } from "@paddock/kv";

/** An error whose message is a complete sentence for the person at the terminal. */
export class UserError extends Error {
  override readonly name = "UserError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Why reading `file` failed, in words ("cannot read F: no such file"), from a Node fs error. */
export function cannotRead(file: string, err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return `cannot read ${file}: no such file`;
  if (code === "EACCES" || code === "EPERM") return `cannot read ${file}: permission denied`;
  if (code === "EISDIR") return `cannot read ${file}: it is a directory`;
  return `cannot read ${file}: ${code ?? String(err)}`;
}

/** Prints the error the way the CLI promises and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof UserError) {
    process.stderr.write(`paddock: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof KvError) {
    process.stderr.write(`paddock: ${err.message} (${err.code})\n`);
    return 1;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`paddock: unexpected error: ${e.message}\n`);
  if (process.env.PADDOCK_DEBUG) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write("paddock: this is a bug; run again with PADDOCK_DEBUG=1 for details and report it\n");
  return 70; // EX_SOFTWARE
}
