// Client tests over an in-memory fake kernel: reply matching by seq and port, dumps across
// datagrams, NLM_F_DUMP_INTR retries, timeouts and late replies, typed errors with extack,
// socket errors, close, and events (including notifications carrying our own seq).

import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AF_INET,
  IFF_UP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  RTM_DELADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTPROT_PADDOCK,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  NetlinkError,
  RtnetlinkClient,
  decodeDatagram,
  encodeMessage,
} from "../src/index.ts";
import type { IfName, Ipv4Address, NetlinkMessage, NetlinkTransport, NlMsgHdr, RtnetlinkEvent } from "../src/index.ts";

const PORT = 4242;

/** A transport whose kernel is a function of each request. */
class FakeKernel implements NetlinkTransport {
  readonly portId = PORT;
  readonly sent: NetlinkMessage[] = [];
  closed = false;
  private onMsg: ((d: Uint8Array) => void) | undefined;
  private onErr: ((e: Error & { errno?: string }) => void) | undefined;
  constructor(private readonly reply: (req: NetlinkMessage, k: FakeKernel) => void = () => {}) {}
  send(msg: Uint8Array): void {
    const d = decodeDatagram(msg);
    if (!d.ok || d.value.length !== 1) throw new Error("client sent an undecodable request");
    this.sent.push(d.value[0]!);
    this.reply(d.value[0]!, this);
  }
  onMessage(cb: (d: Uint8Array) => void): void {
    this.onMsg = cb;
  }
  onError(cb: (e: Error & { errno?: string }) => void): void {
    this.onErr = cb;
  }
  close(): void {
    this.closed = true;
  }
  /** Delivers messages as one datagram, asynchronously like a socket. */
  deliver(...ms: NetlinkMessage[]): void {
    const parts = ms.map((m) => encodeMessage(m));
    const all = Buffer.concat(parts);
    queueMicrotask(() => this.onMsg?.(all));
  }
  deliverRaw(b: Uint8Array): void {
    queueMicrotask(() => this.onMsg?.(b));
  }
  fail(e: Error & { errno?: string }): void {
    this.onErr?.(e);
  }
}

const hdr = (type: number, seq: number, flags = 0, pid = PORT): NlMsgHdr => ({ length: 0, type, flags, seq, pid });
const ack = (req: NetlinkMessage, error = 0, message?: string, offset?: number): NetlinkMessage => ({
  kind: "error",
  header: hdr(NLMSG_ERROR, req.header.seq),
  error,
  request: { ...req.header },
  extack: { ...(message !== undefined ? { message } : {}), ...(offset !== undefined ? { offset } : {}), unknown: [] },
});
const done = (seq: number, error = 0): NetlinkMessage => ({ kind: "done", header: hdr(NLMSG_DONE, seq, NLM_F_MULTI), error, extack: { unknown: [] } });
const link = (seq: number, index: number, name: string, extra: { flags?: number; carrier?: boolean; type?: number; hflags?: number } = {}): NetlinkMessage => ({
  kind: "link",
  header: hdr(extra.type ?? RTM_NEWLINK, seq, extra.hflags ?? 0, seq === 0 ? 0 : PORT),
  link: { family: 0, ifType: 1, index, flags: extra.flags ?? 0, change: 0, name: name as IfName, mtu: 1500, ...(extra.carrier !== undefined ? { carrier: extra.carrier } : {}), unknown: [] },
});

/** A kernel that knows links eth0 (#2) and veth0 (#5) and acks everything else. */
function simpleKernel(req: NetlinkMessage, k: FakeKernel): void {
  if (req.kind === "link" && req.header.type === RTM_GETLINK) {
    const name = req.link.name;
    const idx = name === "veth0" || req.link.index === 5 ? 5 : name === "eth0" || req.link.index === 2 ? 2 : 0;
    if (idx === 0) k.deliver(ack(req, -19, "no such device"));
    else k.deliver(link(req.header.seq, idx, idx === 5 ? "veth0" : "eth0"));
    return;
  }
  k.deliver(ack(req));
}

afterEach(() => {
  vi.useRealTimers();
});


/**
 * Resolves once every queued microtask has run (the fake kernel delivers in microtasks, and the
 * client's handling chains more): an order, not a time, so a loaded machine cannot break it.
 */
const drained = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("requests and acks", () => {
  it("resolves a name, sends RTM_NEWADDR with the right index and resolves on the ack", async () => {
    const k = new FakeKernel(simpleKernel);
    const c = new RtnetlinkClient(k);
    await c.addAddress({ link: "veth0", address: "10.0.0.5/24", validLifetime: 60 });
    expect(k.sent.map((m) => m.header.type)).toEqual([RTM_GETLINK, RTM_NEWADDR]);
    const req = k.sent[1]!;
    expect(req.kind === "address" && [req.address.index, req.address.local, req.address.cacheInfo?.valid]).toEqual([5, "10.0.0.5", 60]);
    expect(new Set(k.sent.map((m) => m.header.seq)).size).toBe(2);
  });

  it("turns a kernel error into a NetlinkError with errno, extack text and the attribute", async () => {
    const k = new FakeKernel((req, kk) => {
      if (req.header.type === RTM_GETLINK) return simpleKernel(req, kk);
      // 16 + 16 (ifinfomsg) = 32: the IFLA_MTU attribute of our request.
      kk.deliver(ack(req, -22, "mtu greater than device maximum", 32));
    });
    const c = new RtnetlinkClient(k);
    const err = await c.setLinkMtu("veth0", 70000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({
      code: "PADDOCK_E_NETLINK_KERNEL",
      errno: "EINVAL",
      errnoNumber: 22,
      extackMessage: "mtu greater than device maximum",
      extackOffset: 32,
      attribute: "IFLA_MTU",
      request: "RTM_NEWLINK dev veth0 mtu 70000",
    });
    expect((err as Error).message).toContain("mtu greater than device maximum");
  });

  it("reports a missing link against the caller's request, keeping ENODEV", async () => {
    const c = new RtnetlinkClient(new FakeKernel(simpleKernel));
    await expect(c.addAddress({ link: "nope0", address: "10.0.0.5/24" })).rejects.toMatchObject({
      code: "PADDOCK_E_NETLINK_KERNEL",
      errno: "ENODEV",
      request: "RTM_NEWADDR 10.0.0.5/24 dev nope0",
    });
  });

  it("rejects bad arguments before sending anything", async () => {
    const k = new FakeKernel(simpleKernel);
    const c = new RtnetlinkClient(k);
    await expect(c.addAddress({ link: 5, address: "10.0.0.300/24" })).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_INVALID_ARGUMENT" });
    await expect(c.addRoute({ destination: "default", gateway: "x" })).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_INVALID_ARGUMENT" });
    await expect(c.setLinkUp(-1, true)).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_INVALID_ARGUMENT" });
    await expect(c.getLink("has space")).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_INVALID_ARGUMENT" });
    expect(k.sent).toHaveLength(0);
  });

  it("ignores replies for other seqs and other ports", async () => {
    let reqSeq = -1;
    const k = new FakeKernel((req) => {
      reqSeq = req.header.seq;
    });
    const c = new RtnetlinkClient(k);
    const p = c.setLinkUp(5, true);
    await Promise.resolve();
    const req = k.sent[0]!;
    let settled = false;
    void p.then(() => (settled = true), () => (settled = true));
    k.deliver({ ...ack(req, -1), header: hdr(NLMSG_ERROR, reqSeq + 1) });
    k.deliver({ ...ack(req, -1), header: hdr(NLMSG_ERROR, reqSeq, 0, PORT + 1) });
    await drained();
    expect(settled).toBe(false);
    k.deliver(ack(req));
    await p;
    expect(req.kind === "link" && [req.link.flags, req.link.change]).toEqual([IFF_UP, IFF_UP]);
  });

  it("fails with PADDOCK_E_NETLINK_SOCKET when send throws, keeping errno", async () => {
    const k = new FakeKernel(() => {
      throw Object.assign(new Error("sendmsg: EPERM"), { errno: "EPERM", errnoNumber: 1 });
    });
    const c = new RtnetlinkClient(k);
    await expect(c.setLinkUp(5, false)).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_SOCKET", errno: "EPERM", errnoNumber: 1 });
  });

  it("fails with PADDOCK_E_NETLINK_DECODE when a reply is malformed", async () => {
    const k = new FakeKernel((req, kk) => {
      const b = encodeMessage(ack(req));
      kk.deliverRaw(b.subarray(0, 30)); // nlmsg_len says 36
    });
    const c = new RtnetlinkClient(k);
    await expect(c.setLinkUp(5, true)).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_DECODE" });
  });
});

describe("dumps", () => {
  it("collects a dump across datagrams until NLMSG_DONE", async () => {
    const k = new FakeKernel((req, kk) => {
      const s = req.header.seq;
      kk.deliver(link(s, 1, "lo", { hflags: NLM_F_MULTI }), link(s, 2, "eth0", { hflags: NLM_F_MULTI }));
      setTimeout(() => kk.deliver(link(s, 5, "veth0", { hflags: NLM_F_MULTI, flags: IFF_UP }), done(s)), 2);
    });
    const c = new RtnetlinkClient(k);
    const links = await c.listLinks();
    expect(links.map((l) => [l.index, l.name, l.up])).toEqual([[1, "lo", false], [2, "eth0", false], [5, "veth0", true]]);
  });

  it("filters routes by table and protocol", async () => {
    const route = (s: number, dst: string, len: number, table: number, protocol: number): NetlinkMessage => ({
      kind: "route",
      header: hdr(RTM_NEWROUTE, s, NLM_F_MULTI),
      route: { family: AF_INET, dstLength: len, srcLength: 0, tos: 0, table, protocol, scope: 0, type: 1, flags: 0, tableId: table, destination: dst as Ipv4Address, oif: 5, unknown: [] },
    });
    const k = new FakeKernel((req, kk) => {
      const s = req.header.seq;
      kk.deliver(route(s, "0.0.0.0", 0, RT_TABLE_MAIN, RTPROT_PADDOCK), route(s, "10.0.0.0", 24, RT_TABLE_MAIN, 2), route(s, "10.0.0.5", 32, RT_TABLE_LOCAL, 2), done(s));
    });
    const c = new RtnetlinkClient(k);
    expect((await c.listRoutes()).map((r) => r.cidr)).toEqual(["default", "10.0.0.0/24"]);
    expect((await c.listRoutes({ protocol: RTPROT_PADDOCK })).map((r) => r.cidr)).toEqual(["default"]);
    expect((await c.listRoutes({ table: "all" })).map((r) => r.cidr)).toEqual(["default", "10.0.0.0/24", "10.0.0.5/32"]);
  });

  it("restarts a dump flagged NLM_F_DUMP_INTR, and gives up after MAX_DUMP_RETRIES", async () => {
    let n = 0;
    const k = new FakeKernel((req, kk) => {
      const s = req.header.seq;
      n++;
      kk.deliver(link(s, 1, "lo", { hflags: NLM_F_MULTI | (n === 1 ? NLM_F_DUMP_INTR : 0) }), done(s));
    });
    const c = new RtnetlinkClient(k);
    expect((await c.listLinks()).map((l) => l.name)).toEqual(["lo"]);
    expect(n).toBe(2);

    const always = new FakeKernel((req, kk) => kk.deliver(link(req.header.seq, 1, "lo", { hflags: NLM_F_MULTI | NLM_F_DUMP_INTR }), done(req.header.seq)));
    const c2 = new RtnetlinkClient(always);
    await expect(c2.listLinks()).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_DUMP_INTERRUPTED" });
    expect(always.sent).toHaveLength(4);
  });

  it("reports an error in NLMSG_DONE", async () => {
    const k = new FakeKernel((req, kk) => kk.deliver(done(req.header.seq, -16)));
    await expect(new RtnetlinkClient(k).listAddresses()).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_KERNEL", errno: "EBUSY" });
  });
});

describe("timeouts and close", () => {
  it("times out, then drops the late reply instead of reporting it as an event", async () => {
    vi.useFakeTimers();
    const k = new FakeKernel();
    const c = new RtnetlinkClient(k, { timeoutMs: 100 });
    const events: RtnetlinkEvent[] = [];
    c.onEvent((e) => events.push(e));
    const p = c.listLinks().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(150);
    expect(await p).toMatchObject({ code: "PADDOCK_E_NETLINK_TIMEOUT", request: "RTM_GETLINK dump" });
    const s = k.sent[0]!.header.seq;
    k.deliver(link(s, 1, "lo", { hflags: NLM_F_MULTI }), done(s));
    await vi.advanceTimersByTimeAsync(1);
    expect(events).toEqual([]);
  });

  it("rejects outstanding and later requests with PADDOCK_E_NETLINK_CLOSED and closes the socket", async () => {
    const k = new FakeKernel();
    const c = new RtnetlinkClient(k);
    const p = c.setLinkUp(5, true);
    c.close();
    await expect(p).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_CLOSED" });
    await expect(c.listLinks()).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_CLOSED" });
    expect(k.closed).toBe(true);
  });

  it("fails pending requests on a socket error other than ENOBUFS", async () => {
    const k = new FakeKernel();
    const c = new RtnetlinkClient(k);
    const p = c.setLinkUp(5, true);
    await vi.waitFor(() => expect(k.sent).toHaveLength(1));
    k.fail(Object.assign(new Error("recvmsg: EBADF"), { errno: "EBADF" }));
    await expect(p).rejects.toMatchObject({ code: "PADDOCK_E_NETLINK_SOCKET", errno: "EBADF" });
  });
});

describe("events", () => {
  it("types link, carrier, address and route events", async () => {
    const k = new FakeKernel();
    const c = new RtnetlinkClient(k);
    const events: RtnetlinkEvent[] = [];
    const stop = c.onEvent((e) => events.push(e));
    k.deliver(link(0, 5, "veth0", { carrier: false }));
    k.deliver(link(0, 5, "veth0", { carrier: true, flags: IFF_UP }));
    k.deliver({
      kind: "address",
      header: hdr(RTM_DELADDR, 0, 0, 0),
      address: { family: AF_INET, prefixLength: 24, flags: 0, scope: 0, index: 5, local: "10.0.0.5" as Ipv4Address, address: "10.0.0.5" as Ipv4Address, unknown: [] },
    });
    k.deliver({
      kind: "route",
      header: hdr(RTM_NEWROUTE, 0, 0, 0),
      route: { family: AF_INET, dstLength: 0, srcLength: 0, tos: 0, table: 254, protocol: RTPROT_PADDOCK, scope: 0, type: 1, flags: 0, gateway: "10.0.0.1" as Ipv4Address, unknown: [] },
    });
    await drained();
    expect(events.map((e) => e.kind)).toEqual(["link", "link", "carrier", "address", "route"]);
    expect(events[2]).toMatchObject({ kind: "carrier", carrier: true, link: { name: "veth0", up: true } });
    expect(events[3]).toMatchObject({ kind: "address", action: "del", address: { cidr: "10.0.0.5/24", index: 5 } });
    expect(events[4]).toMatchObject({ kind: "route", action: "new", route: { cidr: "default", gateway: "10.0.0.1" } });
    stop();
    k.deliver(link(0, 5, "veth0"));
    await drained();
    expect(events).toHaveLength(5);
  });

  it("delivers the notification that carries our own seq as an event, and still matches the ack", async () => {
    const k = new FakeKernel((req, kk) => {
      if (req.kind !== "address") return;
      // The kernel multicasts RTM_NEWADDR with the requester's seq and port, then acks.
      kk.deliver({ kind: "address", header: hdr(RTM_NEWADDR, req.header.seq), address: req.address }, ack(req));
    });
    const c = new RtnetlinkClient(k);
    const events: RtnetlinkEvent[] = [];
    c.onEvent((e) => events.push(e));
    await c.addAddress({ link: 5, address: "10.0.0.5/24" });
    await drained();
    expect(events).toMatchObject([{ kind: "address", action: "new", address: { cidr: "10.0.0.5/24" } }]);
  });

  it("reports ENOBUFS as an overrun event, and bad input as a decode-error event", async () => {
    const k = new FakeKernel();
    const c = new RtnetlinkClient(k);
    const events: RtnetlinkEvent[] = [];
    c.onEvent((e) => events.push(e));
    c.onEvent(() => {
      throw new Error("a buggy listener must not break the others");
    });
    k.fail(Object.assign(new Error("recvmsg: ENOBUFS"), { errno: "ENOBUFS" }));
    k.deliverRaw(Uint8Array.of(1, 2, 3));
    await drained();
    expect(events.map((e) => e.kind)).toEqual(["overrun", "decode-error"]);
  });
});
