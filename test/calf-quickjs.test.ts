/**
 * The DHCP calf on QuickJS (issue 14, docs/decisions/0010-quickjs-calf-engine.md): the unchanged
 * calf code, compiled to bytecode and linked statically into one executable, run with
 * `paddock dhcp --calf-engine quickjs`.
 *
 * - every scenario of the Node lease test (helpers/shim-lease.ts: renewals, a SIGKILLed calf,
 *   changed options, a NAK, renew → rebind → expiry), in labs prefixed `qjs`;
 * - the sandbox holds the executable alone (no Node, no shared library mapped), the calf waits in
 *   pselect6 (allowed for QuickJS only: without it the engine's loop spins), one thread;
 * - its RSS read from /proc next to a Node calf's in the same kind of lab: printed as figures,
 *   asserted only against a generous bound;
 * - the NTP calf, unchanged too, on QuickJS against three chronyd: it selects a server and the clock
 *   handler gets its estimate (`paddock ntp --calf-engine quickjs`, observe mode);
 * - the RA calf against radvd (SLAAC: the address, the default route, the RDNSS server) and the
 *   DHCPv6 calf against dnsmasq (a stateful lease: the /128 and DNS), both on QuickJS, in labs
 *   prefixed `qj2`, each calf's RSS a figure.
 *
 * Needs root (namespaces, runc) and the QuickJS build (make setup). Skipped with a reason
 * otherwise, never under CI=true.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { addresses, createLab, defaultOffer6, routes, startChrony, startDnsmasq6, startPaddock, startRadvd, waitFor, type Lab } from "@paddock/testkit";
import { dhcp6Lab, globals6, startPaddockDhcp6 } from "./dhcp6-lab.ts";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defaultOffer, haveAll, NetLab, type ShimProc } from "./helpers/lab.ts";
import { describeShimLease } from "./helpers/shim-lease.ts";
import { startPaddockNtp } from "./ntp-lab.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const QUICKJS_CALF = path.join(repoRoot, "packages/services/dhcp4/calf/dist/calf-dhcp4-quickjs");
const QUICKJS_NTP_CALF = path.join(repoRoot, "packages/services/ntp/calf/dist/calf-ntp-quickjs");
const QUICKJS_RA_CALF = path.join(repoRoot, "packages/services/ra/calf/dist/calf-ra-quickjs");
const QUICKJS_DHCP6_CALF = path.join(repoRoot, "packages/services/dhcp6/calf/dist/calf-dhcp6-quickjs");

const isRoot = process.getuid?.() === 0;
const NEEDED = ["dnsmasq", "chronyd", "radvd", "runc", "nsenter"];
const CALVES = [QUICKJS_CALF, QUICKJS_NTP_CALF, QUICKJS_RA_CALF, QUICKJS_DHCP6_CALF];
if (process.env.CI === "true" && (!isRoot || !haveAll(NEEDED) || !CALVES.every((c) => existsSync(c)))) {
  throw new Error(`CI must run the QuickJS calf tests: root, ${NEEDED.join(", ")} and ${CALVES.join(", ")} (make setup builds them)`);
}
const missingCalf = CALVES.find((c) => !existsSync(c));
const canRun = isRoot && haveAll(NEEDED) && missingCalf === undefined;
const skipReason = !isRoot ? "needs root (network namespaces and runc)" : missingCalf !== undefined ? `needs ${missingCalf} (make setup)` : `needs ${NEEDED.join(", ")}`;

/** Bounds a hang only. */
const LEASE_TIMEOUT_MS = 20_000;
/** A generous bound on the QuickJS calf's peak RSS: measured ~4 MiB; Node's is ~45 MiB. */
const QUICKJS_RSS_BOUND_KIB = 24 * 1024;
/** pselect6 on x86_64 and aarch64 (the numbers /proc/PID/syscall shows). */
const PSELECT6: Record<string, number> = { x64: 270, arm64: 72 };

if (canRun) describeShimLease({ engine: "quickjs", prefix: "qjs" });

let lab: NetLab | Lab | undefined;
const figures: string[] = [];
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});
afterAll(() => {
  if (figures.length > 0) console.log(`calf-quickjs figures:\n  ${figures.join("\n  ")}`);
});

/** A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"). */
function statusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** The pid of the running container under `runtimeDir`, whichever container runtime (runc, crun) ran it. */
function containerPid(runtimeDir: string): number | undefined {
  for (const runtime of ["runc", "crun"]) {
    const root = path.join(runtimeDir, runtime);
    if (!existsSync(root)) continue;
    const listed = spawnSync(runtime, ["--root", root, "list", "--format", "json"], { encoding: "utf8" });
    const pid = ((JSON.parse(listed.stdout || "null") ?? []) as Array<{ status: string; pid: number }>).find((c) => c.status === "running" && c.pid > 0)?.pid;
    if (pid !== undefined) return pid;
  }
  return undefined;
}

/**
 * The QuickJS calf running under `runtimeDir`: checks that it is the static executable (not a
 * Node calf) and records its RSS as a figure.
 */
function quickjsCalfFigure(name: string, runtimeDir: string): void {
  const pid = containerPid(runtimeDir);
  expect(pid, `${name}: a running calf under ${runtimeDir}`).toBeDefined();
  expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toBe("/calf/main\0");
  const hwm = statusKiB(pid!, "VmHWM");
  expect(hwm).toBeLessThan(QUICKJS_RSS_BOUND_KIB);
  figures.push(`quickjs ${name} calf: VmRSS ${(statusKiB(pid!, "VmRSS") / 1024).toFixed(1)} MiB, peak ${(hwm / 1024).toFixed(1)} MiB`);
}

/** The calf's bundle config.json under the shim's runtime directory. */
function calfConfig(shim: ShimProc): { mounts: Array<{ destination: string }>; process: { args: string[] }; linux: { seccomp: { syscalls: Array<{ names: string[]; action: string }> } } } {
  const find = (dir: string): string | undefined => {
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      if (e === "config.json" && statSync(p).isFile()) return p;
      if (statSync(p).isDirectory() && e !== "rootfs") {
        const found = find(p);
        if (found) return found;
      }
    }
    return undefined;
  };
  const file = find(shim.runtimeDir);
  if (!file) throw new Error(`no calf config.json under ${shim.runtimeDir}`);
  return JSON.parse(readFileSync(file, "utf8"));
}

/** Starts dnsmasq and the shim with its calf on `engine`; resolves once the lease is applied. */
async function leased(net: string, engine: "node" | "quickjs"): Promise<{ l: NetLab; shim: ShimProc; pid: number; startToAddressMs: number }> {
  const l = NetLab.create(net, "qjs");
  lab = l;
  l.startDnsmasq(defaultOffer(net));
  const t0 = Date.now();
  // The engine named either way (QuickJS is the built-in services' default); bin/paddock.mjs starts either early.
  const shim = l.startShim({ extraArgs: ["--calf-engine", engine] });
  await l.waitForAddress(LEASE_TIMEOUT_MS).catch((err: Error) => {
    throw new Error(`${err.message}; shim output:\n${shim.output.slice(-3000)}`);
  });
  const startToAddressMs = Date.now() - t0;
  await shim.waitFor(/handler lease applied/, LEASE_TIMEOUT_MS);
  let pid: number | undefined;
  await l.waitUntil("runc to list the calf", async () => (pid = await shim.calfPid()) !== undefined, 10_000);
  return { l, shim, pid: pid!, startToAddressMs };
}

describe.skipIf(!canRun)(`the DHCP calf as one static QuickJS executable${canRun ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("runs alone in its sandbox: no Node and no library mounted or mapped, one thread, waiting in pselect6", async () => {
    const { l, shim, pid, startToAddressMs } = await leased("10.72.0", "quickjs");
    // bin/paddock.mjs started it before the CLI loaded, and the service host adopted it.
    expect(shim.output).toMatch(/calf started .*early=true/);
    // What runc was told: the executable is the only file of the rootfs besides /proc, /dev, /tmp.
    const config = calfConfig(shim);
    expect(config.process.args).toEqual(["/calf/main"]);
    expect(config.mounts.map((m) => m.destination).sort()).toEqual(["/calf/main", "/dev", "/proc", "/tmp"]);
    const allowed = config.linux.seccomp.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW").flatMap((s) => s.names);
    expect(allowed).toEqual(expect.arrayContaining(["select", "pselect6"]));
    // What runs: that executable, statically linked (no shared object mapped), single-threaded.
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toBe("/calf/main\0");
    const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
    expect(maps).not.toMatch(/\.so(\.\d+)*\s*$/m);
    expect(maps).not.toMatch(/\/node\s*$/m);
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Threads:\s+1$/m);
    // Idle, it sleeps in the engine's select (pselect6), not spinning on a refused call.
    const pselect6 = PSELECT6[process.arch];
    if (pselect6 !== undefined) {
      await l.waitUntil("the calf to block in pselect6", () => readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ")[0] === String(pselect6), 10_000);
    }
    const rss = statusKiB(pid, "VmRSS");
    const hwm = statusKiB(pid, "VmHWM");
    expect(hwm).toBeLessThan(QUICKJS_RSS_BOUND_KIB);
    figures.push(`quickjs calf: VmRSS ${(rss / 1024).toFixed(1)} MiB, peak (VmHWM) ${(hwm / 1024).toFixed(1)} MiB; executable ${(statSync(QUICKJS_CALF).size / 1e6).toFixed(1)} MB; shim start → address ${startToAddressMs} ms`);
  });

  it("a Node calf in the same lab, for comparison (figures only)", async () => {
    const { pid, startToAddressMs } = await leased("10.73.0", "node");
    const rss = statusKiB(pid, "VmRSS");
    const hwm = statusKiB(pid, "VmHWM");
    expect(hwm).toBeGreaterThan(0);
    figures.push(`node calf: VmRSS ${(rss / 1024).toFixed(1)} MiB, peak (VmHWM) ${(hwm / 1024).toFixed(1)} MiB; shim start → address ${startToAddressMs} ms`);
  });
});

describe.skipIf(!canRun)(`the NTP calf on QuickJS${canRun ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("selects a chronyd server and hands the clock handler its estimate (observe mode)", async () => {
    const l = createLab({ prefix: "qjs" });
    lab = l;
    const server = l.namespace("server");
    const client = l.namespace("client");
    const servers = ["10.174.0.1", "10.174.0.2", "10.174.0.3"];
    const link = l.veth(server, client, { addresses: { a: `${servers[0]}/24`, b: "10.174.0.100/24" } });
    for (const a of servers.slice(1)) l.ip(server, ["addr", "add", `${a}/24`, "dev", link.a.name]);
    for (const address of servers) await startChrony(l, server, { address, readyTimeoutMs: 20_000 });
    const { ntp, kv, read } = await startPaddockNtp(l, client, link.b.name, servers, { extraArgs: ["--calf-engine", "quickjs"], timeoutMs: LEASE_TIMEOUT_MS });
    try {
      // The start burst takes 8 samples per source at 2 s, then selects: ~20 s; the bound is for a hang.
      await ntp.waitForLog(/NTP server \S+ selected/, { timeoutMs: 90_000 });
      const result = await waitFor(() => read("/clock/applied/result"), { what: "the clock handler's report", timeoutMs: 30_000, abortOnExit: ntp });
      expect(result).toBe("observed");
      quickjsCalfFigure("NTP", l.file("run"));
    } finally {
      kv.close();
    }
  }, 150_000);
});

describe.skipIf(!canRun)(`the RA and DHCPv6 calves on QuickJS${canRun ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("RA: SLAAC from radvd, the default route and its RDNSS server (paddock ra --calf-engine quickjs)", async () => {
    const l = createLab({ prefix: "qj2" });
    lab = l;
    const router = l.namespace("router");
    const client = l.namespace("client");
    const link = l.veth(router, client);
    const resolvConf = l.file("resolv.conf");
    writeFileSync(resolvConf, "");
    const runtimeDir = l.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    const routerLinkLocal = (await waitFor(async () => (await addresses(router, link.a.name, "inet6")).find((a) => a.scope === "link" && !a.tentative), { what: "radvd's link-local address", timeoutMs: LEASE_TIMEOUT_MS })).local;
    const ra = startPaddock(l, client, ["ra", "--iface", link.b.name, "--state-dir", l.file("state"), "--runtime-dir", runtimeDir, "--admin-socket", l.file("ra.sock"), "--resolv-conf", resolvConf, "--log-format", "json", "--calf-engine", "quickjs"]);
    await ra.waitForLog(/RA client started/, { timeoutMs: LEASE_TIMEOUT_MS });
    await startRadvd(l, router, { iface: link.a.name, prefix: "2001:db8:7::/64", rdnss: ["2001:db8:7::53"], readyTimeoutMs: LEASE_TIMEOUT_MS });
    const state = () => ra.tail();
    const a = await waitFor(async () => (await addresses(client, link.b.name, "inet6")).find((x) => x.scope === "global" && x.local.startsWith("2001:db8:7:")), { what: "a SLAAC address on radvd's prefix", timeoutMs: LEASE_TIMEOUT_MS, abortOnExit: ra, state });
    expect(a.prefixlen).toBe(64);
    // RFC 7217, not the MAC's EUI-64 (ff:fe in the middle of the identifier).
    expect(a.local).not.toMatch(/ff:fe/);
    const def = await waitFor(async () => (await routes(client, "inet6")).find((r) => r.dst === "default" && r.dev === link.b.name), { what: "the default route via radvd", timeoutMs: LEASE_TIMEOUT_MS, abortOnExit: ra, state });
    expect(def).toMatchObject({ gateway: routerLinkLocal, protocol: "176" });
    await waitFor(() => readFileSync(resolvConf, "utf8").includes("nameserver 2001:db8:7::53"), { what: "radvd's RDNSS in resolv.conf", timeoutMs: LEASE_TIMEOUT_MS, abortOnExit: ra, state: () => readFileSync(resolvConf, "utf8") });
    quickjsCalfFigure("RA", runtimeDir);
  }, 120_000);

  it("DHCPv6: a stateful lease from dnsmasq, its /128 and DNS servers (paddock dhcp6 --calf-engine quickjs)", async () => {
    const l = createLab({ prefix: "qj2" });
    lab = l;
    const net = dhcp6Lab(l);
    await startDnsmasq6(l, net.server, { iface: net.serverIf, offer: defaultOffer6() });
    const c = await startPaddockDhcp6(l, net.client, net.clientIf, ["--calf-engine", "quickjs"]);
    try {
      const got = await waitFor(() => globals6(l, net.client, net.clientIf).find((x) => x.prefixlen === 128 && x.local.startsWith("2001:db8:6::1")), { what: "an IA_NA address from dnsmasq's range", timeoutMs: LEASE_TIMEOUT_MS, abortOnExit: c.paddock, state: () => c.paddock.tail() });
      expect(await c.read("/address/000/ip")).toBe(got.local);
      await waitFor(() => existsSync(c.resolvConf) && readFileSync(c.resolvConf, "utf8").includes("nameserver 2001:db8:6::53"), { what: "the DHCPv6 DNS servers in resolv.conf", timeoutMs: LEASE_TIMEOUT_MS, abortOnExit: c.paddock });
      quickjsCalfFigure("DHCPv6", l.file("dhcp6-run"));
    } finally {
      c.kv.close();
    }
  }, 120_000);
});
