/**
 * Errors a user can cause end the command with one sentence and a non-zero exit, no stack trace.
 * Anything else is a bug: it is reported as such, with the stack when PADDOCK_DEBUG is set.
 */
// The errors module alone: the package's index reaches the KV server and capnp-ts (~320 KB the
// CLI's entry would load for every command, `paddock --version` too).
import { KvError } from "@paddock/kv/errors";

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
  const file = fileSystemError(err);
  if (file !== undefined) {
    process.stderr.write(`paddock: ${file}\n`);
    return 1;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`paddock: unexpected error: ${e.message}\n`);
  if (process.env.PADDOCK_DEBUG) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write("paddock: this is a bug; run again with PADDOCK_DEBUG=1 for details and report it\n");
  return 70; // EX_SOFTWARE
}

/** What the file system said, in words, for the errors a user causes with a path they gave. */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is used up",
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  EEXIST: "it exists already",
};

/**
 * A Node file-system error (`err.code`, `err.syscall`, `err.path`) as one sentence, e.g. "cannot
 * mkdir /tmp/x/build: permission denied"; undefined for anything else (a bug, reported as one).
 */
export function fileSystemError(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!(err instanceof Error) || typeof e?.code !== "string" || typeof e.path !== "string" || typeof e.syscall !== "string") return undefined;
  const words = FILE_ERRORS[e.code];
  return words === undefined ? undefined : `cannot ${e.syscall} ${e.path}: ${words}`;
}
