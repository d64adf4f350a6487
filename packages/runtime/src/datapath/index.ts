export * from "./egress.ts";
export * from "./relay.ts";
