// The IPv6 building blocks of handlers (issue 11): address and route sets against the real kernel
// in a throwaway namespace (lab prefix ra6), read back with `ip -j -6`; two sets on one link never
// remove each other's; a sysctl set over a temporary directory standing in for /proc/sys; the
// resolv.conf order by rank. Namespace tests need root: skipped with a reason otherwise, never
// skipped under CI=true.

import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, ipJson, type Lab, type Netns } from "@paddock/testkit";
import { openRtnetlink, type RtnetlinkClient } from "@paddock/netlink";
import { composeResolvConf, earliestDeadline, Ipv6AddressSet, Ipv6RouteSet, RESOLV_RANK, secondsLeft, silentLogger, SysctlSet } from "../src/index.ts";

interface IpAddr6 { addr_info: { family: string; local: string; prefixlen: number; valid_life_time: number; preferred_life_time: number; noprefixroute?: boolean }[] }
interface IpRoute6 { dst: string; gateway?: string; protocol?: string; metric?: number; pref?: string; expires?: number }

describe("deadlines", () => {
  it("turn into the kernel's seconds, at least 1, and the earliest is found", () => {
    expect(secondsLeft("forever", 0)).toBe("forever");
    expect(secondsLeft(10_500, 0)).toBe(11);
    expect(secondsLeft(5, 10)).toBe(1);
    expect(earliestDeadline(["forever", 30, 20])).toBe(20);
    expect(earliestDeadline(["forever"])).toBeUndefined();
  });
});

describe("sysctl set", () => {
  it("sets while wanted, restores the previous value when released, and leaves an operator's later change alone", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "ra6-sysctl-"));
    const conf = path.join(root, "net/ipv6/conf/eth9");
    mkdirSync(conf, { recursive: true });
    writeFileSync(path.join(conf, "accept_ra"), "1\n");
    writeFileSync(path.join(conf, "autoconf"), "1\n");
    const set = new SysctlSet({ file: path.join(root, "rec.json"), handler: "t", log: silentLogger, procSys: root });
    const on = await set.converge({ "net/ipv6/conf/eth9/accept_ra": "0", "net/ipv6/conf/eth9/autoconf": "0" });
    expect(on.changes).toEqual(["net.ipv6.conf.eth9.accept_ra = 0 (was 1)", "net.ipv6.conf.eth9.autoconf = 0 (was 1)"]);
    expect(await set.converge({ "net/ipv6/conf/eth9/accept_ra": "0", "net/ipv6/conf/eth9/autoconf": "0" })).toEqual({ changes: [], conflicts: [] });
    writeFileSync(path.join(conf, "autoconf"), "2\n"); // an operator's change meanwhile
    const off = await set.converge({});
    expect(readFileSync(path.join(conf, "accept_ra"), "utf8").trim()).toBe("1");
    expect(readFileSync(path.join(conf, "autoconf"), "utf8").trim()).toBe("2");
    expect(off.conflicts).toEqual(["net.ipv6.conf.eth9.autoconf was changed to 2 by someone else: left as it is"]);
    expect(set.owned()).toEqual({});
  });
});

describe("merged DNS order", () => {
  it("one link's servers read v4 lease, RDNSS, DHCPv6; a lower metric's link comes first", () => {
    const text = composeResolvConf([
      { source: "dhcp6", iface: "eth0", priority: 1002, rank: RESOLV_RANK.dhcp6, nameservers: ["2001:db8::53"], search: [] },
      { source: "ra", iface: "eth0", priority: 1002, rank: RESOLV_RANK.routerAdvertisement, nameservers: ["fe80::1%eth0"], search: ["v6.example"] },
      { source: "dhcp4", iface: "eth0", priority: 1002, rank: RESOLV_RANK.dhcp4, nameservers: ["10.0.0.53"], search: ["v4.example"] },
    ]).text;
    expect(text?.split("\n").filter((l) => !l.startsWith("#"))).toEqual(["search v4.example v6.example", "nameserver 10.0.0.53", "nameserver fe80::1%eth0", "nameserver 2001:db8::53", ""]);
  });
});

describe.skipIf(!canCreateLabs)("IPv6 address and route sets in a namespace (needs root: skipped when not root, unless CI=true)", () => {
  let lab: Lab;
  let ns: Netns;
  let dev: string;
  let index: number;
  let nl: RtnetlinkClient;
  let dir: string;

  beforeAll(async () => {
    lab = createLab({ prefix: "ra6" });
    ns = lab.namespace("h");
    dev = lab.veth(ns, ns).a.name;
    nl = openRtnetlink({ netnsPath: ns.path });
    index = (await nl.getLink(dev)).index;
    dir = mkdtempSync(path.join(tmpdir(), "ra6-sets-"));
  });

  afterAll(async () => {
    nl?.close();
    await lab?.destroy();
  });

  const inet6 = () => ipJson<IpAddr6[]>(ns, ["-6", "addr", "show", "dev", dev])[0]!.addr_info.filter((a) => !a.local.startsWith("fe80"));
  const routes6 = () => ipJson<IpRoute6[]>(ns, ["-6", "route", "show", "dev", dev]);

  it("adds addresses with the kernel's lifetimes, refreshes in place, removes exactly its own", async () => {
    const ra = new Ipv6AddressSet({ file: path.join(dir, "ra-addr.json"), handler: "ra", log: silentLogger });
    const dhcp6 = new Ipv6AddressSet({ file: path.join(dir, "d6-addr.json"), handler: "dhcp6", log: silentLogger });
    const now = Date.now();
    lab.exec(ns, ["ip", "-6", "addr", "add", "2001:db8:1::99/64", "dev", dev, "nodad"]); // the operator's
    const r1 = await ra.converge(nl, index, [
      { cidr: "2001:db8:1::5/64", validUntil: now + 600_000, preferredUntil: now + 300_000, noPrefixRoute: true, noDad: true },
      { cidr: "2001:db8:1::99/64", validUntil: now + 600_000, preferredUntil: now + 300_000, noDad: true },
    ], now);
    expect(r1.conflicts).toEqual([`IPv6 address 2001:db8:1::99/64 is already on link #${index} and is not ours: left alone`]);
    await dhcp6.converge(nl, index, [{ cidr: "2001:db8:1::d6/128", validUntil: now + 60_000, preferredUntil: now + 30_000, noDad: true }], now);
    const a = inet6().find((x) => x.local === "2001:db8:1::5")!;
    expect(a).toMatchObject({ prefixlen: 64, noprefixroute: true });
    // 600 s counting down: a wide margin, for a slow machine between the add and the read.
    expect(a.valid_life_time).toBeGreaterThan(500);
    expect(a.valid_life_time).toBeLessThanOrEqual(600);
    expect(a.preferred_life_time).toBeLessThanOrEqual(300);
    // Converging again to the same wish changes nothing.
    expect((await ra.converge(nl, index, [{ cidr: "2001:db8:1::5/64", validUntil: now + 600_000, preferredUntil: now + 300_000, noPrefixRoute: true, noDad: true }], now)).changes).toEqual([]);
    // The prefix withdrawn (lifetime 0 in an RA): the RA's address goes; the operator's and DHCPv6's stay.
    const r2 = await ra.converge(nl, index, [], Date.now());
    expect(r2.changes).toEqual([`remove 2001:db8:1::5/64 dev #${index}`]);
    expect(inet6().map((x) => x.local).sort()).toEqual(["2001:db8:1::99", "2001:db8:1::d6"]);
    expect(ra.owned()).toEqual([]);
    await dhcp6.converge(nl, undefined, [], Date.now());
    expect(inet6().map((x) => x.local)).toEqual(["2001:db8:1::99"]);
  });

  it("routes: preference and expiry, a lifetime refreshed without the route disappearing, only its own removed", async () => {
    const ra = new Ipv6RouteSet({ file: path.join(dir, "ra-routes.json"), handler: "ra", log: silentLogger });
    const other = new Ipv6RouteSet({ file: path.join(dir, "d6-routes.json"), handler: "dhcp6", log: silentLogger });
    const now = Date.now();
    await ra.converge(nl, index, [
      { destination: "default", gateway: "fe80::1", metric: 1100, pref: "high", expiresAt: now + 1_800_000 },
      { destination: "2001:db8:9::/48", gateway: "fe80::1", metric: 1100, pref: "low", expiresAt: "forever" },
    ], now);
    await other.converge(nl, index, [{ destination: "2001:db8:7::/48", gateway: "fe80::2", metric: 1100, expiresAt: "forever" }], now);
    expect(routes6().find((r) => r.dst === "default")).toMatchObject({ gateway: "fe80::1", metric: 1100, pref: "high", protocol: "176" });
    // A later RA renews the lifetime: refreshed in place (append), the route is never absent.
    const later = now + 100_000;
    const r = await ra.converge(nl, index, [
      { destination: "default", gateway: "fe80::1", metric: 1100, pref: "high", expiresAt: later + 1_800_000 },
      { destination: "2001:db8:9::/48", gateway: "fe80::1", metric: 1100, pref: "low", expiresAt: "forever" },
    ], now);
    expect(r.changes).toEqual([`route default via fe80::1 dev #${index} metric 1100 pref high expires 1900s`]);
    expect(routes6().find((r) => r.dst === "default")!.expires).toBeGreaterThan(1850);
    // The router's preference changes: the route follows.
    await ra.converge(nl, index, [{ destination: "default", gateway: "fe80::1", metric: 1100, pref: "low", expiresAt: later + 1_800_000 }], now);
    expect(routes6().find((r) => r.dst === "default")).toMatchObject({ pref: "low" });
    expect(routes6().some((r) => r.dst === "2001:db8:9::/48")).toBe(false);
    // Withdrawn: only the RA's go.
    await ra.converge(nl, undefined, [], Date.now());
    expect(routes6().filter((r) => r.protocol === "176").map((r) => r.dst)).toEqual(["2001:db8:7::/48"]);
    await other.converge(nl, undefined, [], Date.now());
    expect(routes6().filter((r) => r.protocol === "176")).toEqual([]);
  });
});
