/**
 * `paddock dhcp6` against real DHCPv6 servers in namespaces (issue 11 items 3 and 6): its calf
 * under runc, the UDP-over-IPv6 channel from the link-local address to ff02::1:2, and the lease
 * handler applying what each server handed out:
 *   - dnsmasq stateful: an IA_NA address as a /128 without prefix route, with the server's
 *     lifetimes in `ip -6 addr`, DNS into the lab's resolv.conf; at stop a RELEASE (in dnsmasq's
 *     log) and exactly what was added removed (the link-local address stays);
 *   - dnsmasq stateless (ra-stateless): INFORMATION-REQUEST, DNS only, no address; and with
 *     `paddock run ra dhcp6` (mode auto) the same from the RA's O flag alone;
 *   - Kea with IA_NA and IA_PD and short lifetimes: the delegated prefix published in the store,
 *     the /64 with sub-prefix id 1 assigned to a downstream veth, RENEW in Kea's log; at stop both
 *     go;
 *   - ISC dhcpd -6: an IA_NA address;
 *   - expiry: a lease kept at stop (--no-release) goes when its valid lifetime ends, with the
 *     server gone.
 */
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { connectKv } from "@paddock/kv";
import { canCreateLabs, createLab, defaultOffer6, findPaddockBin, LAB_SKIP_REASON, runAsync, startPaddock, startDnsmasq6, startIscDhcpd6, startKea6, waitFor, type Lab } from "@paddock/testkit";
import { ipv6Prefix, subnetOf } from "../packages/services/dhcp6/service/src/index.ts";
import { addresses6, dhcp6Lab, DHCP6_TIMEOUT_MS, globals6, startPaddockDhcp6, type Dhcp6UnderTest } from "./dhcp6-lab.ts";

const inRange = (a: string) => /^2001:db8:6::1[0-9a-f]{2}$/.test(a);

describe.skipIf(!canCreateLabs)(`paddock dhcp6 against real servers (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;
  let client: Dhcp6UnderTest | undefined;
  afterEach(async () => {
    client?.kv.close();
    client = undefined;
    await lab?.destroy();
    lab = undefined;
  });

  it("dnsmasq stateful: a /128 with the server's lifetimes and DNS, released at stop, exactly that removed", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    const offer = defaultOffer6({ validSeconds: 600 });
    const dnsmasq = await startDnsmasq6(lab, net.server, { iface: net.serverIf, offer });
    const before = addresses6(lab, net.client, net.clientIf).map((a) => `${a.local}/${a.prefixlen}`);
    client = await startPaddockDhcp6(lab, net.client, net.clientIf);
    const c = client;
    const got = await waitFor(() => globals6(lab!, net.client, net.clientIf).find((a) => inRange(a.local)), { what: "an IA_NA address from dnsmasq's range", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
    expect(got.prefixlen).toBe(128);
    expect(got.noprefixroute).toBe(true);
    // The kernel counts the server's lifetimes down from when the handler applied them.
    expect(got.valid_life_time).toBeGreaterThan(offer.validSeconds - 60);
    expect(got.valid_life_time).toBeLessThanOrEqual(offer.validSeconds);
    expect(got.preferred_life_time).toBeLessThanOrEqual(got.valid_life_time);
    expect(await c.read("/address/000/ip")).toBe(got.local);
    await waitFor(() => existsSync(c.resolvConf) && readFileSync(c.resolvConf, "utf8").includes("nameserver 2001:db8:6::53"), { what: "the DHCPv6 DNS servers in resolv.conf", timeoutMs: DHCP6_TIMEOUT_MS });
    expect(readFileSync(c.resolvConf, "utf8")).toMatch(/^search paddock\.test example\.test$/m);
    // paddock status shows the lease (the service's own status function).
    const bin = findPaddockBin();
    const argv = /\.[cm]?js$/.test(bin) ? [process.execPath, bin] : [bin];
    const r = await runAsync(argv[0]!, [...argv.slice(1), "status", net.clientIf, "--service", "dhcp6", "--runtime-dir", lab.file("dhcp6-run"), "--json"], { timeoutMs: DHCP6_TIMEOUT_MS });
    const status = (JSON.parse(r.stdout) as { services: Array<{ status: { lease: string; addresses: Array<{ ip: string }>; dns: string[] } }> }).services[0]!.status;
    expect(status).toMatchObject({ lease: "stateful", addresses: [{ ip: got.local }], dns: ["2001:db8:6::53", "2001:db8:6::54"] });

    await c.paddock.stop();
    expect(dnsmasq.output).toMatch(/DHCPRELEASE/);
    const after = addresses6(lab, net.client, net.clientIf).map((a) => `${a.local}/${a.prefixlen}`);
    expect(after).toEqual(before);
  }, 90_000);

  it("dnsmasq stateless: INFORMATION-REQUEST gives DNS and no address", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    const dnsmasq = await startDnsmasq6(lab, net.server, { iface: net.serverIf, mode: "stateless" });
    client = await startPaddockDhcp6(lab, net.client, net.clientIf, ["--mode", "stateless"]);
    const c = client;
    await waitFor(async () => (await c.read("/lease/mode")) === "stateless", { what: "a stateless lease", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
    expect(await c.read("/dns/000")).toBe("2001:db8:6::53");
    expect(await c.read("/domain/000")).toBe("paddock.test");
    await waitFor(() => existsSync(c.resolvConf) && readFileSync(c.resolvConf, "utf8").includes("nameserver 2001:db8:6::53"), { what: "the DNS servers in resolv.conf", timeoutMs: DHCP6_TIMEOUT_MS });
    expect(globals6(lab, net.client, net.clientIf)).toEqual([]);
    expect(dnsmasq.output).toMatch(/information-request/i);
  }, 90_000);

  it("mode auto with the ra service: an RA with only the O flag makes the DHCPv6 client stateless", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    // dnsmasq's ra-stateless: RAs with the O flag (and a SLAAC prefix), and INFORMATION-REQUESTs answered.
    await startDnsmasq6(lab, net.server, { iface: net.serverIf, mode: "stateless" });
    const runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    const resolvConf = lab.file("resolv.conf");
    const priv = startPaddock(lab, net.client, ["run", "ra", "dhcp6", "--iface", net.clientIf, "--set", `ra.resolv-conf=${resolvConf}`, "--set", `dhcp6.resolv-conf=${resolvConf}`, "--state-dir", lab.file("state"), "--runtime-dir", runtimeDir, "--log-format", "json"]);
    await priv.waitForLog(/DHCPv6 client started/, { timeoutMs: DHCP6_TIMEOUT_MS });
    const kv = await connectKv(`${runtimeDir}/dhcp6-${net.clientIf}.sock`);
    try {
      const read = (p: string) => kv.read(p).catch(() => undefined);
      await waitFor(async () => (await read("/lease/mode")) === "stateless", { what: "a stateless lease after the RA's O flag", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: priv, state: () => priv.tail() });
      expect(await read("/input/ra/flags/other")).toBe("true");
      expect(await read("/input/ra/flags/managed")).toBe("false");
      expect(await read("/dns/000")).toBe("2001:db8:6::53");
      expect(await read("/address/000/ip")).toBeUndefined();
      await waitFor(() => existsSync(resolvConf) && readFileSync(resolvConf, "utf8").includes("nameserver 2001:db8:6::53"), { what: "the DHCPv6 DNS server in resolv.conf", timeoutMs: DHCP6_TIMEOUT_MS });
    } finally {
      kv.close();
    }
  }, 90_000);

  it("Kea IA_NA + IA_PD: the delegated prefix in the store, a /64 on the downstream veth, RENEW with short lifetimes, all gone at stop", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    // A downstream link in the client's namespace (its far end in a third one).
    const lan = lab.namespace("lan");
    const down = lab.veth(net.client, lan);
    // The core renews no sooner than 60 s after a REPLY (MIN_T1_SECONDS, against hostile servers):
    // T1 = 60 s is the shortest RENEW it makes.
    const offer = defaultOffer6({ preferredSeconds: 90, validSeconds: 120, renewSeconds: 60, rebindSeconds: 90 });
    const kea = await startKea6(lab, net.server, { iface: net.serverIf, offer });
    client = await startPaddockDhcp6(lab, net.client, net.clientIf, ["--ia-pd", "56", "--prefix-delegation", `${down.a.name}=1`]);
    const c = client;
    const prefix = await waitFor(() => c.read("/prefix/000/prefix"), { what: "a delegated prefix in the store", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
    // From Kea's pool 2001:db8:100::/48, a /56.
    const parsed = ipv6Prefix(prefix);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.value.length).toBe(56);
    expect(prefix.startsWith("2001:db8:100:")).toBe(true);
    const sub = subnetOf(parsed.value, 1, null);
    if (!sub.ok) throw new Error(sub.reason);
    const expected = sub.prefix.replace("::/64", "::1");
    const lanAddr = await waitFor(() => globals6(lab!, net.client, down.a.name).find((a) => a.prefixlen === 64), { what: "a /64 on the downstream interface", timeoutMs: DHCP6_TIMEOUT_MS });
    expect(lanAddr.local).toBe(expected);
    expect(lanAddr.valid_life_time).toBeLessThanOrEqual(120);
    expect(lanAddr.valid_life_time).toBeGreaterThan(60);
    expect(lanAddr.preferred_life_time).toBeLessThanOrEqual(90);
    const na = await waitFor(() => globals6(lab!, net.client, net.clientIf).find((a) => inRange(a.local)), { what: "an IA_NA address from Kea", timeoutMs: DHCP6_TIMEOUT_MS });
    expect(na.prefixlen).toBe(128);
    expect(na.valid_life_time).toBeLessThanOrEqual(120);
    expect(na.valid_life_time).toBeGreaterThan(60);
    // T1: the client renews, and the kernel's lifetimes are extended to the server's again.
    await kea.waitForLog(/RENEW \(type 5\)/, { timeoutMs: 90_000 });
    await waitFor(() => (globals6(lab!, net.client, net.clientIf).find((a) => a.local === na.local)?.valid_life_time ?? 0) > 100, { what: "the renewed lifetimes on the address", timeoutMs: DHCP6_TIMEOUT_MS });
    await c.paddock.stop();
    await kea.waitForLog(/RELEASE/, { timeoutMs: DHCP6_TIMEOUT_MS });
    expect(globals6(lab, net.client, net.clientIf)).toEqual([]);
    expect(globals6(lab, net.client, down.a.name)).toEqual([]);
  }, 240_000);

  it("a downstream interface taken out of prefix-delegation loses the /64 it was given, and only that", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    const lan = lab.namespace("lan");
    const down = lab.veth(net.client, lan);
    await startKea6(lab, net.server, { iface: net.serverIf });
    const first = await startPaddockDhcp6(lab, net.client, net.clientIf, ["--ia-pd", "56", "--prefix-delegation", `${down.a.name}=1`, "--no-release"]);
    await waitFor(() => globals6(lab!, net.client, down.a.name).find((a) => a.prefixlen === 64), { what: "a /64 on the downstream interface", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: first.paddock, state: () => first.paddock.tail() });
    first.kv.close();
    await first.paddock.stop();
    // Kept at stop (--no-release): the lease is still valid.
    expect(globals6(lab, net.client, down.a.name)).toHaveLength(1);
    client = await startPaddockDhcp6(lab, net.client, net.clientIf, ["--ia-pd", "56", "--no-release"]);
    const c = client;
    await waitFor(() => globals6(lab!, net.client, down.a.name).length === 0, { what: "the /64 withdrawn from the interface no longer named", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
    expect(globals6(lab, net.client, net.clientIf).filter((a) => inRange(a.local))).toHaveLength(1);
  }, 120_000);

  it("ISC dhcpd -6: an IA_NA address", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    await startIscDhcpd6(lab, net.server, { iface: net.serverIf });
    client = await startPaddockDhcp6(lab, net.client, net.clientIf);
    const c = client;
    const got = await waitFor(() => globals6(lab!, net.client, net.clientIf).find((a) => inRange(a.local)), { what: "an IA_NA address from dhcpd", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
    expect(got.prefixlen).toBe(128);
  }, 90_000);

  it("expiry: a lease kept at stop goes when its valid lifetime ends", async () => {
    lab = createLab({ prefix: "d6s" });
    const net = dhcp6Lab(lab);
    const kea = await startKea6(lab, net.server, { iface: net.serverIf, offer: defaultOffer6({ preferredSeconds: 10, validSeconds: 20, renewSeconds: 100, rebindSeconds: 200 }) });
    client = await startPaddockDhcp6(lab, net.client, net.clientIf, ["--no-release", "--no-rapid-commit"]);
    const c = client;
    await waitFor(() => globals6(lab!, net.client, net.clientIf).find((a) => inRange(a.local)), { what: "an IA_NA address from Kea", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
    await c.paddock.stop();
    await kea.stop();
    // Nobody renews it: the kernel removes it when its 20 s are over.
    expect(globals6(lab, net.client, net.clientIf).length).toBe(1);
    await waitFor(() => globals6(lab!, net.client, net.clientIf).length === 0, { what: "the address to expire", timeoutMs: 40_000 });
  }, 90_000);
});
