/**
 * Several interfaces in one priv (issue 13 A2): `paddock dhcp --iface A --iface B` in a client
 * namespace with two links, each to its own server with its own router, DNS server and domain
 * (dnsmasq on A with a 10-minute lease; Kea on B, each in its own namespace; which grants an 8 s lease, so stopping it lets
 * B's lease run out while the priv keeps serving A).
 *
 * - both addresses, both default routes with their own metric (1000 + ifindex), one resolv.conf
 *   (a temp file, never /etc/resolv.conf) with both servers' DNS, lowest metric first; one metrics
 *   endpoint with an `iface` label; log lines carrying the interface;
 * - B's server gone → B's lease expires: A's address, route and DNS stay, resolv.conf holds A's only;
 * - the priv stopped (--release-on-exit) → the original resolv.conf is back;
 * - two privs, one per interface, on one runtime directory compose one resolv.conf too, and
 *   stopping one leaves the other's DNS;
 * - a served interface that is deleted takes its DNS servers out of resolv.conf, the other's stay;
 * - start is all or nothing: an interface that cannot start is named, the other is not left running.
 *
 * Waits are for states (addresses, routes, files, log entries) with bounds that only stop a hang.
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readDurableSnapshot } from "@paddock/kv";
import {
  addresses,
  canCreateLabs,
  createLab,
  defaultOffer,
  hasCommands,
  LAB_SKIP_REASON,
  routes,
  startDnsmasq,
  startKea4,
  startPaddock,
  waitFor,
  waitForAddress,
  type Lab,
  type Netns,
  type Veth,
} from "@paddock/testkit";

const NEEDS = ["dnsmasq", "kea-dhcp4", "runc", "nsenter"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the multi-interface test as root with ${NEEDS.join(", ")}`);
const run = canCreateLabs && hasCommands(NEEDS);
const skipReason = canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON;

/** A lease, ARP probe included, is seconds; this only bounds a hang. */
const TIMEOUT_MS = 45_000;
/** Kea's lease on B, kept as it is (--min-lease-seconds), and its T1/T2. */
const KEA_LEASE_S = 8;
const ORIGINAL = "# the administrator's resolver\nnameserver 192.0.2.53\n";

const offerA = defaultOffer("10.86.0", { dns: ["10.86.0.53"], domain: "a.test", search: ["a.test"], classless: [] });
const offerB = defaultOffer("10.87.0", { dns: ["10.87.0.53"], domain: "b.test", search: ["b.test"], classless: [], leaseSeconds: KEA_LEASE_S });

interface Setup {
  lab: Lab;
  client: Netns;
  a: Veth;
  b: Veth;
  runtimeDir: string;
  resolvConf: string;
  startB(): Promise<{ stop(): Promise<unknown> }>;
}

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

/** Two links from one client namespace, dnsmasq on A and Kea on B, a temp resolv.conf with the administrator's file. */
async function setup(): Promise<Setup> {
  const l = createLab({ prefix: "pdmi" });
  lab = l;
  // A server namespace per link: both servers hold port 67.
  const serverA = l.namespace("srva", { ipv6: false });
  const serverB = l.namespace("srvb", { ipv6: false });
  const client = l.namespace("cli", { ipv6: false });
  const a = l.veth(serverA, client, { addresses: { a: `${offerA.net}.1/24` } });
  const b = l.veth(serverB, client, { addresses: { a: `${offerB.net}.1/24` } });
  await startDnsmasq(l, serverA, { iface: a.a.name, offer: offerA });
  const startB = () => startKea4(l, serverB, { iface: b.a.name, offer: offerB, timers: { renew: 2, rebind: 4 } });
  const runtimeDir = l.file("run");
  mkdirSync(runtimeDir, { mode: 0o711 });
  const resolvConf = l.file("resolv.conf");
  writeFileSync(resolvConf, ORIGINAL, { mode: 0o644 });
  return { lab: l, client, a, b, runtimeDir, resolvConf, startB };
}

/** The resolv.conf's directives (no comments). */
function directives(file: string): string[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

/** What a lease on `o` puts into resolv.conf, as directives, in the composed order for `first` then `second`. */
function expectedResolv(first: typeof offerA, second: typeof offerA): string[] {
  return [`domain ${first.domain}`, `search ${first.domain} ${second.domain}`, `nameserver ${first.dns[0]}`, `nameserver ${second.dns[0]}`];
}

function ifindex(l: Lab, ns: Netns, dev: string): number {
  return l.ipJson<Array<{ ifindex: number }>>(ns, ["link", "show", "dev", dev])[0]!.ifindex;
}

/** Paddock's default routes in the client namespace, as "dev metric". */
async function defaultRoutes(ns: Netns): Promise<string[]> {
  return (await routes(ns)).filter((r) => r.dst === "default" && r.protocol === "176").map((r) => `${r.dev} ${r.metric}`).sort();
}

function scrape(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: socket, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

describe.skipIf(!run)(`two interfaces, one resolv.conf (${run ? "root" : skipReason})`, () => {
  it("one priv serves both: both addresses, a default route each with its own metric, both DNS servers in one resolv.conf; B's lease ends and only A's stays; the stop restores the original", async () => {
    const s = await setup();
    const kea = await s.startB();
    const [ifA, ifB] = [s.a.b.name, s.b.b.name];
    const metrics = s.lab.file("metrics.sock");
    const priv = startPaddock(s.lab, s.client, [
      "dhcp", "--no-arp-probe", "--iface", ifA, "--iface", ifB, "--runtime-dir", s.runtimeDir, "--state-dir", s.lab.file("state"),
      "--resolv-conf", s.resolvConf, "--metrics", metrics, "--min-lease-seconds", String(KEA_LEASE_S), "--release-on-exit", "--log-format", "json",
    ], { name: "paddock dhcp (two interfaces)" });
    const state = () => `${priv.tail()}\nresolv.conf:\n${readFileSync(s.resolvConf, "utf8")}`;

    const addrA = await waitForAddress(s.lab, s.client, ifA, "inet", { timeoutMs: TIMEOUT_MS, abortOnExit: priv });
    const addrB = await waitForAddress(s.lab, s.client, ifB, "inet", { timeoutMs: TIMEOUT_MS, abortOnExit: priv });
    expect(addrA.local.startsWith(`${offerA.net}.`)).toBe(true);
    expect(addrB.local.startsWith(`${offerB.net}.`)).toBe(true);

    // A default route per link, each with 1000 + its ifindex: neither replaced the other.
    const [mA, mB] = [1000 + ifindex(s.lab, s.client, ifA), 1000 + ifindex(s.lab, s.client, ifB)];
    await waitFor(async () => (await defaultRoutes(s.client)).length === 2, { what: "both default routes", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state });
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} ${mA}`, `${ifB} ${mB}`].sort());
    expect((await routes(s.client)).find((r) => r.dst === "default" && r.dev === ifA)?.gateway).toBe(offerA.router);
    expect((await routes(s.client)).find((r) => r.dst === "default" && r.dev === ifB)?.gateway).toBe(offerB.router);

    // One resolv.conf: the lower metric's link first.
    const both = mA < mB ? expectedResolv(offerA, offerB) : expectedResolv(offerB, offerA);
    await waitFor(() => JSON.stringify(directives(s.resolvConf)) === JSON.stringify(both), { what: "resolv.conf with both links' servers", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state });

    // One log: every line of a host carries its interface; one metrics endpoint labels by interface.
    for (const iface of [ifA, ifB]) {
      await priv.waitForEntry((e) => e.iface === iface && typeof e.msg === "string" && e.msg.startsWith("handler lease applied"), { what: `a lease applied on ${iface}` });
    }
    const text = await scrape(metrics);
    expect(text).toContain(`paddock_lease_bound{iface="${ifA}"} 1`);
    expect(text).toContain(`paddock_lease_bound{iface="${ifB}"} 1`);
    expect(new Set(["dhcp4"].flatMap((svc) => [ifA, ifB].map((i) => readFileSync(path.join(s.runtimeDir, `${svc}-${i}.pid`), "utf8").trim()))).size).toBe(1);

    // B's server goes: its lease runs out and is withdrawn; A's address, route and DNS stay.
    await kea.stop();
    await waitFor(async () => (await addresses(s.client, ifB, "inet")).length === 0, { what: `B's address to be withdrawn at its expiry`, timeoutMs: TIMEOUT_MS + KEA_LEASE_S * 1000, abortOnExit: priv, state });
    await waitFor(() => !directives(s.resolvConf).some((l) => l.includes(offerB.dns[0]!)), { what: "B's server to leave resolv.conf", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state });
    expect(directives(s.resolvConf)).toEqual([`domain ${offerA.domain}`, `search ${offerA.domain}`, `nameserver ${offerA.dns[0]}`]);
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} ${mA}`]);
    expect((await addresses(s.client, ifA, "inet")).map((x) => x.local)).toEqual([addrA.local]);

    // The priv stops (releasing A): the administrator's file is back.
    expect((await priv.stop()).code).toBe(0);
    expect(readFileSync(s.resolvConf, "utf8")).toBe(ORIGINAL);
    expect(await defaultRoutes(s.client)).toEqual([]);
  }, 4 * TIMEOUT_MS);

  it("two privs, one per interface, on one runtime directory: one resolv.conf from both; stopping one leaves the other's DNS and route", async () => {
    const s = await setup();
    await s.startB();
    const [ifA, ifB] = [s.a.b.name, s.b.b.name];
    const start = (iface: string) =>
      startPaddock(s.lab, s.client, [
        "dhcp", "--no-arp-probe", "--iface", iface, "--runtime-dir", s.runtimeDir, "--state-dir", s.lab.file(`state-${iface}`), "--resolv-conf", s.resolvConf, "--release-on-exit", "--log-format", "json",
      ], { name: `paddock dhcp ${iface}` });
    const privA = start(ifA);
    const privB = start(ifB);
    const state = () => `${privA.tail()}\n${privB.tail()}\nresolv.conf:\n${readFileSync(s.resolvConf, "utf8")}`;
    const [mA, mB] = [1000 + ifindex(s.lab, s.client, ifA), 1000 + ifindex(s.lab, s.client, ifB)];
    const both = mA < mB ? expectedResolv(offerA, offerB) : expectedResolv(offerB, offerA);
    await waitFor(() => JSON.stringify(directives(s.resolvConf)) === JSON.stringify(both), { what: "resolv.conf with both privs' servers", timeoutMs: TIMEOUT_MS, abortOnExit: [privA, privB], state });
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} ${mA}`, `${ifB} ${mB}`].sort());

    expect((await privB.stop()).code).toBe(0);
    expect(directives(s.resolvConf)).toEqual([`domain ${offerA.domain}`, `search ${offerA.domain}`, `nameserver ${offerA.dns[0]}`]);
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} ${mA}`]);

    expect((await privA.stop()).code).toBe(0);
    expect(readFileSync(s.resolvConf, "utf8")).toBe(ORIGINAL);
  }, 4 * TIMEOUT_MS);

  it("a served interface that is deleted takes its DNS servers out of resolv.conf at once; the other's stay", async () => {
    const s = await setup();
    await s.startB();
    const [ifA, ifB] = [s.a.b.name, s.b.b.name];
    const priv = startPaddock(s.lab, s.client, [
      "dhcp", "--no-arp-probe", "--iface", ifA, "--iface", ifB, "--runtime-dir", s.runtimeDir, "--state-dir", s.lab.file("state"), "--resolv-conf", s.resolvConf, "--log-format", "json",
    ], { name: "paddock dhcp (two interfaces)" });
    const state = () => `${priv.tail()}\nresolv.conf:\n${readFileSync(s.resolvConf, "utf8")}`;
    const [mA, mB] = [1000 + ifindex(s.lab, s.client, ifA), 1000 + ifindex(s.lab, s.client, ifB)];
    const both = mA < mB ? expectedResolv(offerA, offerB) : expectedResolv(offerB, offerA);
    await waitFor(() => JSON.stringify(directives(s.resolvConf)) === JSON.stringify(both), { what: "resolv.conf with both links' servers", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state });
    s.lab.ip(s.client, ["link", "del", ifB]);
    await waitFor(() => JSON.stringify(directives(s.resolvConf)) === JSON.stringify([`domain ${offerA.domain}`, `search ${offerA.domain}`, `nameserver ${offerA.dns[0]}`]), { what: "B's servers to leave resolv.conf", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state });
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} ${mA}`]);
    expect(priv.running).toBe(true);
  }, 4 * TIMEOUT_MS);

  it("paddock run dhcp4 --iface A --iface B: the same, with a state directory per interface under --state-dir", async () => {
    const s = await setup();
    await s.startB();
    const [ifA, ifB] = [s.a.b.name, s.b.b.name];
    const stateDir = s.lab.file("state");
    const priv = startPaddock(s.lab, s.client, [
      "run", "dhcp4", "--iface", ifA, "--iface", ifB, "--runtime-dir", s.runtimeDir, "--state-dir", stateDir,
      "--set", `resolv-conf=${s.resolvConf}`, "--set", "arp-probe=false", "--set", "release-on-exit=true", "--log-format", "json",
    ], { name: "paddock run dhcp4 (two interfaces)" });
    const state = () => `${priv.tail()}\nresolv.conf:\n${readFileSync(s.resolvConf, "utf8")}`;
    const [mA, mB] = [1000 + ifindex(s.lab, s.client, ifA), 1000 + ifindex(s.lab, s.client, ifB)];
    const both = mA < mB ? expectedResolv(offerA, offerB) : expectedResolv(offerB, offerA);
    await waitFor(() => JSON.stringify(directives(s.resolvConf)) === JSON.stringify(both), { what: "resolv.conf with both links' servers", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state });
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} ${mA}`, `${ifB} ${mB}`].sort());
    // Each interface's store in its own directory (its durable state: the store file or its journal, decision 0012).
    for (const iface of [ifA, ifB]) expect(JSON.stringify(readDurableSnapshot(path.join(stateDir, iface), "dhcp4"))).toContain(iface);
    expect((await priv.stop()).code).toBe(0);
    expect(readFileSync(s.resolvConf, "utf8")).toBe(ORIGINAL);
  }, 4 * TIMEOUT_MS);

  it("--route-metric N: the lease's routes carry N; with several interfaces, or a value that is not a metric, it is refused in one sentence", async () => {
    const s = await setup();
    const [ifA, ifB] = [s.a.b.name, s.b.b.name];
    const args = (...extra: string[]) => ["dhcp", "--no-arp-probe", "--runtime-dir", s.runtimeDir, "--state-dir", s.lab.file(`state-${extra.join("")}`), "--resolv-conf", s.resolvConf, ...extra];
    for (const [extra, sentence] of [
      [["--iface", ifA, "--iface", ifB, "--route-metric", "777"], /^paddock: --route-metric gives every interface the same metric, so their default routes would replace each other: /],
      [["--iface", ifA, "--route-metric", "-1"], /^paddock: option route-metric of dhcp4 must be a whole number 0–4294967295, not -1$/],
    ] as const) {
      const p = startPaddock(s.lab, s.client, args(...extra), { name: "paddock dhcp (refused)" });
      expect((await p.exited).code, p.output).toBe(1);
      const lines = p.output.split("\n").filter((l) => l.startsWith("paddock: "));
      expect(lines, p.output).toHaveLength(1);
      expect(lines[0]).toMatch(sentence);
    }
    const priv = startPaddock(s.lab, s.client, args("--iface", ifA, "--route-metric", "777"), { name: "paddock dhcp --route-metric 777" });
    await waitFor(async () => (await defaultRoutes(s.client)).length === 1, { what: "the default route", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state: () => priv.tail() });
    expect(await defaultRoutes(s.client)).toEqual([`${ifA} 777`]);
  }, 4 * TIMEOUT_MS);

  it("all or nothing at start: an interface that cannot start is named in one sentence, and the other one is not left running", async () => {
    const s = await setup();
    const [ifA, ifB] = [s.a.b.name, s.b.b.name];
    const args = (state: string, ...ifaces: string[]) => ["dhcp", "--no-arp-probe", ...ifaces.flatMap((i) => ["--iface", i]), "--runtime-dir", s.runtimeDir, "--state-dir", s.lab.file(state), "--resolv-conf", s.resolvConf];
    const first = startPaddock(s.lab, s.client, args("state-1", ifA), { name: "paddock dhcp A" });
    await first.waitForLog(/dhcp4 started on /, { timeoutMs: TIMEOUT_MS });
    // A is taken by the first priv: the second, on B and A, must not start B alone.
    const second = startPaddock(s.lab, s.client, args("state-2", ifB, ifA), { name: "paddock dhcp B+A" });
    const exit = await second.exited;
    expect(exit.code, second.output.slice(-2000)).toBe(1);
    const sentences = second.output.split("\n").filter((l) => l.startsWith("paddock: "));
    expect(sentences).toHaveLength(1);
    expect(sentences[0]).toMatch(new RegExp(`^paddock: ${ifA}: the service dhcp4 is already running on ${ifA} .*; no interface was started$`));
    // B's host was stopped again: its lock is free, so a priv for B alone starts.
    const third = startPaddock(s.lab, s.client, args("state-3", ifB), { name: "paddock dhcp B" });
    await third.waitForLog(/dhcp4 started on /, { timeoutMs: TIMEOUT_MS });
    expect(first.running).toBe(true);
    // Twice the same interface is refused before anything starts.
    const twice = startPaddock(s.lab, s.client, args("state-4", ifA, ifA), { name: "paddock dhcp A+A" });
    expect((await twice.exited).code).toBe(1);
    expect(twice.output).toContain(`paddock: --iface ${ifA} is given twice`);
  }, 4 * TIMEOUT_MS);
});
