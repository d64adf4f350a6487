/**
 * The RA service's handler: what the router advertisements said, applied to the link together
 * (DESIGN.md invariant 6) from the whole store, in dependency order —
 *
 *   sysctls   net.ipv6.conf.IF.accept_ra = 0 and autoconf = 0 (the kernel must not do router
 *             discovery beside us), and .mtu from the RA's MTU option (1280 up to the link MTU)
 *   addresses one RFC 7217 stable address per autonomous /64 (the secret is the priv's: it never
 *             reaches the calf), with the prefix's lifetimes so the KERNEL expires it, no prefix
 *             route (the on-link route below is the prefix's), and with `temporary-addresses`
 *             IFA_F_MANAGETEMPADDR + use_tempaddr = 2: the kernel makes the RFC 8981 temporary
 *             addresses from it and retires them with it
 *   routes    default routes via each router with its RFC 4191 preference and lifetime, the
 *             RFC 4191 route information routes, on-link prefix routes; all with RTA_EXPIRES
 *   DNS       RDNSS servers and DNSSL names, each until its lifetime ends, as this link's
 *             contribution to the composed resolv.conf (rank: after the v4 lease, before DHCPv6)
 *
 * — and withdrawn in reverse as items expire (wakeAt: the earliest end), are withdrawn by a router
 * (lifetime 0: the calf deletes the key), or the store empties. At stop only the run-time sysctls
 * are given back (`stopped`); addresses and routes stay with their kernel lifetimes (invariant 5).
 *
 * Ownership: every piece is one of @paddock/runtime's IPv6 sets, each with its own record, so only
 * what this handler added is ever removed, and a DHCPv6 service on the same link keeps its own.
 */
import { readFileSync, writeFileSync, mkdirSync, openSync, closeSync, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { readKey, readKeys } from "@paddock/kv";
import { openRtnetlink, NetlinkError, type RtnetlinkClient } from "@paddock/netlink";
import {
  contributeResolvConf,
  HandlerErrorCode,
  isFileState,
  Ipv6AddressSet,
  OWNERSHIP_FORMAT,
  OwnershipFile,
  Ipv6RouteSet,
  MIN_IPV6_LINK_MTU,
  RESOLV_RANK,
  ResolvConfComposer,
  SysctlSet,
  earliestDeadline,
  ipv6ConfSysctl,
  silentLogger,
  stateDirLockFile,
  step,
  type ApplyReport,
  type Deadline,
  type Handler,
  type HandlerContext,
  type HandlerLogger,
  type OwnedFile,
  type StoreView,
  type WantedAddress6,
  type WantedRoute6,
} from "@paddock/runtime";
import { addressOf, stableIid, IDGEN_RETRIES } from "@paddock/ra";
import { raKeys } from "./schema.ts";
import type { UnixDeadline } from "./wire.ts";

/** RFC 7217 §5: the secret is at least 128 bits; 256 costs nothing more. */
export const SECRET_BYTES = 32;
/** The secret's file in the service's state directory (mode 0600; the calf never sees it). */
export const SECRET_FILE = "rfc7217-secret";
/** The metric of our IPv6 routes unless configured: the DHCP service's rule (1000 + ifindex, decision 0008). */
export const ROUTE_METRIC_BASE = 1000;

/**
 * The priv's RFC 7217 secret: read from STATE_DIR/rfc7217-secret, or made once (32 random bytes,
 * created exclusively with mode 0600, so two starts never make two). A file of another size is
 * refused rather than replaced: replacing it would move every stable address.
 */
export function loadOrCreateSecret(stateDir: string): Uint8Array {
  const file = path.join(stateDir, SECRET_FILE);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeFileSync(fd, randomBytes(SECRET_BYTES));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const secret = readFileSync(fd);
    if (secret.length !== SECRET_BYTES) throw Object.assign(new Error(`${file} holds ${secret.length} bytes, not the ${SECRET_BYTES} of an RFC 7217 secret: move it away to make a new one (every stable address will change)`), { code: "PADDOCK_E_RA_SECRET" });
    return new Uint8Array(secret);
  } finally {
    closeSync(fd);
  }
}

/** Options of the handler; every target is a parameter (STYLE.md 7). */
export interface RaHandlerOptions {
  /** The interface (a name: a re-created interface gets a new index). */
  readonly link: string;
  readonly stateDir: string;
  /** The RFC 7217 secret (loadOrCreateSecret). */
  readonly secret: Uint8Array;
  /** RFC 8981 temporary addresses made by the kernel from each stable one. */
  readonly temporaryAddresses?: boolean;
  /** Metric of our routes and priority of our resolv.conf contribution (default 1000 + ifindex). */
  readonly routeMetric?: number;
  /** null or absent: resolv.conf is not managed. */
  readonly resolvConfPath?: string | null;
  readonly runtimeDir?: string;
  readonly netnsPath?: string;
  /** Where sysctls are (default /proc/sys). */
  readonly procSys?: string;
  readonly log?: HandlerLogger;
  readonly openNetlink?: () => RtnetlinkClient;
}

/** What the handler wants, from the store at one instant (ms since the epoch). */
export interface RaDesired {
  readonly addresses: readonly (Omit<WantedAddress6, "cidr"> & { readonly prefix: string; readonly address: string })[];
  readonly defaultRoutes: readonly Omit<WantedRoute6, "metric">[];
  readonly routes: readonly Omit<WantedRoute6, "metric">[];
  readonly onLink: readonly Omit<WantedRoute6, "metric">[];
  readonly mtu: number | undefined;
  readonly dnsServers: readonly { readonly address: string; readonly until: Deadline }[];
  readonly searchNames: readonly { readonly name: string; readonly until: Deadline }[];
  /** The earliest end among all of it. */
  readonly nextExpiry: number | undefined;
}

const toDeadline = (d: UnixDeadline): Deadline => (d === "never" ? "forever" : d * 1000);
const alive = (d: Deadline, now: number) => d === "forever" || d > now;

/** The SLAAC handler (see the module comment). */
export class RaHandler implements Handler<RaDesired> {
  readonly name = "slaac";
  private readonly addresses: Ipv6AddressSet;
  private readonly routeSet: Ipv6RouteSet;
  private readonly sysctls: SysctlSet;
  /** RFC 7217 §6: DAD counters raised by duplicates, per prefix (this run only). */
  private readonly dadCounters = new Map<string, number>();
  /** The resolv.conf contributed to and its original (outlives a reboot; the runtime directory does not). */
  private readonly resolvRecord: OwnershipFile<{ format: typeof OWNERSHIP_FORMAT; resolvConf: OwnedFile | null }>;

  constructor(private readonly opts: RaHandlerOptions) {
    const log = opts.log ?? silentLogger;
    this.addresses = new Ipv6AddressSet({ file: path.join(opts.stateDir, "handler-slaac-addresses.json"), handler: this.name, log });
    this.routeSet = new Ipv6RouteSet({ file: path.join(opts.stateDir, "handler-slaac-routes.json"), handler: this.name, log });
    this.sysctls = new SysctlSet({ file: path.join(opts.stateDir, "handler-slaac-sysctls.json"), handler: this.name, log, ...(opts.procSys ? { procSys: opts.procSys } : {}) });
    const parseResolv = (x: unknown) => {
      const o = x as { format?: unknown; resolvConf?: { path?: unknown; saved?: unknown } | null };
      if (typeof o !== "object" || o === null || o.format !== OWNERSHIP_FORMAT) return null;
      if (o.resolvConf !== null && !(typeof o.resolvConf?.path === "string" && isFileState(o.resolvConf.saved))) return null;
      return o as { format: typeof OWNERSHIP_FORMAT; resolvConf: OwnedFile | null };
    };
    this.resolvRecord = new OwnershipFile(path.join(opts.stateDir, "handler-slaac-resolv.json"), () => ({ format: OWNERSHIP_FORMAT, resolvConf: null }), parseResolv, log);
  }

  desired(store: StoreView, now: number): RaDesired {
    const p = store.parsed;
    const ends: Deadline[] = [];
    const live = (d: Deadline) => {
      if (!alive(d, now)) return false;
      ends.push(d);
      return true;
    };
    const addresses: RaDesired["addresses"][number][] = [];
    const onLink: Omit<WantedRoute6, "metric">[] = [];
    for (const pfx of readKeys(p, raKeys.prefixes)) {
      if (pfx.onLinkUntil !== undefined && live(toDeadline(pfx.onLinkUntil))) {
        onLink.push({ destination: `${pfx.prefix}/${pfx.prefixLength}`, expiresAt: toDeadline(pfx.onLinkUntil) });
      }
      const auto = pfx.autonomous;
      // RFC 4862 §5.5.3: SLAAC only for a prefix whose length leaves a 64-bit identifier.
      if (auto === undefined || pfx.prefixLength !== 64 || !live(toDeadline(auto.validUntil))) continue;
      const iid = stableIid(this.opts.secret, pfx.prefix, this.opts.link, new Uint8Array(0), this.dadCounters.get(pfx.prefix) ?? 0);
      if (!iid.ok) continue;
      const address = addressOf(pfx.prefix, iid.value.iid);
      if (!address.ok) continue;
      const validUntil = toDeadline(auto.validUntil);
      const preferredRaw = toDeadline(auto.preferredUntil);
      if (preferredRaw !== "forever" && alive(preferredRaw, now)) ends.push(preferredRaw);
      addresses.push({ prefix: pfx.prefix, address: address.value, validUntil, preferredUntil: preferredRaw, noPrefixRoute: true, ...(this.opts.temporaryAddresses ? { manageTempAddr: true } : {}) });
    }
    const defaultRoutes = readKeys(p, raKeys.routers)
      .filter((r) => live(toDeadline(r.until)))
      .map((r) => ({ destination: "default", gateway: r.address, pref: r.preference, expiresAt: toDeadline(r.until) }));
    const routes = readKeys(p, raKeys.routes)
      .filter((r) => live(toDeadline(r.until)))
      .map((r) => ({ destination: `${r.prefix}/${r.prefixLength}`, gateway: r.router, pref: r.preference, expiresAt: toDeadline(r.until) }));
    const dnsServers = readKeys(p, raKeys.dnsServers).filter((d) => live(toDeadline(d.until))).map((d) => ({ address: d.address, until: toDeadline(d.until) }));
    const searchNames = readKeys(p, raKeys.searchNames).filter((d) => live(toDeadline(d.until))).map((d) => ({ name: d.name as string, until: toDeadline(d.until) }));
    return { addresses, defaultRoutes, routes, onLink, mtu: readKey(p, raKeys.mtu), dnsServers, searchNames, nextExpiry: earliestDeadline(ends) };
  }

  wakeAt(d: RaDesired): number | undefined {
    return d.nextExpiry;
  }

  describe(d: RaDesired): string {
    if (d.addresses.length + d.defaultRoutes.length + d.routes.length + d.onLink.length + d.dnsServers.length === 0) return "nothing learned";
    const parts = [
      ...d.addresses.map((a) => `${a.address}/64`),
      ...d.defaultRoutes.map((r) => `default via ${r.gateway} (${r.pref})`),
      ...d.routes.map((r) => `${r.destination} via ${r.gateway}`),
      ...(d.mtu !== undefined ? [`mtu ${d.mtu}`] : []),
      ...(d.dnsServers.length > 0 ? [`dns ${d.dnsServers.map((s) => s.address).join(",")}`] : []),
    ];
    return parts.join("; ");
  }

  async apply(d: RaDesired, ctx: HandlerContext): Promise<ApplyReport> {
    const changes: string[] = [];
    const conflicts: string[] = [];
    const take = (r: { changes: string[]; conflicts: string[] }) => {
      changes.push(...r.changes);
      conflicts.push(...r.conflicts);
    };
    const now = ctx.now();
    const nl = this.open();
    try {
      const link = await step(HandlerErrorCode.LINK, this.name, "find the link", () => nl.getLink(this.opts.link)).catch((err: unknown) => {
        if (err instanceof Error && err.cause instanceof NetlinkError && err.cause.errno === "ENODEV") return null;
        throw err;
      });
      if (link === null) {
        // The link is gone, and its addresses and routes with it: forget them, keep the sysctls' record for its return.
        take(await this.routeSet.converge(nl, undefined, [], now));
        take(await this.addresses.converge(nl, undefined, [], now));
        take(await this.resolv(null));
        return { changes, conflicts };
      }
      const sys: Record<string, string> = { [ipv6ConfSysctl(this.opts.link, "accept_ra")]: "0", [ipv6ConfSysctl(this.opts.link, "autoconf")]: "0" };
      if (this.opts.temporaryAddresses) sys[ipv6ConfSysctl(this.opts.link, "use_tempaddr")] = "2";
      // RFC 4861 §6.3.4: the RA's MTU, only between 1280 and the link's own.
      if (d.mtu !== undefined && d.mtu >= MIN_IPV6_LINK_MTU && d.mtu <= (link.mtu ?? d.mtu)) sys[ipv6ConfSysctl(this.opts.link, "mtu")] = String(d.mtu);
      take(await this.sysctls.converge(sys));
      const a = await this.addresses.converge(nl, link.index, d.addresses.map((x) => ({ cidr: `${x.address}/64`, validUntil: x.validUntil, preferredUntil: x.preferredUntil, noPrefixRoute: true, ...(x.manageTempAddr ? { manageTempAddr: true } : {}) })), now);
      take(a);
      for (const cidr of a.dadFailed) {
        const prefix = d.addresses.find((x) => `${x.address}/64` === cidr)?.prefix;
        if (prefix === undefined) continue;
        const n = (this.dadCounters.get(prefix) ?? 0) + 1;
        // RFC 7217 §6: on a duplicate, the next DAD counter, up to IDGEN_RETRIES times.
        if (n <= IDGEN_RETRIES) this.dadCounters.set(prefix, n);
        conflicts.push(`${cidr} failed duplicate address detection: ${n <= IDGEN_RETRIES ? `the next reconcile uses DAD counter ${n}` : "no more identifiers are tried on this prefix (RFC 7217 IDGEN_RETRIES)"}`);
      }
      const metric = this.opts.routeMetric ?? ROUTE_METRIC_BASE + link.index;
      take(await this.routeSet.converge(nl, link.index, [...d.onLink, ...d.routes, ...d.defaultRoutes].map((r) => ({ ...r, metric })), now));
      // RFC 8106 §5.3.1: a link-local server is reachable through this link only: say which.
      const servers = d.dnsServers.map((s) => (s.address.startsWith("fe80") ? `${s.address}%${this.opts.link}` : s.address));
      take(await this.resolv(servers.length + d.searchNames.length === 0 ? null : { priority: metric, rank: RESOLV_RANK.routerAdvertisement, nameservers: servers, search: d.searchNames.map((s) => s.name) }));
      return { changes, conflicts };
    } finally {
      nl.close();
    }
  }

  /** At stop: accept_ra, autoconf, use_tempaddr and mtu get their values from before us. */
  async stopped(): Promise<ApplyReport> {
    return this.sysctls.converge({});
  }

  /** What the records say this handler added. */
  owned(): { addresses: readonly { index: number; cidr: string }[]; routes: readonly unknown[]; sysctls: Readonly<Record<string, unknown>> } {
    return { addresses: this.addresses.owned(), routes: this.routeSet.owned(), sysctls: this.sysctls.owned() };
  }

  private async resolv(settings: { priority: number; rank: number; nameservers: string[]; search: string[] } | null): Promise<{ changes: string[]; conflicts: string[] }> {
    return step(HandlerErrorCode.RESOLV_CONF, this.name, "resolv.conf", () =>
      contributeResolvConf({
        file: this.opts.resolvConfPath ?? null,
        source: "ra",
        iface: this.opts.link,
        settings,
        owned: () => this.resolvRecord.get().resolvConf,
        record: (next) => this.resolvRecord.set({ format: OWNERSHIP_FORMAT, resolvConf: next }),
        composer: (file) =>
          new ResolvConfComposer({
            file,
            runtimeDir: this.opts.runtimeDir ?? this.opts.stateDir,
            ownerLock: stateDirLockFile(this.opts.stateDir),
            ...(this.opts.log ? { log: this.opts.log } : {}),
          }),
      }),
    );
  }

  private open(): RtnetlinkClient {
    return this.opts.openNetlink?.() ?? openRtnetlink(this.opts.netnsPath !== undefined ? { netnsPath: this.opts.netnsPath } : {});
  }
}
