/**
 * The priv's system handlers: level-triggered reconcilers from the KV store to the system
 * (addresses, routes, MTU, resolv.conf, host name). See docs/handlers.md.
 */
export * from "./reconciler.ts";
export * from "./errors.ts";
export * from "./lease.ts";
export * from "./ownership.ts";
export * from "./lease-handler.ts";
export * from "./hostname-handler.ts";
export { replaceFileAtomic, readFileState } from "./files.ts";
export type { FileState } from "./files.ts";
