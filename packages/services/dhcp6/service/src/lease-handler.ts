/**
 * The DHCPv6 lease handler: from the lease the calf published, it applies
 *   - each IA_NA address as a /128 on the interface, without a prefix route (RFC 8415 §18.2.10.1:
 *     the address says nothing about what is on-link; the RA's prefixes do), with the lifetimes
 *     left, so the KERNEL deprecates and removes it when they end, Paddock running or not;
 *   - for each downstream interface of `prefix-delegation`, PREFIX:SUBNET::1/64 from the
 *     delegated prefix (the /64 whose sub-prefix id is the interface's), with the prefix's
 *     lifetimes; never one inside the RFC 6603 excluded prefix;
 *   - its DNS servers and domains as this link's DHCPv6 contribution to the composed resolv.conf.
 * Level-triggered: whatever it applied before and is no longer desired (a lease withdrawn at stop
 * or release, an address the server dropped, a lifetime ended) is removed, and only that: every
 * address is recorded in its ownership file before it is added (DESIGN.md invariant 5).
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { readKey, readKeys } from "@paddock/kv";
import { openRtnetlink, NetlinkError, type RtnetlinkClient } from "@paddock/netlink";
import {
  contributeResolvConf,
  earliestDeadline,
  Ipv6AddressSet,
  OWNERSHIP_FORMAT,
  OwnershipFile,
  RESOLV_RANK,
  ResolvConfComposer,
  isFileState,
  silentLogger,
  stateDirLockFile,
  type ApplyReport,
  type Deadline,
  type Handler,
  type HandlerContext,
  type HandlerLogger,
  type OwnedFile,
  type ResolvSettings,
  type StoreView,
} from "@paddock/runtime";
import { ipv6At, maskPrefix, parseIpv6 } from "@paddock/dhcp6";
import type { DownstreamAssignment } from "./options.ts";
import { dhcp6Keys, type Ipv6Prefix } from "./schema.ts";

/** One address to hold, with the lifetimes' ends. */
export interface DesiredAddress {
  /** The interface's name. */
  readonly iface: string;
  /** "2001:db8::5/128" or "2001:db8:1:1::1/64". */
  readonly cidr: string;
  readonly preferredUntil: Deadline;
  readonly validUntil: Deadline;
  /** A /128 from IA_NA: no prefix route. A downstream /64 keeps its prefix route. */
  readonly noPrefixRoute: boolean;
}

/** What the handler converges to. */
export interface Dhcp6Desired {
  readonly addresses: readonly DesiredAddress[];
  /** A downstream /64 that cannot be made, one sentence each (logged as conflicts). */
  readonly refused: readonly string[];
  /** This link's resolver settings, or null (no lease, or nothing DNS in it). */
  readonly resolv: Omit<ResolvSettings, "priority"> | null;
}

/** What the handler applied besides its addresses (which their Ipv6AddressSets record). */
export interface Dhcp6Ownership {
  readonly format: typeof OWNERSHIP_FORMAT;
  readonly resolvConf: OwnedFile | null;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** Checks a parsed record; null when anything is off. */
export function parseDhcp6Ownership(x: unknown): Dhcp6Ownership | null {
  if (!isObj(x) || x.format !== OWNERSHIP_FORMAT) return null;
  if (x.resolvConf !== null && !(isObj(x.resolvConf) && typeof x.resolvConf.path === "string" && isFileState(x.resolvConf.saved))) return null;
  return x as unknown as Dhcp6Ownership;
}

/**
 * The /64 with sub-prefix id `subnetId` inside `delegated` (length ≤ 64), as "P:S::/64", or why
 * there is none: the id must fit the bits between the prefix's length and 64, and the /64 must not
 * overlap the excluded prefix.
 */
export function subnetOf(delegated: Ipv6Prefix, subnetId: number, exclude: Ipv6Prefix | null): { ok: true; prefix: string } | { ok: false; reason: string } {
  if (delegated.length > 64) return { ok: false, reason: `the delegated prefix ${delegated.address}/${delegated.length} is longer than /64, so it holds no /64` };
  const bits = 64 - delegated.length;
  if (bits < 53 && subnetId >= 2 ** bits) return { ok: false, reason: `sub-prefix id ${subnetId} does not fit the ${bits} bits a /${delegated.length} leaves below /64` };
  const bytes = parseIpv6(delegated.address)!;
  let high = 0n;
  for (let i = 0; i < 8; i++) high = (high << 8n) | BigInt(bytes[i]!);
  high |= BigInt(subnetId);
  for (let i = 7; i >= 0; i--) {
    bytes[i] = Number(high & 0xffn);
    high >>= 8n;
  }
  const sub = ipv6At(maskPrefix(bytes, 64));
  if (exclude) {
    const shorter = Math.min(64, exclude.length);
    // Two prefixes overlap when they agree on the shorter one's bits.
    if (ipv6At(maskPrefix(parseIpv6(sub)!, shorter)) === ipv6At(maskPrefix(parseIpv6(exclude.address)!, shorter))) {
      return { ok: false, reason: `the /64 ${sub}/64 overlaps the prefix the server excluded, ${exclude.address}/${exclude.length}` };
    }
  }
  return { ok: true, prefix: `${sub}/64` };
}

/** "P::/64" → "P::1/64": the router's own address on a downstream link. */
function firstAddress(prefix64: string): string {
  const bytes = parseIpv6(prefix64.slice(0, prefix64.indexOf("/")))!;
  bytes[15] = 1;
  return `${ipv6At(bytes)}/64`;
}

/** A lifetime end as the store parsed it (ms, or null for never) as a Deadline. */
const deadline = (until: number | null): Deadline => (until === null ? "forever" : until);

/** The desired state from the store: pure. Entries whose valid lifetime ended by `now` are left out. */
export function desiredDhcp6(store: StoreView, now: number, iface: string, downstream: readonly DownstreamAssignment[]): Dhcp6Desired {
  const p = store.parsed;
  const live = (until: number | null) => until === null || until > now;
  const addresses: DesiredAddress[] = [];
  const refused: string[] = [];
  for (const [key, ip] of p) {
    const m = /^\/address\/([0-9]{3})\/ip$/.exec(key);
    if (!m) continue;
    const validUntil = p.get(`/address/${m[1]}/valid-until`) as number | null | undefined;
    const preferredUntil = p.get(`/address/${m[1]}/preferred-until`) as number | null | undefined;
    if (validUntil === undefined || !live(validUntil)) continue;
    addresses.push({ iface, cidr: `${ip as string}/128`, validUntil: deadline(validUntil), preferredUntil: deadline(preferredUntil === undefined ? validUntil : preferredUntil), noPrefixRoute: true });
  }
  // The first live delegated prefix serves the downstream links.
  let delegated: { prefix: Ipv6Prefix; exclude: Ipv6Prefix | null; validUntil: number | null; preferredUntil: number | null } | undefined;
  for (const [key, prefix] of p) {
    const m = /^\/prefix\/([0-9]{3})\/prefix$/.exec(key);
    if (!m || delegated) continue;
    const validUntil = p.get(`/prefix/${m[1]}/valid-until`) as number | null | undefined;
    if (validUntil === undefined || !live(validUntil)) continue;
    const preferredUntil = p.get(`/prefix/${m[1]}/preferred-until`) as number | null | undefined;
    delegated = { prefix: prefix as Ipv6Prefix, exclude: (p.get(`/prefix/${m[1]}/exclude`) as Ipv6Prefix | undefined) ?? null, validUntil, preferredUntil: preferredUntil === undefined ? validUntil : preferredUntil };
  }
  if (delegated) {
    for (const d of downstream) {
      const sub = subnetOf(delegated.prefix, d.subnetId, delegated.exclude);
      if (!sub.ok) refused.push(`${d.iface}: ${sub.reason}`);
      else addresses.push({ iface: d.iface, cidr: firstAddress(sub.prefix), validUntil: deadline(delegated.validUntil), preferredUntil: deadline(delegated.preferredUntil), noPrefixRoute: false });
    }
  }
  const nameservers = readKeys(p, dhcp6Keys.dns);
  const search = readKeys(p, dhcp6Keys.domain);
  const hasLease = readKey(p, dhcp6Keys.leaseMode) !== undefined;
  return { addresses, refused, resolv: hasLease && (nameservers.length > 0 || search.length > 0) ? { rank: RESOLV_RANK.dhcp6, nameservers, search } : null };
}

export interface Dhcp6LeaseHandlerOptions {
  /** The upstream interface (where the client runs). */
  readonly iface: string;
  readonly downstream: readonly DownstreamAssignment[];
  /** The ownership records live here. */
  readonly stateDir: string;
  /** The resolv.conf to manage; null: leave it alone. */
  readonly resolvConfPath: string | null;
  /** Where resolv.conf contributions are composed (default the state directory). */
  readonly runtimeDir?: string;
  /** The priority of this link's resolv.conf contribution (lower first). */
  readonly resolvPriority: number;
  readonly log?: HandlerLogger;
  /** Tests may substitute one; default openRtnetlink(). */
  readonly openNetlink?: () => RtnetlinkClient;
}

/** The handler (see the module comment). */
export class Dhcp6LeaseHandler implements Handler<Dhcp6Desired> {
  readonly name = "lease6";
  private readonly own: OwnershipFile<Dhcp6Ownership>;
  /** One address set per interface (a set withdraws what it holds on any link it is not converging). */
  private readonly sets = new Map<string, Ipv6AddressSet>();

  constructor(private readonly opts: Dhcp6LeaseHandlerOptions) {
    const log = opts.log ?? silentLogger;
    this.own = new OwnershipFile(path.join(opts.stateDir, "dhcp6-resolv-owned.json"), () => ({ format: OWNERSHIP_FORMAT, resolvConf: null }), parseDhcp6Ownership, log);
    for (const [i, name] of [opts.iface, ...opts.downstream.map((d) => d.iface)].entries()) {
      this.sets.set(name, new Ipv6AddressSet({ file: path.join(opts.stateDir, i === 0 ? "dhcp6-addresses.json" : `dhcp6-downstream-${name}.json`), handler: this.name, log }));
    }
    // A downstream interface no longer in prefix-delegation: its record is still read, so what was
    // added there is withdrawn (it wants nothing now) rather than left behind.
    for (const f of existsSync(opts.stateDir) ? readdirSync(opts.stateDir) : []) {
      const m = /^dhcp6-downstream-(.{1,15})\.json$/.exec(f);
      if (m && !this.sets.has(m[1]!)) this.sets.set(m[1]!, new Ipv6AddressSet({ file: path.join(opts.stateDir, f), handler: this.name, log }));
    }
  }

  desired(store: StoreView, now: number): Dhcp6Desired {
    return desiredDhcp6(store, now, this.opts.iface, this.opts.downstream);
  }

  describe(d: Dhcp6Desired): string {
    const a = d.addresses.map((x) => `${x.cidr} dev ${x.iface}`).join(", ");
    return `${a || "no address"}${d.resolv ? `; DNS ${d.resolv.nameservers.join(" ") || "-"}${d.resolv.search.length ? ` search ${d.resolv.search.join(" ")}` : ""}` : ""}`;
  }

  /** The earliest end of a valid lifetime: then the address leaves the desired state (the kernel removed it already). */
  wakeAt(d: Dhcp6Desired): number | undefined {
    return earliestDeadline(d.addresses.map((a) => a.validUntil));
  }

  async apply(d: Dhcp6Desired, ctx: HandlerContext): Promise<ApplyReport> {
    const changes: string[] = [];
    const conflicts: string[] = [...d.refused];
    const nl = (this.opts.openNetlink ?? (() => openRtnetlink()))();
    try {
      const now = ctx.now();
      for (const [name, set] of this.sets) {
        const wanted = d.addresses.filter((a) => a.iface === name);
        let index: number | undefined;
        try {
          index = (await nl.getLink(name)).index;
        } catch (err) {
          if (!(err instanceof NetlinkError && (err.code === "PADDOCK_E_NETLINK_NOT_FOUND" || err.errno === "ENODEV"))) throw err;
          if (wanted.length > 0) conflicts.push(`${wanted.map((a) => a.cidr).join(", ")} not applied: the interface ${name} does not exist`);
        }
        // An interface that is gone: withdraw what the set holds (it went with the link, or is left on none).
        const r = await set.converge(nl, index, index === undefined ? [] : wanted.map((a) => ({ cidr: a.cidr, validUntil: a.validUntil, preferredUntil: a.preferredUntil, noPrefixRoute: a.noPrefixRoute })), now);
        changes.push(...r.changes.map((c) => `${c} (${name})`));
        conflicts.push(...r.conflicts, ...r.dadFailed.map((c) => `${c} on ${name} failed duplicate address detection`));
      }
      const u = await contributeResolvConf({
        file: this.opts.resolvConfPath,
        source: "dhcp6",
        iface: this.opts.iface,
        settings: d.resolv === null ? null : { ...d.resolv, priority: this.opts.resolvPriority },
        owned: () => this.own.get().resolvConf,
        record: (next) => this.own.set({ ...this.own.get(), resolvConf: next }),
        composer: (file) => new ResolvConfComposer({ file, runtimeDir: this.opts.runtimeDir ?? this.opts.stateDir, ownerLock: stateDirLockFile(this.opts.stateDir), ...(this.opts.log ? { log: this.opts.log } : {}) }),
      });
      changes.push(...u.changes);
      conflicts.push(...u.conflicts);
    } finally {
      nl.close();
    }
    return { changes, conflicts };
  }
}
