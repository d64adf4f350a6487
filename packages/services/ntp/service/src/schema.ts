/**
 * The NTP client's schema — the one contract between its calf and the clock handler: the servers
 * the priv configures (and those a DHCP lease brings, as a declared input), each source's status
 * and the clock adjustment the calf publishes (one commit each), and what the handler did with
 * the last adjustment (`/clock/applied/…`, written by the priv, read by the calf).
 *
 * Every value has a strict parser: seconds and ppm in one canonical fixed-point form (./wire.ts
 * writes it), within the limits the clock handler could ever act on.
 */
import { defineSchema, intRange, ipv4Unicast, oneOf, type Parsed } from "@paddock/kv";
import { PPM_DIGITS, SECONDS_DIGITS } from "./wire.ts";

/** The core's MAX_SOURCES: more servers add nothing to selection and multiply the traffic. */
export const MAX_SERVERS = 16;
/** Option 42 servers mirrored from the DHCP service (its own MAX_NTP_SERVERS). */
export const MAX_DHCP_SERVERS = 8;
/** RFC 5905 §11.3 MAXFREQ, and the kernel's limit on ADJ_FREQUENCY. */
export const MAX_FREQUENCY_PPM = 500;
/**
 * The largest offset a calf may publish: 68 years, half the NTP era (RFC 5905 §6: offsets beyond
 * it are ambiguous). The handler's panic limit refuses far smaller ones; this only bounds the text.
 */
export const MAX_OFFSET_SECONDS = 2 ** 31;
/** RFC 5905 MAXDISP: a root distance or jitter above 16 s means "unsynchronized". */
export const MAX_ERROR_SECONDS = 16;
/** A source's poll interval: the core's 2^17 s ceiling. */
export const MAX_POLL_SECONDS = 2 ** 17;

const INDEX = /^[0-9]{3}$/;
const quote = (v: string) => JSON.stringify(v.slice(0, 32));

/** A fixed-point decimal with exactly `digits` fraction digits, canonical, within ±limit (or [0, limit]). */
export function fixedPoint(digits: number, limit: number, signed: boolean, unit: string): (v: string) => Parsed<number> {
  const form = new RegExp(`^${signed ? "-?" : ""}(0|[1-9][0-9]{0,11})\\.[0-9]{${digits}}$`);
  return (v) => {
    if (!form.test(v) || /^-0\.0+$/.test(v)) return { ok: false, reason: `${quote(v)} is not ${signed ? "a signed" : "an unsigned"} decimal with ${digits} fraction digits (${unit})` };
    const n = Number(v);
    return Math.abs(n) <= limit ? { ok: true, value: n } : { ok: false, reason: `${v} ${unit} is beyond ${signed ? "±" : ""}${limit}` };
  };
}

/** Seconds, signed: an offset. */
export const offsetSeconds = fixedPoint(SECONDS_DIGITS, MAX_OFFSET_SECONDS, true, "s");
/** Seconds, 0–16: an error bound, a delay or a jitter. */
export const errorSeconds = fixedPoint(SECONDS_DIGITS, MAX_ERROR_SECONDS, false, "s");
/** Parts per million within ±500. */
export const frequencyPpm = fixedPoint(PPM_DIGITS, MAX_FREQUENCY_PPM, true, "ppm");

/** The adjustment's id: a 16-hex-digit run id (random per calf start) and a counter. */
export function adjustmentId(v: string): Parsed<string> {
  return /^[0-9a-f]{16}-(0|[1-9][0-9]{0,14})$/.test(v) ? { ok: true, value: v } : { ok: false, reason: `${quote(v)} is not an adjustment id (16 hex digits, "-", a counter)` };
}

/** The per-source states of the core (SourceStateName). */
export const SOURCE_STATES = ["selected", "candidate", "falseticker", "unreachable", "unfit", "kod"] as const;
/** What the clock handler did with an adjustment. */
export const APPLIED_RESULTS = ["stepped", "slewed", "observed", "refused"] as const;
export type AppliedResult = (typeof APPLIED_RESULTS)[number];

/** The clock targets: `observe` computes and reports, `system` is CLOCK_REALTIME through clock_adjtime. */
export const CLOCK_TARGETS = ["observe", "system"] as const;
export type ClockTargetName = (typeof CLOCK_TARGETS)[number];

/** A refusal code of the clock handler, or "none". */
function refusalCode(v: string): Parsed<string> {
  return v === "none" || /^PADDOCK_E_CLOCK_[A-Z_]{1,40}$/.test(v) ? { ok: true, value: v } : { ok: false, reason: `${quote(v)} is not none or a PADDOCK_E_CLOCK_ code` };
}

export const ntpSchema = defineSchema({
  name: "ntp",
  description: "ntp: an NTP client whose calf measures and selects, and whose clock handler alone may adjust the clock",
  maxTotalBytes: 16 * 1024,
  keys: {
    servers: { pattern: "/config/server/*", wildcard: INDEX, maxKeys: MAX_SERVERS, description: "the configured servers, in order (IPv4 addresses)", writer: "priv", calfReads: true, validate: ipv4Unicast, maxBytes: 15 },
    dhcpServers: { pattern: "/input/dhcp4/ntp/*", wildcard: INDEX, maxKeys: MAX_DHCP_SERVERS, description: "the DHCP lease's NTP servers (option 42), mirrored from dhcp4 in the same priv", writer: "priv", calfReads: true, validate: ipv4Unicast, maxBytes: 15 },
    initialFrequency: { pattern: "/config/initial-frequency", description: "the frequency correction in force at start (ppm): the kernel's with --clock system, 0 when observing", writer: "priv", calfReads: true, validate: frequencyPpm, maxBytes: 8 },
    clock: { pattern: "/config/clock", description: "the clock target: observe or system", writer: "priv", calfReads: true, validate: oneOf(...CLOCK_TARGETS), maxBytes: 7 },
    sourceAddress: { pattern: "/source/*/address", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "a source's address", writer: "calf", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    sourceState: { pattern: "/source/*/state", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "selected, candidate, falseticker, unreachable, unfit or kod", writer: "calf", calfReads: false, validate: oneOf(...SOURCE_STATES), maxBytes: 11 },
    sourceReach: { pattern: "/source/*/reach", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "the reachability register (0–255)", writer: "calf", calfReads: false, validate: intRange(0, 255), maxBytes: 3 },
    sourceStratum: { pattern: "/source/*/stratum", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "the server's stratum", writer: "calf", calfReads: false, validate: intRange(0, 255), maxBytes: 3 },
    sourcePoll: { pattern: "/source/*/poll", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "the poll interval (s)", writer: "calf", calfReads: false, validate: intRange(1, MAX_POLL_SECONDS), maxBytes: 6 },
    sourceOffset: { pattern: "/source/*/offset", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "the source's offset (s): its clock minus ours", writer: "calf", calfReads: false, validate: offsetSeconds, maxBytes: 24 },
    sourceDelay: { pattern: "/source/*/delay", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "the round-trip delay (s)", writer: "calf", calfReads: false, validate: errorSeconds, maxBytes: 12 },
    sourceJitter: { pattern: "/source/*/jitter", wildcard: INDEX, maxKeys: MAX_SERVERS + MAX_DHCP_SERVERS, description: "the source's jitter (s)", writer: "calf", calfReads: false, validate: errorSeconds, maxBytes: 12 },
    adjustmentId: { pattern: "/adjustment/id", description: "this adjustment's id (the handler acts on each id once)", writer: "calf", calfReads: false, validate: adjustmentId, maxBytes: 32 },
    adjustmentOffset: { pattern: "/adjustment/offset", description: "reference minus local time (s): positive, the clock is behind", writer: "calf", calfReads: false, validate: offsetSeconds, maxBytes: 24 },
    adjustmentFrequency: { pattern: "/adjustment/frequency", description: "the frequency correction to hold (ppm, ±500)", writer: "calf", calfReads: false, validate: frequencyPpm, maxBytes: 8 },
    adjustmentStep: { pattern: "/adjustment/step", description: "true: a request to step rather than slew", writer: "calf", calfReads: false, validate: oneOf("true", "false"), maxBytes: 5 },
    adjustmentMaxError: { pattern: "/adjustment/max-error", description: "the root distance (s), the kernel's maxerror", writer: "calf", calfReads: false, validate: errorSeconds, maxBytes: 12 },
    adjustmentEstError: { pattern: "/adjustment/est-error", description: "the system jitter (s), the kernel's esterror", writer: "calf", calfReads: false, validate: errorSeconds, maxBytes: 12 },
    adjustmentLeap: { pattern: "/adjustment/leap", description: "the leap second announced: none, insert or delete", writer: "calf", calfReads: false, validate: oneOf("none", "insert", "delete"), maxBytes: 6 },
    appliedId: { pattern: "/clock/applied/id", description: "the adjustment the clock handler acted on last", writer: "priv", calfReads: true, validate: adjustmentId, maxBytes: 32 },
    appliedResult: { pattern: "/clock/applied/result", description: "stepped, slewed, observed or refused", writer: "priv", calfReads: true, validate: oneOf(...APPLIED_RESULTS), maxBytes: 8 },
    appliedOffset: { pattern: "/clock/applied/offset", description: "the offset it removed (s; 0 when observed or refused)", writer: "priv", calfReads: true, validate: offsetSeconds, maxBytes: 24 },
    appliedFrequency: { pattern: "/clock/applied/frequency", description: "the frequency correction it holds (ppm)", writer: "priv", calfReads: true, validate: frequencyPpm, maxBytes: 8 },
    appliedCode: { pattern: "/clock/applied/code", description: "why it refused (a PADDOCK_E_CLOCK_ code), or none", writer: "priv", calfReads: true, validate: refusalCode, maxBytes: 64 },
  },
});

export const ntpKeys = ntpSchema.keys;
