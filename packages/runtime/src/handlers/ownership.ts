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
import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import { basename } from "node:path";
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
 * Where a record can live instead of its own file: the service's KV store, which keeps the priv's
 * records with its values and writes them in the same durable write as the commits being
 * persisted (`KvStore.readRecord` / `writeRecord`; decision 0012).
 */
export interface RecordStore {
  /** The durable record of that name, or undefined. */
  readRecord(name: string): unknown;
  /** Resolves once the record is durable. */
  writeRecord(name: string, value: unknown): Promise<void>;
}

/**
 * One ownership record: its own file, or (given a `RecordStore`) a record in the service's store
 * named after the file, so that it can reach the disk in the same write as the commit it follows
 * from (decision 0012). Loaded once, then kept in memory and written through on every change. An
 * unreadable record is moved aside (`FILE.corrupt-<time>`) and replaced by an empty one: we then
 * own nothing, which errs on the safe side (we may leave something of ours behind, never remove
 * something of someone else's). With a store, a record still in its own file (written by an
 * earlier version) is read from the file until the first write moves it into the store.
 */
export class OwnershipFile<T> {
  private current: T | null = null;
  /** With a store: the stored value `current` was parsed from. */
  private parsedFrom: unknown = undefined;
  /** With a store: whether a file left by an earlier version has been removed. */
  private fileRemoved = false;

  constructor(
    readonly file: string,
    private readonly empty: () => T,
    private readonly parse: (x: unknown) => T | null,
    private readonly log: HandlerLogger,
    private readonly store?: RecordStore,
  ) {}

  /** The record's name in the store: the file's name. */
  get name(): string {
    return basename(this.file);
  }

  /** The record (read from the store, or from disk the first time). */
  get(): T {
    const stored = this.store?.readRecord(this.name);
    if (stored !== undefined) {
      // Read through each time: a before-persist hook's write becomes durable with the commit, and
      // the handler reconciling that commit must see it at once.
      if (this.current !== null && stored === this.parsedFrom) return this.current;
      const parsed = this.parse(stored);
      if (parsed === null) this.log.error({ record: this.name }, "ownership record in the store unreadable: nothing is considered ours");
      this.current = parsed ?? this.empty();
      this.parsedFrom = stored;
      return this.current;
    }
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

  /**
   * Replaces the record on disk (atomic, fsynced; with a store, in the store's next persist) and in
   * memory. Called from a before-persist hook, the record goes in the same write as the commits.
   */
  async set(next: T): Promise<void> {
    if (this.store === undefined) {
      await replaceFileAtomic(this.file, JSON.stringify(next, null, 1) + "\n", 0o600);
      this.current = next;
      return;
    }
    await this.store.writeRecord(this.name, next);
    this.current = next;
    this.parsedFrom = this.store.readRecord(this.name);
    // The store holds it now: a file left by an earlier version would only mislead a reader.
    if (!this.fileRemoved) {
      try {
        unlinkSync(this.file);
      } catch {
        // None, or already gone.
      }
      this.fileRemoved = true;
    }
  }
}
