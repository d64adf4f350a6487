/**
 * IPv6 host plumbing for handlers (issue 11): the reusable parts an IPv6 service's handler is
 * built from — the RA service's SLAAC handler today, the DHCPv6 service's lease handler next.
 *
 *   Ipv6AddressSet   the addresses one handler wants on one link, with lifetimes the KERNEL
 *                    enforces (IFA_CACHEINFO): converge() adds or refreshes them in place and
 *                    removes exactly the ones this set added that are no longer wanted
 *   Ipv6RouteSet     the same for routes (RTA_PREF, RTA_EXPIRES, metric, a link-local gateway)
 *   SysctlSet        per-interface sysctls a service must own while it runs (accept_ra=0,
 *                    autoconf=0, the IPv6 MTU), each one's previous value restored when released
 *
 * Each keeps its own ownership record (write-ahead, see ownership.ts), so two services on one link
 * — RA and DHCPv6 both adding addresses and routes with rtm_protocol 176 — never remove each
 * other's: a set removes only what its own record lists, and leaves alone (as a conflict) an
 * address or route that is already there and not in its record.
 *
 * Times are absolute (ms since the epoch): a handler's `desired` turns "lifetime L in an RA
 * received at T" into T + L, drops what has passed, and its `wakeAt` is the earliest end, so an
 * expired address, route or resolv.conf contribution is withdrawn on time even when the kernel
 * has not been told (a route of an RA with a lifetime too long for RTA_EXPIRES: none is).
 */
import { promises as fsp } from "node:fs";
import path from "node:path";
import { NetlinkError, RTPROT_PADDOCK, IFA_F_DADFAILED, IFA_F_MANAGETEMPADDR, IFA_F_NODAD, IFA_F_NOPREFIXROUTE, MAX_FINITE_LIFETIME } from "@paddock/netlink";
import type { Address6, Lifetime, RouterPreference, RtnetlinkClient } from "@paddock/netlink";
import { HandlerErrorCode, step } from "./errors.ts";
import { OWNERSHIP_FORMAT, OwnershipFile } from "./ownership.ts";
import type { HandlerLogger } from "./reconciler.ts";

/** An end of life: ms since the epoch, or "forever" (RFC 4861's all-ones lifetime). */
export type Deadline = number | "forever";

/**
 * A refresh is skipped when the kernel's remaining lifetime is within this many seconds of the
 * wanted one: the kernel counts down in whole seconds, so the two differ by rounding.
 */
export const IPV6_LIFETIME_SLACK_SECONDS = 2;

/** RFC 8200 §5: every link that carries IPv6 has an MTU of at least 1280. */
export const MIN_IPV6_LINK_MTU = 1280;

/** The seconds left until `d` at `now`, for the kernel (at least 1: 0 would mean "deprecated now" or "gone"). */
export function secondsLeft(d: Deadline, now: number): Lifetime {
  if (d === "forever") return "forever";
  return Math.min(MAX_FINITE_LIFETIME, Math.max(1, Math.ceil((d - now) / 1000)));
}

/** The earliest of some deadlines (undefined when all are "forever" or there are none). */
export function earliestDeadline(ds: Iterable<Deadline>): number | undefined {
  let min: number | undefined;
  for (const d of ds) if (d !== "forever" && (min === undefined || d < min)) min = d;
  return min;
}

function lifetimeClose(kernel: Lifetime, want: Lifetime): boolean {
  if (kernel === "forever" || want === "forever") return kernel === want;
  return Math.abs(kernel - want) <= IPV6_LIFETIME_SLACK_SECONDS;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isIndex = (x: unknown): x is number => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 0x7fffffff;
const isStr = (x: unknown): x is string => typeof x === "string";

/** What one convergence did: readable lines, as an ApplyReport holds them. */
export interface ConvergeReport {
  readonly changes: string[];
  readonly conflicts: string[];
}

// ---- addresses --------------------------------------------------------------------------------

/** An IPv6 address a handler wants on its link. */
export interface WantedAddress6 {
  /** "2001:db8:1::c4f1:1/64", canonical (RFC 5952): compared as text with what the kernel lists. */
  readonly cidr: string;
  readonly validUntil: Deadline;
  /** Not after validUntil (the kernel refuses a preferred lifetime above the valid one). */
  readonly preferredUntil: Deadline;
  /** No kernel prefix route for it (SLAAC: the on-link route is the prefix's own business). */
  readonly noPrefixRoute?: boolean;
  /** Skip duplicate address detection (only where DAD cannot work). */
  readonly noDad?: boolean;
  /** Let the kernel derive RFC 8981 temporary addresses from it. */
  readonly manageTempAddr?: boolean;
}

/** What an address set's record holds. */
export interface Ipv6AddressRecord {
  readonly format: typeof OWNERSHIP_FORMAT;
  readonly addresses: readonly { readonly index: number; readonly cidr: string }[];
}

function parseAddressRecord(x: unknown): Ipv6AddressRecord | null {
  if (!isObj(x) || x.format !== OWNERSHIP_FORMAT || !Array.isArray(x.addresses)) return null;
  return x.addresses.every((a) => isObj(a) && isIndex(a.index) && isStr(a.cidr)) ? (x as unknown as Ipv6AddressRecord) : null;
}

/** Options of a set: where its record lives and whose it is. */
export interface Ipv6SetOptions {
  /** The ownership record's file (in the priv's state directory), one per set. */
  readonly file: string;
  /** The handler's name, for errors. */
  readonly handler: string;
  readonly log: HandlerLogger;
}

/** The IPv6 addresses one handler owns (see the module comment). */
export class Ipv6AddressSet {
  private readonly record: OwnershipFile<Ipv6AddressRecord>;

  constructor(private readonly opts: Ipv6SetOptions) {
    this.record = new OwnershipFile(opts.file, () => ({ format: OWNERSHIP_FORMAT, addresses: [] }), parseAddressRecord, opts.log);
  }

  /** What the record says this set added. */
  owned(): readonly { readonly index: number; readonly cidr: string }[] {
    return this.record.get().addresses;
  }

  /**
   * Converges link `index` to `wanted` (empty: withdraw everything of ours, on every link). An
   * address there but not ours is left alone and reported; one whose duplicate address detection
   * failed is reported (the caller may pick another interface identifier, RFC 7217 §6).
   */
  async converge(nl: RtnetlinkClient, index: number | undefined, wanted: readonly WantedAddress6[], now: number): Promise<ConvergeReport & { readonly dadFailed: readonly string[] }> {
    const changes: string[] = [];
    const conflicts: string[] = [];
    const dadFailed: string[] = [];
    const owned = this.record.get().addresses;
    const wantKey = new Set(index === undefined ? [] : wanted.map((w) => `${index} ${w.cidr}`));
    // Withdraw first: what we hold and no longer want, on any link.
    const keep: { index: number; cidr: string }[] = [];
    const byLink = new Map<number, Address6[]>();
    const listOf = async (i: number): Promise<Address6[]> => {
      let l = byLink.get(i);
      if (l === undefined) {
        l = await step(HandlerErrorCode.ADDRESS, this.opts.handler, "list IPv6 addresses", () => nl.listAddresses6(i)).catch((e: unknown) => {
          if (e instanceof Error && (e.cause as { errno?: string } | undefined)?.errno === "ENODEV") return [];
          throw e;
        });
        byLink.set(i, l);
      }
      return l;
    };
    for (const o of owned) {
      if (wantKey.has(`${o.index} ${o.cidr}`)) {
        keep.push(o);
        continue;
      }
      const present = (await listOf(o.index)).some((a) => a.cidr === o.cidr);
      if (present) {
        await step(HandlerErrorCode.ADDRESS, this.opts.handler, `remove ${o.cidr}`, () =>
          nl.deleteAddress6({ link: o.index, address: o.cidr }).catch((e: unknown) => {
            // Gone meanwhile (the kernel expired it): what we wanted.
            if (!(e instanceof NetlinkError && e.errno === "EADDRNOTAVAIL")) throw e;
          }),
        );
        changes.push(`remove ${o.cidr} dev #${o.index}`);
      }
    }
    if (keep.length !== owned.length) await this.save(keep);
    if (index === undefined) return { changes, conflicts, dadFailed };
    const current = await listOf(index);
    const mine = new Set(keep.map((o) => o.cidr));
    for (const w of wanted) {
      const there = current.find((a) => a.cidr === w.cidr);
      if (there !== undefined && !mine.has(w.cidr)) {
        conflicts.push(`IPv6 address ${w.cidr} is already on link #${index} and is not ours: left alone`);
        continue;
      }
      if (there !== undefined && (there.flags & IFA_F_DADFAILED) !== 0) dadFailed.push(w.cidr);
      const valid = secondsLeft(w.validUntil, now);
      const preferredRaw = secondsLeft(w.preferredUntil, now);
      // The preferred lifetime may have ended (a deprecated address): 0, never above the valid one.
      const preferred: Lifetime = w.preferredUntil !== "forever" && w.preferredUntil <= now ? 0 : valid !== "forever" && (preferredRaw === "forever" || preferredRaw > valid) ? valid : preferredRaw;
      const flags = (w.noPrefixRoute ? IFA_F_NOPREFIXROUTE : 0) | (w.noDad ? IFA_F_NODAD : 0) | (w.manageTempAddr ? IFA_F_MANAGETEMPADDR : 0);
      const mask = IFA_F_NOPREFIXROUTE | IFA_F_NODAD | IFA_F_MANAGETEMPADDR;
      if (there !== undefined && lifetimeClose(there.validLifetime, valid) && lifetimeClose(there.preferredLifetime, preferred) && (there.flags & mask) === flags) continue;
      if (!mine.has(w.cidr)) {
        keep.push({ index, cidr: w.cidr });
        mine.add(w.cidr);
        await this.save(keep); // write-ahead: recorded before it exists
      }
      await step(HandlerErrorCode.ADDRESS, this.opts.handler, `add ${w.cidr}`, () =>
        nl.replaceAddress6({
          link: index,
          address: w.cidr,
          validLifetime: valid,
          preferredLifetime: preferred,
          ...(w.noPrefixRoute ? { noPrefixRoute: true } : {}),
          ...(w.noDad ? { noDad: true } : {}),
          ...(w.manageTempAddr ? { manageTempAddr: true } : {}),
        }),
      );
      changes.push(`${there === undefined ? "add" : "refresh"} ${w.cidr} dev #${index} valid ${valid === "forever" ? "forever" : `${valid}s`} preferred ${preferred === "forever" ? "forever" : `${preferred}s`}`);
    }
    return { changes, conflicts, dadFailed };
  }

  private async save(addresses: readonly { index: number; cidr: string }[]): Promise<void> {
    await step(HandlerErrorCode.OWNERSHIP, this.opts.handler, "record IPv6 addresses", () => this.record.set({ format: OWNERSHIP_FORMAT, addresses: [...addresses] }));
  }
}

// ---- routes -----------------------------------------------------------------------------------

/** An IPv6 route a handler wants on its link. */
export interface WantedRoute6 {
  /** "default" or a canonical prefix "2001:db8:2::/48". */
  readonly destination: string;
  /** The router (a link-local address); absent: on-link. */
  readonly gateway?: string;
  readonly metric: number;
  /** RFC 4191 preference (default medium). */
  readonly pref?: RouterPreference;
  /** When the kernel is to remove it. */
  readonly expiresAt: Deadline;
}

/** A route in a route set's record: its kernel key (prefix, metric) and next hop. */
export interface OwnedRoute6 {
  readonly index: number;
  readonly destination: string;
  readonly gateway?: string;
  readonly metric: number;
}

/** What a route set's record holds. */
export interface Ipv6RouteRecord {
  readonly format: typeof OWNERSHIP_FORMAT;
  readonly routes: readonly OwnedRoute6[];
}

function parseRouteRecord(x: unknown): Ipv6RouteRecord | null {
  if (!isObj(x) || x.format !== OWNERSHIP_FORMAT || !Array.isArray(x.routes)) return null;
  const ok = x.routes.every((r) => isObj(r) && isIndex(r.index) && isStr(r.destination) && (r.gateway === undefined || isStr(r.gateway)) && Number.isInteger(r.metric));
  return ok ? (x as unknown as Ipv6RouteRecord) : null;
}

const routeKey = (r: { index: number; destination: string; gateway?: string | undefined; metric: number }) => `${r.index} ${r.destination} ${r.gateway ?? "-"} ${r.metric}`;

/** The IPv6 routes one handler owns (see the module comment); all carry rtm_protocol 176. */
export class Ipv6RouteSet {
  private readonly record: OwnershipFile<Ipv6RouteRecord>;

  constructor(private readonly opts: Ipv6SetOptions) {
    this.record = new OwnershipFile(opts.file, () => ({ format: OWNERSHIP_FORMAT, routes: [] }), parseRouteRecord, opts.log);
  }

  /** What the record says this set added. */
  owned(): readonly OwnedRoute6[] {
    return this.record.get().routes;
  }

  /** Converges link `index` to `wanted` (empty or no link: withdraw everything of ours). */
  async converge(nl: RtnetlinkClient, index: number | undefined, wanted: readonly WantedRoute6[], now: number): Promise<ConvergeReport> {
    const changes: string[] = [];
    const conflicts: string[] = [];
    const owned = this.record.get().routes;
    const wantKeys = new Set(index === undefined ? [] : wanted.map((w) => routeKey({ index, ...w })));
    const keep: OwnedRoute6[] = [];
    for (const o of owned) {
      if (wantKeys.has(routeKey(o))) {
        keep.push(o);
        continue;
      }
      const removed = await step(HandlerErrorCode.ROUTES, this.opts.handler, `remove ${o.destination}`, () =>
        nl.deleteRoute6({ destination: o.destination, ...(o.gateway !== undefined ? { gateway: o.gateway } : {}), link: o.index, priority: o.metric, protocol: RTPROT_PADDOCK }).then(
          () => true,
          (e: unknown) => {
            // Already gone (expired, or the link went away with it): what we wanted.
            if (e instanceof NetlinkError && (e.errno === "ESRCH" || e.errno === "ENODEV" || e.errno === "ENOENT")) return false;
            throw e;
          },
        ),
      );
      if (removed) changes.push(`remove route ${o.destination}${o.gateway !== undefined ? ` via ${o.gateway}` : ""} dev #${o.index} metric ${o.metric}`);
    }
    if (keep.length !== owned.length) await this.save(keep);
    if (index === undefined || wanted.length === 0) return { changes, conflicts };
    const current = await step(HandlerErrorCode.ROUTES, this.opts.handler, "list IPv6 routes", () => nl.listRoutes6({ link: index }));
    const mine = new Set(keep.map(routeKey));
    for (const w of wanted) {
      const key = routeKey({ index, ...w });
      const same = current.filter((r) => r.cidr === w.destination && (r.priority ?? 0) === w.metric);
      const there = same.find((r) => r.gateway === w.gateway);
      if (same.some((r) => r.protocol !== RTPROT_PADDOCK)) {
        conflicts.push(`IPv6 route ${w.destination} metric ${w.metric} on link #${index} is someone else's: left alone`);
        continue;
      }
      if (there !== undefined && !mine.has(key)) {
        conflicts.push(`IPv6 route ${w.destination} via ${w.gateway ?? "on-link"} metric ${w.metric} on link #${index} is not in this handler's record: left alone`);
        continue;
      }
      const expires = secondsLeft(w.expiresAt, now);
      const pref = w.pref ?? "medium";
      if (there !== undefined && lifetimeClose(there.expires, expires) && (there.pref ?? "medium") === pref) continue;
      if (!mine.has(key)) {
        keep.push({ index, destination: w.destination, ...(w.gateway !== undefined ? { gateway: w.gateway } : {}), metric: w.metric });
        mine.add(key);
        await this.save(keep);
      }
      const spec = { destination: w.destination, ...(w.gateway !== undefined ? { gateway: w.gateway } : {}), link: index, priority: w.metric, pref, expires };
      await step(HandlerErrorCode.ROUTES, this.opts.handler, `route ${w.destination}`, async () => {
        if (there !== undefined && there.expires !== "forever" && expires !== "forever" && (there.pref ?? "medium") === pref) {
          // A lifetime refresh: the kernel updates the expiry in place and answers EEXIST.
          await nl.appendRoute6(spec).catch((e: unknown) => {
            if (!(e instanceof NetlinkError && e.errno === "EEXIST")) throw e;
          });
          return;
        }
        // A new route, or a changed preference or a lifetime to or from "forever", which an
        // append cannot change: ours is replaced by a fresh one.
        if (there !== undefined) await nl.deleteRoute6({ ...spec, protocol: RTPROT_PADDOCK });
        await nl.appendRoute6(spec);
      });
      changes.push(`route ${w.destination}${w.gateway !== undefined ? ` via ${w.gateway}` : ""} dev #${index} metric ${w.metric} pref ${pref} expires ${expires === "forever" ? "never" : `${expires}s`}`);
    }
    return { changes, conflicts };
  }

  private async save(routes: readonly OwnedRoute6[]): Promise<void> {
    await step(HandlerErrorCode.OWNERSHIP, this.opts.handler, "record IPv6 routes", () => this.record.set({ format: OWNERSHIP_FORMAT, routes: [...routes] }));
  }
}

// ---- sysctls ----------------------------------------------------------------------------------

/** A sysctl name relative to /proc/sys, with "/" separators: "net/ipv6/conf/eth0/accept_ra". */
const SYSCTL_NAME = /^[a-z0-9_]+(?:\/[A-Za-z0-9_.@-]{1,32}){1,5}$/;

/** The sysctls a service owns while it does router discovery on `iface` (names relative to /proc/sys). */
export function ipv6ConfSysctl(iface: string, leaf: "accept_ra" | "autoconf" | "mtu" | "use_tempaddr" | "accept_ra_defrtr" | "accept_ra_pinfo"): string {
  return `net/ipv6/conf/${iface}/${leaf}`;
}

/** What a sysctl set's record holds: each name's value before ours, and ours. */
export interface SysctlRecord {
  readonly format: typeof OWNERSHIP_FORMAT;
  readonly values: Readonly<Record<string, { readonly original: string; readonly applied: string }>>;
}

function parseSysctlRecord(x: unknown): SysctlRecord | null {
  if (!isObj(x) || x.format !== OWNERSHIP_FORMAT || !isObj(x.values)) return null;
  for (const [k, v] of Object.entries(x.values)) {
    if (!SYSCTL_NAME.test(k) || !isObj(v) || !isStr(v.original) || !isStr(v.applied)) return null;
  }
  return x as unknown as SysctlRecord;
}

/** Options of a sysctl set. */
export interface SysctlSetOptions extends Ipv6SetOptions {
  /** Where sysctls are (default /proc/sys: the priv's own network namespace's net.*). */
  readonly procSys?: string;
}

/**
 * Sysctls one handler owns: set while wanted, restored to their previous value when released
 * (only if they still hold ours: an administrator's later change is left alone). A name whose file
 * is gone (the interface was removed) is forgotten.
 */
export class SysctlSet {
  private readonly record: OwnershipFile<SysctlRecord>;
  private readonly procSys: string;

  constructor(private readonly opts: SysctlSetOptions) {
    this.record = new OwnershipFile(opts.file, () => ({ format: OWNERSHIP_FORMAT, values: {} }), parseSysctlRecord, opts.log);
    this.procSys = opts.procSys ?? "/proc/sys";
  }

  /** What the record holds. */
  owned(): SysctlRecord["values"] {
    return this.record.get().values;
  }

  /** Sets every wanted name to its value and restores every recorded one no longer wanted. */
  async converge(wanted: Readonly<Record<string, string>>): Promise<ConvergeReport> {
    const changes: string[] = [];
    const conflicts: string[] = [];
    const values: Record<string, { original: string; applied: string }> = { ...this.record.get().values };
    for (const [name, rec] of Object.entries(values)) {
      if (name in wanted) continue;
      const now = await this.read(name);
      if (now !== null && now === rec.applied && now !== rec.original) {
        await step(HandlerErrorCode.SYSCTL, this.opts.handler, `restore ${name}`, () => this.write(name, rec.original));
        changes.push(`${name.replaceAll("/", ".")} = ${rec.original} (restored)`);
      } else if (now !== null && now !== rec.applied) {
        conflicts.push(`${name.replaceAll("/", ".")} was changed to ${now} by someone else: left as it is`);
      }
      delete values[name];
      await this.save(values);
    }
    for (const [name, value] of Object.entries(wanted)) {
      if (!SYSCTL_NAME.test(name)) throw new Error(`${name} is not a sysctl name`);
      const now = await this.read(name);
      if (now === null) throw Object.assign(new Error(`${path.join(this.procSys, name)} does not exist`), { code: "ENOENT" });
      const rec = values[name];
      if (rec === undefined) {
        values[name] = { original: now, applied: value };
        await this.save(values);
      } else if (rec.applied !== value) {
        values[name] = { original: rec.original, applied: value };
        await this.save(values);
      }
      if (now !== value) {
        await step(HandlerErrorCode.SYSCTL, this.opts.handler, `set ${name}`, () => this.write(name, value));
        changes.push(`${name.replaceAll("/", ".")} = ${value} (was ${now})`);
      }
    }
    return { changes, conflicts };
  }

  private async read(name: string): Promise<string | null> {
    try {
      return (await fsp.readFile(path.join(this.procSys, name), "utf8")).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  private async write(name: string, value: string): Promise<void> {
    await fsp.writeFile(path.join(this.procSys, name), `${value}\n`);
  }

  private async save(values: Record<string, { original: string; applied: string }>): Promise<void> {
    await step(HandlerErrorCode.OWNERSHIP, this.opts.handler, "record sysctls", () => this.record.set({ format: OWNERSHIP_FORMAT, values: { ...values } }));
  }
}
