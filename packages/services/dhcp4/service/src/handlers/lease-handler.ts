/**
 * The lease handler: one DHCPv4 lease applied together (DESIGN.md invariant 6), in dependency
 * order — address → MTU → routes → resolv.conf — and withdrawn in reverse when the lease keys go
 * away or the lease expires.
 *
 * Ownership (invariant 5): addresses, the MTU and resolv.conf are recorded in the ownership file
 * before they are applied; routes carry rtm_protocol RTPROT_PADDOCK. Only what is recorded (or
 * so marked) is ever changed back or removed. An address or route that is already there and not
 * ours is left alone and reported as a conflict.
 *
 * Several links (issue 13 A2): each link's routes get their own metric (by default 1000 + the
 * link's ifindex), so two leases never replace each other's default route; resolv.conf is one
 * file composed from every link's contribution (@paddock/runtime's ResolvConfComposer), so a
 * lease adds its servers to the others' instead of replacing them, and withdrawing it removes only
 * its own.
 */
import path from "node:path";
import {
  AF_INET,
  AF_UNSPEC,
  IFA_F_SECONDARY,
  MAX_FINITE_LIFETIME,
  NLM_F_ACK,
  NLM_F_REQUEST,
  NetlinkError,
  RTM_NEWLINK,
  RTPROT_PADDOCK,
  encodeLinkMessage,
  encodeNested,
  openRtnetlink,
  u32Attribute,
} from "@paddock/netlink";
import type { Address, Lifetime, Link, Route, RtnetlinkClient } from "@paddock/netlink";
import {
  HandlerError,
  HandlerErrorCode,
  OwnershipFile,
  ResolvConfComposer,
  contributeResolvConf,
  silentLogger,
  stateDirLockFile,
  step,
  type ApplyReport,
  type Handler,
  type HandlerContext,
  type HandlerLogger,
  type OwnedAddress,
  type RecordStore,
  type ResolvSettings,
  type StoreView,
} from "@paddock/runtime";
import { ipv4, ipv4Bits, ipv4Cidr, ipv4Network, ipv4NetworkContains, wallClockMs, type Ipv4Network } from "@paddock/kv";
import { describeLease, desiredLease, leaseResolvSettings } from "./lease.ts";
import type { DesiredLease, DesiredRoute, LeaseDesired } from "./lease.ts";
import { emptyLeaseOwnership, parseLeaseOwnership, type LeaseOwnership } from "./records.ts";

/**
 * Metric of Paddock's routes on a link, unless configured: ROUTE_METRIC_BASE + the link's ifindex
 * (dhcpcd's rule; decision 0008). Distinct per link, so two links' default routes coexist instead
 * of one replacing the other; and never 0, the metric of an administrator's `ip route add`. The
 * kernel keys an IPv4 route by (table, prefix, tos, metric) and NLM_F_REPLACE replaces whatever
 * holds that key, whatever its protocol: a metric of our own keeps our replaces off other people's
 * routes (and a conflict check guards the rest).
 */
export const ROUTE_METRIC_BASE = 1000;

/** The default metric of our routes on the link with ifindex `index`. */
export function defaultRouteMetric(index: number): number {
  return ROUTE_METRIC_BASE + index;
}

/** The largest metric the kernel takes (RTA_PRIORITY is a u32). */
export const MAX_ROUTE_METRIC = 0xffffffff;

/**
 * A lifetime refresh is skipped when the kernel's remaining valid lifetime is within this many
 * seconds of the lease's: the kernel counts down in whole seconds, so the two differ by rounding.
 */
export const LIFETIME_SLACK_SECONDS = 2;

/** RFC 791 §3.1: every IPv4 host must be able to receive a 576-byte datagram. */
export const MIN_IPV4_MTU = 576;
/** RFC 8200 §5: IPv6 needs links with an MTU of at least 1280; below it Linux removes the link's IPv6 addresses. */
export const MIN_IPV6_MTU = 1280;

/** File name of the lease handler's ownership record in the state directory. */
export const LEASE_OWNERSHIP_FILE = "handler-lease.json";

// <linux/if_link.h>, <linux/ip.h>: IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF → IPV4_DEVCONF_*.
const IFLA_AF_SPEC = 26;
const IFLA_INET_CONF = 1;
const IPV4_DEVCONF_PROMOTE_SECONDARIES = 20;

/** Options of the lease handler; every target is a parameter (STYLE.md 7). */
export interface LeaseHandlerOptions {
  /** The interface the lease is for (a name: its index may change if it is re-created). */
  readonly link: string;
  /** Where the ownership record lives (the priv's state directory). */
  readonly stateDir: string;
  /** The network namespace to act in ("/run/netns/NAME"); default: the priv's own. */
  readonly netnsPath?: string;
  /** The resolv.conf to manage; null or absent: resolv.conf is not managed. */
  readonly resolvConfPath?: string | null;
  /**
   * Where this lease's resolv.conf contribution goes, to be composed with the other links' and
   * services' (RUNTIME_DIR/resolv.conf.d/): the priv's runtime directory. Default: the state
   * directory (the file is then composed from this handler's contributions only).
   */
  readonly runtimeDir?: string;
  /** The pid lock that says this process is alive (default: the state directory's, which the host holds). */
  readonly ownerLock?: string;
  /** The contribution's source name (default "dhcp4"). */
  readonly source?: string;
  /** Metric of our routes, and the priority of our resolv.conf contribution (default: defaultRouteMetric(ifindex)). */
  readonly routeMetric?: number;
  /** Handler name (default "lease"). */
  readonly name?: string;
  /** Logger for events outside a reconcile (an unreadable ownership record). */
  readonly log?: HandlerLogger;
  /** Opens the netlink client (tests may substitute one); default: openRtnetlink in `netnsPath`. */
  readonly openNetlink?: () => RtnetlinkClient;
  /**
   * Where the ownership record lives: the service's store (`SetupContext.records`), which writes it
   * in the same durable write as the lease's commit when `prepare` ran (decision 0012). Absent:
   * its own file, `STATE_DIR/handler-lease.json`.
   */
  readonly records?: RecordStore;
}

/** What the handler learned from the kernel before it changes anything: one batch of look-ups. */
interface LinkFacts {
  readonly link: Link;
  /** Every IPv4 address (all links: another link's address refuses the lease). */
  readonly addresses: readonly Address[];
  /** The IPv4 routing table (main), for the route step's conflict checks. */
  readonly routes: readonly Route[];
}

/**
 * How long the look-ups `prepare` made may stand in for the apply's own (ms): the apply follows
 * the persist at once, so they are a few milliseconds old; an apply later than this asks again.
 */
export const PREPARED_FACTS_MAX_AGE_MS = 1_000;

/**
 * Changes sent and not yet answered. The address, the MTU and the routes of a lease go out one
 * after the other without waiting for each answer (the kernel handles a socket's requests in the
 * order they were sent, so a route via the gateway still follows the address), and are awaited
 * together before resolv.conf; the first failure, in the order sent, is the apply's error.
 */
type Sent = Array<{ readonly code: HandlerErrorCode; readonly step: string; readonly reply: Promise<void> }>;

/** Adds a sent request to `sent` (marked handled at once: it is awaited later, with the others). */
function pipelined(sent: Sent, code: HandlerErrorCode, stepName: string, reply: Promise<void>): void {
  reply.catch(() => {});
  sent.push({ code, step: stepName, reply });
}

/** Netlink failures after which the kept-open socket is not trusted again: it is reopened. */
const SOCKET_FAILURES: readonly string[] = ["PADDOCK_E_NETLINK_SOCKET", "PADDOCK_E_NETLINK_CLOSED", "PADDOCK_E_NETLINK_TIMEOUT"];

/** The remaining lifetime of a lease at `nowMs` (at least 1 s: 0 would make the kernel drop the address at once). */
export function leaseLifetime(expiresAt: number | "never", nowMs: number): Lifetime {
  if (expiresAt === "never") return "forever";
  return Math.min(MAX_FINITE_LIFETIME, Math.max(1, expiresAt - Math.floor(nowMs / 1000)));
}

/** A kernel address ("a.b.c.d/n", as netlink reports it; host bits may be set) as bits and prefix length. */
function kernelPrefix(cidr: string): { bits: number; len: number } | null {
  const slash = cidr.indexOf("/");
  const a = ipv4(cidr.slice(0, slash));
  const len = Number(cidr.slice(slash + 1));
  if (slash < 0 || !a.ok || !Number.isInteger(len) || len < 0 || len > 32) return null;
  return { bits: ipv4Bits(a.value), len };
}

/**
 * Whether two kernel addresses ("a.b.c.d/n") share a subnet: the shorter prefix contains the
 * other's address. For the kernel's own address list (not store values), when deleting a primary.
 */
export function sameSubnet(a: string, b: string): boolean {
  const pa = kernelPrefix(a);
  const pb = kernelPrefix(b);
  if (pa === null || pb === null) return false;
  const len = Math.min(pa.len, pb.len);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((pa.bits & mask) >>> 0) === ((pb.bits & mask) >>> 0);
}

function errno(err: unknown): string | undefined {
  return err instanceof NetlinkError ? err.errno : undefined;
}

const routeText = (r: { destination: string; gateway: string | undefined }, dev: string, metric: number): string =>
  `${r.destination}${r.gateway !== undefined ? ` via ${r.gateway}` : ""} dev ${dev} metric ${metric} proto ${RTPROT_PADDOCK}`;

/** Applies a DHCPv4 lease from the store to an interface, its routes and resolv.conf. */
export class LeaseHandler implements Handler<LeaseDesired> {
  readonly name: string;
  private readonly opts: LeaseHandlerOptions;
  private readonly own: OwnershipFile<LeaseOwnership>;
  private readonly open: () => RtnetlinkClient;
  /** The rtnetlink socket, kept open for the handler's life (closed by `stopped`, reopened after a socket failure). */
  private nl: RtnetlinkClient | null = null;
  /** What `prepare` looked up for a lease about to be persisted, for the apply that follows. */
  private prepared: { readonly key: string; readonly at: number; readonly facts: LinkFacts } | null = null;
  /**
   * The look-ups `lookAhead` started (at: performance.now()), for the `prepare` that follows; on a
   * socket of their own, so they never meet another dump on `nl` (the kernel refuses a second
   * dump on a socket with EBUSY).
   */
  private ahead: { readonly at: number; readonly facts: Promise<LinkFacts> } | null = null;
  private aheadNl: RtnetlinkClient | null = null;
  /** Set by `stopped` (the runner's stop, once): a look-ahead after it would open a socket nothing closes. */
  private closed = false;
  private applying = false;
  /** The lease the last successful apply put in place (JSON), so `prepare` skips commits that do not change it. */
  private appliedKey: string | null = null;

  constructor(opts: LeaseHandlerOptions) {
    this.opts = opts;
    this.name = opts.name ?? "lease";
    this.own = new OwnershipFile(path.join(opts.stateDir, LEASE_OWNERSHIP_FILE), emptyLeaseOwnership, parseLeaseOwnership, opts.log ?? silentLogger, opts.records);
    this.open = opts.openNetlink ?? (() => openRtnetlink(opts.netnsPath === undefined ? {} : { netnsPath: opts.netnsPath }));
  }

  /** The kept-open rtnetlink client. */
  private netlink(): RtnetlinkClient {
    return (this.nl ??= this.open());
  }

  /** After a failure: a socket that failed or timed out is closed, and the next request opens a new one. */
  private dropSocketAfter(err: unknown): void {
    const cause = err instanceof Error && err.cause instanceof NetlinkError ? err.cause : err;
    if (cause instanceof NetlinkError && SOCKET_FAILURES.includes(cause.code)) {
      this.nl?.close();
      this.nl = null;
    }
  }

  /**
   * The link, every IPv4 address and the routing table. The link and the address dump are sent
   * together and answered together; the route dump follows, because a netlink socket runs one
   * dump at a time (a second one is refused with EBUSY).
   */
  private async lookUp(nl: RtnetlinkClient): Promise<LinkFacts> {
    const [link, addresses] = await Promise.all([nl.getLink(this.opts.link), nl.listAddresses()]);
    return { link, addresses, routes: await nl.listRoutes() };
  }

  /**
   * A lease is on its way (the priv is relaying an ACK to the calf): looks the link, every IPv4
   * address and the routes up now, while the calf decodes the ACK and commits the lease, so that
   * `prepare` finds them instead of asking the kernel inside the lease's persist (decision 0012).
   * Read only. Facts a few milliseconds old stand in for the apply's own, as prepare's always
   * have (`PREPARED_FACTS_MAX_AGE_MS`); a failed look-up only means `prepare` asks again.
   */
  lookAhead(): void {
    if (this.opts.records === undefined || this.applying || this.closed) return;
    const now = performance.now();
    // One at a time: a look-up in flight (or just made) serves this ACK too.
    if (this.ahead !== null && now - this.ahead.at <= PREPARED_FACTS_MAX_AGE_MS) return;
    let nl: RtnetlinkClient;
    try {
      nl = this.aheadNl ??= this.open();
    } catch {
      return;
    }
    const facts = this.lookUp(nl);
    facts.catch(() => {
      // A socket that failed is reopened by the next look-ahead.
      if (this.aheadNl === nl) {
        nl.close();
        this.aheadNl = null;
      }
    });
    this.ahead = { at: now, facts };
  }

  /** The look-ahead's facts if recent and successful (each is used once), else null. */
  private async takeAhead(): Promise<LinkFacts | null> {
    const a = this.ahead;
    this.ahead = null;
    if (a === null || performance.now() - a.at > PREPARED_FACTS_MAX_AGE_MS) return null;
    return a.facts.catch(() => null);
  }

  /**
   * Before the lease's commit is persisted (the runner's before-persist hook): looks the link up
   * and writes the ownership record the apply would write ahead of its changes — the address it
   * will add, the MTU it will replace (with the original), the link it will route on — so that
   * the record reaches the disk in the same write as the lease (decision 0012) and the apply adds
   * the address at once. Changes nothing on the system. The checks are the apply's own: an
   * address already there and not ours is not recorded (the apply reports the conflict); a lease
   * another link refuses records nothing.
   */
  async prepare(d: LeaseDesired, ctx: HandlerContext): Promise<void> {
    // A record in its own file cannot join the store's write: the apply writes it ahead, as before.
    if (this.opts.records === undefined) return;
    // Most commits (the client's state, a renewal's times) leave the lease's address alone: nothing to look up.
    if (d.lease === null || this.applying || JSON.stringify(d.lease) === this.appliedKey) return;
    const facts = (await this.takeAhead()) ?? (await this.lookUp(this.netlink()));
    if (this.applying) return;
    const lease = this.withoutOtherLinks(facts.addresses, facts.link, d.lease, []);
    if (lease === null) return;
    const { link } = facts;
    const rec = this.own.get();
    let next = rec;
    const want = lease.address.text;
    const present = facts.addresses.some((a) => a.index === link.index && a.cidr === want);
    if (!present && !rec.addresses.some((a) => a.index === link.index && a.cidr === want)) next = { ...next, addresses: [...next.addresses, { index: link.index, cidr: want }] };
    // The MTU's original, as applyMtu records it; an MTU below 1280 waits for the apply's IPv6 check.
    if (lease.mtu !== undefined && lease.mtu >= MIN_IPV6_MTU && link.mtu !== undefined) {
      if (next.mtu === null) next = { ...next, mtu: { index: link.index, original: link.mtu, applied: lease.mtu } };
      else if (next.mtu.index === link.index && next.mtu.applied !== lease.mtu) next = { ...next, mtu: { ...next.mtu, applied: lease.mtu } };
    }
    if (!next.routeLinks.includes(link.index)) next = { ...next, routeLinks: [...next.routeLinks, link.index] };
    this.prepared = { key: JSON.stringify(d.lease), at: ctx.now(), facts };
    if (next === rec) return;
    // Not awaited: the write joins the persist this hook runs in, and is durable when the commit is.
    this.own.set(next).catch((err: Error) => ctx.log.debug({ handler: this.name, err: err.message }, `handler ${this.name}: the prepared ownership record was not persisted; the apply writes it ahead itself`));
  }

  /** The look-ups `prepare` made for this lease, if they are recent; each is used once. */
  private takePrepared(lease: DesiredLease, nowMs: number): LinkFacts | null {
    const p = this.prepared;
    this.prepared = null;
    if (p === null || nowMs - p.at > PREPARED_FACTS_MAX_AGE_MS || p.key !== JSON.stringify(lease)) return null;
    return p.facts;
  }

  /** Closes the kept-open netlink socket (the runner's stop). Nothing applied is undone (invariant 5). */
  async stopped(): Promise<ApplyReport> {
    this.closed = true;
    this.nl?.close();
    this.nl = null;
    this.aheadNl?.close();
    this.aheadNl = null;
    this.ahead = null;
    return { changes: [] };
  }

  /** What this handler has applied, per its ownership record (for the admin view). */
  owned(): LeaseOwnership {
    return this.own.get();
  }

  desired(store: StoreView, now: number): LeaseDesired {
    return desiredLease(store.parsed, now);
  }

  describe(d: LeaseDesired): string {
    return describeLease(d);
  }

  wakeAt(d: LeaseDesired): number | undefined {
    // At expiry the kernel drops the address by itself; the wake-up withdraws the rest.
    return d.lease !== null && d.lease.expiresAt !== "never" ? d.lease.expiresAt * 1000 : undefined;
  }

  async apply(d: LeaseDesired, ctx: HandlerContext): Promise<ApplyReport> {
    const changes: string[] = [];
    const conflicts: string[] = [];
    const netlink = (): RtnetlinkClient => this.netlink();
    let applied = d.lease;
    this.applying = true;
    try {
      conflicts.push(...(d.refused ?? []));
      let lease = d.lease;
      let facts: LinkFacts | null = null;
      if (lease !== null) {
        const nowMs = ctx.now();
        facts = this.takePrepared(lease, nowMs) ?? (await step(HandlerErrorCode.LINK, this.name, "link", () => this.lookUp(netlink())));
        const f = facts;
        lease = await step(HandlerErrorCode.ADDRESS, this.name, "other links", async () => this.withoutOtherLinks(f.addresses, f.link, d.lease!, conflicts));
        applied = lease;
      }
      if (lease !== null && facts !== null) {
        const { link, addresses, routes } = facts;
        const sent: Sent = [];
        await step(HandlerErrorCode.ADDRESS, this.name, "address", () => this.applyAddress(netlink(), link, lease, ctx.now(), changes, conflicts, addresses, sent));
        // The apply path's last step in the priv (bench/apply.ts): RTM_NEWADDR is on the socket.
        if (sent.length > 0) ctx.log.debug({ handler: this.name, at: wallClockMs() }, `handler ${this.name}: address sent`);
        const mtu = await step(HandlerErrorCode.MTU, this.name, "mtu", () => this.usableMtu(netlink(), link, lease.mtu, conflicts));
        await step(HandlerErrorCode.MTU, this.name, "mtu", () => this.applyMtu(netlink(), link, mtu, changes, conflicts, sent));
        const metric = this.metricOf(link);
        await step(HandlerErrorCode.ROUTES, this.name, "routes", () => this.applyRoutes(netlink(), link, lease.routes, metric, changes, conflicts, routes, sent));
        await this.answered(sent);
        await step(HandlerErrorCode.RESOLV_CONF, this.name, "resolv.conf", () => this.applyResolvConf(leaseResolvSettings(lease, metric), changes, conflicts));
      } else {
        // No lease (or one refused whole): reverse order, nothing that depends on the address outlives it.
        await step(HandlerErrorCode.RESOLV_CONF, this.name, "resolv.conf", () => this.applyResolvConf(null, changes, conflicts));
        const rec = this.own.get();
        if (rec.routeLinks.length > 0) await step(HandlerErrorCode.ROUTES, this.name, "routes", () => this.applyRoutes(netlink(), null, [], 0, changes, conflicts));
        if (rec.mtu !== null) await step(HandlerErrorCode.MTU, this.name, "mtu", () => this.applyMtu(netlink(), null, undefined, changes, conflicts));
        if (rec.addresses.length > 0) await step(HandlerErrorCode.ADDRESS, this.name, "address", () => this.applyAddress(netlink(), null, null, ctx.now(), changes, conflicts));
      }
      this.appliedKey = d.lease === null ? null : JSON.stringify(d.lease);
    } catch (err) {
      this.appliedKey = null;
      this.dropSocketAfter(err);
      throw err;
    } finally {
      this.applying = false;
    }
    // A lease refused whole (or with routes dropped) for another link's sake: the hooks are told what was applied.
    return { changes, conflicts, ...(applied !== d.lease ? { applied: { ...d, lease: applied } } : {}) };
  }

  /**
   * The lease without what would collide with another link (issue 13 B6): an address that is
   * already a local address on another link, or a prefix equal to or inside one configured on another link, refuses
   * the whole lease (null); a route into another link's prefix is dropped. Each as a conflict.
   */
  private withoutOtherLinks(addresses: readonly Address[], link: Link, lease: DesiredLease, conflicts: string[]): DesiredLease | null {
    const others: Ipv4Network[] = [];
    for (const a of addresses) {
      // On our own link, an address that is not ours is left alone by applyAddress (a conflict too).
      if (a.index !== link.index && (a.address as string | undefined) === lease.address.address) {
        conflicts.push(`address ${lease.address.address} is already a local address (${a.cidr} on link #${a.index}): lease not applied`);
        return null;
      }
      if (a.index === link.index) continue;
      const n = ipv4Cidr(a.cidr);
      if (n.ok) others.push(n.value.network);
    }
    const inside = (net: Ipv4Network) => others.find((o) => net.prefixLength >= o.prefixLength && ipv4NetworkContains(o, net.address));
    const clash = inside(lease.address.network);
    if (clash) {
      conflicts.push(`the lease's prefix ${lease.address.network.text} is inside ${clash.text}, configured on another link: lease not applied`);
      return null;
    }
    const routes = lease.routes.filter((r) => {
      if (r.destination === "default") return true;
      const dest = ipv4Network(r.destination);
      const o = dest.ok ? inside(dest.value) : undefined;
      if (o) conflicts.push(`route to ${r.destination} is inside ${o.text}, configured on another link: refused`);
      return o === undefined;
    });
    return routes.length === lease.routes.length ? lease : { ...lease, routes };
  }

  /** Waits for every pipelined request; throws the first failure in the order they were sent, as its step's error. */
  private async answered(sent: Sent): Promise<void> {
    const results = await Promise.allSettled(sent.map((x) => x.reply));
    results.forEach((r, i) => {
      if (r.status === "rejected") throw new HandlerError(sent[i]!.code, this.name, sent[i]!.step, r.reason);
    });
  }

  /** The metric of our routes on `link` (and our resolv.conf priority). */
  metricOf(link: Pick<Link, "index">): number {
    return this.opts.routeMetric ?? defaultRouteMetric(link.index);
  }

  private async record(next: LeaseOwnership): Promise<void> {
    await step(HandlerErrorCode.OWNERSHIP, this.name, "ownership record", () => this.own.set(next));
  }

  // ---- address ----------------------------------------------------------------------------------

  /** Puts the lease's address on `link` (or, with no lease, none) and removes every other address we own. */
  private async applyAddress(nl: RtnetlinkClient, link: Link | null, lease: DesiredLease | null, nowMs: number, changes: string[], conflicts: string[], known?: readonly Address[], sent?: Sent): Promise<void> {
    let keep: OwnedAddress | null = null;
    if (link !== null && lease !== null) {
      const want = lease.address.text;
      const existing = known !== undefined ? known.filter((a) => a.index === link.index) : await nl.listAddresses(link.index);
      const present = existing.find((a) => a.cidr === want);
      const owned = this.own.get().addresses.some((a) => a.index === link.index && a.cidr === want);
      if (present !== undefined && !owned) {
        conflicts.push(`address ${want} on ${link.name} was not added by Paddock: left alone (not refreshed, never removed)`);
      } else {
        keep = { index: link.index, cidr: want };
        if (!owned) await this.record({ ...this.own.get(), addresses: [...this.own.get().addresses, keep] });
        const lifetime = leaseLifetime(lease.expiresAt, nowMs);
        if (present === undefined || !lifetimeMatches(present, lifetime)) {
          // NLM_F_REPLACE updates an existing address in place (its lifetimes), so a renewal
          // never makes the address disappear, even for a moment.
          const reply = nl.replaceAddress({ link: link.index, address: want, validLifetime: lifetime, preferredLifetime: lifetime });
          if (sent !== undefined) pipelined(sent, HandlerErrorCode.ADDRESS, "address", reply);
          else await reply;
          const lft = lifetime === "forever" ? "forever" : `${lifetime}s`;
          changes.push(present === undefined ? `add ${want} dev ${link.name} valid ${lft}` : `refresh ${want} dev ${link.name} valid ${lft}`);
        }
      }
    }
    for (const o of this.own.get().addresses) {
      if (keep !== null && o.index === keep.index && o.cidr === keep.cidr) continue;
      const removed = await this.removeOwnedAddress(nl, o);
      if (removed) changes.push(`remove ${o.cidr} dev #${o.index}`);
      const rec = this.own.get();
      await this.record({ ...rec, addresses: rec.addresses.filter((a) => !(a.index === o.index && a.cidr === o.cidr)) });
    }
  }

  /** Deletes an address we own; false when it was already gone (expired, link deleted). */
  private async removeOwnedAddress(nl: RtnetlinkClient, o: OwnedAddress): Promise<boolean> {
    let addrs: Address[];
    try {
      addrs = await nl.listAddresses(o.index);
    } catch (err) {
      if (errno(err) === "ENODEV") return false;
      throw err;
    }
    const a = addrs.find((x) => x.cidr === o.cidr && x.index === o.index);
    if (a === undefined) return false;
    // Deleting a primary address also deletes the secondaries of its subnet unless the link
    // promotes them; those may be someone else's, so ask the kernel to promote instead.
    const isPrimary = (a.flags & IFA_F_SECONDARY) === 0;
    if (isPrimary && addrs.some((x) => x !== a && (x.flags & IFA_F_SECONDARY) !== 0 && sameSubnet(x.cidr, a.cidr))) {
      await setPromoteSecondaries(nl, o.index);
    }
    try {
      await nl.deleteAddress({ link: o.index, address: o.cidr });
    } catch (err) {
      if (errno(err) === "EADDRNOTAVAIL" || errno(err) === "ENODEV") return false;
      throw err;
    }
    return true;
  }

  // ---- MTU --------------------------------------------------------------------------------------

  /**
   * The lease's MTU if it may be applied: never below 576 (RFC 791 §3.1: every IPv4 host must
   * take a 576-byte datagram), and never below 1280 on a link with IPv6 addresses (RFC 8200 §5;
   * the kernel would silently delete them, and they are not ours). Otherwise undefined, with the
   * reason as a conflict: the link keeps (or gets back) its own MTU.
   */
  private async usableMtu(nl: RtnetlinkClient, link: Link, mtu: number | undefined, conflicts: string[]): Promise<number | undefined> {
    if (mtu === undefined) return undefined;
    if (mtu < MIN_IPV4_MTU) {
      conflicts.push(`mtu ${mtu} for ${link.name} is below ${MIN_IPV4_MTU}, the least an IPv4 host must take: not applied`);
      return undefined;
    }
    if (mtu < MIN_IPV6_MTU) {
      const v6 = await nl.countIpv6Addresses(link.index);
      if (v6 > 0) {
        conflicts.push(`mtu ${mtu} for ${link.name} is below ${MIN_IPV6_MTU} and the link has IPv6 addresses, which the kernel would delete: not applied`);
        return undefined;
      }
    }
    return mtu;
  }

  /** Sets the lease's MTU on `link`, recording the original; with none, restores the original. */
  private async applyMtu(nl: RtnetlinkClient, link: Link | null, mtu: number | undefined, changes: string[], conflicts: string[], sent?: Sent): Promise<void> {
    const rec = this.own.get();
    if (rec.mtu !== null && (link === null || mtu === undefined || rec.mtu.index !== link.index)) {
      const { index, original, applied } = rec.mtu;
      let current: Link | null = null;
      try {
        current = await nl.getLink(index);
      } catch (err) {
        if (errno(err) !== "ENODEV") throw err;
      }
      if (current !== null && current.mtu === applied) {
        await nl.setLinkMtu(index, original);
        changes.push(`restore mtu ${original} dev ${current.name}`);
      } else if (current !== null) {
        conflicts.push(`mtu of ${current.name} was changed to ${String(current.mtu)} by someone else since we set ${applied}: not restored to ${original}`);
      }
      await this.record({ ...this.own.get(), mtu: null });
    }
    if (link === null || mtu === undefined) return;
    const now = this.own.get();
    if (now.mtu === null) {
      if (link.mtu === undefined) throw new Error(`the kernel reported no MTU for ${link.name}`);
      await this.record({ ...now, mtu: { index: link.index, original: link.mtu, applied: mtu } });
    } else if (now.mtu.applied !== mtu) {
      await this.record({ ...now, mtu: { ...now.mtu, applied: mtu } });
    }
    if (link.mtu !== mtu) {
      const reply = nl.setLinkMtu(link.index, mtu);
      if (sent !== undefined) pipelined(sent, HandlerErrorCode.MTU, "mtu", reply);
      else await reply;
      changes.push(`mtu ${mtu} dev ${link.name} (was ${String(link.mtu)})`);
    }
  }

  // ---- routes -----------------------------------------------------------------------------------

  /** Installs `routes` on `link` with `metric` and removes every route of ours that is not one of them. */
  private async applyRoutes(nl: RtnetlinkClient, link: Link | null, routes: readonly DesiredRoute[], metric: number, changes: string[], conflicts: string[], known?: readonly Route[], sent?: Sent): Promise<void> {
    const rec = this.own.get();
    if (link !== null && !rec.routeLinks.includes(link.index)) await this.record({ ...rec, routeLinks: [...rec.routeLinks, link.index] });
    const table = known ?? (await nl.listRoutes());
    const metricOfRoute = (r: Route): number => r.priority ?? 0;
    for (const d of link === null ? [] : routes) {
      const dev = link!.name;
      const ours = table.find((r) => r.protocol === RTPROT_PADDOCK && r.oif === link!.index && r.cidr === d.destination && r.gateway === d.gateway && metricOfRoute(r) === metric);
      if (ours !== undefined) continue;
      const foreign = table.find((r) => r.protocol !== RTPROT_PADDOCK && r.cidr === d.destination && metricOfRoute(r) === metric);
      if (foreign !== undefined) {
        conflicts.push(`route ${d.destination} metric ${metric} exists with protocol ${protocolName(foreign.protocol)}, not Paddock's: left alone`);
        continue;
      }
      // Another link's lease (another handler, maybe another priv) holds this key: the kernel keys
      // an IPv4 route without its device, so a replace would move that link's route to ours.
      const otherLink = table.find((r) => r.protocol === RTPROT_PADDOCK && r.oif !== undefined && r.oif !== link!.index && !rec.routeLinks.includes(r.oif) && r.cidr === d.destination && metricOfRoute(r) === metric);
      if (otherLink !== undefined) {
        conflicts.push(`route ${d.destination} metric ${metric} is another link's (#${otherLink.oif}): left alone; give each link its own route-metric`);
        continue;
      }
      const reply = nl.replaceRoute({ destination: d.destination, ...(d.gateway !== undefined ? { gateway: d.gateway } : {}), link: link!.index, priority: metric });
      if (sent !== undefined) pipelined(sent, HandlerErrorCode.ROUTES, "routes", reply);
      else await reply;
      changes.push(`route ${routeText(d, dev, metric)}`);
    }
    // Ours and no longer wanted: on the current link, and on any link we used before.
    const wanted = (r: Route): boolean =>
      link !== null && r.oif === link.index && metricOfRoute(r) === metric && routes.some((d) => d.destination === r.cidr && d.gateway === r.gateway);
    const current = this.own.get();
    for (const r of table) {
      if (r.protocol !== RTPROT_PADDOCK || r.oif === undefined || !current.routeLinks.includes(r.oif) || wanted(r)) continue;
      try {
        await nl.deleteRoute({ destination: r.cidr, ...(r.gateway !== undefined ? { gateway: r.gateway } : {}), link: r.oif, priority: metricOfRoute(r), protocol: RTPROT_PADDOCK });
        changes.push(`remove route ${r.cidr}${r.gateway !== undefined ? ` via ${r.gateway}` : ""} dev #${r.oif} metric ${metricOfRoute(r)}`);
      } catch (err) {
        // Gone already (the kernel flushes routes with their address or link).
        if (errno(err) !== "ESRCH" && errno(err) !== "ENODEV") throw err;
      }
    }
    const keep = link === null ? [] : [link.index];
    if (current.routeLinks.some((i) => !keep.includes(i))) await this.record({ ...current, routeLinks: keep });
  }

  // ---- resolv.conf ------------------------------------------------------------------------------

  /**
   * Contributes the lease's resolver settings to the composed resolv.conf (the composer saves the
   * original once, in its directory, before its first write), or with null withdraws them; the
   * composer restores the original when the last contribution goes. The ownership record keeps
   * the file we contribute to and a copy of its original, which outlives a reboot (the runtime
   * directory does not).
   */
  private async applyResolvConf(settings: ResolvSettings | null, changes: string[], conflicts: string[]): Promise<void> {
    const u = await contributeResolvConf({
      file: this.opts.resolvConfPath ?? null,
      source: this.source,
      iface: this.opts.link,
      settings,
      owned: () => this.own.get().resolvConf,
      record: (next) => this.record({ ...this.own.get(), resolvConf: next }),
      composer: (file) => this.composer(file),
    });
    changes.push(...u.changes);
    conflicts.push(...u.conflicts);
  }

  /**
   * Called when the link may be gone (the host reports it down, and stops this handler's runner
   * while a deleted link is away). A deleted link's resolv.conf contribution goes at once, so the
   * composed file holds only links that exist; its address and routes went with the link, the
   * lease stays in the store, and the next reconcile after the link is back contributes again. A
   * link that still exists (merely down) keeps everything: its lease is still valid.
   */
  async linkGone(): Promise<void> {
    const rec = this.own.get().resolvConf;
    if (rec === null) return;
    const nl = this.open();
    try {
      await nl.getLink(this.opts.link);
      return;
    } catch (err) {
      if (errno(err) !== "ENODEV" && !(err instanceof NetlinkError && err.code === "PADDOCK_E_NETLINK_NOT_FOUND")) throw err;
    } finally {
      nl.close();
    }
    const u = await this.composer(rec.path).update(this.source, this.opts.link, null, rec.saved);
    await this.record({ ...this.own.get(), resolvConf: null });
    (this.opts.log ?? silentLogger).info({ handler: this.name, changes: u.changes }, `${this.opts.link} is gone: its resolv.conf servers withdrawn${u.changes.length > 0 ? `: ${u.changes.join("; ")}` : ""}`);
  }

  private composer(file: string): ResolvConfComposer {
    return new ResolvConfComposer({
      file,
      runtimeDir: this.opts.runtimeDir ?? this.opts.stateDir,
      ownerLock: this.opts.ownerLock ?? stateDirLockFile(this.opts.stateDir),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
  }

  private get source(): string {
    return this.opts.source ?? "dhcp4";
  }
}

/** rtm_protocol names as iproute2 prints them (/etc/iproute2/rt_protos), for readable conflicts. */
const PROTOCOL_NAMES: Record<number, string> = { 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 16: "dhcp" };

function protocolName(p: number): string {
  return PROTOCOL_NAMES[p] ?? String(p);
}

function lifetimeMatches(a: Address, want: Lifetime): boolean {
  if (want === "forever" || a.validLifetime === "forever") return a.validLifetime === want && a.preferredLifetime === want;
  if (a.preferredLifetime === "forever") return false;
  return Math.abs(a.validLifetime - want) <= LIFETIME_SLACK_SECONDS && Math.abs(a.preferredLifetime - want) <= LIFETIME_SLACK_SECONDS;
}

/**
 * Sets net.ipv4.conf.<link>.promote_secondaries = 1 through rtnetlink (IFLA_AF_SPEC →
 * IFLA_INET_CONF; `ip` has no command for it and /proc/sys is the wrong namespace's when we act
 * in another one). Systemd sets the same default on every link.
 */
async function setPromoteSecondaries(nl: RtnetlinkClient, index: number): Promise<void> {
  const inet = encodeNested(AF_INET, [encodeNested(IFLA_INET_CONF, [u32Attribute(IPV4_DEVCONF_PROMOTE_SECONDARIES, 1)])]);
  const body = encodeLinkMessage({
    family: AF_UNSPEC,
    ifType: 0,
    index,
    flags: 0,
    change: 0,
    unknown: [{ type: IFLA_AF_SPEC, nested: true, netByteOrder: false, data: inet }],
  });
  await nl.request({
    ok: true,
    plan: { type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK, body, expect: "ack", description: `RTM_NEWLINK dev #${index} inet promote_secondaries 1` },
  });
}

