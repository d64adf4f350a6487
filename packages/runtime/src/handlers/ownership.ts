/**
 * Ownership records: the durable proof of what Paddock applied (DESIGN.md invariant 5).
 *
 * An address carries no owner in the kernel (ifaddrmsg has no protocol field before Linux 6.3's
 * IFA_PROTO), an MTU has no history, and a file has no author. So every handler records what it
 * is about to apply in a small JSON file in the priv's state directory BEFORE applying it
 * (write-ahead), replaced atomically. After a crash at any moment the record lists everything we
 * may have applied; a listed thing that is not there is simply gone, and a thing that is there
 * but not listed is someone else's and is never removed.
 *
 * Routes need no record: each carries rtm_protocol = RTPROT_PADDOCK in the kernel. The record
 * keeps only the links we put routes on, so routes left on a link we no longer manage are found.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync } from "node:fs";
import type { FileState } from "./files.ts";
import { replaceFileAtomic } from "./files.ts";
import type { HandlerLogger } from "./reconciler.ts";

/** Format tag of ownership files, checked on load. */
export const OWNERSHIP_FORMAT = "paddock-owned/1";

/** An address we added: the link's ifindex and the CIDR. */
export interface OwnedAddress {
  readonly index: number;
  readonly cidr: string;
}

/** An MTU we set, with the value it had before (restored when the lease goes away). */
export interface OwnedMtu {
  readonly index: number;
  readonly original: number;
  readonly applied: number;
}

/** A file we manage: what was there before us (restored on withdrawal). */
export interface OwnedFile {
  readonly path: string;
  readonly saved: FileState;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === "string";

/** Whether a parsed value is a FileState (for services' ownership record parsers). */
export function isFileState(x: unknown): x is FileState {
  if (!isObj(x)) return false;
  if (x.kind === "absent") return true;
  if (x.kind === "symlink") return isStr(x.target);
  return x.kind === "file" && isStr(x.content) && Number.isInteger(x.mode);
}

/**
 * Reads a record's text without following a symlink at its name (O_NOFOLLOW: ELOOP) and without
 * blocking on a FIFO planted there (O_NONBLOCK, then refused as not a regular file, "ENOTREG").
 */
function readNoFollow(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: "ENOTREG" });
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * One ownership file. Loaded once, then kept in memory and written through on every change.
 * An unreadable record is moved aside (`FILE.corrupt-<time>`) and replaced by an empty one: we
 * then own nothing, which errs on the safe side (we may leave something of ours behind, never
 * remove something of someone else's).
 */
export class OwnershipFile<T> {
  private current: T | null = null;

  constructor(
    readonly file: string,
    private readonly empty: () => T,
    private readonly parse: (x: unknown) => T | null,
    private readonly log: HandlerLogger,
  ) {}

  /** The record (read from disk the first time). */
  get(): T {
    if (this.current !== null) return this.current;
    let text: string | null = null;
    try {
      text = readNoFollow(this.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A symlink or a non-file at the record's name is not a record of ours: moved aside below.
      if (code !== "ENOENT" && code !== "ELOOP" && code !== "EISDIR" && code !== "ENOTREG") throw err;
      if (code !== "ENOENT") text = "";
    }
    if (text === null) {
      this.current = this.empty();
      return this.current;
    }
    let parsed: T | null = null;
    try {
      parsed = this.parse(JSON.parse(text));
    } catch {
      parsed = null;
    }
    if (parsed === null) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      renameSync(this.file, aside);
      this.log.error({ file: this.file, movedTo: aside }, "ownership record unreadable: moved aside; nothing is considered ours");
      parsed = this.empty();
    }
    this.current = parsed;
    return parsed;
  }

  /** Replaces the record on disk (atomic, fsynced) and in memory. */
  async set(next: T): Promise<void> {
    await replaceFileAtomic(this.file, JSON.stringify(next, null, 1) + "\n", 0o600);
    this.current = next;
  }
}
