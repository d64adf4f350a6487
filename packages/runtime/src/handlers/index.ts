/**
 * The building blocks of system handlers: level-triggered reconcilers from a service's store to
 * the system, their runner, typed errors, ownership records and atomic file helpers. Services
 * build their handlers from these (docs/handlers.md).
 */
export * from "./reconciler.ts";
export * from "./errors.ts";
export * from "./ownership.ts";
export * from "./resolv.ts";
export * from "./ipv6.ts";
export * from "./resolv-contribution.ts";
export { replaceFileAtomic, replaceWithSymlink, removeFile, readFileState, readTextOrNull, foreignWriteAccess, MAX_SAVED_FILE_BYTES } from "./files.ts";
export type { FileState } from "./files.ts";
