/**
 * @paddock/ntp: the NTPv4 codec and the sans-IO NTP client core (RFC 5905's client side). It
 * imports nothing of ours and nothing of Node, so it runs in the calf on any engine. See docs/ntp.md.
 */

export * from "./address.ts";
export * from "./adjustment.ts";
export * from "./client.ts";
export * from "./codec.ts";
export * from "./constants.ts";
export * from "./packet.ts";
export * from "./result.ts";
export * from "./time.ts";
export { correctFilter, emptyFilter, evaluateFilter, shiftFilter, type FilterOutput, type FilterStage } from "./filter.ts";
export { combine, intersect, selectSources, type Candidate, type Selection } from "./selection.ts";
export type { DisciplineMode, DisciplineState } from "./discipline.ts";
