import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  ACCEPT_ALL_FILTER,
  compileSocketFilter,
  DHCP_CLIENT_FILTER,
  DROP_ALL_FILTER,
  EGRESS_PROGRAM_NAME,
  EbpfSocketFilter,
  EgressPolicy,
  ETH_P_ALL,
  NativeError,
  addonForTests,
  openPacketSocket,
  openUdpSocket,
  removeEgressLeftovers,
  type PacketSocket,
  type UdpSocket,
} from "./native-under-test.ts";
import { frameKit, mac, xidOf } from "./frames.ts";
import { canRunAsRoot, createNetns, createVethPair, inNetns, removeAllNetns, skipReason, waitFor, type VethPair } from "./netns.ts";

const sockets: (PacketSocket | UdpSocket)[] = [];
const cleanups: (() => void)[] = [];
function track<T extends PacketSocket | UdpSocket>(s: T): T {
  sockets.push(s);
  return s;
}

afterAll(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const c of cleanups.splice(0)) {
    try {
      c();
    } catch {
      // Best effort: the namespaces are deleted next, which removes what is left.
    }
  }
  removeAllNetns();
});

/** Frames the DHCP client must never see (all sendable: at least an Ethernet header). */
function unwantedFrames(kit: ReturnType<typeof frameKit>): [string, Uint8Array][] {
  return [
    ["UDP to 67", kit.udp(68, 67)],
    ["UDP to 53", kit.udp(5353, 53)],
    ["UDP to 123", kit.udp(123, 123)],
    ["UDP to 17408", kit.udp(67, 0x4400)],
    ["TCP to 68", kit.tcp(67, 68)],
    ["TCP to 67", kit.tcp(68, 67)],
    ["ICMP echo", kit.icmpEcho()],
    ["ARP request", kit.arpRequest()],
    ["IPv6 UDP to 68", kit.ipv6Udp(68)],
    ["IPv6 UDP to 546", kit.ipv6Udp(546)],
    ["first fragment to 68", kit.firstFragmentTo68()],
    ["later fragment to 68", kit.laterFragmentTo68()],
  ];
}

const MARKER_XID = 0xfeedf00d;
const NS_PER_MS = 1_000_000n;

describe.skipIf(!canRunAsRoot)(`packet sockets in network namespaces (${skipReason})`, () => {
  let pair: VethPair;
  let sender: PacketSocket;
  let kit: ReturnType<typeof frameKit>;

  beforeAll(() => {
    pair = createVethPair();
    kit = frameKit(mac(pair.macB));
    // The peer's send-only socket: the drop-all filter means it receives nothing.
    sender = track(openPacketSocket({ ifname: pair.ifB, netnsPath: pair.pathB, protocol: ETH_P_ALL, filter: DROP_ALL_FILTER.bytes }));
  });

  for (const variant of ["classic", "ebpf"] as const) {
    it(`${variant} filter: only DHCP to port 68 reaches user space, with kernel timestamps`, async () => {
      const ebpf = variant === "ebpf" ? EbpfSocketFilter.loadDhcp() : undefined;
      if (ebpf !== undefined) cleanups.push(() => ebpf.close());
      const rx = track(
        openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: ebpf ?? DHCP_CLIENT_FILTER.bytes }),
      );
      const got: { xid: number; ts: bigint; frame: Buffer }[] = [];
      rx.onFrame((frame, ts) => got.push({ xid: xidOf(frame), ts, frame }));
      rx.onError((e) => {
        throw e;
      });
      const good = [kit.dhcpToClient(1), kit.dhcpToClient(2, 6), kit.dhcpToClient(3, 15)];
      const bad = unwantedFrames(kit);
      const before = BigInt(Date.now()) * NS_PER_MS;
      for (const f of good) sender.send(f);
      for (const [, f] of bad) sender.send(f);
      sender.send(kit.dhcpToClient(MARKER_XID));
      // veth delivers in order: once the marker is here, every earlier frame was filtered.
      await waitFor(() => got.some((g) => g.xid === MARKER_XID), 10_000, "marker frame");
      const after = BigInt(Date.now()) * NS_PER_MS;
      expect(got.map((g) => g.xid)).toEqual([1, 2, 3, MARKER_XID]);
      expect(Buffer.compare(got[1]!.frame, Buffer.from(good[1]!))).toBe(0);
      for (const g of got) {
        expect(g.ts).toBeGreaterThanOrEqual(before - 50n * NS_PER_MS);
        expect(g.ts).toBeLessThanOrEqual(after + 50n * NS_PER_MS);
      }
      expect(rx.stats().delivered).toBe(4);
      if (ebpf !== undefined) {
        const c = rx.filterCounters()!;
        expect(c.passed).toBe(4n);
        expect(c.dropped).toBeGreaterThanOrEqual(BigInt(bad.length));
      } else {
        expect(rx.filterCounters()).toBeUndefined();
      }
      rx.close();
    });
  }

  it("a receive list (DHCP to 68, ARP) in the kernel: both kinds reach user space, nothing else", async () => {
    const list = compileSocketFilter([{ family: "ipv4", protocol: "udp", dstPort: 68 }, { family: "arp" }]);
    const rx = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: list.bytes }));
    const got: Buffer[] = [];
    rx.onFrame((frame) => got.push(frame));
    rx.onError((e) => {
      throw e;
    });
    const arp = kit.arpRequest();
    sender.send(kit.dhcpToClient(1));
    sender.send(arp);
    for (const [name, f] of unwantedFrames(kit)) if (name !== "ARP request") sender.send(f);
    sender.send(kit.dhcpToClient(MARKER_XID));
    // veth delivers in order: once the marker is here, every earlier frame was filtered.
    await waitFor(() => got.some((g) => xidOf(g) === MARKER_XID), 10_000, "marker frame");
    expect(got).toHaveLength(3);
    expect(xidOf(got[0]!)).toBe(1);
    expect(Buffer.compare(got[1]!, Buffer.from(arp))).toBe(0);
    rx.close();
  });

  it("after SO_LOCK_FILTER, detaching or replacing the filter fails with EPERM and filtering goes on", async () => {
    const rx = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: DHCP_CLIENT_FILTER.bytes }));
    const xids: number[] = [];
    rx.onFrame((f) => xids.push(xidOf(f)));
    for (const attempt of [() => rx.tryDetachFilter(), () => rx.tryReplaceFilter(ACCEPT_ALL_FILTER.bytes)]) {
      let caught: unknown;
      try {
        attempt();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(NativeError);
      const e = caught as NativeError;
      expect([e.errno, e.errnoNumber, e.syscall, e.code]).toEqual(["EPERM", 1, "setsockopt", "PADDOCK_E_NATIVE_EPERM"]);
    }
    sender.send(kit.udp(5000, 6000));
    sender.send(kit.dhcpToClient(MARKER_XID));
    await waitFor(() => xids.includes(MARKER_XID), 10_000, "marker frame");
    expect(xids).toEqual([MARKER_XID]);
    rx.close();
  });

  it("reports ENETDOWN when its interface goes down, and receives again when it comes back", async () => {
    const rx = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: DHCP_CLIENT_FILTER.bytes }));
    const xids: number[] = [];
    const errors: string[] = [];
    rx.onFrame((f) => xids.push(xidOf(f)));
    rx.onError((e) => errors.push(e.errno));
    inNetns(pair.a, "ip", ["link", "set", pair.ifA, "down"]);
    await waitFor(() => errors.includes("ENETDOWN"), 10_000, "ENETDOWN");
    inNetns(pair.a, "ip", ["link", "set", pair.ifA, "up"]);
    // veth needs both ends up for carrier; the peer's end stayed up.
    await waitFor(() => {
      sender.send(kit.dhcpToClient(MARKER_XID));
      return xids.includes(MARKER_XID);
    }, 5000, "a frame after the link came back");
    expect(errors.filter((e) => e !== "ENETDOWN")).toEqual([]);
    // The pending error was cleared: sending works at once.
    expect(() => rx.send(kit.dhcpToClient(1))).not.toThrow();
    rx.close();
  });

  it("keeps the event loop running while a receive waits, and close() with a receive pending is prompt", async () => {
    const rx = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: DHCP_CLIENT_FILTER.bytes }));
    let frames = 0;
    rx.onFrame(() => frames++);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    // A receive that blocked the loop would stop the timer after its first tick at most, and this
    // wait (itself on timers) would never end: the test fails on its timeout.
    await waitFor(() => ticks >= 10, 10_000, "ten timer ticks while a receive waits");
    clearInterval(timer);
    // No frame is coming: a close() that waited for the pending receive would hang here.
    rx.close();
    rx.close(); // idempotent
    // A socket still open on the same interface and filter gets the frame, then a marker: once the
    // marker is there, the frame reached every socket it was going to reach (veth keeps order).
    const probe = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: DHCP_CLIENT_FILTER.bytes }));
    const probed: number[] = [];
    probe.onFrame((f) => probed.push(xidOf(f)));
    sender.send(kit.dhcpToClient(9));
    sender.send(kit.dhcpToClient(MARKER_XID));
    await waitFor(() => probed.includes(MARKER_XID), 10_000, "the marker at a socket still open");
    probe.close();
    expect(probed).toEqual([9, MARKER_XID]);
    expect(frames).toBe(0);
    let sendError: unknown;
    try {
      rx.send(kit.dhcpToClient(9));
    } catch (e) {
      sendError = e;
    }
    expect((sendError as NativeError).errno).toBe("EBADF");
  });

  it("the tc egress program drops marked non-DHCP frames while unmarked traffic flows, and cleans up", async () => {
    const mark = 0x5add;
    const policy = EgressPolicy.attach({ ifname: pair.ifA, netnsPath: pair.pathA, mark });
    cleanups.push(() => policy.detach());
    const kitA = frameKit(mac(pair.macA));
    const marked = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: DROP_ALL_FILTER.bytes, mark }));
    const unmarked = track(openPacketSocket({ ifname: pair.ifA, netnsPath: pair.pathA, protocol: ETH_P_ALL, filter: DROP_ALL_FILTER.bytes }));
    const peer = track(openPacketSocket({ ifname: pair.ifB, netnsPath: pair.pathB, protocol: ETH_P_ALL, filter: ACCEPT_ALL_FILTER.bytes }));
    const seen: string[] = [];
    peer.onFrame((f) => {
      if (f.readUInt16BE(12) !== 0x0800) return;
      const at = 14 + (f[14]! & 0x0f) * 4;
      seen.push(`${f[23] === 6 ? "tcp" : "udp"} ${f.readUInt16BE(at)}>${f.readUInt16BE(at + 2)}`);
    });
    const tcShow = inNetns(pair.a, "tc", ["filter", "show", "dev", pair.ifA, "egress"]);
    expect(tcShow).toContain(EGRESS_PROGRAM_NAME);

    // A frame the program drops comes back to the sender as ENOBUFS (NET_XMIT_DROP).
    for (const f of [kitA.udp(5000, 6001), kitA.tcp(5000, 6003), kitA.udp(68, 67) /* op 2: not a request */]) {
      expect(() => marked.send(f)).toThrow(expect.objectContaining({ errno: "ENOBUFS", syscall: "send" }));
    }
    marked.send(kitA.dhcpRequest(0x1111));
    unmarked.send(kitA.udp(5000, 6002));
    await waitFor(() => seen.includes("udp 68>67") && seen.includes("udp 5000>6002"), 10_000, "allowed frames at the peer");
    // veth keeps order: once a later unmarked frame is at the peer, so is anything sent before it.
    unmarked.send(kitA.udp(5000, 6005));
    await waitFor(() => seen.includes("udp 5000>6005"), 10_000, "a later frame at the peer");
    expect(seen.filter((s) => s.startsWith("udp 68>67"))).toHaveLength(1);
    expect(seen).not.toContain("udp 5000>6001");
    expect(seen).not.toContain("tcp 5000>6003");
    // The host's own IP traffic (unmarked) still flows: ping across the veth.
    inNetns(pair.a, "ip", ["addr", "add", "10.77.0.1/30", "dev", pair.ifA]);
    inNetns(pair.b, "ip", ["addr", "add", "10.77.0.2/30", "dev", pair.ifB]);
    expect(inNetns(pair.a, "busybox", ["ping", "-c", "1", "-W", "2", "10.77.0.2"])).toMatch(/1 packets received/);
    const c = policy.counters();
    expect(c.allowed).toBe(1n);
    expect(c.dropped).toBe(3n);
    expect(c.unmarked).toBeGreaterThanOrEqual(3n); // the unmarked frame, ARP, the echo request

    policy.detach();
    expect(inNetns(pair.a, "tc", ["filter", "show", "dev", pair.ifA, "egress"])).toBe("");
    // We created the clsact qdisc, so detach removed it too.
    expect(inNetns(pair.a, "tc", ["qdisc", "show", "dev", pair.ifA])).not.toContain("clsact");
    // With the filter gone the marked socket's frames flow again.
    marked.send(kitA.udp(5000, 6004));
    await waitFor(() => seen.includes("udp 5000>6004"), 10_000, "frame after detach");
  });

  it("removes the egress filter left by a crashed process", () => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const fixture = fileURLToPath(new URL("./fixtures/attach-and-crash.ts", import.meta.url));
    let out = "";
    try {
      execFileSync(process.execPath, ["--import", "tsx", fixture, pair.ifA, pair.pathA], {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout);
      expect((e as { signal?: string }).signal).toBe("SIGKILL");
    }
    expect(out).toContain("attached");
    expect(inNetns(pair.a, "tc", ["filter", "show", "dev", pair.ifA, "egress"])).toContain(EGRESS_PROGRAM_NAME);
    expect(removeEgressLeftovers({ ifname: pair.ifA, netnsPath: pair.pathA })).toBe(true);
    expect(inNetns(pair.a, "tc", ["filter", "show", "dev", pair.ifA, "egress"])).toBe("");
    expect(removeEgressLeftovers({ ifname: pair.ifA, netnsPath: pair.pathA })).toBe(false);
    // Nothing is left at our handle and priority.
    expect(addonForTests().tcQueryEgress({ ifname: pair.ifA, netnsPath: pair.pathA, handle: 0x9add0c, priority: 1 })).toBeNull();
  });
});

describe.skipIf(!canRunAsRoot)(`UDP sockets with kernel timestamps (${skipReason})`, () => {
  it("receives datagrams with the peer address and a plausible kernel receive time", async () => {
    const ns = createNetns();
    const a = track(openUdpSocket({ address: "127.0.0.1", port: 0, netnsPath: ns.path }));
    const b = track(openUdpSocket({ address: "127.0.0.1", port: 0, netnsPath: ns.path }));
    expect(a.port).toBeGreaterThan(0);
    const got: { data: string; peer: string; ts: bigint; handledAt: bigint }[] = [];
    b.onMessage((data, peer, ts) => got.push({ data: data.toString(), peer: `${peer.address}:${peer.port}`, ts, handledAt: BigInt(Date.now()) * NS_PER_MS }));
    // Date.now() rounds down to the millisecond: the kernel's receive time lies between the send
    // (at or after sentAt) and the callback (before the end of its millisecond).
    const sentAt = BigInt(Date.now()) * NS_PER_MS;
    a.sendTo(Buffer.from("ntp?"), "127.0.0.1", b.port);
    await waitFor(() => got.length === 1, 10_000, "datagram");
    expect(got[0]!.data).toBe("ntp?");
    expect(got[0]!.peer).toBe(`127.0.0.1:${a.port}`);
    expect(got[0]!.ts).toBeGreaterThanOrEqual(sentAt);
    expect(got[0]!.ts).toBeLessThan(got[0]!.handledAt + NS_PER_MS);
    // The socket lives in the namespace: the host's loopback does not reach it. Loopback delivers
    // within sendTo and b reads its queue in order, so once a later datagram from a is here, the
    // host's would have been read before it.
    const host = track(openUdpSocket({ address: "127.0.0.1", port: 0 }));
    host.sendTo(Buffer.from("x"), "127.0.0.1", b.port);
    a.sendTo(Buffer.from("marker"), "127.0.0.1", b.port);
    await waitFor(() => got.some((g) => g.data === "marker"), 10_000, "the marker datagram");
    // No datagram is coming: a close() that waited for a receive would hang here.
    b.close();
    expect(got.map((g) => g.data)).toEqual(["ntp?", "marker"]);
  });

  it("software transmit timestamps come back with each send's id, and receiving goes on", async () => {
    const pair = createVethPair({ nsPrefix: "pdk-nat-" });
    inNetns(pair.a, "ip", ["addr", "add", "10.79.0.1/30", "dev", pair.ifA]);
    inNetns(pair.b, "ip", ["addr", "add", "10.79.0.2/30", "dev", pair.ifB]);
    const client = track(openUdpSocket({ address: "10.79.0.1", port: 0, netnsPath: pair.pathA, txTimestamps: true }));
    const server = track(openUdpSocket({ address: "10.79.0.2", port: 0, netnsPath: pair.pathB }));
    const tx = new Map<number, bigint>();
    const rx = new Map<string, bigint>();
    const replies: string[] = [];
    client.onTxTimestamp((id, ns) => tx.set(id, ns));
    client.onMessage((d) => replies.push(d.toString()));
    client.onError((e) => {
      throw e;
    });
    server.onMessage((d, peer, ns) => {
      rx.set(d.toString(), ns);
      server.sendTo(Buffer.from(`re ${d.toString()}`), peer.address, peer.port);
    });
    const ids = ["a", "b", "c"].map((m) => [m, client.sendTo(Buffer.from(m), "10.79.0.2", server.port)] as const);
    expect(ids.map(([, id]) => id)).toEqual([0, 1, 2]);
    // The replies arrive after the error queue was drained: the poll handle was restarted.
    await waitFor(() => tx.size === 3 && replies.length === 3, 10_000, "timestamps and replies");
    expect(replies.sort()).toEqual(["re a", "re b", "re c"]);
    for (const [m, id] of ids) {
      // Same clock (CLOCK_REALTIME): handed to the veth driver before the peer received it.
      expect(tx.get(id)!).toBeGreaterThan(0n);
      expect(tx.get(id)!).toBeLessThanOrEqual(rx.get(m)!);
    }
    // A socket without the option numbers its sends too (three replies went first).
    expect(server.sendTo(Buffer.from("x"), "10.79.0.1", client.port)).toBe(3);
  });

  it("reports errors as NativeError with errno and syscall", () => {
    const ns = createNetns();
    const a = track(openUdpSocket({ address: "127.0.0.1", port: 0, netnsPath: ns.path }));
    let caught: unknown;
    try {
      openUdpSocket({ address: "127.0.0.1", port: a.port, netnsPath: ns.path });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NativeError);
    expect([(caught as NativeError).errno, (caught as NativeError).syscall]).toEqual(["EADDRINUSE", "bind"]);
    expect(() => openUdpSocket({ address: "not-an-address", port: 1 })).toThrow(/EINVAL/);
  });
});
