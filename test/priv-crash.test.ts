/**
 * kill -9 of the priv (invariant 5): the configuration it applied stays while it is dead; a new
 * priv on the same state directory reconciles from the persisted store without duplicating a
 * route, a second address or a second tc program, and without touching an address or a route it
 * did not add; its calf resumes with INIT-REBOOT to the same address.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ipJson, sh, until } from "./helpers/netns.ts";
import { repoRoot, stopProcess } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the priv crash test needs root, and CI must run it");

const id = `${process.pid % 100000}`;
const serverNs = `pdk-s-${id}`;
const clientNs = `pdk-c-${id}`;
const serverIf = `ks${id}`;
const clientIf = `kc${id}`;
let work: string;
let dnsmasq: ChildProcess | undefined;
const shims: ChildProcess[] = [];
let output = "";

interface Addr { addr_info: Array<{ family: string; local: string; prefixlen: number }> }
interface Route { dst: string; gateway?: string; protocol?: string }

function startShim(): ChildProcess {
  const child = spawn("nsenter", [
    `--net=/run/netns/${clientNs}`, path.join(repoRoot, "node_modules/.bin/paddock"), "dhcp", "--iface", clientIf,
    "--state-dir", path.join(work, "state"), "--runtime-dir", path.join(work, "run"), "--admin-socket", path.join(work, "admin.sock"),
    "--resolv-conf", path.join(work, "resolv.conf"), "--log-format", "json",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  shims.push(child);
  return child;
}

const inet = () => ipJson<Addr[]>(clientNs, ["addr", "show", "dev", clientIf])[0]!.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`).sort();
const routes = () => ipJson<Route[]>(clientNs, ["route", "show"]).map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.protocol}`).sort();
const tcEgressFilters = () => (JSON.parse(sh("tc", ["-n", clientNs, "-j", "filter", "show", "dev", clientIf, "egress"]) || "[]") as Array<{ options?: unknown }>).filter((f) => f.options !== undefined).length;

beforeAll(() => {
  if (!root) return;
  work = mkdtempSync(path.join(tmpdir(), "paddock-privcrash-"));
  chmodSync(work, 0o711);
  sh("ip", ["netns", "add", serverNs]);
  sh("ip", ["netns", "add", clientNs]);
  sh("ip", ["link", "add", serverIf, "netns", serverNs, "type", "veth", "peer", "name", clientIf, "netns", clientNs]);
  sh("ip", ["-n", serverNs, "addr", "add", "10.78.0.1/24", "dev", serverIf]);
  sh("ip", ["-n", serverNs, "link", "set", serverIf, "up"]);
  sh("ip", ["-n", clientNs, "link", "set", clientIf, "up"]);
  writeFileSync(path.join(work, "leases"), "");
  dnsmasq = spawn("nsenter", [`--net=/run/netns/${serverNs}`, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping",
    "--conf-file=/dev/null", `--interface=${serverIf}`, "--bind-interfaces", "--dhcp-range=10.78.0.100,10.78.0.200,255.255.255.0,1h",
    `--dhcp-leasefile=${path.join(work, "leases")}`, "--dhcp-option=option:router,10.78.0.1", "--dhcp-option=option:dns-server,10.78.0.1",
    "--log-facility=-", "--log-dhcp"], { stdio: ["ignore", "ignore", "pipe"] });
  dnsmasq.stderr!.on("data", (c: Buffer) => (output += c.toString()));
});

afterAll(async () => {
  if (!root) return;
  for (const s of shims) await stopProcess(s, "SIGKILL");
  await stopProcess(dnsmasq);
  // A calf the killed priv left behind (its container id carries the namespace's tag).
  const runcRoot = path.join(work, "run", "runc");
  const listed = spawnSync("runc", ["--root", runcRoot, "list", "--format", "json"], { encoding: "utf8" });
  for (const c of (JSON.parse(listed.stdout || "null") ?? []) as Array<{ id: string }>) spawnSync("runc", ["--root", runcRoot, "delete", "--force", c.id]);
  for (const ns of [clientNs, serverNs]) spawnSync("ip", ["netns", "delete", ns]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!root)("kill -9 of the priv (needs root)", () => {
  it("keeps the configuration while dead, and reconciles on restart without duplicates or collateral", async () => {
    const first = startShim();
    const leased = await until("the first lease", () => inet().find((a) => a.startsWith("10.78.0.")), 30_000, () => output.slice(-3000));
    await until("the default route", () => (routes().some((r) => r.startsWith("default 10.78.0.1 176")) ? true : undefined));
    // Someone else's address and route on the same link: never ours to remove.
    sh("ip", ["-n", clientNs, "addr", "add", "10.88.0.5/24", "dev", clientIf]);
    sh("ip", ["-n", clientNs, "route", "add", "10.66.0.0/16", "via", "10.78.0.1", "proto", "static"]);
    const before = { addrs: inet(), routes: routes() };
    expect(tcEgressFilters()).toBe(1);

    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    // Dead priv: the lease stays applied (its lifetimes bound it), nothing else moves.
    for (let i = 0; i < 10; i++) {
      expect(inet()).toEqual(before.addrs);
      await new Promise((r) => setTimeout(r, 50));
    }

    const second = startShim();
    const sinceRestart = () => output.split("paddock dhcp started").slice(-1)[0] ?? "";
    await until("the restarted calf's INIT-REBOOT", () => (/REBOOTING → BOUND/.test(sinceRestart()) ? true : undefined), 30_000, () => output.slice(-3000));
    expect(sinceRestart()).not.toMatch(/DISCOVER/);
    await until("the handler to settle", () => (inet().length === before.addrs.length ? true : undefined));
    expect(inet()).toEqual(before.addrs);
    expect(inet()).toContain(leased);
    expect(inet()).toContain("10.88.0.5/24");
    expect(routes()).toEqual(before.routes);
    expect(routes().filter((r) => r.startsWith("default")).length).toBe(1);
    expect(routes()).toContain("10.66.0.0/16 10.78.0.1 static");
    expect(tcEgressFilters()).toBe(1);

    await stopProcess(second);
    expect(second.exitCode).toBe(0);
    // A clean stop without --release-on-exit keeps the lease applied; the foreign address stays too.
    expect(inet()).toEqual(before.addrs);
    expect(tcEgressFilters()).toBe(0);
  }, 90_000);
});
