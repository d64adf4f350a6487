// The handlers against the real kernel, in a throwaway network namespace with a veth pair, fed
// by a real KvStore in a temp state dir written the way the DHCP calf writes a lease. Every
// effect is checked independently with `ip -j -n NS …`; resolv.conf and the host name are temp
// files. Needs root: skipped with a reason otherwise, never skipped under CI=true. The namespace,
// its processes and the temp dirs are a @paddock/testkit lab, removed in afterAll even on failure.

import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addresses, canCreateLabs, createLab, waitFor, waitForNetlinkSubscription, type Lab, type Netns } from "@paddock/testkit";
import { KvStore } from "@paddock/kv";
import { dhcp4Schema } from "../src/index.ts";
import type { KvCaller } from "@paddock/kv";
import { acquirePidLock, HandlerRunner, RESOLV_CONF_HEADER, type PidLock } from "@paddock/runtime";
import { defaultRouteMetric, HostnameHandler, LeaseHandler, type LeaseHandlerOptions } from "../src/index.ts";
import type { HandlerLogger, HandlerRunnerOptions, KvSource } from "@paddock/runtime";

const calf: KvCaller = { role: "calf", name: "dhcp4" };
const enc = new TextEncoder();

interface IpAddrInfo { family: string; local: string; prefixlen: number; valid_life_time: number; preferred_life_time: number; secondary?: boolean }
interface IpRoute { dst: string; gateway?: string; dev: string; protocol?: string; scope?: string; metric?: number }

/** A logger keeping every line (and printing errors, which a passing run should only show where a test provokes them). */
function recordingLogger(): HandlerLogger & { lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] } {
  const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * The least valid lifetime an address may have left now if it was applied for a lease expiring at
 * `expires` (Unix s): the kernel counts it down from the apply, which was before now (and its
 * whole seconds round down).
 */
function leastLifetimeLeft(expires: number): number {
  return expires - Math.ceil(Date.now() / 1000) - 1;
}

describe.skipIf(!canCreateLabs)("lease and hostname handlers in a network namespace (needs root: skipped when not root, unless CI=true)", () => {
  let lab: Lab | undefined;
  let ns: Netns = { name: "", path: "" };
  let v0 = "";
  const stores: KvStore[] = [];
  const runners: HandlerRunner[] = [];
  // The pid lock a host would hold: while it names this process, our resolv.conf contributions are live.
  let owner: PidLock | undefined;
  const leaseHandler = (o: LeaseHandlerOptions): LeaseHandler => new LeaseHandler({ ownerLock: owner!.file, ...o });
  /** Our routes' metric on v0 (1000 + its ifindex, decision 0008). */
  const metric = (): number => defaultRouteMetric(ipJson<{ ifindex: number }[]>("link", "show", "dev", v0)[0]!.ifindex);

  const tmp = (): string => {
    const d = lab!.uniqueFile("dir");
    mkdirSync(d);
    return d;
  };
  const ip = (...args: string[]): string => lab!.ip(ns, args);
  const ipJson = <T>(...args: string[]): T => lab!.ipJson<T>(ns, args);
  const inet = (dev: string): IpAddrInfo[] =>
    ipJson<{ addr_info: IpAddrInfo[] }[]>("addr", "show", "dev", dev)[0]!.addr_info.filter((a) => a.family === "inet");
  const routes = (): IpRoute[] => ipJson<IpRoute[]>("route", "show", "table", "main");
  const ours = (): IpRoute[] => routes().filter((r) => r.protocol === "176");
  const mtu = (dev: string): number => ipJson<{ mtu: number }[]>("link", "show", "dev", dev)[0]!.mtu;
  const sysctl = (key: string): string => lab!.exec(ns, ["cat", `/proc/sys/net/ipv4/conf/${key}`]).trim();

  /** Writes keys as the calf does: one burst, not awaited one by one. */
  /** What the calf does: one lease (or its withdrawal) as one commit. */
  async function calfWrites(store: KvStore, kv: Record<string, string | null>): Promise<void> {
    const r = await store.commit(calf, Object.entries(kv).map(([k, v]) => ({ path: k.split("/").filter(Boolean), value: v === null ? null : enc.encode(v) })));
    if (!r.ok) throw r.error;
  }

  function newRunner(source: KvSource, handlers: HandlerRunnerOptions["handlers"], log: HandlerLogger, extra: Partial<HandlerRunnerOptions> = {}): HandlerRunner {
    const r = new HandlerRunner({ source, handlers, log, resyncMs: 0, ...extra });
    runners.push(r);
    r.start();
    return r;
  }

  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error("CI=true but not root: the namespace tests cannot run and must not be skipped");
    lab = createLab({ prefix: "phd" });
    ns = lab.namespace("n");
    v0 = lab.veth(ns, ns).a.name;
    owner = acquirePidLock(path.join(tmp(), "paddock.pid"));
    // Make the kernel delete secondaries with their primary, so the test sees whether we
    // protect someone else's secondary address (systemd hosts default to 1).
    lab.sysctl(ns, { "net.ipv4.conf.all.promote_secondaries": "0", [`net.ipv4.conf.${v0}.promote_secondaries`]: "0" });
  });

  afterAll(async () => {
    for (const r of runners) await r.stop().catch(() => {});
    for (const s of stores) await s.close().catch(() => {});
    owner?.release();
    await lab?.destroy();
  });

  describe("one lease, from apply to withdrawal, across a restart", () => {
    let stateDir = "";
    let store: KvStore;
    let runner: HandlerRunner;
    let resolvConf = "";
    let hostnameFile = "";
    const log = recordingLogger();
    const ORIGINAL_RESOLV = "# the administrator's resolver\nnameserver 192.0.2.53\n";
    const t0 = Math.floor(Date.now() / 1000);
    const handlers = () => [
      leaseHandler({ link: v0, stateDir, netnsPath: ns.path, resolvConfPath: resolvConf, log }),
      new HostnameHandler({ enabled: true, stateDir, hostnamePath: hostnameFile, log }),
    ];

    beforeAll(() => {
      stateDir = tmp();
      const etc = tmp();
      resolvConf = path.join(etc, "resolv.conf");
      hostnameFile = path.join(etc, "hostname");
      writeFileSync(resolvConf, ORIGINAL_RESOLV, { mode: 0o644 });
      writeFileSync(hostnameFile, "host-before");
      store = new KvStore({ schema: dhcp4Schema, stateDir });
      stores.push(store);
      // Someone else's address and routes, there before us: never to be touched.
      ip("addr", "add", "192.168.77.7/24", "dev", v0);
      ip("route", "add", "172.16.0.0/12", "via", "192.168.77.1", "dev", v0, "proto", "static");
      ip("route", "add", "default", "via", "192.168.77.1", "dev", v0, "proto", "static");
    });

    it("applies a lease: address with lifetimes, MTU, default and classless routes with our protocol, resolv.conf, host name", async () => {
      runner = newRunner(store, handlers(), log);
      await calfWrites(store, {
        "/ip": "10.0.0.5/24",
        "/gateway": "10.0.0.1",
        "/mtu": "1400",
        "/domain": "example.test",
        "/search": "a.test b.test",
        "/nameserver/001": "10.0.0.53",
        "/nameserver/002": "10.0.0.54",
        "/nameserver/003": "10.0.0.55",
        "/nameserver/004": "10.0.0.56",
        "/route/001": "192.168.100.0/24 10.0.0.2",
        "/route/002": "10.99.0.0/16 0.0.0.0",
        "/hostname": "calf-host",
        "/lease/expires": String(t0 + 3600),
        "/lease/server": "10.0.0.1",
      });
      await runner.settled();
      expect(runner.status().map((s) => [s.name, s.state, s.lastError?.message])).toEqual([
        ["lease", "converged", undefined],
        ["hostname", "converged", undefined],
      ]);
      // One commit, one reconcile: the whole lease applied at once.
      expect(runner.status()[0]!.reconciles).toBe(2); // the start (empty store) + the lease

      const addr = inet(v0).find((a) => a.local === "10.0.0.5")!;
      expect(addr.prefixlen).toBe(24);
      expect(addr.valid_life_time).toBeGreaterThanOrEqual(leastLifetimeLeft(t0 + 3600));
      expect(addr.valid_life_time).toBeLessThanOrEqual(3600);
      expect(addr.preferred_life_time).toBeGreaterThanOrEqual(leastLifetimeLeft(t0 + 3600));
      expect(mtu(v0)).toBe(1400);
      const mine = ours().map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.dev} ${r.metric}`).sort();
      const m = metric();
      expect(mine).toEqual([`10.99.0.0/16 - ${v0} ${m}`, `192.168.100.0/24 10.0.0.2 ${v0} ${m}`, `default 10.0.0.1 ${v0} ${m}`]);
      expect(readFileSync(resolvConf, "utf8").split("\n")).toEqual([
        RESOLV_CONF_HEADER,
        `# from dhcp4 on ${v0} (priority ${metric()}); the previous file is restored when the last of them ends`,
        "domain example.test",
        "search a.test b.test",
        "nameserver 10.0.0.53",
        "nameserver 10.0.0.54",
        "nameserver 10.0.0.55",
        "",
      ]);
      expect(readFileSync(hostnameFile, "utf8")).toBe("calf-host");
      // Someone else's things are untouched.
      expect(inet(v0).some((a) => a.local === "192.168.77.7")).toBe(true);
      expect(routes().filter((r) => r.protocol === "static").map((r) => r.dst).sort()).toEqual(["172.16.0.0/12", "default"]);
      // The log says what was done, readably.
      const applied = log.lines.find((l) => l.level === "info" && l.msg?.startsWith("handler lease applied"));
      expect(applied?.msg).toContain(`add 10.0.0.5/24 dev ${v0}`);
    });

    it("a renewal refreshes the lifetimes in place: the address never disappears", async () => {
      // Polls of the address, back to back, from before the renewal until after it has settled.
      const samples: boolean[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) samples.push((await addresses(ns, v0, "inet")).some((a) => a.local === "10.0.0.5"));
      })();
      const polls = (n: number, what: string) => waitFor(() => samples.length >= n, { what, state: () => `${samples.length} polls` });
      // The kernel's own account too: a monitor would print "Deleted" for even a microsecond's gap.
      const monitor = lab!.spawn(null, ["ip", "-n", ns.name, "monitor", "address"], { name: "ip monitor" });
      await waitForNetlinkSubscription(monitor);
      await polls(1, "a poll before the renewal");
      await calfWrites(store, { "/lease/expires": String(t0 + 7200) });
      await runner.settled();
      // The refresh is an RTM_NEWADDR of the address; a gap would have put a "Deleted" line before it.
      await monitor.waitForLog(/10\.0\.0\.5\/24/);
      // A poll that began after the renewal settled (the one in flight may have begun before).
      await polls(samples.length + 2, "a poll after the renewal");
      polling = false;
      await poller;
      await monitor.stop();
      expect(monitor.output).toContain("10.0.0.5/24");
      expect(monitor.output).not.toMatch(/Deleted.*10\.0\.0\.5/);
      expect(samples.every(Boolean)).toBe(true);
      const addr = inet(v0).find((a) => a.local === "10.0.0.5")!;
      expect(addr.valid_life_time).toBeGreaterThanOrEqual(leastLifetimeLeft(t0 + 7200));
      expect(addr.preferred_life_time).toBeGreaterThanOrEqual(leastLifetimeLeft(t0 + 7200));
      expect(inet(v0).filter((a) => a.local === "10.0.0.5")).toHaveLength(1);
    });

    it("a restart (new runner and handlers, same state dir and store) is idempotent and removes stale things of ours", async () => {
      // Someone else's secondary in our subnet: deleting our primary must not take it along.
      ip("addr", "add", "10.0.0.99/24", "dev", v0);
      expect(inet(v0).find((a) => a.local === "10.0.0.99")?.secondary).toBe(true);
      await runner.stop();
      // While priv is down: a route of ours that is no longer wanted, and a new address.
      ip("route", "add", "10.200.0.0/16", "via", "10.0.0.1", "dev", v0, "proto", "176", "metric", "1024");
      await calfWrites(store, { "/ip": "10.0.0.6/24" });

      const log2 = recordingLogger();
      const handlers2 = [
        leaseHandler({ link: v0, stateDir, netnsPath: ns.path, resolvConfPath: resolvConf, log: log2 }),
        new HostnameHandler({ enabled: true, stateDir, hostnamePath: hostnameFile, log: log2 }),
      ];
      runner = newRunner(store, handlers2, log2);
      await runner.settled();
      expect(runner.status()[0]).toMatchObject({ state: "converged", failures: 0 });
      const locals = inet(v0).map((a) => a.local).sort();
      expect(locals).toEqual(["10.0.0.6", "10.0.0.99", "192.168.77.7"]);
      const mine = ours().map((r) => `${r.dst} ${r.gateway ?? "-"}`).sort();
      expect(mine).toEqual(["10.99.0.0/16 -", "192.168.100.0/24 10.0.0.2", "default 10.0.0.1"]);
      expect(routes().filter((r) => r.protocol === "static")).toHaveLength(2);
      // The promotion that kept 10.0.0.99 alive was asked of the kernel.
      expect(sysctl(`${v0}/promote_secondaries`)).toBe("1");

      // And a second reconcile with nothing changed changes nothing.
      const before = JSON.stringify([inet(v0).map((a) => a.local), routes()]);
      runner.reconcileNow();
      await runner.settled();
      expect(JSON.stringify([inet(v0).map((a) => a.local), routes()])).toBe(before);
      expect(log2.lines.filter((l) => l.level === "info" && l.msg?.startsWith("handler lease applied"))).toHaveLength(1);
    });

    it("deleting the lease keys withdraws exactly what was applied, and restores MTU, resolv.conf and host name", async () => {
      const keys = store.list({ role: "priv", name: "test" }, []);
      if (!keys.ok) throw keys.error;
      await calfWrites(store, Object.fromEntries(keys.value.filter((k) => !k.startsWith("/state")).map((k) => [k, null])));
      await runner.settled();
      expect(runner.status().map((s) => s.state)).toEqual(["converged", "converged"]);
      expect(inet(v0).map((a) => a.local).sort()).toEqual(["10.0.0.99", "192.168.77.7"]);
      expect(ours()).toEqual([]);
      expect(routes().filter((r) => r.protocol === "static").map((r) => r.dst).sort()).toEqual(["172.16.0.0/12", "default"]);
      expect(mtu(v0)).toBe(1500);
      expect(readFileSync(resolvConf, "utf8")).toBe(ORIGINAL_RESOLV);
      expect(readFileSync(hostnameFile, "utf8")).toBe("host-before");
      const rec = JSON.parse(readFileSync(path.join(stateDir, "handler-lease.json"), "utf8"));
      expect(rec).toMatchObject({ addresses: [], mtu: null, routeLinks: [], resolvConf: null });
    });
  });

  it("leaves alone, and reports, an address that is already there and a route that holds our route's key", async () => {
    const stateDir = tmp();
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    stores.push(store);
    ip("addr", "add", "10.9.0.5/16", "dev", v0, "valid_lft", "forever");
    ip("route", "add", "10.9.9.0/24", "via", "192.168.77.1", "dev", v0, "proto", "static", "metric", String(metric()));
    const log = recordingLogger();
    const runner = newRunner(store, [leaseHandler({ link: v0, stateDir, netnsPath: ns.path })], log);
    await calfWrites(store, { "/ip": "10.9.0.5/16", "/route/001": "10.9.9.0/24 10.9.0.1", "/route/002": "10.10.0.0/16 10.9.0.1", "/lease/expires": String(Math.floor(Date.now() / 1000) + 600) });
    await runner.settled();
    const st = runner.status()[0]!;
    expect(st.state).toBe("converged");
    expect(st.conflicts).toEqual([
      `address 10.9.0.5/16 on ${v0} was not added by Paddock: left alone (not refreshed, never removed)`,
      `route 10.9.9.0/24 metric ${metric()} exists with protocol static, not Paddock's: left alone`,
    ]);
    expect(log.lines.filter((l) => l.level === "warn")).toHaveLength(2);
    expect(inet(v0).find((a) => a.local === "10.9.0.5")?.valid_life_time).toBe(4294967295);
    expect(routes().find((r) => r.dst === "10.9.9.0/24")).toMatchObject({ gateway: "192.168.77.1", protocol: "static" });
    expect(ours().map((r) => r.dst)).toEqual(["10.10.0.0/16"]);
    await calfWrites(store, { "/ip": null, "/route/001": null, "/route/002": null, "/lease/expires": null });
    await runner.settled();
    expect(inet(v0).some((a) => a.local === "10.9.0.5")).toBe(true);
    expect(routes().find((r) => r.dst === "10.9.9.0/24")?.protocol).toBe("static");
    expect(ours()).toEqual([]);
    await runner.stop();
    ip("route", "del", "10.9.9.0/24", "via", "192.168.77.1", "dev", v0, "proto", "static", "metric", String(metric()));
    ip("addr", "del", "10.9.0.5/16", "dev", v0);
  });

  it("resolv.conf: a symlink is replaced by our file and restored as the same symlink; a file that was not there is removed again", async () => {
    const etc = tmp();
    const linked = path.join(etc, "resolv.conf");
    const absent = path.join(etc, "resolv-none.conf");
    writeFileSync(path.join(etc, "stub-resolv.conf"), "nameserver 127.0.0.53\n");
    symlinkSync("stub-resolv.conf", linked);
    for (const [file, check] of [
      [linked, () => expect(readlinkSync(linked)).toBe("stub-resolv.conf")],
      [absent, () => expect(existsSync(absent)).toBe(false)],
    ] as const) {
      const stateDir = tmp();
      const store = new KvStore({ schema: dhcp4Schema, stateDir });
      stores.push(store);
      const runner = newRunner(store, [leaseHandler({ link: v0, stateDir, netnsPath: ns.path, resolvConfPath: file })], recordingLogger());
      await calfWrites(store, { "/ip": "10.11.0.5/24", "/nameserver/001": "10.11.0.53", "/lease/expires": "0" });
      await runner.settled();
      expect(lstatSync(file).isFile()).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(readFileSync(file, "utf8")).toContain("nameserver 10.11.0.53\n");
      expect(readFileSync(path.join(etc, "stub-resolv.conf"), "utf8")).toBe("nameserver 127.0.0.53\n");
      await calfWrites(store, { "/ip": null, "/nameserver/001": null, "/lease/expires": null });
      await runner.settled();
      expect(runner.status()[0]!.state).toBe("converged");
      check();
      await runner.stop();
    }
    expect(inet(v0).some((a) => a.local === "10.11.0.5")).toBe(false);
  });

  it("an ownership record naming an address that is not there (a crash between record and add) is cleared without error", async () => {
    const stateDir = tmp();
    const index = ipJson<{ ifindex: number }[]>("link", "show", "dev", v0)[0]!.ifindex;
    writeFileSync(
      path.join(stateDir, "handler-lease.json"),
      JSON.stringify({ format: "paddock-owned/1", addresses: [{ index, cidr: "10.12.0.5/24" }], mtu: null, routeLinks: [index], resolvConf: null }),
    );
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    stores.push(store);
    const before = JSON.stringify([inet(v0), routes()]);
    const runner = newRunner(store, [leaseHandler({ link: v0, stateDir, netnsPath: ns.path })], recordingLogger());
    await runner.settled();
    expect(runner.status()[0]).toMatchObject({ state: "converged", failures: 0 });
    expect(JSON.parse(readFileSync(path.join(stateDir, "handler-lease.json"), "utf8"))).toMatchObject({ addresses: [], routeLinks: [] });
    expect(JSON.stringify([inet(v0), routes()])).toBe(before);
    await runner.stop();
  });

  it("an expiring lease is withdrawn at its expiry by the handler, not only by the kernel", async () => {
    const stateDir = tmp();
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    stores.push(store);
    const log = recordingLogger();
    const runner = newRunner(store, [leaseHandler({ link: v0, stateDir, netnsPath: ns.path })], log);
    // The kernel's account of the apply: the lease lasts 1–2 s, so a check after settled() could
    // come after the expiry on a loaded machine; the monitor's lines cannot.
    const monitor = lab!.spawn(null, ["ip", "-n", ns.name, "monitor", "address", "route"], { name: "ip monitor" });
    await waitForNetlinkSubscription(monitor);
    await calfWrites(store, { "/ip": "10.5.0.5/24", "/gateway": "10.5.0.1", "/lease/expires": String(Math.floor(Date.now() / 1000) + 2) });
    await runner.settled();
    await monitor.waitForLog(new RegExp(`^\\d+: ${v0}\\s+inet 10\\.5\\.0\\.5/24 `));
    await monitor.waitForLog(new RegExp(`^default via 10\\.5\\.0\\.1 dev ${v0} proto 176 `));
    await waitFor(() => !inet(v0).some((a) => a.local === "10.5.0.5") && ours().length === 0, { what: "withdrawal at expiry" });
    // The handler woke up at the expiry and withdrew the route itself.
    await waitFor(() => log.lines.some((l) => l.msg?.includes("remove route default via 10.5.0.1")), { what: "the handler's withdrawal" });
    expect(runner.status()[0]!.desired).toMatch(/^no lease \(the lease expired/);
    await monitor.waitForLog(new RegExp(`^Deleted default via 10\\.5\\.0\\.1 dev ${v0} proto 176 `));
    await monitor.stop();
    await runner.stop();
  });

  it("a failing apply (the interface is missing) is retried with backoff, visible in status and logs, and converges once it appears", async () => {
    const stateDir = tmp();
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    stores.push(store);
    const dummy = lab!.ifname();
    const peer = lab!.ifname();
    const log = recordingLogger();
    const runner = newRunner(store, [leaseHandler({ link: dummy, stateDir, netnsPath: ns.path })], log, { retry: { initialMs: 30, maxMs: 120 } });
    await calfWrites(store, { "/ip": "10.7.0.5/24", "/gateway": "10.7.0.1", "/mtu": "1300", "/lease/expires": "0" });
    await waitFor(() => runner.status()[0]!.consecutiveFailures >= 3, { what: "three failures" });
    const st = runner.status()[0]!;
    expect(st.state).toBe("failing");
    expect(st.lastError?.code).toBe("PADDOCK_E_HANDLER_LINK");
    expect(st.lastError?.message).toContain("ENODEV");
    const errs = log.lines.filter((l) => l.level === "error");
    expect(errs.length).toBeGreaterThanOrEqual(3);
    expect(errs.at(-1)!.obj).toMatchObject({ handler: "lease", code: "PADDOCK_E_HANDLER_LINK" });
    expect((errs.at(-1)!.obj as { retryInMs: number }).retryInMs).toBe(120);

    // A veth pair (this kernel has no dummy driver); created now, as a late USB NIC would be.
    ip("link", "add", dummy, "type", "veth", "peer", "name", peer);
    ip("link", "set", dummy, "up");
    ip("link", "set", peer, "up");
    await waitFor(() => runner.status()[0]!.state === "converged", { what: "convergence" });
    const addr = inet(dummy).find((a) => a.local === "10.7.0.5")!;
    expect(addr.valid_life_time).toBe(4294967295);
    expect(mtu(dummy)).toBe(1300);
    expect(ours().filter((r) => r.dev === dummy).map((r) => `${r.dst} ${r.gateway}`)).toEqual(["default 10.7.0.1"]);
    expect(log.lines.some((l) => l.level === "info" && l.msg?.includes("recovered"))).toBe(true);
    await runner.stop();
    ip("link", "del", dummy);
  });

  it("a value put in the store file by hand that fails validation never reaches resolv.conf", async () => {
    const stateDir = tmp();
    const etc = tmp();
    const resolvConf = path.join(etc, "resolv.conf");
    const entries = {
      "/ip": "10.8.0.5/24",
      "/nameserver/001": "10.8.0.53\nnameserver 6.6.6.6",
      "/nameserver/002": "10.8.0.54",
      "/domain": "evil.test\nsearch attacker.test",
      "/search": "ok.test\u2028nameserver 6.6.6.6",
      "/lease/expires": "0",
    };
    writeFileSync(path.join(stateDir, "store.json"), JSON.stringify({ format: "paddock-kv/1", schema: "dhcp4", seq: "6", entries }));
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    stores.push(store);
    // The store drops them on load (the schema check at the edge); the handler acts on what is left.
    expect([...store.parsed.keys()].sort()).toEqual(["/ip", "/lease/expires", "/nameserver/002"]);
    const runner = newRunner(store, [leaseHandler({ link: v0, stateDir, netnsPath: ns.path, resolvConfPath: resolvConf })], recordingLogger());
    await runner.settled();
    expect(runner.status()[0]!.state).toBe("converged");
    const text = readFileSync(resolvConf, "utf8");
    expect(text).not.toMatch(/6\.6\.6\.6|attacker|evil|ok\.test/);
    expect(text.split("\n").filter((l) => !l.startsWith("#"))).toEqual(["nameserver 10.8.0.54", ""]);
    await runner.stop();
    // Clean up the address the runner added (the runner is stopped, which leaves it applied).
    ip("addr", "del", "10.8.0.5/24", "dev", v0);
    expect(existsSync(resolvConf)).toBe(true);
  });

});
