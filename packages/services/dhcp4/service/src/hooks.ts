/**
 * The DHCPv4 service's hook events (docs/hooks.md): what the administrator's hooks are told when
 * the lease handler has applied a lease, renewed it, or withdrawn it.
 *
 * Events follow the lease handler's successful applies (`after: "lease"`): the runtime asks for an
 * event only once the handler has converged the system to a state without an error, so a BOUND
 * hook finds the address, routes and MTU configured. The values come from that applied state —
 * the handler's desired lease and the store snapshot it was computed from, each value already
 * parsed by the schema — never from text the calf sent that the store did not accept.
 *
 * | reason  | when                                                            | PADDOCK_* | PADDOCK_OLD_* |
 * |---------|-----------------------------------------------------------------|-----------|---------------|
 * | BOUND   | a lease applied with no lease before, or with a new address     | the lease | what differs  |
 * | RENEW   | the same address, with other times or options                   | the lease | what differs  |
 * | EXPIRE  | the lease withdrawn while the service runs: it expired, or the client gave it up (NAK, no answer at reboot, address conflict) | — | the old lease |
 * | RELEASE | the lease withdrawn while the priv stops (`--release-on-exit`)  | —         | the old lease |
 * | STOP    | the priv stops and the lease stays configured                   | the lease | —             |
 */
import { readKey, readKeys } from "@paddock/kv";
import { ServiceOptionError, type AppliedState, type HookEvent, type HookPhase, type ServiceHooks } from "@paddock/runtime";
import type { LeaseDesired } from "./handlers/lease.ts";
import { dhcp4Keys as keys } from "./schema.ts";

/** Where the hooks are unless the operator says otherwise (like dhcpcd's /lib/dhcpcd/dhcpcd-hooks). */
export const DEFAULT_HOOKS_DIR = "/etc/paddock/hooks.d";

/** A lease as the hooks see it. */
export interface LeaseHookValues {
  readonly ip: string;
  readonly prefixLength: number;
  /** The default route's router, as applied (RFC 3442: option 121's default route wins over option 3). */
  readonly gateway: string | undefined;
  /** Every DNS server of the lease, in order (resolv.conf takes the first three). */
  readonly dns: readonly string[];
  readonly domain: string | undefined;
  readonly search: readonly string[];
  readonly mtu: number | undefined;
  /** When the lease ends, Unix seconds; 0: never. */
  readonly leaseExpires: number;
  readonly ntp: readonly string[];
  /** The server that granted the lease. */
  readonly server: string | undefined;
}

/** Variable suffixes, in the order they are listed (PADDOCK_ + suffix, PADDOCK_OLD_ + suffix). */
const VARIABLES: ReadonlyArray<[string, (v: LeaseHookValues) => string | undefined]> = [
  ["IP", (v) => v.ip],
  ["PREFIX_LENGTH", (v) => String(v.prefixLength)],
  ["GATEWAY", (v) => v.gateway],
  ["DNS", (v) => (v.dns.length > 0 ? v.dns.join(" ") : undefined)],
  ["DOMAIN", (v) => v.domain],
  ["SEARCH", (v) => (v.search.length > 0 ? v.search.join(" ") : undefined)],
  ["MTU", (v) => (v.mtu === undefined ? undefined : String(v.mtu))],
  ["LEASE_EXPIRES", (v) => String(v.leaseExpires)],
  ["NTP", (v) => (v.ntp.length > 0 ? v.ntp.join(" ") : undefined)],
  ["SERVER", (v) => v.server],
];

/** The lease an applied state configured, or null when it configured none. */
export function leaseHookValues(applied: AppliedState<LeaseDesired>): LeaseHookValues | null {
  const lease = applied.desired.lease;
  if (lease === null) return null;
  const parsed = applied.store.parsed;
  const dns: string[] = [];
  for (const n of readKeys(parsed, keys.nameservers)) if (!dns.includes(n)) dns.push(n);
  return {
    ip: lease.address.address,
    prefixLength: lease.address.prefixLength,
    gateway: lease.routes.find((r) => r.destination === "default")?.gateway,
    dns,
    domain: lease.domain,
    search: lease.search ? [...lease.search] : [],
    mtu: lease.mtu,
    leaseExpires: lease.expiresAt === "never" ? 0 : lease.expiresAt,
    ntp: readKeys(parsed, keys.ntp),
    server: readKey(parsed, keys.leaseServer),
  };
}

/** The event's variables: the lease as PADDOCK_*, and the old values that differ as PADDOCK_OLD_*. */
export function leaseHookEnv(lease: LeaseHookValues | null, old: LeaseHookValues | null): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [suffix, read] of VARIABLES) {
    const now = lease ? read(lease) : undefined;
    const before = old ? read(old) : undefined;
    if (now !== undefined) env[`PADDOCK_${suffix}`] = now;
    if (before !== undefined && before !== now) env[`PADDOCK_OLD_${suffix}`] = before;
  }
  return env;
}

function leaseEvent(reason: string, lease: LeaseHookValues | null, old: LeaseHookValues | null): HookEvent {
  return { reason, env: leaseHookEnv(lease, old), json: { lease, old } };
}

const same = (a: LeaseHookValues, b: LeaseHookValues): boolean => VARIABLES.every(([, read]) => read(a) === read(b));

/** The event between two applied states (see the module comment), or null. */
export function leaseHookEvent(prev: AppliedState<LeaseDesired> | undefined, next: AppliedState<LeaseDesired>, phase: HookPhase): HookEvent | null {
  const before = prev ? leaseHookValues(prev) : null;
  if (phase === "stopped") return before ? leaseEvent("STOP", before, null) : null;
  const now = leaseHookValues(next);
  if (now !== null) {
    if (before === null || before.ip !== now.ip || before.prefixLength !== now.prefixLength) return leaseEvent("BOUND", now, before);
    return same(before, now) ? null : leaseEvent("RENEW", now, before);
  }
  if (before === null) return null;
  // Withdrawn while the priv stops: the calf released it. Its time running out says EXPIRE
  // whoever noticed first (the calf's timer deletes the keys, the handler's wake-up drops them).
  const expired = before.leaseExpires !== 0 && before.leaseExpires * 1000 <= next.at;
  return leaseEvent(phase === "stopping" && !expired ? "RELEASE" : "EXPIRE", null, before);
}

/** Longest `hook-timeout-seconds`: a hook is a notification, not a job; an hour is already a stuck one. */
export const MAX_HOOK_TIMEOUT_SECONDS = 3600;

/** Why a `hooks-dir` value cannot be used (the options' `validate`), or undefined. */
export function hooksDirProblem(v: string | boolean | number): string | undefined {
  return typeof v === "string" && (v === "" || v.startsWith("/")) ? undefined : "must be an absolute path (or empty: no hooks)";
}

/** Why a `hook-timeout-seconds` value cannot be used (the options' `validate`), or undefined. */
export function hookTimeoutProblem(v: string | boolean | number): string | undefined {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_HOOK_TIMEOUT_SECONDS ? undefined : `must be a whole number 1–${MAX_HOOK_TIMEOUT_SECONDS}`;
}

/**
 * The service's hook declaration from its options (`hooks-dir`, `hook-timeout-seconds`), or
 * undefined when `hooks-dir` is empty. The options' `validate` refused bad values already; a
 * caller that skipped it gets the same sentence as a ServiceOptionError.
 */
export function dhcp4Hooks(dir: string | undefined, timeoutSeconds: number): ServiceHooks<LeaseDesired> | undefined {
  if (dir === undefined || dir === "") return undefined;
  const problem = [["hooks-dir", hooksDirProblem(dir), dir], ["hook-timeout-seconds", hookTimeoutProblem(timeoutSeconds), timeoutSeconds]].find(([, p]) => p !== undefined);
  if (problem) throw new ServiceOptionError(`option ${problem[0]} of dhcp4 ${problem[1]}, not ${JSON.stringify(problem[2])}`);
  return { dir, timeoutMs: timeoutSeconds * 1000, after: "lease", event: leaseHookEvent };
}
