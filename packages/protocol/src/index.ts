export * from "./limits.ts";
export * from "./errors.ts";
export * from "./framing.ts";
export * from "./kv-messages.ts";
export * from "./data-messages.ts";
