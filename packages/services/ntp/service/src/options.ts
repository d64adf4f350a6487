/**
 * The NTP service's options: what `--set NAME=VALUE`, the configuration file and `paddock ntp`'s
 * flags give. Each is checked before anything starts, one sentence per problem.
 */
import { ipv4Unicast } from "@paddock/kv";
import { DEFAULT_PANIC_SECONDS, DEFAULT_STEP_CAP_SECONDS, DEFAULT_STEP_THRESHOLD_SECONDS } from "./clock-policy.ts";
import { CLOCK_TARGETS, MAX_SERVERS } from "./schema.ts";

type OptionValue = string | boolean | number;

/**
 * The servers of a `server` option: IPv4 addresses separated by commas or spaces, in order, no
 * duplicates, at most MAX_SERVERS. Names are out of scope (the calf cannot resolve, and the priv
 * does not resolve for it). Returns the list or one sentence.
 */
export function parseServerList(text: string): { ok: true; servers: string[] } | { ok: false; reason: string } {
  const items = text.split(/[\s,]+/).filter((s) => s.length > 0);
  const servers: string[] = [];
  for (const item of items) {
    if (!ipv4Unicast(item).ok) {
      return { ok: false, reason: /[a-z]/i.test(item) && !item.includes(":") ? `${JSON.stringify(item.slice(0, 64))} is a name; give NTP servers as IPv4 addresses (names are not resolved)` : `${JSON.stringify(item.slice(0, 64))} is not an IPv4 unicast address` };
    }
    if (servers.includes(item)) return { ok: false, reason: `${item} is given twice` };
    servers.push(item);
  }
  if (servers.length > MAX_SERVERS) return { ok: false, reason: `${servers.length} servers is more than ${MAX_SERVERS}` };
  return { ok: true, servers };
}

function serverProblem(v: OptionValue): string | undefined {
  const r = parseServerList(String(v));
  return r.ok ? undefined : r.reason;
}

const positiveSeconds = (max: number) => (v: OptionValue) => (typeof v === "number" && Number.isFinite(v) && v > 0 && v <= max ? undefined : `must be a number of seconds above 0 and at most ${max}`);

/** The option definitions (the keys of `defineService({ options })`). */
export const ntpOptions = {
  server: { kind: "string", validate: serverProblem, description: "the NTP servers: IPv4 addresses separated by commas or spaces (names are not resolved); a DHCP lease's servers are added when dhcp4 runs in the same priv", default: "" },
  clock: { kind: "string", validate: (v: OptionValue) => ((CLOCK_TARGETS as readonly string[]).includes(String(v)) ? undefined : "must be observe or system"), description: "observe (compute and report what would be done, touch nothing; the default) or system (adjust CLOCK_REALTIME)", default: "observe" },
  "step-threshold-seconds": { kind: "number", validate: positiveSeconds(DEFAULT_PANIC_SECONDS * 100), description: `after the first adjustment, step only offsets beyond this (default ${DEFAULT_STEP_THRESHOLD_SECONDS} s); smaller ones are slewed`, default: DEFAULT_STEP_THRESHOLD_SECONDS },
  "panic-seconds": { kind: "number", validate: positiveSeconds(86400 * 366), description: `never correct an offset beyond this (default ${DEFAULT_PANIC_SECONDS} s)`, default: DEFAULT_PANIC_SECONDS },
  "step-cap-seconds": { kind: "number", validate: positiveSeconds(86400 * 366 * 10), description: `the most all steps of one run may add up to (default ${DEFAULT_STEP_CAP_SECONDS} s)`, default: DEFAULT_STEP_CAP_SECONDS },
} as const;
