/**
 * The priv: the shim runtime. Everything here may hold privilege; none of it is ever bundled
 * into a calf.
 */
export * from "./shim.ts";
export * from "./metrics.ts";
export * from "./datapath/index.ts";
export * from "./handlers/index.ts";
export * from "./supervisor.ts";
export * from "./sandbox/bundle.ts";
export * from "./sandbox/bundle-calf.ts";
export { parseCalfLogLine, type CalfLogRecord } from "./sandbox/log-lines.ts";
