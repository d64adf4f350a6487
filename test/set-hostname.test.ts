/**
 * --set-hostname: the host name the server assigns (option 12) is applied in the priv's UTS
 * namespace and restored when the lease is withdrawn. The shim runs in a UTS namespace of its
 * own (unshare --uts), so the test never touches this machine's host name.
 */
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { defaultOffer, NetLab } from "./helpers/lab.ts";
import { paddockBin } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the --set-hostname test needs root, and CI must run it");

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

/** The host name in the UTS namespace of process `pid`. */
const hostnameOf = (pid: number) => spawnSync("nsenter", ["--uts", "--target", String(pid), "cat", "/proc/sys/kernel/hostname"], { encoding: "utf8" }).stdout.trim();
const ours = () => spawnSync("hostname", { encoding: "utf8" }).stdout.trim();

describe.skipIf(!root)("--set-hostname (needs root)", () => {
  it("applies the assigned host name in the priv's UTS namespace and restores it on release", async () => {
    lab = NetLab.create("10.81.0");
    lab.startDnsmasq(defaultOffer("10.81.0"));
    const mine = ours();
    // unshare --uts gives the shim a private copy of the host name; exec keeps the pid.
    const shimArgs = ["dhcp", "--no-arp-probe", "--iface", lab.clientIf, "--state-dir", lab.file("state"), "--runtime-dir", lab.file("run"), "--admin-socket", lab.file("admin.sock"),
      "--resolv-conf", lab.resolvConf, "--hostname", "node7", "--set-hostname", "--release-on-exit", "--log-format", "json"];
    const shim = lab.spawnIn(null, "paddock dhcp (own UTS namespace)", ["unshare", "--uts", "sh", "-c",
      `hostname before-lease && exec nsenter --net=/run/netns/${lab.clientNs} ${paddockBin} ${shimArgs.join(" ")}`]);
    const pid = shim.pid!;
    await lab.waitUntil("the assigned host name", () => hostnameOf(pid) === "node7", 30_000);
    expect(ours()).toBe(mine);
    // --release-on-exit withdraws the lease; the handler restores the name it found (in the
    // shim's namespace, which ends with it: its log says what it wrote).
    process.kill(pid, "SIGTERM");
    expect((await shim.exited).code).toBe(0);
    expect(shim.lines(/restore host name \\"before-lease\\"/)).toHaveLength(1);
    expect(ours()).toBe(mine);
  }, 60_000);
});
