/**
 * The operator's view of a running `paddock dhcp` (issue 13 A3, A7), against dnsmasq in network
 * namespaces, with a real sd_notify socket standing in for systemd's:
 *
 * - READY=1 only once the lease is applied (the log says "applied" first, and the STATUS= line
 *   sent with it says "bound ADDRESS from SERVER"); WATCHDOG=1 pings when WATCHDOG_USEC is set;
 * - `paddock status IF` and `--json` show what dnsmasq leased and `ip` shows;
 * - `paddock kv … --iface IF` finds the admin socket; a wrong --service is one sentence;
 * - `paddock renew IF` makes the calf send a REQUEST now (dnsmasq ACKs it again);
 * - `paddock release IF` sends RELEASE (dnsmasq logs it and drops the lease), withdraws the
 *   address, and the client stays idle until `paddock renew`, which binds again;
 * - `paddock wait-online` returns 0 with a lease, 1 (one sentence) on timeout without a server;
 *   without a lease READY=1 still comes after --ready-timeout, with STATUS saying why.
 *
 * Waits are for states (log lines, datagrams, addresses); their timeouts only bound a hang.
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  addresses,
  createLab,
  defaultOffer,
  dnsmasqCommand,
  findPaddockBin,
  hasCommands,
  runAsync,
  startNotifyReceiver,
  startPaddock,
  waitFor,
  waitForAddress,
  type Lab,
  type LabProcess,
  type Netns,
  type NotifyReceiver,
  type PaddockProcess,
  type RunResult,
} from "@paddock/testkit";

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === "true") throw new Error("the operator tests need root, and CI must run them");
const NEEDED = ["dnsmasq", "runc", "nsenter", "python3"];
const run = isRoot && hasCommands(NEEDED);
const skipReason = !isRoot ? "needs root (network namespaces and runc)" : `needs ${NEEDED.join(", ")}`;

/** Bounds a hang, never a speed. */
const HANG_MS = 20_000;

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

const bin = findPaddockBin();
/** Runs a `paddock` client command to completion. */
function paddock(args: string[]): Promise<RunResult> {
  const argv = /\.[cm]?js$/.test(bin) ? [process.execPath, bin, ...args] : [bin, ...args];
  return runAsync(argv[0]!, argv.slice(1), { timeoutMs: HANG_MS + 10_000 });
}

interface Setup {
  l: Lab;
  iface: string;
  runtimeDir: string;
  net: string;
  rx: NotifyReceiver;
  shim: PaddockProcess;
  dnsmasq: LabProcess | undefined;
  leaseFile: string;
  ns: Netns;
}

/** Two namespaces, dnsmasq (unless `server` is false), a notify receiver, and `paddock dhcp` with its admin socket in its runtime directory. */
async function setup(net: string, opts: { server: boolean; extraArgs?: string[]; env?: NodeJS.ProcessEnv }): Promise<Setup> {
  const l = createLab({ prefix: "pdct" });
  lab = l;
  const link = l.veth(l.namespace("s"), l.namespace("c"), { addresses: { a: `${net}.1/24` } });
  const leaseFile = l.file("dnsmasq.leases");
  const dnsmasq = opts.server ? (() => {
    const c = dnsmasqCommand(l, { iface: link.a.name, offer: defaultOffer(net), leaseFile });
    return l.spawn(link.a.ns, c.argv, { name: c.name, ...(c.env ? { env: c.env } : {}) });
  })() : undefined;
  const rx = await startNotifyReceiver(l, l.file("notify.sock"), HANG_MS);
  const runtimeDir = l.file("run");
  mkdirSync(runtimeDir, { recursive: true, mode: 0o711 });
  const shim = startPaddock(l, link.b.ns, [
    "dhcp", "--no-arp-probe", "--iface", link.b.name, "--state-dir", l.file("state"), "--runtime-dir", runtimeDir,
    "--resolv-conf", l.file("resolv.conf"), ...(opts.extraArgs ?? []),
  ], { env: { ...process.env, NOTIFY_SOCKET: rx.path, ...opts.env } });
  return { l, iface: link.b.name, runtimeDir, net, rx, shim, dnsmasq, leaseFile, ns: link.b.ns };
}

/** The client's IPv4 addresses as `ip` shows them. */
async function clientAddrs(s: Setup): Promise<string[]> {
  return (await addresses(s.ns, s.iface, "inet")).map((a) => `${a.local}/${a.prefixlen}`);
}

describe.skipIf(!run)(`operator commands and systemd against a running shim${run ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("READY=1 after the lease is applied; status, kv --iface, renew and release; WATCHDOG=1", async () => {
    const s = await setup("10.84.0", { server: true, env: { WATCHDOG_USEC: "1000000" } });
    const r = ["--runtime-dir", s.runtimeDir];
    const addr = await waitForAddress(s.l, s.ns, s.iface, "inet", { timeoutMs: HANG_MS });
    const cidr = `${addr.local}/24`;

    // READY=1 only after the lease was applied, with the status line that says so.
    await s.rx.process.waitForLog(/^READY=1$/, { timeoutMs: HANG_MS });
    const sent = s.rx.messages();
    const ready = sent.indexOf("READY=1");
    const statusBefore = sent.slice(0, ready).filter((m) => m.startsWith("STATUS=")).at(-1);
    expect(statusBefore).toMatch(new RegExp(`^STATUS=dhcp4: bound ${cidr.replace(/\./g, "\\.")} from ${s.net.replace(/\./g, "\\.")}\\.1, renews in \\d+ min$`));
    const log = s.shim.output.split("\n");
    const applied = log.findIndex((l) => /handler lease applied/.test(l));
    const readyLine = log.findIndex((l) => /ready \(sd_notify READY=1\)/.test(l));
    expect(applied).toBeGreaterThanOrEqual(0);
    expect(readyLine).toBeGreaterThan(applied);
    const stamp = (line: string) => {
      const [h, m, sec] = line.slice(0, 12).split(":").map(Number) as [number, number, number];
      return (h * 3600 + m * 60 + sec) * 1000;
    };
    console.log(`operator figures: READY=1 ${Math.round(stamp(log[readyLine]!) - stamp(log[applied]!))} ms after the lease handler applied the lease`);
    // The watchdog pings at half WATCHDOG_USEC while the host is healthy.
    await s.rx.process.waitForLog(/^WATCHDOG=1$/, { timeoutMs: HANG_MS, occurrence: 2 });

    // wait-online: the lease is applied.
    const online = await paddock(["wait-online", "--iface", s.iface, "--timeout", "20", ...r]);
    expect(online.stderr).toBe("");
    expect(online.status, online.stderr).toBe(0);

    // status, readable and JSON, against what dnsmasq leased and `ip` shows.
    const human = await paddock(["status", s.iface, ...r]);
    expect(human.status, human.stderr).toBe(0);
    expect(human.stdout).toContain(`dhcp4 on ${s.iface}`);
    expect(human.stdout).toContain("state: BOUND");
    expect(human.stdout).toContain(`address: ${cidr} from ${s.net}.1`);
    expect(human.stdout).toContain(`dns: ${s.net}.1 ${s.net}.53`);
    expect(human.stdout).toContain("mtu: 1420");
    expect(human.stdout).toContain("handler lease: applied");
    expect(human.stdout).toMatch(/calf: running, 0 restarts/);
    const json = await paddock(["status", s.iface, "--json", ...r]);
    expect(json.status, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { version: number; services: Array<Record<string, any>> };
    expect(doc.version).toBe(1);
    expect(doc.services).toHaveLength(1);
    const svc = doc.services[0]!;
    expect(svc).toMatchObject({ service: "dhcp4", iface: s.iface, running: true, readiness: { ready: true }, calf: { state: "running", restarts: 0 } });
    const st = svc.status as Record<string, any>;
    expect(st).toMatchObject({ state: "BOUND", address: cidr, server: `${s.net}.1`, dns: [`${s.net}.1`, `${s.net}.53`], mtu: 1420, domain: "paddock.test", search: ["paddock.test", "example.test"] });
    expect(st.routes).toContainEqual({ destination: "10.99.0.0/16", router: `${s.net}.1` });
    // dnsmasq's 600 s lease, its T1 (½) and T2 (⅞), counted from when the REQUEST went out.
    expect([st.expires - st.obtained, st.renew - st.obtained, st.rebind - st.obtained]).toEqual([600, 300, 525]);
    expect(await clientAddrs(s)).toEqual([st.address]);
    expect(readFileSync(s.leaseFile, "utf8")).toContain(` ${addr.local} `);

    // kv finds the socket by interface (and, with one service running, without it).
    const viaIface = await paddock(["kv", "get", "/ip", "--iface", s.iface, ...r]);
    expect(viaIface.stdout).toBe(`${cidr}\n`);
    expect((await paddock(["kv", "get", "/lease/server", ...r])).stdout).toBe(`${s.net}.1\n`);
    const wrong = await paddock(["kv", "ls", "--iface", s.iface, "--service", "ntp", ...r]);
    expect(wrong.status, wrong.stderr).toBe(1);
    expect(wrong.stderr).toBe(`paddock: the service ntp is not running on ${s.iface}: there is no ntp-${s.iface}.sock in ${s.runtimeDir} (running there: dhcp4)\n`);

    // renew: a REQUEST now, ACKed by dnsmasq.
    const acks = s.dnsmasq!.lines(/DHCPACK/).length;
    const renew = await paddock(["renew", s.iface, ...r]);
    expect(renew.status, renew.stderr).toBe(0);
    await s.shim.waitForLog(/BOUND → RENEWING: renew asked by the operator, REQUEST unicast to/, { timeoutMs: HANG_MS });
    await s.dnsmasq!.waitForLog(/DHCPACK/, { timeoutMs: HANG_MS, occurrence: acks + 1 });
    await s.shim.waitForLog(/RENEWING → BOUND/, { timeoutMs: HANG_MS });

    // release: RELEASE to dnsmasq, the address withdrawn, the lease gone from dnsmasq's file.
    const release = await paddock(["release", s.iface, ...r]);
    expect(release.status, release.stderr).toBe(0);
    await s.dnsmasq!.waitForLog(new RegExp(`DHCPRELEASE.* ${addr.local.replace(/\./g, "\\.")} `), { timeoutMs: HANG_MS });
    await waitFor(async () => (await clientAddrs(s)).length === 0, { what: "the address to be withdrawn", timeoutMs: HANG_MS });
    await waitFor(() => !readFileSync(s.leaseFile, "utf8").includes(` ${addr.local} `), { what: "dnsmasq to drop the lease", timeoutMs: HANG_MS });
    const releasedStatus = async () => JSON.parse((await paddock(["status", s.iface, "--json", ...r])).stdout).services[0].status as Record<string, unknown>;
    await waitFor(async () => (await releasedStatus()).state === "RELEASED", { what: "status to show RELEASED", timeoutMs: HANG_MS });
    expect(await releasedStatus()).toMatchObject({ state: "RELEASED", address: null, server: null });
    expect(s.shim.running).toBe(true);

    // renew after release binds again.
    expect((await paddock(["renew", s.iface, ...r])).status).toBe(0);
    await waitForAddress(s.l, s.ns, s.iface, "inet", { timeoutMs: HANG_MS });
    await waitFor(async () => JSON.parse((await paddock(["status", s.iface, "--json", ...r])).stdout).services[0].readiness.ready === true, { what: "the new lease to be applied", timeoutMs: HANG_MS });

    // Another interface: nothing runs there.
    const none = await paddock(["status", "nosuch0", ...r]);
    expect(none.status, none.stderr).toBe(3);
    expect(none.stderr).toBe(`paddock: no Paddock service on nosuch0 is running: there is no admin socket for it in ${s.runtimeDir}\n`);
  }, 240_000);

  it("without a server: READY=1 after --ready-timeout with STATUS saying so, wait-online times out, a stopped shim is one sentence", async () => {
    const s = await setup("10.85.0", { server: false, extraArgs: ["--ready-timeout", "2"] });
    const r = ["--runtime-dir", s.runtimeDir];
    await s.rx.process.waitForLog(/^READY=1$/, { timeoutMs: HANG_MS });
    const sent = s.rx.messages();
    const status = sent.slice(0, sent.indexOf("READY=1")).filter((m) => m.startsWith("STATUS=")).at(-1);
    // The calf may still be starting on a loaded machine; either way there is no lease.
    expect(status).toMatch(/^STATUS=dhcp4: (starting|init|selecting), no lease yet \(not ready after 2 s: dhcp4; ready anyway\)$/);
    expect(await clientAddrs(s)).toEqual([]);

    const wait = await paddock(["wait-online", "--iface", s.iface, "--timeout", "1", ...r]);
    expect(wait.status, wait.stderr).toBe(1);
    expect(wait.stderr).toMatch(new RegExp(`^paddock: not online after 1 s: waiting for dhcp4 on ${s.iface} \\((starting|init|selecting), no lease yet\\)\n$`));

    await s.shim.stop();
    const stopped = await paddock(["status", s.iface, ...r]);
    expect(stopped.status, stopped.stderr).toBe(3);
    expect(stopped.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    expect(stopped.stderr).toMatch(new RegExp(`^paddock: (no Paddock service on ${s.iface} is running|dhcp4 on ${s.iface} is not running)`));
  }, 120_000);
});
