/**
 * The calf SDK: what a calf's code imports. It carries no priv code (a test checks the bundle).
 */
export * from "./profile.ts";
export * from "./log.ts";
export * from "./timers.ts";
export * from "./data.ts";
export * from "./run.ts";
export { KvClient, KvError, KvErrorCode, type WatchEvent } from "@paddock/kv/client";
