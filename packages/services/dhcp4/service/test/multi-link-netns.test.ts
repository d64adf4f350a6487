// Two links, two leases, one host (issue 13 A2): the lease handlers of two links in one network
// namespace, each fed by its own real KvStore, sharing one resolv.conf (a temp file) and one
// runtime directory. Each link's routes keep their own metric, resolv.conf holds both leases'
// servers in the documented order, and withdrawing one lease leaves the other's routes and servers
// alone. Checked with `ip -j -n NS`. Needs root: skipped with a reason otherwise, never under CI=true.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, LAB_SKIP_REASON, type Lab, type Netns } from "@paddock/testkit";
import { KvStore, type KvCaller } from "@paddock/kv";
import { acquirePidLock, HandlerRunner, silentLogger, type PidLock } from "@paddock/runtime";
import { defaultRouteMetric, dhcp4Schema, LeaseHandler, type LeaseHandlerOptions } from "../src/index.ts";

if (process.env.CI === "true" && !canCreateLabs) throw new Error("CI=true but the multi-link namespace test cannot run (needs root)");

const calf: KvCaller = { role: "calf", name: "dhcp4" };
const enc = new TextEncoder();
interface IpRoute { dst: string; gateway?: string; dev: string; protocol?: string; metric?: number }
const ORIGINAL = "# the administrator's resolver\nnameserver 192.0.2.53\n";

describe.skipIf(!canCreateLabs)(`two links' leases in one namespace (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let ns: Netns;
  let owner: PidLock;
  let resolvConf = "";
  let runtimeDir = "";
  const links: string[] = [];
  const stores: KvStore[] = [];
  const runners: HandlerRunner[] = [];

  const dir = (): string => {
    const d = lab.uniqueFile("dir");
    mkdirSync(d);
    return d;
  };
  const ipJson = <T>(...args: string[]): T => lab.ipJson<T>(ns, args);
  const ifindex = (dev: string): number => ipJson<{ ifindex: number }[]>("link", "show", "dev", dev)[0]!.ifindex;
  const ours = (): string[] => ipJson<IpRoute[]>("route", "show", "table", "main").filter((r) => r.protocol === "176").map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.dev} ${r.metric}`).sort();
  const directives = (): string[] => readFileSync(resolvConf, "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#"));

  /** One link's host: its own state dir, store and runner; the shared resolv.conf and runtime dir. */
  function linkHost(link: string, extra: Partial<LeaseHandlerOptions> = {}): { store: KvStore; runner: HandlerRunner; handler: LeaseHandler } {
    const stateDir = dir();
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    stores.push(store);
    const handler = new LeaseHandler({ link, stateDir, netnsPath: ns.path, resolvConfPath: resolvConf, runtimeDir, ownerLock: owner.file, ...extra });
    const runner = new HandlerRunner({ source: store, handlers: [handler], log: silentLogger, resyncMs: 0 });
    runners.push(runner);
    runner.start();
    return { store, runner, handler };
  }

  async function lease(store: KvStore, kv: Record<string, string | null>): Promise<void> {
    const r = await store.commit(calf, Object.entries(kv).map(([k, v]) => ({ path: k.split("/").filter(Boolean), value: v === null ? null : enc.encode(v) })));
    if (!r.ok) throw r.error;
  }

  const leaseOf = (n: number) => ({
    "/ip": `10.6${n}.0.5/24`,
    "/gateway": `10.6${n}.0.1`,
    "/nameserver/001": `10.6${n}.0.53`,
    "/domain": `link${n}.test`,
    "/search": `link${n}.test`,
    "/lease/expires": "0",
  });
  const noLease = { "/ip": null, "/gateway": null, "/nameserver/001": null, "/domain": null, "/search": null, "/lease/expires": null };

  beforeAll(() => {
    lab = createLab({ prefix: "pdmi" });
    ns = lab.namespace("n", { ipv6: false });
    links.push(lab.veth(ns, ns).a.name, lab.veth(ns, ns).a.name);
    owner = acquirePidLock(path.join(dir(), "paddock.pid"));
    const etc = dir();
    resolvConf = path.join(etc, "resolv.conf");
    writeFileSync(resolvConf, ORIGINAL, { mode: 0o644 });
    runtimeDir = dir();
  });

  afterAll(async () => {
    for (const r of runners) await r.stop().catch(() => {});
    for (const s of stores) await s.close().catch(() => {});
    owner?.release();
    await lab?.destroy();
  });

  it("both leases: two default routes with distinct metrics, one resolv.conf with both links' servers, lowest metric first; withdrawing one leaves the other's", async () => {
    const [a, b] = links as [string, string];
    const [ma, mb] = [defaultRouteMetric(ifindex(a)), defaultRouteMetric(ifindex(b))];
    expect(ma).not.toBe(mb);
    // b's lease first: the order in the file follows the metric, not who came first.
    const hb = linkHost(b);
    await lease(hb.store, leaseOf(1));
    await hb.runner.settled();
    const ha = linkHost(a);
    await lease(ha.store, leaseOf(0));
    await ha.runner.settled();
    expect(ours()).toEqual([`default 10.60.0.1 ${a} ${ma}`, `default 10.61.0.1 ${b} ${mb}`].sort());
    expect(directives()).toEqual(["domain link0.test", "search link0.test link1.test", "nameserver 10.60.0.53", "nameserver 10.61.0.53"]);

    // a's lease goes: b's route and server stay, and the file holds only b's.
    await lease(ha.store, noLease);
    await ha.runner.settled();
    expect(ours()).toEqual([`default 10.61.0.1 ${b} ${mb}`]);
    expect(directives()).toEqual(["domain link1.test", "search link1.test", "nameserver 10.61.0.53"]);
    expect(ha.runner.status()[0]).toMatchObject({ state: "converged", failures: 0 });

    // The last one goes: the administrator's file is back.
    await lease(hb.store, noLease);
    await hb.runner.settled();
    expect(ours()).toEqual([]);
    expect(readFileSync(resolvConf, "utf8")).toBe(ORIGINAL);
  });

  it("two links given the same metric: the second's default route is a reported conflict, the first's is not replaced", async () => {
    const [a, b] = links as [string, string];
    const ha = linkHost(a, { routeMetric: 700 });
    await lease(ha.store, leaseOf(0));
    await ha.runner.settled();
    const hb = linkHost(b, { routeMetric: 700 });
    await lease(hb.store, leaseOf(1));
    await hb.runner.settled();
    expect(ours()).toEqual([`default 10.60.0.1 ${a} 700`]);
    expect(hb.runner.status()[0]!.conflicts).toEqual([`route default metric 700 is another link's (#${ifindex(a)}): left alone; give each link its own route-metric`]);
    for (const h of [ha, hb]) {
      await lease(h.store, noLease);
      await h.runner.settled();
    }
    expect(ours()).toEqual([]);
    expect(readFileSync(resolvConf, "utf8")).toBe(ORIGINAL);
  });

  it("a link that is deleted takes its servers out of resolv.conf at once; a link merely down keeps them", async () => {
    const [a, b] = links as [string, string];
    const ha = linkHost(a);
    const hb = linkHost(b);
    await lease(ha.store, leaseOf(0));
    await lease(hb.store, leaseOf(1));
    await ha.runner.settled();
    await hb.runner.settled();
    expect(directives().filter((l) => l.startsWith("nameserver")).sort()).toEqual(["nameserver 10.60.0.53", "nameserver 10.61.0.53"]);
    // Down is not gone: the lease is still valid, and so are its servers.
    lab.ip(ns, ["link", "set", b, "down"]);
    await hb.handler.linkGone();
    expect(directives().filter((l) => l.startsWith("nameserver")).sort()).toEqual(["nameserver 10.60.0.53", "nameserver 10.61.0.53"]);
    // Gone (the host stops b's runner and calls its service's onLinkChange): only a's remain.
    await hb.runner.stop();
    lab.ip(ns, ["link", "del", b]);
    await hb.handler.linkGone();
    expect(directives()).toEqual(["domain link0.test", "search link0.test", "nameserver 10.60.0.53"]);
    expect(ours()).toEqual([`default 10.60.0.1 ${a} ${defaultRouteMetric(ifindex(a))}`]);
    await lease(ha.store, noLease);
    await ha.runner.settled();
    expect(readFileSync(resolvConf, "utf8")).toBe(ORIGINAL);
  });
});
