/**
 * The configuration file and reload through the real priv (issue 13 A5, A3, A7), against dnsmasq
 * in a namespace lab:
 *
 * - the file's vendor class (option 60) and host name (option 12) reach the server, and with
 *   client-id mac the server keys the lease on 01:MAC, with none on nothing (dnsmasq's --log-dhcp
 *   and its lease file);
 * - `paddock reload IF` (SIGHUP to the lock's holder) with a changed host name: the next renewal
 *   carries it, the address never leaves the interface (ip monitor and a poll), a setting that
 *   needs a restart is named and kept; a broken file is one log line and the client runs on;
 * - keep-lease-on-reboot-timeout: a restarted shim whose server is gone keeps the valid lease's
 *   address (default), or withdraws it when the file says false.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canCreateLabs, createLab, defaultOffer, LAB_SKIP_REASON, startDnsmasq, startPaddock, waitFor, waitForAddress, waitForNetlinkSubscription, type Lab, type LabProcess, type Netns, type PaddockProcess } from "@paddock/testkit";
import { paddockBin } from "./helpers/paddock.ts";

const NET = "10.86.0";
const CLIENT_MAC = "02:86:00:00:00:07";


interface ConfigLab {
  lab: Lab;
  server: Netns;
  client: Netns;
  serverIf: string;
  iface: string;
  config: string;
  leases: string;
}

/** Two namespaces joined by a veth pair (the client end with a known MAC) and a configuration file path; destroyed when the test ends (`onFinished`: its context's onTestFinished). */
function configLab(onFinished: (fn: () => Promise<void>) => void): ConfigLab {
  const lab = createLab({ prefix: "pdcf" });
  onFinished(() => lab.destroy());
  const server = lab.namespace("server");
  const client = lab.namespace("client");
  const link = lab.veth(server, client, { addresses: { a: `${NET}.1/24` }, macs: { b: CLIENT_MAC } });
  return { lab, server, client, serverIf: link.a.name, iface: link.b.name, config: lab.file("paddock.yaml"), leases: lab.file("dnsmasq.leases") };
}

/** dnsmasq; `t1`: the renewal time it sends (option 58, with T2 twice it), so the client renews every t1 seconds. */
function dnsmasq(l: ConfigLab, t1?: number): Promise<LabProcess> {
  const extraArgs = t1 === undefined ? [] : [`--dhcp-option=option:T1,${t1}`, `--dhcp-option=option:T2,${2 * t1}`];
  return startDnsmasq(l.lab, l.server, { iface: l.serverIf, offer: defaultOffer(NET, { classless: [] }), leaseFile: l.leases, extraArgs });
}

function shim(l: ConfigLab, extra: string[] = []): PaddockProcess {
  return startPaddock(l.lab, l.client, [
    "dhcp", "--no-arp-probe", "--iface", l.iface, "--config", l.config,
    "--state-dir", l.lab.file("state"), "--runtime-dir", l.lab.file("run"),
    "--resolv-conf", l.lab.file("resolv.conf"), "--log-format", "json", ...extra,
  ]);
}

/** `paddock reload IF` in the client's namespace (where the shim's lock names its calf). */
async function reload(l: ConfigLab): Promise<string> {
  const r = await l.lab.run(l.client, [paddockBin, "reload", l.iface, "--runtime-dir", l.lab.file("run")], { timeoutMs: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** `ip monitor address` in the client namespace, subscribed before it returns. */
async function watchAddresses(l: ConfigLab): Promise<LabProcess> {
  const monitor = l.lab.spawn(null, ["ip", "-n", l.client.name, "monitor", "address"], { name: "ip monitor" });
  await waitForNetlinkSubscription(monitor);
  return monitor;
}

const deletions = (monitor: LabProcess, address: string) => monitor.lines(new RegExp(`^Deleted .*inet ${address.replaceAll(".", "\\.")}/`));

// Concurrent: each test has a lab of its own and waits mostly on protocol timers (renewals every
// 3 s, REBOOTING's ~12 s of unanswered REQUESTs), not on the CPU; vitest's maxConcurrency
// (vitest.config.ts) bounds how many run at once. docs/testing.md has the measurements.
describe.skipIf(!canCreateLabs).concurrent(`configuration file and reload (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  it.for([
    ["mac", `01:${CLIENT_MAC}`],
    // dnsmasq writes "*" for a client without option 61 (it keys the lease on chaddr).
    ["none", "*"],
  ])("the file's vendor class and host name reach the server; with client-id %s it keys the lease on %s", { timeout: 90_000 }, async ([clientId, serverSees], { onTestFinished }) => {
    const l = configLab(onTestFinished);
    writeFileSync(l.config, ["defaults:", "  dhcp4:", "    vendor-class: acme-router 2.1", "interfaces:", `  ${l.iface}:`, "    dhcp4:", "      hostname: cfg-host", `      client-id: ${clientId}`, ""].join("\n"));
    const server = await dnsmasq(l);
    const s = shim(l);
    const addr = await waitForAddress(l.lab, l.client, l.iface, "inet", { abortOnExit: s, timeoutMs: 30_000 });
    await server.waitForLog(new RegExp(`DHCPACK\\([^)]*\\) ${addr.local.replaceAll(".", "\\.")} ${CLIENT_MAC} cfg-host`));
    expect(server.lines(/vendor class: acme-router 2\.1$/).length).toBeGreaterThan(0);
    expect(server.lines(/client provides name: cfg-host$/).length).toBeGreaterThan(0);
    // dnsmasq's lease file: expiry MAC address name client-id.
    const lease = readFileSync(l.leases, "utf8").split("\n").find((line) => line.includes(` ${addr.local} `));
    expect(lease?.split(" ")).toEqual([expect.any(String), CLIENT_MAC, addr.local, "cfg-host", serverSees]);
    expect((await s.stop()).code).toBe(0);
  });

  it("paddock reload: a new host name goes out with the next renewal and the address stays; a broken file is one line and changes nothing", async ({ onTestFinished }) => {
    const l = configLab(onTestFinished);
    const T1 = 3;
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: before\n`);
    const server = await dnsmasq(l, T1);
    const s = shim(l);
    const addr = await waitForAddress(l.lab, l.client, l.iface, "inet", { abortOnExit: s, timeoutMs: 30_000 });
    await server.waitForLog(/client provides name: before$/);
    const monitor = await watchAddresses(l);
    const gaps: number[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const r = await l.lab.run(l.client, ["ip", "-4", "-o", "addr", "show", "dev", l.iface]);
        if (polling && !r.stdout.includes(`inet ${addr.local}/`)) gaps.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    // A changed host name, and where an assigned host name would be written (which needs a
    // restart; --set-hostname is off, so nothing is written anywhere).
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: after\n      hostname-path: ${l.lab.file("hostname")}\n`);
    expect(await reload(l)).toMatch(new RegExp(`^reload requested: process \\d+ \\(dhcp4 on ${l.iface}\\)\n$`));
    await s.waitForLog(/reloaded: dhcp4\.hostname/, { timeoutMs: 10_000 });
    expect(s.lines(/take effect only at a restart/).join("\n")).toMatch(/dhcp4\.hostname-path changed but take effect only at a restart/);
    const renewal = await server.waitForLog(/client provides name: after$/, { timeoutMs: 4 * T1 * 1000 + 10_000 });
    expect(renewal).toBeTruthy();
    // The renewal was a REQUEST for the same address, acknowledged.
    await server.waitForLog(new RegExp(`DHCPACK\\([^)]*\\) ${addr.local.replaceAll(".", "\\.")} ${CLIENT_MAC} after`), { timeoutMs: 10_000 });

    // A broken file: one line in the log, the client runs on with its last good configuration.
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: after\n      hostname-path: ${l.lab.file("hostname")}\n      vendor-class: "\\t"\n`);
    const renewalsBefore = server.lines(/client provides name: after$/).length;
    await reload(l);
    const refused = await s.waitForLog(/reload refused, running unchanged/, { timeoutMs: 10_000 });
    expect(JSON.parse(refused).msg).toBe(`reload refused, running unchanged: ${l.config}:6: interfaces.${l.iface}.dhcp4.vendor-class must be printable ASCII, 1–255 bytes, not "\\t"`);
    expect(s.lines(/reload refused/)).toHaveLength(1);
    await waitFor(() => server.lines(/client provides name: after$/).length > renewalsBefore, { what: "a renewal after the refused reload", timeoutMs: 4 * T1 * 1000 + 10_000 });
    expect(server.lines(/vendor class: /)).toEqual([]);

    polling = false;
    await poll;
    expect(deletions(monitor, addr.local)).toEqual([]);
    expect(gaps).toEqual([]);
    expect(s.running).toBe(true);
    expect((await s.stop()).code).toBe(0);
  }, 120_000);

  it("paddock reload with nothing running says so in one sentence", async ({ onTestFinished }) => {
    const l = configLab(onTestFinished);
    const r = await l.lab.run(l.client, [paddockBin, "reload", l.iface, "--runtime-dir", l.lab.file("run")], { timeoutMs: 20_000 });
    expect(r.status).toBe(3);
    expect(r.stderr).toBe(`paddock: no Paddock service is running on ${l.iface}: no live lock in ${l.lab.file("run")} (is paddock dhcp or paddock run running, with this --runtime-dir?)\n`);
  }, 30_000);

  it.for([
    ["keeps the address of a valid lease when no server answers at reboot (the default)", "", true],
    ["withdraws it when the file says keep-lease-on-reboot-timeout: false", "      keep-lease-on-reboot-timeout: false\n", false],
  ] as const)("%s", { timeout: 120_000 }, async ([, setting, kept], { onTestFinished }) => {
    const l = configLab(onTestFinished);
    writeFileSync(l.config, `interfaces:\n  ${l.iface}:\n    dhcp4:\n      hostname: reboot\n${setting}`);
    const server = await dnsmasq(l);
    const first = shim(l);
    const addr = await waitForAddress(l.lab, l.client, l.iface, "inet", { abortOnExit: first, timeoutMs: 30_000 });
    expect((await first.stop()).code).toBe(0);
    await server.stop();
    const monitor = await watchAddresses(l);

    const second = shim(l);
    await second.waitForLog(/→ REBOOTING: REQUEST /, { timeoutMs: 30_000 });
    const outcome = await second.waitForLog(/no answer to \d+ REQUESTs/, { timeoutMs: 40_000 });
    if (kept) {
      expect(JSON.parse(outcome).msg).toMatch(new RegExp(`REBOOTING → BOUND: no answer to \\d+ REQUESTs; keeping ${addr.local.replaceAll(".", "\\.")}/24`));
      const r = await l.lab.run(l.client, ["ip", "-4", "-o", "addr", "show", "dev", l.iface]);
      expect(r.stdout).toContain(`inet ${addr.local}/24`);
      expect(deletions(monitor, addr.local)).toEqual([]);
    } else {
      expect(JSON.parse(outcome).msg).not.toMatch(/keeping/);
      await waitFor(() => deletions(monitor, addr.local).length > 0, { what: `the address ${addr.local} withdrawn`, timeoutMs: 10_000 });
    }
    expect((await second.stop()).code).toBe(0);
  });
});
