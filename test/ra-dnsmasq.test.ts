/**
 * The RA service against dnsmasq's RA mode (issue 11 item 6): `--enable-ra` with an
 * `ra-stateless` range advertises the router interface's /64 for SLAAC with the O flag (DNS from
 * DHCPv6, information-request), its RDNSS, and itself as default router. `paddock ra` must make its
 * RFC 7217 address on that prefix, route via dnsmasq's link-local address, put dnsmasq's RDNSS in
 * resolv.conf, and publish M = false, O = true for the DHCPv6 service (/flags/*, read through the
 * admin socket as the DHCPv6 service's input would be).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectKv, type KvClient } from "@paddock/kv";
import { addresses, canCreateLabs, createLab, LAB_SKIP_REASON, routes, startPaddock, waitFor, type Lab, type Netns, type PaddockProcess } from "@paddock/testkit";

const TIMEOUT_MS = 30_000;
const PREFIX = "2001:db8:5::";

describe.skipIf(!canCreateLabs)(`paddock ra against dnsmasq's RA mode (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let client: Netns;
  let iface: string;
  let routerLinkLocal: string;
  let ra: PaddockProcess;
  let kv: KvClient | undefined;
  const resolvConf = () => path.join(lab.dir, "etc/resolv.conf");

  beforeAll(async () => {
    lab = createLab({ prefix: "ra6" });
    const router = lab.namespace("router");
    client = lab.namespace("client");
    lab.sysctl(router, { "net.ipv6.conf.all.forwarding": "1" });
    const link = lab.veth(router, client, { addresses: { a: `${PREFIX}1/64` } });
    iface = link.b.name;
    mkdirSync(path.join(lab.dir, "etc"), { recursive: true });
    writeFileSync(resolvConf(), "");
    routerLinkLocal = (await waitFor(async () => (await addresses(router, link.a.name, "inet6")).find((a) => a.scope === "link" && !a.tentative), { what: "dnsmasq's link-local address", timeoutMs: TIMEOUT_MS })).local;
    const runtimeDir = path.join(lab.dir, "run");
    mkdirSync(runtimeDir, { recursive: true, mode: 0o711 });
    ra = startPaddock(lab, client, ["ra", "--iface", iface, "--state-dir", path.join(lab.dir, "state"), "--runtime-dir", runtimeDir, "--admin-socket", path.join(lab.dir, "ra.sock"), "--resolv-conf", resolvConf(), "--log-format", "json"]);
    await ra.waitForLog(/RA client started/, { timeoutMs: TIMEOUT_MS });
    lab.spawn(router, [
      "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--conf-file=/dev/null", "--log-facility=-",
      `--interface=${link.a.name}`, "--bind-interfaces", "--enable-ra", `--dhcp-range=${PREFIX},ra-stateless,64,1h`,
      "--dhcp-option=option6:dns-server,[2001:db8:5::53]", "--pid-file=" + path.join(lab.dir, "dnsmasq.pid"),
    ], { name: "dnsmasq" });
    kv = await connectKv(path.join(lab.dir, "ra.sock"));
  }, 3 * TIMEOUT_MS);

  afterAll(async () => {
    kv?.close();
    await lab?.destroy();
  });

  it("makes the SLAAC address, the default route via dnsmasq, resolv.conf, and publishes M = false, O = true", async () => {
    const a = await waitFor(async () => (await addresses(client, iface, "inet6")).find((x) => x.scope === "global" && x.local.startsWith("2001:db8:5:")), { what: "an address on dnsmasq's prefix", timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => ra.tail() });
    expect(a.prefixlen).toBe(64);
    // RFC 7217, not the MAC's EUI-64 (which has ff:fe in the middle of the identifier).
    expect(a.local).not.toMatch(/ff:fe/);
    const def = await waitFor(async () => (await routes(client, "inet6")).find((r) => r.dst === "default" && r.dev === iface), { what: "the default route via dnsmasq", timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => ra.tail() });
    expect(def).toMatchObject({ gateway: routerLinkLocal, protocol: "176" });
    await waitFor(() => readFileSync(resolvConf(), "utf8").includes("nameserver 2001:db8:5::53"), { what: "dnsmasq's RDNSS in resolv.conf", timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => readFileSync(resolvConf(), "utf8") });
    expect(await kv!.read("/flags/managed")).toBe("false");
    expect(await kv!.read("/flags/other")).toBe("true");
  }, 2 * TIMEOUT_MS);
});
