/**
 * The rtnetlink client: requests matched to replies by sequence number, with timeouts, over a
 * small transport (the addon's NETLINK_ROUTE socket in production, an in-memory fake in tests),
 * plus typed change events from the multicast groups the transport joined.
 *
 * Reply matching (netlink(7)): a reply carries our nlmsg_seq and nlmsg_pid = our port (or 0).
 * - "ack" requests (NEW/DEL) complete on the NLMSG_ERROR with our seq (error 0 = success).
 *   Other messages with our seq are the kernel's notifications of the change (the kernel
 *   multicasts them with the requester's seq and port), so they go to event listeners.
 * - "get" requests complete on the first object (or an NLMSG_ERROR).
 * - "dump" requests collect NLM_F_MULTI messages until NLMSG_DONE; NLM_F_DUMP_INTR restarts them.
 * Replies for requests that timed out are dropped, not mistaken for events.
 */

import {
  NLM_F_DUMP_INTR,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  AF_INET,
  AF_INET6,
  RTM_F_CLONED,
  RT_TABLE_MAIN,
  NLMSG_HDRLEN,
  NLMSG_ERROR,
} from "./constants.ts";
import { readU32 } from "./bytes.ts";
import { NetlinkError, errnoName } from "./errors.ts";
import type { NetlinkErrorCode, NetlinkErrorDetails } from "./errors.ts";
import { decodeMessage, encodeRawMessage, splitMessages } from "./message.ts";
import type { NetlinkMessage, NlMsgHdr } from "./message.ts";
import type { NetlinkDecodeError } from "./result.ts";
import {
  attributeAtOffset,
  planAddress,
  planAddress6,
  planGetLink,
  planListAddresses,
  planListLinks,
  planListRoutes,
  planRoute,
  planRoute6,
  planListRoutes6,
  planSetLinkMtu,
  planSetLinkUp,
} from "./requests.ts";
import type { Address6Spec, AddressSpec, LinkRef, Planned, RequestPlan, Route6Spec, RouteSpec } from "./requests.ts";
import { address6View, addressView, linkView, route6View, routeView } from "./views.ts";
import type { Address, Address6, Link, Route, Route6 } from "./views.ts";

/**
 * The socket the client needs: the shape of @paddock/native's NetlinkSocket, kept local so the
 * client can be tested over an in-memory fake kernel.
 */
export interface NetlinkTransport {
  /** Our netlink port id (nl_pid after bind); replies carry it in nlmsg_pid. */
  readonly portId: number;
  /** Sends one datagram to the kernel. May throw (a native error with errno). */
  send(msg: Uint8Array): void;
  /** Registers the datagram handler (one datagram may hold several messages). */
  onMessage(cb: (datagram: Uint8Array) => void): void;
  /** Registers the socket-error handler (ENOBUFS: the receive queue overflowed). */
  onError(cb: (err: Error & { errno?: string | number; errnoNumber?: number }) => void): void;
  /** Closes the socket. */
  close(): void;
}

/**
 * How long a request may wait for its reply. The kernel answers rtnetlink in microseconds to
 * milliseconds; a reply that has not come in 5 s was lost (receive-queue overrun), so give up.
 */
export const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * Most entries a dump may return before we call it runaway: a full IPv4 Internet table is about
 * 1M routes, and priv manages a handful; past this, memory would grow without bound.
 */
export const MAX_DUMP_MESSAGES = 1 << 21;

/**
 * How often a dump is restarted when the kernel flags it inconsistent (NLM_F_DUMP_INTR, the table
 * changed mid-dump). Twice more is what iproute2 effectively gets by the user re-running it;
 * persistent interruption means a table changing faster than we can read it.
 */
export const MAX_DUMP_RETRIES = 3;

/**
 * Sequence numbers of abandoned (timed-out or failed) requests we remember so their late
 * replies are dropped instead of surfacing as events; older ones are forgotten first.
 */
export const MAX_ABANDONED_SEQS = 256;

/** Options of a client. */
export interface RtnetlinkClientOptions {
  /** Per-request timeout in ms (default DEFAULT_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** A change reported by the kernel on a joined multicast group. */
export type RtnetlinkEvent =
  /** RTM_NEWLINK / RTM_DELLINK (RTNLGRP_LINK). */
  | { readonly kind: "link"; readonly action: "new" | "del"; readonly link: Link }
  /**
   * The carrier of a link changed (derived from RTM_NEWLINK: IFLA_CARRIER differs from the last
   * value this client saw for that ifindex; the first sighting of a link sets the baseline).
   */
  | { readonly kind: "carrier"; readonly link: Link; readonly carrier: boolean }
  /** RTM_NEWADDR / RTM_DELADDR for IPv4 (RTNLGRP_IPV4_IFADDR). */
  | { readonly kind: "address"; readonly action: "new" | "del"; readonly address: Address }
  /** RTM_NEWROUTE / RTM_DELROUTE for IPv4 (RTNLGRP_IPV4_ROUTE). */
  | { readonly kind: "route"; readonly action: "new" | "del"; readonly route: Route }
  /** RTM_NEWADDR / RTM_DELADDR for IPv6 (RTNLGRP_IPV6_IFADDR; a lifetime the kernel ended is a "del"). */
  | { readonly kind: "address6"; readonly action: "new" | "del"; readonly address: Address6 }
  /** RTM_NEWROUTE / RTM_DELROUTE for IPv6 (RTNLGRP_IPV6_ROUTE). */
  | { readonly kind: "route6"; readonly action: "new" | "del"; readonly route: Route6 }
  /** Events were lost (ENOBUFS or NLMSG_OVERRUN): listeners should re-read the state they track. */
  | { readonly kind: "overrun" }
  /** A message that did not decode; dropped. */
  | { readonly kind: "decode-error"; readonly error: NetlinkDecodeError };

interface Pending {
  readonly seq: number;
  readonly plan: RequestPlan;
  readonly messages: NetlinkMessage[];
  interrupted: boolean;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly resolve: (messages: NetlinkMessage[]) => void;
  readonly reject: (err: NetlinkError) => void;
}

/** An rtnetlink client over one NETLINK_ROUTE socket. */
export class RtnetlinkClient {
  private readonly transport: NetlinkTransport;
  private readonly timeoutMs: number;
  private nextSeq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly abandoned = new Map<number, RequestPlan["expect"]>();
  private readonly listeners = new Set<(e: RtnetlinkEvent) => void>();
  private readonly carrierByIndex = new Map<number, boolean>();
  private closed = false;

  /** Wraps an open transport; the client owns it from here on (close() closes it). */
  constructor(transport: NetlinkTransport, options: RtnetlinkClientOptions = {}) {
    this.transport = transport;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    transport.onMessage((d) => this.onDatagram(d));
    transport.onError((e) => this.onSocketError(e));
  }

  /** Our netlink port id. */
  get portId(): number {
    return this.transport.portId;
  }

  // ---- links ----------------------------------------------------------------------------------

  /** One link by name or index; rejects with errno ENODEV if there is none. */
  async getLink(ref: LinkRef): Promise<Link> {
    const [m] = await this.request(planGetLink(ref), typeof ref === "string" ? `RTM_GETLINK dev ${ref}` : `RTM_GETLINK dev #${ref}`);
    if (m?.kind !== "link") throw new NetlinkError("PADDOCK_E_NETLINK_NOT_FOUND", `RTM_GETLINK ${String(ref)}`, {}, `RTM_GETLINK ${String(ref)}: the kernel answered without a link`);
    return linkView(m.link);
  }

  /** Every link. */
  async listLinks(): Promise<Link[]> {
    const ms = await this.request(planListLinks(), "RTM_GETLINK dump");
    return ms.flatMap((m) => (m.kind === "link" && m.header.type === RTM_NEWLINK ? [linkView(m.link)] : []));
  }

  /** Sets a link administratively up or down (ifi_change = IFF_UP, nothing else touched). */
  async setLinkUp(ref: LinkRef, up: boolean): Promise<void> {
    const { index, name } = await this.resolve(ref, `RTM_NEWLINK dev ${String(ref)} ${up ? "up" : "down"}`);
    await this.request(planSetLinkUp(index, name, up), `RTM_NEWLINK dev ${String(ref)}`);
  }

  /** Sets a link's MTU; the kernel checks the device's range (EINVAL with extack text). */
  async setLinkMtu(ref: LinkRef, mtu: number): Promise<void> {
    const { index, name } = await this.resolve(ref, `RTM_NEWLINK dev ${String(ref)} mtu ${mtu}`);
    await this.request(planSetLinkMtu(index, name, mtu), `RTM_NEWLINK dev ${String(ref)} mtu ${mtu}`);
  }

  // ---- addresses ------------------------------------------------------------------------------

  /** IPv4 addresses, optionally of one link. */
  async listAddresses(link?: LinkRef): Promise<Address[]> {
    const index = link === undefined ? undefined : (await this.resolve(link, "RTM_GETADDR dump inet")).index;
    const ms = await this.request(planListAddresses(), "RTM_GETADDR dump inet");
    return ms.flatMap((m) =>
      m.kind === "address" && m.header.type === RTM_NEWADDR && m.address.family === AF_INET && (index === undefined || m.address.index === index)
        ? [addressView(m.address)]
        : [],
    );
  }

  /**
   * How many IPv6 addresses `link` has (any scope, link-local included). A link with any must keep
   * an MTU of at least 1280 (RFC 8200 §5): below it the kernel drops the link's IPv6 addresses.
   */
  async countIpv6Addresses(link: LinkRef): Promise<number> {
    const index = (await this.resolve(link, "RTM_GETADDR dump inet6")).index;
    const ms = await this.request(planListAddresses(AF_INET6), "RTM_GETADDR dump inet6");
    return ms.filter((m) => m.kind === "address" && m.header.type === RTM_NEWADDR && m.address.family === AF_INET6 && m.address.index === index).length;
  }

  /** Adds an IPv4 address (NLM_F_EXCL: EEXIST if it is already there). */
  async addAddress(spec: AddressSpec): Promise<void> {
    await this.addressOp("add", spec);
  }

  /** Adds or updates an IPv4 address (NLM_F_REPLACE: refreshes lifetimes of an existing one). */
  async replaceAddress(spec: AddressSpec): Promise<void> {
    await this.addressOp("replace", spec);
  }

  /** Deletes an IPv4 address (EADDRNOTAVAIL if it is not there). */
  async deleteAddress(spec: Pick<AddressSpec, "link" | "address" | "label">): Promise<void> {
    await this.addressOp("delete", spec);
  }

  private async addressOp(op: "add" | "replace" | "delete", spec: AddressSpec): Promise<void> {
    const verb = op === "delete" ? "RTM_DELADDR" : "RTM_NEWADDR";
    const fallback = `${verb} ${spec.address} dev ${String(spec.link)}`;
    const { index, name } = await this.resolve(spec.link, fallback);
    await this.request(planAddress(op, index, name, spec), fallback);
  }

  /** IPv6 addresses, optionally of one link. */
  async listAddresses6(link?: LinkRef): Promise<Address6[]> {
    const index = link === undefined ? undefined : (await this.resolve(link, "RTM_GETADDR dump inet6")).index;
    const ms = await this.request(planListAddresses(AF_INET6), "RTM_GETADDR dump inet6");
    return ms.flatMap((m) =>
      m.kind === "address" && m.header.type === RTM_NEWADDR && m.address.family === AF_INET6 && (index === undefined || m.address.index === index)
        ? [address6View(m.address)]
        : [],
    );
  }

  /** Adds an IPv6 address (NLM_F_EXCL: EEXIST if it is already there). */
  async addAddress6(spec: Address6Spec): Promise<void> {
    await this.address6Op("add", spec);
  }

  /** Adds or updates an IPv6 address: an existing one gets the new lifetimes and flags in place. */
  async replaceAddress6(spec: Address6Spec): Promise<void> {
    await this.address6Op("replace", spec);
  }

  /** Deletes an IPv6 address (EADDRNOTAVAIL if it is not there). */
  async deleteAddress6(spec: Pick<Address6Spec, "link" | "address">): Promise<void> {
    await this.address6Op("delete", spec);
  }

  private async address6Op(op: "add" | "replace" | "delete", spec: Address6Spec): Promise<void> {
    const fallback = `${op === "delete" ? "RTM_DELADDR" : "RTM_NEWADDR"} ${spec.address} dev ${String(spec.link)}`;
    const { index, name } = await this.resolve(spec.link, fallback);
    await this.request(planAddress6(op, index, name, spec), fallback);
  }

  // ---- routes ---------------------------------------------------------------------------------

  /**
   * IPv4 routes of one table (default main; `"all"` for every table), without cache clones,
   * optionally only those with a given rtm_protocol (RTPROT_PADDOCK: the ones we own).
   */
  async listRoutes(filter: { table?: number | "all"; protocol?: number; link?: LinkRef } = {}): Promise<Route[]> {
    const table = filter.table ?? RT_TABLE_MAIN;
    const oif = filter.link === undefined ? undefined : (await this.resolve(filter.link, "RTM_GETROUTE dump inet")).index;
    const ms = await this.request(planListRoutes(), "RTM_GETROUTE dump inet");
    const out: Route[] = [];
    for (const m of ms) {
      if (m.kind !== "route" || m.header.type !== RTM_NEWROUTE || m.route.family !== AF_INET) continue;
      if (m.route.flags & RTM_F_CLONED) continue;
      const r = routeView(m.route);
      if (table !== "all" && r.table !== table) continue;
      if (filter.protocol !== undefined && r.protocol !== filter.protocol) continue;
      if (oif !== undefined && r.oif !== oif) continue;
      out.push(r);
    }
    return out;
  }

  /** Adds a route (NLM_F_EXCL: EEXIST if one with the same key exists). Default protocol: RTPROT_PADDOCK. */
  async addRoute(spec: RouteSpec): Promise<void> {
    await this.routeOp("add", spec);
  }

  /** Adds or replaces a route (NLM_F_REPLACE). */
  async replaceRoute(spec: RouteSpec): Promise<void> {
    await this.routeOp("replace", spec);
  }

  /** Deletes a route; by default only one with rtm_protocol RTPROT_PADDOCK (ESRCH otherwise). */
  async deleteRoute(spec: RouteSpec): Promise<void> {
    await this.routeOp("delete", spec);
  }

  private async routeOp(op: "add" | "replace" | "delete", spec: RouteSpec): Promise<void> {
    const fallback = `${op === "delete" ? "RTM_DELROUTE" : "RTM_NEWROUTE"} ${spec.destination}${spec.gateway !== undefined ? ` via ${spec.gateway}` : ""}`;
    const link = spec.link === undefined ? undefined : await this.resolve(spec.link, fallback);
    await this.request(planRoute(op, link?.index, link?.name, spec), fallback);
  }

  /**
   * IPv6 routes of one table (default main; `"all"` for every table), without cache clones,
   * optionally only those with a given rtm_protocol or output link.
   */
  async listRoutes6(filter: { table?: number | "all"; protocol?: number; link?: LinkRef } = {}): Promise<Route6[]> {
    const table = filter.table ?? RT_TABLE_MAIN;
    const oif = filter.link === undefined ? undefined : (await this.resolve(filter.link, "RTM_GETROUTE dump inet6")).index;
    const ms = await this.request(planListRoutes6(), "RTM_GETROUTE dump inet6");
    const out: Route6[] = [];
    for (const m of ms) {
      if (m.kind !== "route" || m.header.type !== RTM_NEWROUTE || m.route.family !== AF_INET6) continue;
      if (m.route.flags & RTM_F_CLONED) continue;
      const r = route6View(m.route);
      if (table !== "all" && r.table !== table) continue;
      if (filter.protocol !== undefined && r.protocol !== filter.protocol) continue;
      if (oif !== undefined && r.oif !== oif) continue;
      out.push(r);
    }
    return out;
  }

  /** Adds or replaces an IPv6 route (NLM_F_REPLACE), with its preference and expiry. */
  async replaceRoute6(spec: Route6Spec): Promise<void> {
    await this.route6Op("replace", spec);
  }

  /** Adds an IPv6 route (NLM_F_EXCL: EEXIST if one with the same prefix and metric exists, whatever its gateway). */
  async addRoute6(spec: Route6Spec): Promise<void> {
    await this.route6Op("add", spec);
  }

  /**
   * Appends an IPv6 route (NLM_F_CREATE only): another gateway of the same prefix and metric
   * becomes an ECMP sibling; the same gateway with an expiry gets the new expiry in place, and
   * the kernel answers EEXIST.
   */
  async appendRoute6(spec: Route6Spec): Promise<void> {
    await this.route6Op("append", spec);
  }

  /** Deletes an IPv6 route; by default only one with rtm_protocol RTPROT_PADDOCK (ESRCH otherwise). */
  async deleteRoute6(spec: Route6Spec): Promise<void> {
    await this.route6Op("delete", spec);
  }

  private async route6Op(op: "add" | "replace" | "append" | "delete", spec: Route6Spec): Promise<void> {
    const fallback = `${op === "delete" ? "RTM_DELROUTE" : "RTM_NEWROUTE"} ${spec.destination}${spec.gateway !== undefined ? ` via ${spec.gateway}` : ""}`;
    const link = spec.link === undefined ? undefined : await this.resolve(spec.link, fallback);
    await this.request(planRoute6(op, link?.index, link?.name, spec), fallback);
  }

  // ---- events ---------------------------------------------------------------------------------

  /**
   * Listens for change events on the groups the transport joined (RTNLGRP_LINK,
   * RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE). Returns the function that stops listening.
   */
  onEvent(listener: (e: RtnetlinkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- plumbing -------------------------------------------------------------------------------

  /** Closes the socket; outstanding requests reject with PADDOCK_E_NETLINK_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new NetlinkError("PADDOCK_E_NETLINK_CLOSED", p.plan.description));
    }
    this.pending.clear();
    this.transport.close();
  }

  /** Resolves a link reference to its index (a name costs one RTM_GETLINK). */
  private async resolve(ref: LinkRef, description: string): Promise<{ index: number; name: string | undefined }> {
    if (typeof ref === "number") {
      if (!Number.isInteger(ref) || ref <= 0 || ref > 0x7fffffff) {
        throw new NetlinkError("PADDOCK_E_NETLINK_INVALID_ARGUMENT", description, {}, `${description}: ifindex ${ref} is not a positive 31-bit integer`);
      }
      return { index: ref, name: undefined };
    }
    const planned = planGetLink(ref);
    if (!planned.ok) throw new NetlinkError("PADDOCK_E_NETLINK_INVALID_ARGUMENT", description, {}, `${description}: ${planned.reason}`);
    try {
      const [m] = await this.send(planned.plan);
      if (m?.kind !== "link") throw new NetlinkError("PADDOCK_E_NETLINK_NOT_FOUND", description, {}, `${description}: no link ${ref}`);
      return { index: m.link.index, name: ref };
    } catch (e) {
      // Report the failure against the caller's request, keeping the lookup's errno and extack.
      if (e instanceof NetlinkError && e.code === "PADDOCK_E_NETLINK_KERNEL") {
        const details: { -readonly [K in keyof NetlinkErrorDetails]: NetlinkErrorDetails[K] } = { cause: e };
        if (e.errno !== undefined) details.errno = e.errno;
        if (e.errnoNumber !== undefined) details.errnoNumber = e.errnoNumber;
        if (e.extackMessage !== undefined) details.extackMessage = e.extackMessage;
        throw new NetlinkError(e.code, description, details);
      }
      throw e;
    }
  }

  /**
   * Sends a planned request and waits for its reply messages. Public so callers can send
   * requests this client has no method for (and tests can send deliberately bad ones).
   */
  async request(planned: Planned, fallbackDescription = "rtnetlink request"): Promise<NetlinkMessage[]> {
    if (!planned.ok) throw new NetlinkError("PADDOCK_E_NETLINK_INVALID_ARGUMENT", fallbackDescription, {}, `${fallbackDescription}: ${planned.reason}`);
    return this.send(planned.plan);
  }

  private send(plan: RequestPlan, attempt = 0): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new NetlinkError("PADDOCK_E_NETLINK_CLOSED", plan.description));
    const seq = this.takeSeq();
    const bytes = encodeRawMessage({ type: plan.type, flags: plan.flags, seq, pid: 0 }, plan.body);
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.get(seq) !== p) return;
        this.abandon(seq, plan.expect);
        reject(new NetlinkError("PADDOCK_E_NETLINK_TIMEOUT", plan.description, {}, `${plan.description}: no reply in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const p: Pending = { seq, plan, messages: [], interrupted: false, timer, resolve, reject };
      this.pending.set(seq, p);
      try {
        this.transport.send(bytes);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(seq);
        reject(this.socketError(plan.description, e));
      }
    }).catch((e: unknown) => {
      if (e instanceof NetlinkError && e.code === "PADDOCK_E_NETLINK_DUMP_INTERRUPTED" && attempt < MAX_DUMP_RETRIES) {
        return this.send(plan, attempt + 1);
      }
      throw e;
    });
  }

  private takeSeq(): number {
    // Skip 0 (what notifications not caused by a request carry) and seqs still in flight.
    for (;;) {
      const s = this.nextSeq;
      this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
      if (!this.pending.has(s) && !this.abandoned.has(s)) return s;
    }
  }

  private abandon(seq: number, expect: RequestPlan["expect"]): void {
    const p = this.pending.get(seq);
    if (p !== undefined) clearTimeout(p.timer);
    this.pending.delete(seq);
    this.abandoned.set(seq, expect);
    if (this.abandoned.size > MAX_ABANDONED_SEQS) {
      const oldest = this.abandoned.keys().next().value;
      if (oldest !== undefined) this.abandoned.delete(oldest);
    }
  }

  private finish(p: Pending, result: { ok: true } | { ok: false; error: NetlinkError }): void {
    clearTimeout(p.timer);
    this.pending.delete(p.seq);
    if (result.ok) p.resolve(p.messages);
    else p.reject(result.error);
  }

  private isOurs(h: NlMsgHdr): boolean {
    return h.pid === 0 || h.pid === this.transport.portId;
  }

  private onDatagram(datagram: Uint8Array): void {
    const split = splitMessages(datagram);
    if (!split.ok) {
      // The framing is broken: if the first header is readable and names a request, fail it.
      const seq = datagram.byteLength >= NLMSG_HDRLEN ? readU32(datagram, 8) : -1;
      const p = this.pending.get(seq);
      if (p !== undefined) this.finish(p, { ok: false, error: this.decodeError(p, split.error) });
      else this.emit({ kind: "decode-error", error: split.error });
      return;
    }
    for (const raw of split.value) {
      const h = raw.header;
      const p = this.isOurs(h) ? this.pending.get(h.seq) : undefined;
      const decoded = decodeMessage(raw);
      if (!decoded.ok) {
        if (p !== undefined && p.plan.expect !== "ack") {
          this.abandon(p.seq, p.plan.expect);
          p.reject(this.decodeError(p, decoded.error));
        } else if (p !== undefined && h.type === NLMSG_ERROR) {
          this.finish(p, { ok: false, error: this.decodeError(p, decoded.error) });
        } else {
          this.emit({ kind: "decode-error", error: decoded.error });
        }
        continue;
      }
      const m = decoded.value;
      if (p !== undefined && this.consume(p, m)) continue;
      const gone = this.isOurs(h) ? this.abandoned.get(h.seq) : undefined;
      if (gone !== undefined && h.seq !== 0) {
        if (m.kind === "error" || m.kind === "done") this.abandoned.delete(h.seq);
        // Late replies to a get or dump are not events; an abandoned ack's notifications are.
        if (gone !== "ack" || m.kind === "error") continue;
      }
      this.dispatchEvent(m);
    }
  }

  /** Offers a message to the pending request with its seq; true if the request took it. */
  private consume(p: Pending, m: NetlinkMessage): boolean {
    if (m.kind === "error") {
      if (m.error === 0) this.finish(p, { ok: true });
      else this.finish(p, { ok: false, error: this.kernelError(p, -m.error, m.extack.message, m.extack.offset) });
      return true;
    }
    if (p.plan.expect === "ack") return false;
    if (p.plan.expect === "get") {
      if (m.kind === "done") {
        this.finish(p, { ok: true });
        return true;
      }
      p.messages.push(m);
      this.finish(p, { ok: true });
      return true;
    }
    // dump
    if (m.kind === "done") {
      if (m.error !== 0) this.finish(p, { ok: false, error: this.kernelError(p, -m.error, m.extack.message, m.extack.offset) });
      else if (p.interrupted) this.finish(p, { ok: false, error: new NetlinkError("PADDOCK_E_NETLINK_DUMP_INTERRUPTED", p.plan.description) });
      else this.finish(p, { ok: true });
      return true;
    }
    if (m.header.flags & NLM_F_DUMP_INTR) p.interrupted = true;
    if (p.messages.length >= MAX_DUMP_MESSAGES) {
      this.abandon(p.seq, "dump");
      p.reject(new NetlinkError("PADDOCK_E_NETLINK_DUMP_TOO_LARGE", p.plan.description, {}, `${p.plan.description}: more than ${MAX_DUMP_MESSAGES} entries`));
      return true;
    }
    p.messages.push(m);
    return true;
  }

  private dispatchEvent(m: NetlinkMessage): void {
    switch (m.kind) {
      case "link": {
        if (m.header.type !== RTM_NEWLINK && m.header.type !== RTM_DELLINK) return;
        const link = linkView(m.link);
        const del = m.header.type === RTM_DELLINK;
        this.emit({ kind: "link", action: del ? "del" : "new", link });
        if (del) {
          this.carrierByIndex.delete(link.index);
        } else if (link.carrier !== undefined) {
          const before = this.carrierByIndex.get(link.index);
          this.carrierByIndex.set(link.index, link.carrier);
          if (before !== undefined && before !== link.carrier) this.emit({ kind: "carrier", link, carrier: link.carrier });
        }
        return;
      }
      case "address":
        if ((m.header.type === RTM_NEWADDR || m.header.type === RTM_DELADDR) && m.address.family === AF_INET) {
          this.emit({ kind: "address", action: m.header.type === RTM_DELADDR ? "del" : "new", address: addressView(m.address) });
        } else if ((m.header.type === RTM_NEWADDR || m.header.type === RTM_DELADDR) && m.address.family === AF_INET6) {
          this.emit({ kind: "address6", action: m.header.type === RTM_DELADDR ? "del" : "new", address: address6View(m.address) });
        }
        return;
      case "route":
        if ((m.header.type === RTM_NEWROUTE || m.header.type === RTM_DELROUTE) && m.route.family === AF_INET) {
          this.emit({ kind: "route", action: m.header.type === RTM_DELROUTE ? "del" : "new", route: routeView(m.route) });
        } else if ((m.header.type === RTM_NEWROUTE || m.header.type === RTM_DELROUTE) && m.route.family === AF_INET6) {
          this.emit({ kind: "route6", action: m.header.type === RTM_DELROUTE ? "del" : "new", route: route6View(m.route) });
        }
        return;
      case "overrun":
        this.emit({ kind: "overrun" });
        return;
      default:
        return;
    }
  }

  private emit(e: RtnetlinkEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A listener's bug must not break reply matching for everyone else.
      }
    }
  }

  private onSocketError(e: Error & { errno?: string | number; errnoNumber?: number }): void {
    const name = typeof e.errno === "string" ? e.errno : e.errnoNumber !== undefined ? errnoName(e.errnoNumber) : undefined;
    if (name === "ENOBUFS") {
      // The kernel dropped messages for us: events and perhaps replies are gone. Replies that were
      // lost surface as timeouts; listeners must resynchronise.
      this.emit({ kind: "overrun" });
      return;
    }
    for (const p of [...this.pending.values()]) this.finish(p, { ok: false, error: this.socketError(p.plan.description, e) });
  }

  private kernelError(p: Pending, errno: number, extackMessage: string | undefined, extackOffset: number | undefined): NetlinkError {
    const details: { -readonly [K in keyof NetlinkErrorDetails]: NetlinkErrorDetails[K] } = { errno: errnoName(errno), errnoNumber: errno };
    if (extackMessage !== undefined) details.extackMessage = extackMessage;
    if (extackOffset !== undefined) {
      details.extackOffset = extackOffset;
      const attribute = attributeAtOffset(p.plan.type, p.plan.body, extackOffset);
      if (attribute !== undefined) details.attribute = attribute;
    }
    return new NetlinkError("PADDOCK_E_NETLINK_KERNEL", p.plan.description, details);
  }

  private decodeError(p: Pending, error: NetlinkDecodeError): NetlinkError {
    return new NetlinkError("PADDOCK_E_NETLINK_DECODE", p.plan.description, { cause: error }, `${p.plan.description}: reply did not decode: ${error.code} at byte ${error.offset}: ${error.message}`);
  }

  private socketError(description: string, e: unknown): NetlinkError {
    const err = e as { errno?: unknown; errnoNumber?: unknown; message?: unknown };
    const details: { -readonly [K in keyof NetlinkErrorDetails]: NetlinkErrorDetails[K] } = { cause: e };
    if (typeof err.errno === "string") details.errno = err.errno;
    if (typeof err.errnoNumber === "number") details.errnoNumber = err.errnoNumber;
    const code: NetlinkErrorCode = "PADDOCK_E_NETLINK_SOCKET";
    return new NetlinkError(code, description, details, `${description}: ${code}: ${typeof err.message === "string" ? err.message : String(e)}`);
  }
}
