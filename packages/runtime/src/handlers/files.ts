/**
 * Atomic file replacement for system files and ownership records: write a temporary file in the
 * same directory (rename is atomic only within one file system), fsync it, rename it over the
 * target, fsync the directory. A reader (a resolver opening resolv.conf) sees the old file or the
 * new one, never a partial one, and after a crash the file is one of the two.
 */
import { randomBytes } from "node:crypto";
import { constants, promises as fsp, type Stats } from "node:fs";
import path from "node:path";

/** Random bytes in a temp file's name: 16 bytes (128 bits) cannot be guessed ahead of time. */
const TEMP_NAME_RANDOM_BYTES = 16;

/** The random part of a temp file's name (hex); tests substitute a fixed one. */
export function randomTempSuffix(): string {
  return randomBytes(TEMP_NAME_RANDOM_BYTES).toString("hex");
}

/**
 * A temp name beside `file` that nobody can predict (two handlers may write at once, and a
 * directory like /etc is shared with other writers).
 */
function tempName(file: string, suffix: () => string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.paddock-${suffix()}.tmp`);
}

/**
 * Flags for a temp file: created here and now, or not at all. O_EXCL fails on anything already at
 * the name, a symlink included (POSIX: O_CREAT|O_EXCL never follows a final symlink); O_NOFOLLOW
 * says the same again for a reader of these flags.
 */
const TEMP_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * What lets someone other than `uid` change `st` (a directory or a file): its owner, or its
 * group or other write bit; null when nothing does. A directory that is 0711 (others traverse,
 * nobody else writes) is fine. The sticky bit does not make a group/other-writable directory safe:
 * anyone may still create the name we are about to use.
 */
export function foreignWriteAccess(st: Pick<Stats, "uid" | "mode">, uid: number): { kind: "owner"; owner: number } | { kind: "mode"; mode: number } | null {
  if (st.uid !== uid) return { kind: "owner", owner: st.uid };
  if ((st.mode & 0o022) !== 0) return { kind: "mode", mode: st.mode & 0o7777 };
  return null;
}

async function syncDir(dir: string): Promise<void> {
  const dh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/**
 * Replaces `file` with `data` atomically and durably; the new file gets `mode` (not subject to umask).
 *
 * The temp file has an unpredictable name and is created exclusively: a symlink or file planted
 * at a name we might use is never written through (at worst the write fails with EEXIST). A
 * symlink at `file` itself is harmless: rename(2) replaces the directory entry, it never follows
 * it, so the link is gone and the target untouched. `suffix` is for tests.
 */
export async function replaceFileAtomic(file: string, data: string, mode: number, suffix: () => string = randomTempSuffix): Promise<void> {
  const tmp = tempName(file, suffix);
  const fh = await fsp.open(tmp, TEMP_FILE_FLAGS, mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(path.dirname(file));
}

/** Replaces `file` with a symbolic link to `target`, atomically (used to restore a resolv.conf symlink). */
export async function replaceWithSymlink(file: string, target: string): Promise<void> {
  const tmp = tempName(file, randomTempSuffix);
  // symlink(2) fails with EEXIST on anything at the name: it never writes through a planted link.
  await fsp.symlink(target, tmp);
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(path.dirname(file));
}

/** Removes `file` if present, durably. */
export async function removeFile(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  await syncDir(path.dirname(file));
}

/** What is at a path: nothing, a symbolic link (not followed), or a regular file's text and mode. */
export type FileState =
  | { readonly kind: "absent" }
  | { readonly kind: "symlink"; readonly target: string }
  | { readonly kind: "file"; readonly content: string; readonly mode: number };

/**
 * Largest file we read to save or compare (a resolv.conf or a host name is well under 1 KiB;
 * 64 KiB bounds the ownership record's saved copy and our memory).
 */
export const MAX_SAVED_FILE_BYTES = 64 * 1024;

/** Reads what is at `file` without following a symlink. */
export async function readFileState(file: string): Promise<FileState> {
  let st;
  try {
    st = await fsp.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { kind: "absent" };
    throw err;
  }
  if (st.isSymbolicLink()) return { kind: "symlink", target: await fsp.readlink(file) };
  if (!st.isFile()) throw new Error(`${file} is not a regular file or a symbolic link`);
  if (st.size > MAX_SAVED_FILE_BYTES) throw new Error(`${file} is ${st.size} bytes, more than the ${MAX_SAVED_FILE_BYTES} we save`);
  return { kind: "file", content: await fsp.readFile(file, "utf8"), mode: st.mode & 0o7777 };
}

/** Reads a file's text through symlinks; null when absent. */
export async function readTextOrNull(file: string): Promise<string | null> {
  try {
    const fh = await fsp.open(file, constants.O_RDONLY);
    try {
      const buf = Buffer.alloc(MAX_SAVED_FILE_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString("utf8");
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
