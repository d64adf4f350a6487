/**
 * The image-builder embedding (examples/image-builder): install into a temporary root, then run
 * the installed copy — not the repository's — against dnsmasq in network namespaces.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultOffer, NetLab, runOk } from "./helpers/lab.ts";
import { repoRoot } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the image-builder test needs root, and CI must run it");

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

describe.skipIf(!root)("the DHCP shim installed into an image root (needs root)", () => {
  it("installs a self-contained tree and a systemd unit, and the installed copy gets and applies a lease", async () => {
    lab = NetLab.create("10.79.0");
    const image = lab.file("rootfs");
    runOk("bash", [path.join(repoRoot, "examples/image-builder/install.sh"), image]);
    const lib = path.join(image, "usr/lib/paddock");
    expect(readdirSync(lib).sort()).toEqual(["calves", "chunks", "native", "paddock.mjs"]);
    expect(readdirSync(path.join(lib, "native")).sort()).toEqual(["dhcp_filter.bpf.o", "egress_policy.bpf.o", "paddock_native.node"]);
    expect(existsSync(path.join(image, "lib/systemd/system/paddock-dhcp@.service"))).toBe(true);
    expect(readFileSync(path.join(image, "lib/systemd/system/paddock-wait-online.service"), "utf8")).toContain("ExecStart=/usr/sbin/paddock wait-online");
    expect(readFileSync(path.join(image, "usr/sbin/paddock"), "utf8")).toContain("PADDOCK_CALF_DIR=/usr/lib/paddock/calves");
    // No TypeScript and no node_modules in the image.
    expect(spawnSync("find", [image, "-type", "f"], { encoding: "utf8" }).stdout).not.toMatch(/\.ts$|node_modules/m);

    lab.startDnsmasq(defaultOffer("10.79.0"));
    const shim = lab.spawnIn(lab.clientNs, "installed paddock dhcp", [
      process.execPath, path.join(lib, "paddock.mjs"), "dhcp", "--no-arp-probe", "--iface", lab.clientIf,
      "--state-dir", lab.file("state"), "--runtime-dir", lab.file("run"), "--admin-socket", lab.file("admin.sock"), "--resolv-conf", lab.resolvConf,
    // The wrapper's settings, pointed at the temporary root; nothing of the repository's environment.
    ], { PATH: process.env.PATH ?? "/usr/bin:/bin", PADDOCK_NATIVE_DIR: path.join(lib, "native"), PADDOCK_CALF_DIR: path.join(lib, "calves") });
    const address = (await lab.waitForAddress(30_000, (a) => a.local.startsWith("10.79.0."))).local;
    expect(address).toMatch(/^10\.79\.0\.\d+$/);
    expect((await shim.stop()).code).toBe(0);
  }, 60_000);
});
