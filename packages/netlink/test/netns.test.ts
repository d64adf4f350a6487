// The client against the real kernel, in a throwaway namespace with a veth pair, each change
// checked with `ip -j -n NS …` (an independent decoder). Needs root; skipped with a reason
// otherwise, never skipped under CI=true. The namespace is removed in afterAll even on failure.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AF_INET,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NetlinkError,
  RTM_NEWADDR,
  RTPROT_PADDOCK,
  RT_SCOPE_UNIVERSE,
  encodeAddressMessage,
  openRtnetlink,
} from "../src/index.ts";
import type { Ipv4Address, RtnetlinkClient, RtnetlinkEvent } from "../src/index.ts";
import { createTestNetns, ipJson, run, runNamespaceTests } from "./netns.ts";
import type { TestNetns } from "./netns.ts";

interface IpLink { ifindex: number; ifname: string; flags: string[]; mtu: number; address: string; operstate: string }
interface IpAddr { addr_info: { family: string; local: string; prefixlen: number; broadcast?: string; valid_life_time: number; preferred_life_time: number }[] }
interface IpRoute { dst: string; gateway?: string; dev: string; protocol?: string; scope?: string; metric?: number }

async function kernelError(p: Promise<unknown>): Promise<NetlinkError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof NetlinkError)) throw new Error(`expected a NetlinkError, got ${String(e)}`);
  return e;
}

/** Waits until `pred` holds for some collected event, or fails after `ms` (a bound on a hang: load only delays events). */
async function waitForEvent(events: RtnetlinkEvent[], pred: (e: RtnetlinkEvent) => boolean, ms = 10_000): Promise<RtnetlinkEvent> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = events.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no matching event in ${ms} ms; saw ${JSON.stringify(events.map((e) => e.kind))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!runNamespaceTests)("rtnetlink client in a network namespace (needs root: skipped when not root, unless CI=true)", () => {
  let ns: TestNetns;
  let client: RtnetlinkClient;
  let watcher: RtnetlinkClient;
  const events: RtnetlinkEvent[] = [];

  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error("CI=true but not root: the namespace tests cannot run and must not be skipped");
    ns = createTestNetns();
    client = openRtnetlink({ netnsPath: ns.path });
    watcher = openRtnetlink({ netnsPath: ns.path, events: true });
    watcher.onEvent((e) => events.push(e));
  });

  afterAll(() => {
    client?.close();
    watcher?.close();
    ns?.remove();
  });

  const link = (name: string): IpLink => ipJson<IpLink[]>(ns.name, ["link", "show", "dev", name])[0]!;
  const inet = (name: string) => ipJson<IpAddr[]>(ns.name, ["addr", "show", "dev", name])[0]!.addr_info.filter((a) => a.family === "inet");

  it("acts in the given namespace: lists its links, gets one by name and by index", async () => {
    const links = await client.listLinks();
    expect(links.map((l) => l.name).sort()).toEqual(["lo", ns.v0, ns.v1].sort());
    const byName = await client.getLink(ns.v0);
    const ip = link(ns.v0);
    expect([byName.index, byName.mtu, byName.mac]).toEqual([ip.ifindex, ip.mtu, ip.address]);
    expect((await client.getLink(ip.ifindex)).name).toBe(ns.v0);
  });

  it("sets a link up and down", async () => {
    await client.setLinkUp(ns.v0, true);
    expect(link(ns.v0).flags).toContain("UP");
    expect((await client.getLink(ns.v0)).up).toBe(true);
    await client.setLinkUp(ns.v0, false);
    expect(link(ns.v0).flags).not.toContain("UP");
    await client.setLinkUp(ns.v0, true);
    expect(link(ns.v0).flags).toContain("UP");
  });

  it("sets the MTU", async () => {
    await client.setLinkMtu(ns.v0, 1400);
    expect(link(ns.v0).mtu).toBe(1400);
    await client.setLinkMtu(ns.v0, 1500);
    expect(link(ns.v0).mtu).toBe(1500);
  });

  it("counts a link's IPv6 addresses (what keeps an IPv4 lease from lowering its MTU below 1280)", async () => {
    const before = await client.countIpv6Addresses(ns.v0);
    run("ip", ["-n", ns.name, "-6", "addr", "add", "fd00:77::1/64", "dev", ns.v0, "nodad"]);
    expect(await client.countIpv6Addresses(ns.v0)).toBe(before + 1);
    run("ip", ["-n", ns.name, "-6", "addr", "del", "fd00:77::1/64", "dev", ns.v0]);
    expect(await client.countIpv6Addresses(ns.v0)).toBe(before);
  });

  it("reports an invalid MTU as EINVAL with the kernel's extack text", async () => {
    const big = await kernelError(client.setLinkMtu(ns.v0, 70000));
    expect(big).toMatchObject({ code: "PADDOCK_E_NETLINK_KERNEL", errno: "EINVAL", errnoNumber: 22, request: `RTM_NEWLINK dev ${ns.v0} mtu 70000` });
    expect(big.extackMessage).toMatch(/mtu greater than device maximum/i);
    const small = await kernelError(client.setLinkMtu(ns.v0, 10));
    expect(small.errno).toBe("EINVAL");
    expect(small.extackMessage).toMatch(/mtu less than device minimum/i);
    expect(link(ns.v0).mtu).toBe(1500);
  });

  it("adds an address with valid and preferred lifetimes, lists it, replaces it, deletes it", async () => {
    await client.addAddress({ link: ns.v0, address: "10.77.0.5/24", validLifetime: 3600, preferredLifetime: 1800 });
    const a = inet(ns.v0).find((x) => x.local === "10.77.0.5");
    expect(a).toMatchObject({ prefixlen: 24, broadcast: "10.77.0.255" });
    expect(a!.valid_life_time).toBeGreaterThan(3500);
    expect(a!.valid_life_time).toBeLessThanOrEqual(3600);
    expect(a!.preferred_life_time).toBeGreaterThan(1700);
    expect(a!.preferred_life_time).toBeLessThanOrEqual(1800);

    const listed = (await client.listAddresses(ns.v0)).find((x) => x.address === "10.77.0.5");
    expect(listed).toMatchObject({ prefixLength: 24, cidr: "10.77.0.5/24", broadcast: "10.77.0.255" });
    expect(listed!.validLifetime).toBeGreaterThan(3500);

    await client.replaceAddress({ link: ns.v0, address: "10.77.0.5/24", validLifetime: 600, preferredLifetime: 300 });
    const b = inet(ns.v0).find((x) => x.local === "10.77.0.5")!;
    expect(b.valid_life_time).toBeLessThanOrEqual(600);
    expect(b.preferred_life_time).toBeLessThanOrEqual(300);

    await client.deleteAddress({ link: ns.v0, address: "10.77.0.5/24" });
    expect(inet(ns.v0).find((x) => x.local === "10.77.0.5")).toBeUndefined();
  });

  it("reports adding the same address twice as EEXIST with the extack text", async () => {
    await client.addAddress({ link: ns.v0, address: "10.77.1.5/24" });
    const e = await kernelError(client.addAddress({ link: ns.v0, address: "10.77.1.5/24" }));
    expect(e).toMatchObject({ code: "PADDOCK_E_NETLINK_KERNEL", errno: "EEXIST", errnoNumber: 17 });
    expect(e.request).toBe(`RTM_NEWADDR 10.77.1.5/24 dev ${ns.v0} brd 10.77.1.255`);
    expect(e.extackMessage).toMatch(/already assigned/i);
    await client.deleteAddress({ link: ns.v0, address: "10.77.1.5/24" });
  });

  it("reports a bad ifindex as ENODEV with the extack text", async () => {
    const e = await kernelError(client.addAddress({ link: 99999, address: "10.77.2.5/24" }));
    expect(e).toMatchObject({ errno: "ENODEV", errnoNumber: 19, request: "RTM_NEWADDR 10.77.2.5/24 dev #99999 brd 10.77.2.255" });
    expect(e.extackMessage).toMatch(/device not found/i);
  });

  it("reports a bad prefix length (33, sent raw) as EINVAL", async () => {
    const index = (await client.getLink(ns.v0)).index;
    const body = encodeAddressMessage({
      family: AF_INET, prefixLength: 33, flags: 0, scope: RT_SCOPE_UNIVERSE, index,
      local: "10.77.3.5" as Ipv4Address, address: "10.77.3.5" as Ipv4Address, unknown: [],
    });
    const e = await kernelError(
      client.request({ ok: true, plan: { type: RTM_NEWADDR, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, expect: "ack", description: "RTM_NEWADDR 10.77.3.5/33 (raw)" } }),
    );
    expect(e).toMatchObject({ code: "PADDOCK_E_NETLINK_KERNEL", errno: "EINVAL", request: "RTM_NEWADDR 10.77.3.5/33 (raw)" });
    // The kernel explains itself (since Linux 6.3, "ipv4: Invalid prefix length"); the text is kept.
    expect(e.extackMessage).toMatch(/invalid prefix length/i);
  });

  it("adds, replaces and deletes a default route with rtm_protocol RTPROT_PADDOCK", async () => {
    await client.setLinkUp(ns.v0, true);
    await client.addAddress({ link: ns.v0, address: "10.77.0.5/24" });
    await client.addRoute({ destination: "default", gateway: "10.77.0.1", link: ns.v0 });
    let routes = ipJson<IpRoute[]>(ns.name, ["route", "show", "default"]);
    expect(routes).toEqual([expect.objectContaining({ dst: "default", gateway: "10.77.0.1", dev: ns.v0, protocol: String(RTPROT_PADDOCK) })]);
    expect((await client.listRoutes({ protocol: RTPROT_PADDOCK })).map((r) => [r.cidr, r.gateway])).toEqual([["default", "10.77.0.1"]]);

    const dup = await kernelError(client.addRoute({ destination: "default", gateway: "10.77.0.1", link: ns.v0 }));
    expect(dup.errno).toBe("EEXIST");

    await client.replaceRoute({ destination: "default", gateway: "10.77.0.2", link: ns.v0 });
    routes = ipJson<IpRoute[]>(ns.name, ["route", "show", "default"]);
    expect(routes).toEqual([expect.objectContaining({ gateway: "10.77.0.2", protocol: String(RTPROT_PADDOCK) })]);

    await client.deleteRoute({ destination: "default" });
    expect(ipJson<IpRoute[]>(ns.name, ["route", "show", "default"])).toEqual([]);
  });

  it("adds a prefix route with link scope and a metric, and deletes only routes it owns", async () => {
    await client.addRoute({ destination: "10.88.0.0/16", link: ns.v0, priority: 77 });
    expect(ipJson<IpRoute[]>(ns.name, ["route", "show", "10.88.0.0/16"])).toEqual([
      expect.objectContaining({ dst: "10.88.0.0/16", dev: ns.v0, scope: "link", metric: 77, protocol: String(RTPROT_PADDOCK) }),
    ]);
    // A route someone else installed (proto boot, `ip route`'s default) is not ours to delete.
    run("ip", ["-n", ns.name, "route", "add", "10.89.0.0/16", "dev", ns.v0]);
    const notOurs = await kernelError(client.deleteRoute({ destination: "10.89.0.0/16", link: ns.v0 }));
    expect(notOurs.errno).toBe("ESRCH");
    expect(ipJson<IpRoute[]>(ns.name, ["route", "show", "10.89.0.0/16"])).toHaveLength(1);

    await client.deleteRoute({ destination: "10.88.0.0/16", link: ns.v0, priority: 77 });
    expect(ipJson<IpRoute[]>(ns.name, ["route", "show", "10.88.0.0/16"])).toEqual([]);
  });

  it("receives typed events for an address add and delete, a route, and a carrier change", async () => {
    events.length = 0;
    await client.addAddress({ link: ns.v0, address: "10.77.9.9/24" });
    const added = await waitForEvent(events, (e) => e.kind === "address" && e.action === "new" && e.address.cidr === "10.77.9.9/24");
    expect(added).toMatchObject({ address: { index: link(ns.v0).ifindex } });
    // The kernel adds the prefix route for the new address; it arrives on RTNLGRP_IPV4_ROUTE.
    await waitForEvent(events, (e) => e.kind === "route" && e.action === "new" && e.route.cidr === "10.77.9.0/24");
    await client.deleteAddress({ link: ns.v0, address: "10.77.9.9/24" });
    await waitForEvent(events, (e) => e.kind === "address" && e.action === "del" && e.address.cidr === "10.77.9.9/24");

    // Taking the peer down drops v0's carrier; bringing it back raises it.
    await client.setLinkUp(ns.v1, false);
    await waitForEvent(events, (e) => e.kind === "link" && e.link.name === ns.v0 && e.link.carrier === false);
    await waitForEvent(events, (e) => e.kind === "carrier" && e.link.name === ns.v0 && !e.carrier);
    await client.setLinkUp(ns.v1, true);
    await waitForEvent(events, (e) => e.kind === "carrier" && e.link.name === ns.v0 && e.carrier);
    expect(events.filter((e) => e.kind === "carrier" && e.link.name === ns.v0).map((e) => e.kind === "carrier" && e.carrier)).toEqual([false, true]);
  });
});
