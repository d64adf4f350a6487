/**
 * The RA service end to end (issue 11 items 2, 6): `paddock ra` in a client namespace, its calf
 * under runc, against radvd on the other side of a veth advertising a /64 with RDNSS, DNSSL, a
 * RFC 4191 route, high router preference and an MTU, plus a second /64 with short lifetimes.
 * Everything is read back with `ip -j -6` and from files, independently of Paddock's own code:
 *
 * - a stable RFC 7217 address on each prefix (not the MAC's EUI-64, different identifiers on the two
 *   prefixes), the same after a restart of paddock, with the RA's lifetimes in the kernel;
 * - the default route via radvd's link-local address with preference high and an expiry, the
 *   route information route, on-link routes, all proto 176; the IPv6 MTU; resolv.conf with the
 *   RDNSS server and DNSSL name; accept_ra = 0 and autoconf = 0 while it runs, restored at stop;
 * - radvd restarted without the short-lived prefix: when its lifetimes run out, exactly its
 *   address and on-link route are gone, and the rest stays.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addresses, canCreateLabs, createLab, findPaddockBin, LAB_SKIP_REASON, routes, runAsync, startPaddock, startRadvd, waitFor, type IpAddrInfo, type Lab, type LabProcess, type Netns, type PaddockProcess } from "@paddock/testkit";
import { addressOf, stableIid } from "../packages/services/ra/core/src/index.ts";

/** Router discovery, then the handler's apply: seconds; bound hangs well above. */
const TIMEOUT_MS = 30_000;
const P1 = "2001:db8:1::";
const P2 = "2001:db8:2::";

function radvdConfig(iface: string, withShortPrefix: boolean): string {
  return [
    `interface ${iface} {`,
    "  AdvSendAdvert on;",
    "  MinRtrAdvInterval 3;",
    "  MaxRtrAdvInterval 4;",
    "  AdvDefaultPreference high;",
    "  AdvDefaultLifetime 1800;",
    "  AdvLinkMTU 1400;",
    `  prefix ${P1}/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 86400; AdvPreferredLifetime 14400; };`,
    ...(withShortPrefix ? [`  prefix ${P2}/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 12; AdvPreferredLifetime 6; DecrementLifetimes on; };`] : []),
    "  route 2001:db8:99::/48 { AdvRoutePreference low; AdvRouteLifetime 1800; };",
    "  RDNSS 2001:db8::53 { AdvRDNSSLifetime 1800; };",
    "  DNSSL example.test { AdvDNSSLLifetime 1800; };",
    "};",
    "",
  ].join("\n");
}

describe.skipIf(!canCreateLabs)(`paddock ra against radvd (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let router: Netns;
  let client: Netns;
  let routerIface: string;
  let iface: string;
  let routerLinkLocal: string;
  let radvd: LabProcess;
  let ra: PaddockProcess;
  const resolvConf = () => path.join(lab.dir, "etc/resolv.conf");
  const stateDir = () => path.join(lab.dir, "state");

  const start = async () => {
    const runtimeDir = path.join(lab.dir, "run");
    mkdirSync(runtimeDir, { recursive: true, mode: 0o711 });
    const p = startPaddock(lab, client, ["ra", "--iface", iface, "--state-dir", stateDir(), "--runtime-dir", runtimeDir, "--admin-socket", path.join(lab.dir, "ra.sock"), "--resolv-conf", resolvConf(), "--log-format", "json"]);
    await p.waitForLog(/RA client started/, { timeoutMs: TIMEOUT_MS });
    return p;
  };
  const sysctl = (leaf: string) => lab.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.${leaf}`]).trim();
  const global6 = async () => (await addresses(client, iface, "inet6")).filter((a) => a.scope === "global" && !a.tentative);
  const routes6 = async () => (await routes(client, "inet6")).filter((r) => r.dev === iface) as Array<Awaited<ReturnType<typeof routes>>[number] & { pref?: string; expires?: number }>;
  const expectedAddress = (prefix: string) => {
    const secret = new Uint8Array(readFileSync(path.join(stateDir(), "rfc7217-secret")));
    const iid = stableIid(secret, prefix, iface, new Uint8Array(0), 0);
    if (!iid.ok) throw new Error(iid.error.detail);
    const a = addressOf(prefix, iid.value.iid);
    if (!a.ok) throw new Error(a.error.detail);
    return a.value as string;
  };

  beforeAll(async () => {
    lab = createLab({ prefix: "ra6" });
    router = lab.namespace("router");
    client = lab.namespace("client");
    lab.sysctl(router, { "net.ipv6.conf.all.forwarding": "1" });
    const link = lab.veth(router, client);
    routerIface = link.a.name;
    iface = link.b.name;
    mkdirSync(path.join(lab.dir, "etc"), { recursive: true });
    writeFileSync(resolvConf(), "nameserver 192.0.2.1\n");
    // The client's kernel would configure itself from radvd too: paddock must turn that off.
    expect(sysctl("accept_ra")).not.toBe("0");
    routerLinkLocal = (await waitFor(async () => (await addresses(router, routerIface, "inet6")).find((a) => a.scope === "link" && !a.tentative), { what: "radvd's link-local address", timeoutMs: TIMEOUT_MS })).local;
    ra = await start();
    radvd = await startRadvd(lab, router, { iface: routerIface, config: radvdConfig(routerIface, true), readyTimeoutMs: TIMEOUT_MS });
  }, 3 * TIMEOUT_MS);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("configures a stable RFC 7217 address per prefix with the RA's lifetimes, not the kernel's own SLAAC", async () => {
    const want1 = expectedAddress(P1);
    const want2 = expectedAddress(P2);
    const got = await waitFor(async () => {
      const a = await global6();
      return a.some((x) => x.local === want1) && a.some((x) => x.local === want2) ? a : undefined;
    }, { what: `SLAAC addresses ${want1} and ${want2}`, timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => ra.tail() });
    // Only ours: the kernel's SLAAC (EUI-64 from the MAC) is off.
    expect(got.map((a) => a.local).sort()).toEqual([want1, want2].sort());
    const a1 = got.find((a) => a.local === want1) as IpAddrInfo;
    expect(a1.prefixlen).toBe(64);
    expect(a1.valid_life_time).toBeGreaterThan(86_000);
    expect(a1.preferred_life_time).toBeLessThanOrEqual(14_400);
    expect(a1.preferred_life_time).toBeGreaterThan(14_000);
    // Different identifiers on different prefixes (RFC 7217 §5: F() takes the prefix).
    expect(want1.split(":").slice(-4).join(":")).not.toBe(want2.split(":").slice(-4).join(":"));
    expect(sysctl("accept_ra")).toBe("0");
    expect(sysctl("autoconf")).toBe("0");
  }, 2 * TIMEOUT_MS);

  it("installs the default route with radvd's preference, the RFC 4191 route, on-link routes, the MTU and resolv.conf", async () => {
    const rs = await waitFor(async () => {
      const r = await routes6();
      return r.some((x) => x.dst === "default") && r.some((x) => x.dst === "2001:db8:99::/48") && r.some((x) => x.dst === `${P1}/64`) ? r : undefined;
    }, { what: "the RA's routes", timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => ra.tail() });
    const def = rs.find((r) => r.dst === "default")!;
    expect(def).toMatchObject({ gateway: routerLinkLocal, protocol: "176", pref: "high" });
    expect(def.expires).toBeGreaterThan(1700);
    expect(rs.find((r) => r.dst === "2001:db8:99::/48")).toMatchObject({ gateway: routerLinkLocal, protocol: "176", pref: "low" });
    expect(rs.find((r) => r.dst === `${P1}/64`)).toMatchObject({ protocol: "176" });
    await waitFor(() => sysctl("mtu") === "1400", { what: "the IPv6 MTU 1400", timeoutMs: TIMEOUT_MS });
    const text = await waitFor(() => { const t = readFileSync(resolvConf(), "utf8"); return t.includes("2001:db8::53") ? t : undefined; }, { what: "resolv.conf with the RDNSS server", timeoutMs: TIMEOUT_MS });
    expect(text).toMatch(/^nameserver 2001:db8::53$/m);
    expect(text).toMatch(/^search example\.test$/m);
  }, 2 * TIMEOUT_MS);

  it("the short-lived prefix withdrawn: when its lifetimes run out exactly its address and route go", async () => {
    const want1 = expectedAddress(P1);
    const want2 = expectedAddress(P2);
    await radvd.stop();
    radvd = await startRadvd(lab, router, { iface: routerIface, config: radvdConfig(routerIface, false), readyTimeoutMs: TIMEOUT_MS });
    // Valid lifetime 12 s (and the RFC 4862 2-hour rule does not apply below 2 h left): gone by then.
    await waitFor(async () => !(await global6()).some((a) => a.local === want2) && !(await routes6()).some((r) => r.dst === `${P2}/64`), { what: `${want2} and its on-link route withdrawn`, timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => ra.tail() });
    expect((await global6()).map((a) => a.local)).toEqual([want1]);
    expect((await routes6()).some((r) => r.dst === "default")).toBe(true);
  }, 2 * TIMEOUT_MS);

  it("keeps the same address after a restart, and gives accept_ra and autoconf back at stop", async () => {
    const want1 = expectedAddress(P1);
    const secretBefore = createHash("sha256").update(readFileSync(path.join(stateDir(), "rfc7217-secret"))).digest("hex");
    await ra.stop();
    expect(sysctl("accept_ra")).not.toBe("0");
    expect(sysctl("autoconf")).toBe("1");
    // The address stays with its lifetimes (invariant 5).
    expect((await global6()).some((a) => a.local === want1)).toBe(true);
    ra = await start();
    await waitFor(() => sysctl("accept_ra") === "0", { what: "accept_ra off again", timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => ra.tail() });
    expect(createHash("sha256").update(readFileSync(path.join(stateDir(), "rfc7217-secret"))).digest("hex")).toBe(secretBefore);
    // Ours is the same address; what the kernel configured by itself while paddock was stopped
    // (accept_ra back on) is someone else's and is left alone.
    await ra.waitForLog(/handler slaac applied/, { timeoutMs: TIMEOUT_MS });
    expect((await global6()).filter((a) => a.local.startsWith("2001:db8:1:")).map((a) => a.local)).toContain(want1);
  }, 2 * TIMEOUT_MS);
});

describe.skipIf(!canCreateLabs)(`paddock lab ipv6 (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  it("shows the SLAAC address, the routes and resolv.conf from radvd, then removes its namespaces", async () => {
    const bin = findPaddockBin();
    const argv = /\.[cm]?js$/.test(bin) ? [process.execPath, bin] : [bin];
    const r = await runAsync(argv[0]!, [...argv.slice(1), "lab", "ipv6"], { timeoutMs: 3 * TIMEOUT_MS });
    expect(r.stdout).toMatch(/^\s+2001:db8:60:0:[0-9a-f:]+\/64 global /m);
    expect(r.stdout).toMatch(/^\s+default via fe80::\S+ proto 176 metric \d+ pref high/m);
    expect(r.stdout).toMatch(/^\s+2001:db8:61::\/48 via fe80::\S+ proto 176 .*pref low/m);
    expect(r.stdout).toMatch(/^\s+nameserver 2001:db8:60::53$/m);
    // DHCPv6 in mode auto (radvd's M flag): a /128 from dnsmasq's range, its DNS server after the RA's.
    expect(r.stdout).toMatch(/^\s+2001:db8:60::d[0-9a-f]{3}\/128 global /m);
    expect(r.stdout).toMatch(/^\s+nameserver 2001:db8:60::53\n\s+nameserver 2001:db8:60::5353$/m);
    expect(r.stdout).toMatch(/accept_ra 0, autoconf 0, mtu 1400/);
    const removed = /removed the namespaces (\S+) and (\S+) /.exec(r.stdout);
    expect(removed).not.toBeNull();
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(left).not.toContain(removed![1]!);
    expect(left).not.toContain(removed![2]!);
  }, 4 * TIMEOUT_MS);
});
