/**
 * --set-hostname: the host name the server assigns (option 12) is applied in the priv's UTS
 * namespace and restored when the lease is withdrawn. The shim runs in a UTS namespace of its
 * own (unshare --uts), so the test never touches this machine's host name.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sh, until } from "./helpers/netns.ts";
import { repoRoot, stopProcess } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the --set-hostname test needs root, and CI must run it");

const id = `${process.pid % 100000}`;
const serverNs = `pdn-s-${id}`;
const clientNs = `pdn-c-${id}`;
const serverIf = `ns${id}`;
const clientIf = `nc${id}`;
let work: string;
const children: ChildProcess[] = [];
let output = "";

/** The host name in the UTS namespace of process `pid`. */
const hostnameOf = (pid: number) => spawnSync("nsenter", ["--uts", "--target", String(pid), "cat", "/proc/sys/kernel/hostname"], { encoding: "utf8" }).stdout.trim();

beforeAll(() => {
  if (!root) return;
  work = mkdtempSync(path.join(tmpdir(), "paddock-hostname-"));
  chmodSync(work, 0o711);
  sh("ip", ["netns", "add", serverNs]);
  sh("ip", ["netns", "add", clientNs]);
  sh("ip", ["link", "add", serverIf, "netns", serverNs, "type", "veth", "peer", "name", clientIf, "netns", clientNs]);
  sh("ip", ["-n", serverNs, "addr", "add", "10.81.0.1/24", "dev", serverIf]);
  sh("ip", ["-n", serverNs, "link", "set", serverIf, "up"]);
  sh("ip", ["-n", clientNs, "link", "set", clientIf, "up"]);
  writeFileSync(path.join(work, "leases"), "");
  children.push(spawn("nsenter", [`--net=/run/netns/${serverNs}`, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping",
    "--conf-file=/dev/null", `--interface=${serverIf}`, "--bind-interfaces", "--dhcp-range=10.81.0.100,10.81.0.200,255.255.255.0,1h",
    `--dhcp-leasefile=${path.join(work, "leases")}`], { stdio: "ignore" }));
});

afterAll(async () => {
  if (!root) return;
  for (const c of children.reverse()) await stopProcess(c);
  for (const ns of [clientNs, serverNs]) spawnSync("ip", ["netns", "delete", ns]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!root)("--set-hostname (needs root)", () => {
  it("applies the assigned host name in the priv's UTS namespace and restores it on release", async () => {
    const mine = spawnSync("hostname", { encoding: "utf8" }).stdout.trim();
    // unshare --uts gives the shim a private copy of the host name; exec keeps the pid.
    const shim = spawn("unshare", ["--uts", "sh", "-c", `hostname before-lease && exec nsenter --net=/run/netns/${clientNs} ${path.join(repoRoot, "node_modules/.bin/paddock")} dhcp --iface ${clientIf} --state-dir ${work}/state --runtime-dir ${work}/run --admin-socket ${work}/admin.sock --resolv-conf ${work}/resolv.conf --hostname node7 --set-hostname --release-on-exit --log-format json`], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(shim);
    shim.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    shim.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    await until("the assigned host name", () => (hostnameOf(shim.pid!) === "node7" ? true : undefined), 30_000, () => output.slice(-3000));
    expect(spawnSync("hostname", { encoding: "utf8" }).stdout.trim()).toBe(mine);
    // --release-on-exit withdraws the lease; the handler restores the name it found.
    const pid = shim.pid!;
    const restored = new Promise<string>((resolve) => {
      const t = setInterval(() => {
        const h = hostnameOf(pid);
        if (h === "before-lease") {
          clearInterval(t);
          resolve(h);
        }
      }, 20);
      shim.once("exit", () => {
        clearInterval(t);
        resolve("exited first");
      });
    });
    shim.kill("SIGTERM");
    expect(await restored).toBe("before-lease");
    expect(spawnSync("hostname", { encoding: "utf8" }).stdout.trim()).toBe(mine);
  }, 60_000);
});
