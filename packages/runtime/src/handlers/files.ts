/**
 * Atomic file replacement for system files and ownership records: write a temporary file in the
 * same directory (rename is atomic only within one file system), fsync it, rename it over the
 * target, fsync the directory. A reader (a resolver opening resolv.conf) sees the old file or the
 * new one, never a partial one, and after a crash the file is one of the two.
 */
import { constants, promises as fsp } from "node:fs";
import path from "node:path";

let tmpCounter = 0;

/** A temp name beside `file`, unique per process and call (two handlers may write at once). */
function tempName(file: string): string {
  tmpCounter += 1;
  return path.join(path.dirname(file), `.${path.basename(file)}.paddock-${process.pid}-${tmpCounter}.tmp`);
}

async function syncDir(dir: string): Promise<void> {
  const dh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Replaces `file` with `data` atomically and durably; the new file gets `mode` (not subject to umask). */
export async function replaceFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = tempName(file);
  const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
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
  const tmp = tempName(file);
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
