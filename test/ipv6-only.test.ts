/**
 * RFC 8925 (IPv6-only preferred, DHCPv4 option 108) through the real priv and calf, against
 * dnsmasq in a namespace lab. dnsmasq is told to send 108 to every client
 * (`--dhcp-option-force=option:ipv6-only,1800`, a 4-byte number of seconds), so that:
 *
 * - with `ipv6-only-preferred: true` (from the configuration file) the client asks for 108 in its
 *   DISCOVER, sends no REQUEST for the offer, takes no IPv4 address, says so in one log line,
 *   publishes IPV6-ONLY with the time DHCPv4 starts over, and `paddock status` shows it;
 * - with the setting off (the default) the same server's 108 is neither asked for nor acted on:
 *   the client takes the address;
 * - turned on by `paddock reload` while bound: the next REQUEST (`paddock renew`) asks for 108,
 *   and the ACK carrying it leaves the address in place (RFC 8925 §3.2: only INIT-REBOOT gives
 *   the address up);
 * - turned on across a restart that holds a lease: the INIT-REBOOT ACK carries 108, so the
 *   address is withdrawn and RELEASEd (dnsmasq sees the RELEASE, which the priv's egress check
 *   let through) and the client waits (§3.2).
 */
import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, defaultOffer, LAB_SKIP_REASON, startDnsmasq, startPaddock, waitFor, waitForAddress, type Lab, type LabProcess, type Netns, type PaddockProcess } from "@paddock/testkit";
import { paddockBin } from "./helpers/paddock.ts";

const NET = "10.108.0";
const CLIENT_MAC = "02:6c:00:00:00:08";
/** dnsmasq's V6ONLY_WAIT: above MIN_V6ONLY_WAIT (300 s), so the client waits exactly this long. */
const V6ONLY_WAIT = 1800;

const labs: Lab[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await lab.destroy();
});

interface V6Lab {
  lab: Lab;
  client: Netns;
  iface: string;
  config: string;
  server: LabProcess;
}

/** Two namespaces joined by a veth pair, dnsmasq on the server end sending 108 to everyone. */
async function v6Lab(): Promise<V6Lab> {
  const lab = createLab({ prefix: "pd6o" });
  labs.push(lab);
  const serverNs = lab.namespace("server");
  const client = lab.namespace("client");
  const link = lab.veth(serverNs, client, { addresses: { a: `${NET}.1/24` }, macs: { b: CLIENT_MAC } });
  const server = await startDnsmasq(lab, serverNs, {
    iface: link.a.name,
    offer: defaultOffer(NET, { classless: [] }),
    leaseFile: lab.file("dnsmasq.leases"),
    extraArgs: [`--dhcp-option-force=option:ipv6-only,${V6ONLY_WAIT}`],
  });
  return { lab, client, iface: link.b.name, config: lab.file("paddock.yaml"), server };
}

function shim(l: V6Lab): PaddockProcess {
  return startPaddock(l.lab, l.client, [
    "dhcp", "--no-arp-probe", "--iface", l.iface, "--config", l.config,
    "--state-dir", l.lab.file("state"), "--runtime-dir", l.lab.file("run"),
    "--resolv-conf", l.lab.file("resolv.conf"), "--log-format", "json",
  ]);
}

async function ipv4Addresses(l: V6Lab): Promise<string> {
  const r = await l.lab.run(l.client, ["ip", "-4", "-o", "addr", "show", "dev", l.iface]);
  return r.stdout;
}

describe.skipIf(!canCreateLabs)(`RFC 8925 IPv6-only preferred (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  it("enabled: asks for 108, takes no IPv4 address from an offer carrying it, says so, and paddock status shows IPV6-ONLY", async () => {
    const l = await v6Lab();
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      ipv6-only-preferred: true\n`);
    const s = shim(l);
    const line = await s.waitForLog(/→ IPV6-ONLY: /, { timeoutMs: 30_000 });
    expect(JSON.parse(line).msg).toMatch(new RegExp(`SELECTING → IPV6-ONLY: OFFER from ${NET.replaceAll(".", "\\.")}\\.1 carries option 108: the network prefers IPv6-only \\(RFC 8925\\), so no IPv4 address; DHCPv4 starts over in ${V6ONLY_WAIT} s`));
    // dnsmasq saw 108 in the DISCOVER's request list (--log-dhcp names it), offered, and was never asked for the address.
    expect(l.server.lines(/requested options: .*ipv6-only/).length).toBeGreaterThan(0);
    expect(l.server.lines(/DHCPOFFER\(/).length).toBeGreaterThan(0);
    expect(l.server.lines(new RegExp(`sent size:\\s+4 option:108 ipv6-only\\s+${V6ONLY_WAIT}$`)).length).toBeGreaterThan(0);

    const runtime = l.lab.file("run");
    const status = async () => {
      const r = await l.lab.run(l.client, [paddockBin, "status", l.iface, "--runtime-dir", runtime], { timeoutMs: 20_000 });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    let text = "";
    await waitFor(async () => (text = await status()).includes("state: IPV6-ONLY"), { what: "paddock status to show IPV6-ONLY", timeoutMs: 15_000, state: () => text });
    expect(text).toContain("address: none (the network prefers IPv6-only, RFC 8925)");
    expect(text).toMatch(/DHCPv4 again: \S+Z \(in (2\d|30) min\)/);
    const json = await l.lab.run(l.client, [paddockBin, "status", l.iface, "--json", "--runtime-dir", runtime], { timeoutMs: 20_000 });
    const until = JSON.stringify(JSON.parse(json.stdout)).match(/"ipv6OnlyUntil":(\d+)/)?.[1];
    expect(Number.isInteger(Number(until))).toBe(true);

    // `paddock renew` ends the wait: a new DISCOVER, the same answer, IPV6-ONLY again. dnsmasq
    // handles its socket in order, so once it has offered twice, a REQUEST for the first offer
    // (which the client would have sent at once) would be in its log before the second offer.
    const renew = await l.lab.run(l.client, [paddockBin, "renew", l.iface, "--runtime-dir", runtime], { timeoutMs: 20_000 });
    expect(renew.status, renew.stderr).toBe(0);
    await s.waitForLog(/→ IPV6-ONLY: /, { occurrence: 2, timeoutMs: 20_000 });
    await l.server.waitForLog(/DHCPOFFER\(/, { occurrence: 2, timeoutMs: 10_000 });
    expect(s.lines(/IPV6-ONLY → INIT: renew asked by the operator/)).toHaveLength(1);
    expect(l.server.lines(/DHCPREQUEST\(|DHCPACK\(/)).toEqual([]);
    expect(await ipv4Addresses(l)).toBe("");
    expect((await s.stop()).code).toBe(0);
  }, 90_000);

  it("disabled (the default): 108 is neither asked for nor acted on, and the client takes the address", async () => {
    const l = await v6Lab();
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: v6-off\n`);
    const s = shim(l);
    const addr = await waitForAddress(l.lab, l.client, l.iface, "inet", { abortOnExit: s, timeoutMs: 30_000 });
    expect(addr.local.startsWith(`${NET}.`)).toBe(true);
    await l.server.waitForLog(/DHCPACK\(/, { timeoutMs: 10_000 });
    expect(l.server.lines(/requested options: .*ipv6-only/)).toEqual([]);
    // The server did send it (a 4-byte 1800), in the OFFER and the ACK alike.
    expect(l.server.lines(new RegExp(`sent size:\\s+4 option:108 ipv6-only\\s+${V6ONLY_WAIT}$`)).length).toBeGreaterThanOrEqual(2);
    expect(s.lines(/IPV6-ONLY|option 108/)).toEqual([]);
    expect((await s.stop()).code).toBe(0);
  }, 90_000);

  it("turned on by paddock reload while bound: the renewal asks for 108 and the address stays", async () => {
    const l = await v6Lab();
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: v6-reload\n`);
    const s = shim(l);
    const addr = await waitForAddress(l.lab, l.client, l.iface, "inet", { abortOnExit: s, timeoutMs: 30_000 });
    await l.server.waitForLog(/DHCPACK\(/, { timeoutMs: 10_000 });
    expect(l.server.lines(/requested options: .*ipv6-only/)).toEqual([]);

    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: v6-reload\n      ipv6-only-preferred: true\n`);
    const runtime = l.lab.file("run");
    const reload = await l.lab.run(l.client, [paddockBin, "reload", l.iface, "--runtime-dir", runtime], { timeoutMs: 20_000 });
    expect(reload.status, reload.stderr).toBe(0);
    await s.waitForLog(/reloaded: dhcp4\.ipv6-only-preferred/, { timeoutMs: 10_000 });
    const renew = await l.lab.run(l.client, [paddockBin, "renew", l.iface, "--runtime-dir", runtime], { timeoutMs: 20_000 });
    expect(renew.status, renew.stderr).toBe(0);
    await l.server.waitForLog(/requested options: .*ipv6-only/, { timeoutMs: 10_000 });
    await l.server.waitForLog(/DHCPACK\(/, { occurrence: 2, timeoutMs: 10_000 });
    await s.waitForLog(/RENEWING → BOUND/, { timeoutMs: 10_000 });
    expect(await ipv4Addresses(l)).toContain(`inet ${addr.local}/`);
    expect(s.lines(/IPV6-ONLY/)).toEqual([]);
    expect((await s.stop()).code).toBe(0);
  }, 90_000);

  it("turned on across a restart with a lease: the INIT-REBOOT ACK with 108 withdraws the address and releases it", async () => {
    const l = await v6Lab();
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: v6-reboot\n`);
    const first = shim(l);
    const addr = await waitForAddress(l.lab, l.client, l.iface, "inet", { abortOnExit: first, timeoutMs: 30_000 });
    expect((await first.stop()).code).toBe(0);
    // Stopped without release: the lease stays persisted and its address on the link.
    expect(await ipv4Addresses(l)).toContain(`inet ${addr.local}/`);

    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: v6-reboot\n      ipv6-only-preferred: true\n`);
    const second = shim(l);
    const line = await second.waitForLog(/→ IPV6-ONLY: /, { timeoutMs: 30_000 });
    expect(JSON.parse(line).msg).toMatch(new RegExp(`REBOOTING → IPV6-ONLY: ACK from ${NET.replaceAll(".", "\\.")}\\.1 for ${addr.local.replaceAll(".", "\\.")} carries option 108`));
    await l.server.waitForLog(new RegExp(`DHCPRELEASE\\([^)]*\\) ${addr.local.replaceAll(".", "\\.")} ${CLIENT_MAC}`), { timeoutMs: 10_000 });
    await waitFor(async () => (await ipv4Addresses(l)) === "", { what: `${addr.local} withdrawn`, timeoutMs: 10_000 });
    expect(second.lines(/refused/)).toEqual([]);
    expect((await second.stop()).code).toBe(0);
  }, 90_000);
});
