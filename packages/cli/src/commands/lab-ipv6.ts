/**
 * `paddock lab ipv6`: the RA service against a real radvd, in two throwaway network namespaces
 * built with @paddock/testkit:
 *
 *   pdl6XXXX-router                                  pdl6XXXX-client
 *   radvd: 2001:db8:60::/64, RDNSS, DNSSL,     ── veth ──  paddock run ra dhcp6 (resolv.conf in the lab's directory)
 *          a route 2001:db8:61::/48, MTU 1400, M
 *   dnsmasq: DHCPv6 IA_NA, DNS, a domain
 *
 * It prints the client's IPv6 addresses, routes and resolv.conf as the kernel and the file hold
 * them, then removes everything, also on Ctrl-C or failure.
 *
 * DHCPv6: radvd sets the M flag and dnsmasq on the router hands out IA_NA addresses from the same
 * /64 (`ROUTER_SERVERS`); `paddock run ra dhcp6` runs both services in one priv, the DHCPv6 one in
 * mode auto reading the RA's M/O flags as its input, and the listing below shows both results:
 * the SLAAC /64 and the DHCPv6 /128, and one resolv.conf with the RA's servers before DHCPv6's.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { addresses, defaultOffer6, routes, startDnsmasq6, startPaddock, startRadvd, waitFor, type Lab, type Netns } from "@paddock/testkit";
import { runLabCommand, inTwoNamespaces } from "./lab-common.ts";
import { calfRuntimesUsed } from "./lab.ts";

/** The lab's prefixes: the documentation range (RFC 3849), used only inside the lab's namespaces. */
const PREFIX = "2001:db8:60::";
const ROUTE = "2001:db8:61::/48";

/** What runs on the router side: radvd now (the DHCPv6 hook: dnsmasq joins it, see the module comment). */
const ROUTER_SERVERS: readonly ((l: Lab, router: Netns, iface: string, timeoutMs: number) => Promise<string>)[] = [
  async (l, router, iface, timeoutMs) => {
    await startRadvd(l, router, {
      iface,
      readyTimeoutMs: timeoutMs,
      config: [
        `interface ${iface} {`,
        "  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4; AdvDefaultPreference high; AdvLinkMTU 1400;",
        // M: addresses from DHCPv6 too (dnsmasq below), which the dhcp6 service's mode auto follows.
        "  AdvManagedFlag on;",
        `  prefix ${PREFIX}/64 { AdvOnLink on; AdvAutonomous on; };`,
        `  route ${ROUTE} { AdvRoutePreference low; };`,
        "  RDNSS 2001:db8:60::53 { };",
        "  DNSSL lab.example { };",
        "};",
        "",
      ].join("\n"),
    });
    return `radvd: ${PREFIX}/64, RDNSS 2001:db8:60::53, DNSSL lab.example, route ${ROUTE} (low), preference high, MTU 1400, M flag`;
  },
  // DHCPv6: dnsmasq hands out IA_NA addresses from the same /64 (no RAs of its own: radvd's M flag says to ask).
  async (l, router, iface, timeoutMs) => {
    l.ip(router, ["addr", "add", `${PREFIX}1/64`, "dev", iface, "nodad"]);
    await startDnsmasq6(l, router, { iface, readyTimeoutMs: timeoutMs, offer: defaultOffer6({ subnet: `${PREFIX}/64`, rangeStart: `${PREFIX}d000`, rangeEnd: `${PREFIX}dfff`, dns: [DHCP6_DNS], domains: ["dhcp6.lab.example"] }) });
    return `dnsmasq DHCPv6: IA_NA from ${PREFIX}d000–${PREFIX}dfff, DNS ${DHCP6_DNS}, domain dhcp6.lab.example`;
  },
];

/** The DNS server dnsmasq's DHCPv6 hands out (the RA's RDNSS is another). */
const DHCP6_DNS = "2001:db8:60::5353";

/** The services `paddock run` runs in the client's priv. */
const CLIENT_SERVICES = ["ra", "dhcp6"];

async function labIpv6(opts: { timeout: string }): Promise<void> {
  await runLabCommand("paddock lab ipv6", opts.timeout, ["ip", "nsenter", "radvd", "dnsmasq", "runc"], (timeoutMs) => runLab(timeoutMs));
}

async function runLab(timeoutMs: number): Promise<void> {
  await inTwoNamespaces("pdl6", ["router", "client"], async (l, router, client) => {
    l.sysctl(router, { "net.ipv6.conf.all.forwarding": "1" });
    const link = l.veth(router, client);
    const iface = link.b.name;
    const resolvConf = path.join(l.dir, "etc/resolv.conf");
    mkdirSync(path.dirname(resolvConf), { recursive: true });
    writeFileSync(resolvConf, "");
    const runtimeDir = l.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    const shim = startPaddock(l, client, ["run", ...CLIENT_SERVICES, "--iface", iface, ...CLIENT_SERVICES.flatMap((s) => ["--set", `${CLIENT_SERVICES.length > 1 ? `${s}.` : ""}resolv-conf=${resolvConf}`]), "--state-dir", l.file("state"), "--runtime-dir", runtimeDir], { bin: process.argv[1]! });
    console.log(`== paddock run ${CLIENT_SERVICES.join(" ")} --iface ${iface} in ${client.name} (resolv.conf: ${resolvConf})`);
    const start = Date.now();
    // Paddock first: it turns the kernel's own router discovery off before any router speaks.
    await waitFor(() => l.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.accept_ra`]).trim() === "0", { what: "accept_ra off on the client", timeoutMs, abortOnExit: shim, state: () => shim.output.slice(-2000) });
    for (const startServer of ROUTER_SERVERS) console.log(`== ${await startServer(l, router, link.a.name, timeoutMs)} in ${router.name}`);
    await waitFor(async () => (await addresses(client, iface, "inet6")).some((a) => a.scope === "global" && !a.tentative) && (await routes(client, "inet6")).some((r) => r.dst === "default"), { what: "a SLAAC address and a default route", timeoutMs, abortOnExit: shim, state: () => shim.output.slice(-2000) });
    // DHCPv6 (mode auto: the RA's M flag): an IA_NA /128 from dnsmasq's range.
    await waitFor(async () => (await addresses(client, iface, "inet6")).some((a) => a.prefixlen === 128 && a.local.startsWith(`${PREFIX}d`)), { what: "a DHCPv6 address", timeoutMs, abortOnExit: shim, state: () => shim.output.slice(-2000) });
    await waitFor(() => ["nameserver 2001:db8:60::53", `nameserver ${DHCP6_DNS}`].every((n) => readFileSync(resolvConf, "utf8").includes(n)), { what: "resolv.conf", timeoutMs, abortOnExit: shim }).catch(() => undefined);
    console.log(`\n== configured ${((Date.now() - start) / 1000).toFixed(1)} s after paddock started (the router started after it); the calves run under ${calfRuntimesUsed(runtimeDir)}\n`);
    console.log(`addresses (${iface}):`);
    for (const a of await addresses(client, iface, "inet6")) console.log(`  ${a.local}/${a.prefixlen} ${a.scope ?? ""} valid ${a.valid_life_time === 0xffffffff ? "forever" : `${a.valid_life_time}s`} preferred ${a.preferred_life_time === 0xffffffff ? "forever" : `${a.preferred_life_time}s`}`);
    console.log("\nroutes:");
    for (const r of (await routes(client, "inet6")).filter((x) => x.dev === iface)) {
      const x = r as typeof r & { pref?: string; expires?: number };
      console.log(`  ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} proto ${r.protocol ?? "-"} metric ${r.metric ?? "-"}${x.pref ? ` pref ${x.pref}` : ""}${x.expires ? ` expires ${x.expires}s` : ""}`);
    }
    console.log(`\nresolv.conf:\n${readFileSync(resolvConf, "utf8").replace(/^/gm, "  ").trimEnd()}`);
    console.log(`\nsysctls: accept_ra ${l.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.accept_ra`]).trim()}, autoconf ${l.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.autoconf`]).trim()}, mtu ${l.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.mtu`]).trim()}`);
  });
}

/** `paddock lab ipv6`, a subcommand of `paddock lab`. */
export function registerLabIpv6(lab: Command): void {
  lab
    .command("ipv6")
    .description("run the RA and DHCPv6 services against radvd and dnsmasq in throwaway namespaces, show the IPv6 addresses, routes and resolv.conf they configured, and clean up (root)")
    .action((_opts: unknown, cmd: Command) => labIpv6(cmd.parent!.opts<{ timeout: string }>()));
}
