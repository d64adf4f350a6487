/**
 * The calf SDK: what a calf's code imports. It carries no priv code (a test checks the bundle),
 * and reaches the outside only through its host interface (./host.ts: channels, timers, clocks,
 * random bytes, log, exit), the one module that imports `node:` built-ins.
 */
export * from "./profile.ts";
export * from "./log.ts";
export * from "./timers.ts";
export * from "./data.ts";
export * from "./run.ts";
export * from "./kv.ts";
export { nodeHost, hostStreamFromSocket, MAX_RANDOM_BYTES, type CalfHost, type HostStream, type NodeStreamLike } from "./host.ts";
