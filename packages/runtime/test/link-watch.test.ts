// Unit tests of LinkWatch (issue 13 A1) over a fake rtnetlink client: waiting for an interface
// that does not exist (also when it appears while the priv lists the others), setting a down one
// up (or not), and the order of changed / gone / appeared, each handled before the next, with a
// netlink overrun answered by looking again. The real kernel's side is test/link-lifecycle.test.ts.
// No root needed.
import { describe, expect, it } from "vitest";
import { NetlinkError, type Link, type RtnetlinkClient, type RtnetlinkEvent } from "@paddock/netlink";
import { LinkWaitAborted, LinkWatch, type LinkState } from "../src/link-watch.ts";

function link(index: number, name: string, s: { up?: boolean; carrier?: boolean; mtu?: number; mac?: string } = {}): Link {
  const up = s.up ?? true;
  const carrier = s.carrier ?? up;
  return { index, name, mtu: s.mtu ?? 1500, mac: (s.mac ?? "02:00:00:00:00:01") as Link["mac"], up, running: up && carrier, lowerUp: carrier, carrier, operState: carrier ? "up" : "down", message: {} as Link["message"] };
}

/** A kernel of links by name, with the calls the watch makes recorded. */
class FakeNetlink {
  readonly links = new Map<string, Link>();
  readonly upCalls: number[] = [];
  private listener: ((e: RtnetlinkEvent) => void) | undefined;
  /** Runs while listLinks answers (an interface appearing between the first look and the wait). */
  duringList: (() => void) | undefined;

  onEvent(l: (e: RtnetlinkEvent) => void): () => void {
    this.listener = l;
    return () => (this.listener = undefined);
  }
  async getLink(name: string): Promise<Link> {
    const l = this.links.get(name);
    if (!l) throw new NetlinkError("PADDOCK_E_NETLINK_KERNEL", "RTM_GETLINK", { errno: "ENODEV" } as never, "no such device");
    return l;
  }
  async listLinks(): Promise<Link[]> {
    this.duringList?.();
    return [...this.links.values()];
  }
  async setLinkUp(index: number, up: boolean): Promise<void> {
    this.upCalls.push(index);
    const l = [...this.links.values()].find((x) => x.index === index);
    if (l) this.deliver("new", { ...l, up });
  }
  /** The kernel changes a link and says so. */
  deliver(action: "new" | "del", l: Link): void {
    if (action === "new") this.links.set(l.name, l);
    else this.links.delete(l.name);
    this.listener?.({ kind: "link", action, link: l });
  }
  overrun(): void {
    this.listener?.({ kind: "overrun" });
  }
  get client(): RtnetlinkClient {
    return this as unknown as RtnetlinkClient;
  }
}

function recorder() {
  const lines: Array<{ level: string; msg: string }> = [];
  const log = {
    info: (_o: object, msg?: string) => void lines.push({ level: "info", msg: msg ?? "" }),
    warn: (_o: object, msg?: string) => void lines.push({ level: "warn", msg: msg ?? "" }),
    debug: (_o: object, msg?: string) => void lines.push({ level: "debug", msg: msg ?? "" }),
  };
  return { lines, log };
}

/** Events as the host sees them, each taking a turn of the event loop (so overlap would show). */
function host() {
  const seen: string[] = [];
  let busy = false;
  const step = async (what: string) => {
    expect(busy, `${what} began while another event was being handled`).toBe(false);
    busy = true;
    seen.push(what);
    await new Promise((r) => setImmediate(r));
    busy = false;
  };
  return {
    seen,
    events: {
      changed: (s: LinkState, cameBack: boolean) => step(`changed up=${s.up} carrier=${s.carrier} mtu=${s.mtu}${cameBack ? " cameBack" : ""}`),
      gone: () => step("gone"),
      appeared: (l: Link) => step(`appeared #${l.index}`),
    },
  };
}

/** A watch on eth1 (index 4, up), started with a recording host. */
async function watching(): Promise<{ nl: FakeNetlink; w: LinkWatch; h: ReturnType<typeof host> }> {
  const nl = new FakeNetlink();
  nl.links.set("eth1", link(4, "eth1"));
  const w = new LinkWatch({ netlink: nl.client, iface: "eth1", log: recorder().log });
  await w.waitForLink();
  const h = host();
  w.start(h.events);
  return { nl, w, h };
}

describe("LinkWatch", () => {
  it("returns an interface that is up as it is, and sets nothing up", async () => {
    const nl = new FakeNetlink();
    nl.links.set("eth1", link(4, "eth1"));
    const { log, lines } = recorder();
    const w = new LinkWatch({ netlink: nl.client, iface: "eth1", log });
    expect((await w.waitForLink()).index).toBe(4);
    expect(nl.upCalls).toEqual([]);
    expect(lines).toEqual([]);
  });

  it("sets a down interface up and says so; with bringUp false it leaves it down", async () => {
    const nl = new FakeNetlink();
    nl.links.set("eth1", link(4, "eth1", { up: false }));
    const { log, lines } = recorder();
    await new LinkWatch({ netlink: nl.client, iface: "eth1", log, bringUp: false }).waitForLink();
    expect(nl.upCalls).toEqual([]);
    const w = new LinkWatch({ netlink: nl.client, iface: "eth1", log });
    await w.waitForLink();
    expect(nl.upCalls).toEqual([4]);
    expect(lines.map((l) => l.msg)).toEqual(["eth1 was down: set it up"]);
    // The kernel's RTM_NEWLINK for the change is a state change for the host.
    const h = host();
    w.start(h.events);
    await w.settled();
    expect(h.seen).toEqual(["changed up=true carrier=false mtu=1500"]);
  });

  it("waits for an absent interface with one warning naming the others, then sets it up", async () => {
    const nl = new FakeNetlink();
    nl.links.set("lo", link(1, "lo"));
    nl.links.set("eth0", link(2, "eth0"));
    const { log, lines } = recorder();
    const w = new LinkWatch({ netlink: nl.client, iface: "eth1", log });
    const found = w.waitForLink();
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([{ level: "warn", msg: "waiting for eth1 to appear (interfaces now: lo, eth0)" }]);
    nl.deliver("new", link(2, "eth2")); // another name: not ours
    nl.deliver("new", link(7, "eth1", { up: false }));
    expect((await found).index).toBe(7);
    expect(nl.upCalls).toEqual([7]);
    expect(lines.map((l) => l.msg)).toEqual(["waiting for eth1 to appear (interfaces now: lo, eth0)", "eth1 appeared", "eth1 was down: set it up"]);
  });

  it("gives the wait up when aborted, also while its onWaiting step still runs", async () => {
    const nl = new FakeNetlink();
    const { log } = recorder();
    const stop = new AbortController();
    let waitingRan = false;
    const found = new LinkWatch({ netlink: nl.client, iface: "eth1", log }).waitForLink(stop.signal, async () => {
      stop.abort(); // SIGTERM while the early calf is being discarded
      await new Promise((r) => setImmediate(r));
      waitingRan = true;
    });
    await expect(found).rejects.toBeInstanceOf(LinkWaitAborted);
    expect(waitingRan).toBe(true);
  });

  it("does not miss an interface that appears between the first look and the wait", async () => {
    const nl = new FakeNetlink();
    const { log } = recorder();
    nl.duringList = () => nl.deliver("new", link(9, "eth1"));
    const w = new LinkWatch({ netlink: nl.client, iface: "eth1", log });
    expect((await w.waitForLink()).index).toBe(9);
  });

  it("reports carrier changes, deletion and re-creation in order, each handled before the next", async () => {
    const { nl, w, h } = await watching();
    nl.deliver("new", link(4, "eth1", { carrier: false }));
    nl.deliver("new", link(4, "eth1", { carrier: false })); // no change: nothing
    nl.deliver("new", link(5, "eth9")); // another interface: nothing
    nl.deliver("new", link(4, "eth1", { carrier: true }));
    nl.deliver("new", link(4, "eth1", { carrier: true, mtu: 1400 }));
    nl.deliver("del", link(4, "eth1"));
    nl.deliver("new", link(8, "eth1", { up: false }));
    await w.settled();
    await w.settled(); // the set-up's own event was queued behind the rest
    expect(h.seen).toEqual([
      "changed up=true carrier=false mtu=1500",
      "changed up=true carrier=true mtu=1500 cameBack",
      "changed up=true carrier=true mtu=1400",
      "gone",
      "appeared #8",
      "changed up=true carrier=false mtu=1500",
    ]);
    expect(nl.upCalls).toEqual([8]);
    expect(w.currentIndex).toBe(8);
  });

  it("treats a rename away as gone and a rename to the name as appeared", async () => {
    const { nl, w, h } = await watching();
    nl.links.delete("eth1");
    nl.deliver("new", link(4, "old1"));
    nl.deliver("new", link(6, "eth1"));
    await w.settled();
    expect(h.seen).toEqual(["gone", "appeared #6"]);
  });

  it("after a netlink overrun, looks again: a new index is gone + appeared, an absent interface is gone", async () => {
    const { nl, w, h } = await watching();
    nl.links.set("eth1", link(11, "eth1")); // deleted and re-created while notifications were lost
    nl.overrun();
    await w.settled();
    nl.links.delete("eth1");
    nl.overrun();
    await w.settled();
    expect(h.seen).toEqual(["gone", "appeared #11", "gone"]);
    expect(w.currentIndex).toBeUndefined();
  });

  it("delivers nothing after close", async () => {
    const { nl, w, h } = await watching();
    w.close();
    nl.deliver("del", link(4, "eth1"));
    await w.settled();
    expect(h.seen).toEqual([]);
  });
});
