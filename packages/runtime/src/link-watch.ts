/**
 * The interface's life as the host sees it, from rtnetlink link notifications: whether it exists,
 * its index, and its state (administratively up, carrier, MTU).
 *
 *   - At start, `waitForLink()` returns the interface, waiting for it (one log line) if it does not
 *     exist yet, as dhcpcd and systemd-networkd do.
 *   - When the interface exists and is administratively down — at start, and each time it
 *     (re)appears — it is set up (one log line), unless the host was told not to (`bringUp: false`).
 *     An administrator who sets it down while it runs is obeyed: that is a carrier loss, not a
 *     reason to fight.
 *   - Afterwards, events go to the host's callbacks strictly one at a time, each awaited:
 *     `changed` (same index; up, carrier or MTU differ), `gone` (deleted, or renamed away), and
 *     `appeared` (an interface with the name, under a new index: re-created, or renamed to it).
 *
 * Events are subscribed before the first look, so an interface that appears between the look and
 * the wait is not missed; a netlink overrun (lost notifications) is answered by looking again.
 */
import { NetlinkError, type Link, type RtnetlinkClient, type RtnetlinkEvent } from "@paddock/netlink";

/** What a service's calf and hooks are told about the link. */
export interface LinkState {
  readonly up: boolean;
  readonly carrier: boolean;
  readonly mtu: number;
}

/** The host's side of the watch: each call is awaited before the next event is handled. */
export interface LinkWatchEvents {
  /** Same interface, new state; `cameBack`: usable (up with carrier) again after it was not. */
  changed(state: LinkState, cameBack: boolean): void | Promise<void>;
  /** The interface was deleted (or renamed away): its index is dead. */
  gone(): void | Promise<void>;
  /** An interface with the name exists again, under a new index (already set up unless told not to). */
  appeared(link: Link): void | Promise<void>;
}

/** Minimal logger (pino-compatible). */
export interface LinkWatchLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface LinkWatchOptions {
  readonly netlink: RtnetlinkClient;
  readonly iface: string;
  readonly log: LinkWatchLogger;
  /** Set an administratively down interface up at start and whenever it (re)appears (default true). */
  readonly bringUp?: boolean;
}

/** A link's state as the calf sees it: carrier from IFLA_CARRIER, or IFF_LOWER_UP where absent. */
export function linkState(link: Link, previousMtu = 1500): LinkState {
  return { up: link.up, carrier: link.carrier ?? link.lowerUp, mtu: link.mtu ?? previousMtu };
}

const usable = (s: LinkState): boolean => s.up && s.carrier;

function isNoSuchLink(err: unknown): boolean {
  return err instanceof NetlinkError && (err.errno === "ENODEV" || err.code === "PADDOCK_E_NETLINK_NOT_FOUND");
}

/** The wait for an absent interface was given up (the priv is stopping). */
export class LinkWaitAborted extends Error {
  override readonly name = "LinkWaitAborted";
  constructor(readonly iface: string) {
    super(`stopped while waiting for ${iface} to appear`);
  }
}

export class LinkWatch {
  /** The interface's index while it exists. */
  private index: number | undefined;
  private state: LinkState | undefined;
  private events: LinkWatchEvents | undefined;
  /** Events received before `start()` (while the host sets up), replayed by it. */
  private early: RtnetlinkEvent[] = [];
  private queue: Promise<void> = Promise.resolve();
  private appearedWaiter: ((link: Link) => void) | undefined;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: LinkWatchOptions) {
    this.unsubscribe = opts.netlink.onEvent((e) => {
      if (this.closed) return;
      if (this.appearedWaiter && e.kind === "link" && e.action === "new" && e.link.name === opts.iface) {
        this.appearedWaiter(e.link);
        this.appearedWaiter = undefined;
        return;
      }
      if (this.events) this.enqueue(() => this.handle(e));
      else this.early.push(e);
    });
  }

  /** The interface's current index, or undefined while it is gone. */
  get currentIndex(): number | undefined {
    return this.index;
  }

  /** The last state seen (undefined while the interface is gone). */
  get current(): LinkState | undefined {
    return this.state;
  }

  /**
   * Returns the interface, set up if it was down; if it does not exist, logs one line (naming the
   * interfaces that do, so a typo is plain) and waits for it to appear, however long that takes,
   * or until `abort` fires (LinkWaitAborted). `onWaiting` runs once when the wait begins.
   */
  async waitForLink(abort?: AbortSignal, onWaiting?: () => void | Promise<void>): Promise<Link> {
    const { netlink, iface, log } = this.opts;
    let link: Link | undefined;
    try {
      link = await netlink.getLink(iface);
    } catch (err) {
      if (!isNoSuchLink(err)) throw err;
    }
    if (link === undefined) {
      const present = await netlink.listLinks().then((ls) => ls.map((l) => l.name).filter((n) => n !== ""), () => []);
      const appeared = new Promise<Link>((resolve, reject) => {
        this.appearedWaiter = resolve;
        if (abort?.aborted) reject(new LinkWaitAborted(iface));
        abort?.addEventListener("abort", () => reject(new LinkWaitAborted(iface)), { once: true });
      });
      // An RTM_NEWLINK that came between the look and now is in `early`.
      const seen = this.early.find((e) => e.kind === "link" && e.action === "new" && e.link.name === iface);
      this.early = [];
      if (seen?.kind === "link") {
        this.appearedWaiter?.(seen.link);
        this.appearedWaiter = undefined;
      }
      // Awaited below; an abort while onWaiting runs must not be an unhandled rejection meanwhile.
      appeared.catch(() => {});
      log.warn({ present }, `waiting for ${iface} to appear (interfaces now: ${present.join(", ") || "none"})`);
      await onWaiting?.();
      link = await appeared;
      log.info({ index: link.index }, `${iface} appeared`);
    }
    return this.adopt(link);
  }

  /** Starts delivering events (those that came since `waitForLink` are handled first). */
  start(events: LinkWatchEvents): void {
    this.events = events;
    const early = this.early;
    this.early = [];
    for (const e of early) this.enqueue(() => this.handle(e));
  }

  /** Resolves when every event received so far has been handled (for stop and tests). */
  settled(): Promise<void> {
    return this.queue;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
  }

  /** Takes `link` as the interface: remembers its index and state, and sets it up if it is down. */
  private async adopt(link: Link): Promise<Link> {
    const { netlink, iface, log } = this.opts;
    this.index = link.index;
    this.state = linkState(link);
    if (link.up || this.opts.bringUp === false) return link;
    try {
      await netlink.setLinkUp(link.index, true);
      log.info({ index: link.index }, `${iface} was down: set it up`);
      // The state stays "down" here: the kernel's RTM_NEWLINK reports the change (and the carrier).
    } catch (err) {
      if (isNoSuchLink(err)) return link; // Gone again already: the events say so next.
      log.warn({ err: (err as Error).message }, `could not set ${iface} up`);
    }
    return link;
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: unknown) => {
      this.opts.log.warn({ err: (err as Error).message }, `handling a link event of ${this.opts.iface} failed`);
    });
  }

  private async handle(e: RtnetlinkEvent): Promise<void> {
    if (this.closed || !this.events) return;
    const { iface } = this.opts;
    if (e.kind === "overrun") {
      // Notifications were lost: look again, and act on the difference.
      let link: Link | undefined;
      try {
        link = await this.opts.netlink.getLink(iface);
      } catch (err) {
        if (!isNoSuchLink(err)) throw err;
      }
      if (link === undefined) {
        if (this.index !== undefined) await this.lose();
      } else {
        await this.onLink(link);
      }
      return;
    }
    if (e.kind !== "link") return;
    const l = e.link;
    if (e.action === "del") {
      if (l.index === this.index) await this.lose();
      return;
    }
    if (l.index === this.index && l.name !== iface) {
      await this.lose(); // renamed away
      return;
    }
    if (l.name === iface) await this.onLink(l);
  }

  private async onLink(l: Link): Promise<void> {
    if (l.index !== this.index) {
      if (this.index !== undefined) await this.lose(); // a new index without a deletion seen (overrun)
      const link = await this.adopt(l);
      await this.events!.appeared(link);
      return;
    }
    const before = this.state!;
    const next = linkState(l, before.mtu);
    if (next.up === before.up && next.carrier === before.carrier && next.mtu === before.mtu) return;
    this.state = next;
    await this.events!.changed(next, usable(next) && !usable(before));
  }

  private async lose(): Promise<void> {
    this.index = undefined;
    this.state = undefined;
    await this.events!.gone();
  }
}
