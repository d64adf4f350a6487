/**
 * The image-builder embedding (examples/image-builder): install into a temporary root, then run
 * the installed copy — not the repository's — against dnsmasq in network namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ipJson, sh, until } from "./helpers/netns.ts";
import { repoRoot, stopProcess } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the image-builder test needs root, and CI must run it");

const id = `${process.pid % 100000}`;
const serverNs = `pdi-s-${id}`;
const clientNs = `pdi-c-${id}`;
const serverIf = `is${id}`;
const clientIf = `ic${id}`;
let work: string;
let image: string;
const children: ChildProcess[] = [];
let output = "";

beforeAll(() => {
  if (!root) return;
  work = mkdtempSync(path.join(tmpdir(), "paddock-image-"));
  chmodSync(work, 0o711);
  image = path.join(work, "rootfs");
  sh("bash", [path.join(repoRoot, "examples/image-builder/install.sh"), image]);
  sh("ip", ["netns", "add", serverNs]);
  sh("ip", ["netns", "add", clientNs]);
  sh("ip", ["link", "add", serverIf, "netns", serverNs, "type", "veth", "peer", "name", clientIf, "netns", clientNs]);
  sh("ip", ["-n", serverNs, "addr", "add", "10.79.0.1/24", "dev", serverIf]);
  sh("ip", ["-n", serverNs, "link", "set", serverIf, "up"]);
  sh("ip", ["-n", clientNs, "link", "set", clientIf, "up"]);
  writeFileSync(path.join(work, "leases"), "");
  const dnsmasq = spawn("nsenter", [`--net=/run/netns/${serverNs}`, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping",
    "--conf-file=/dev/null", `--interface=${serverIf}`, "--bind-interfaces", "--dhcp-range=10.79.0.100,10.79.0.200,255.255.255.0,1h",
    `--dhcp-leasefile=${path.join(work, "leases")}`, "--dhcp-option=option:router,10.79.0.1"], { stdio: "ignore" });
  children.push(dnsmasq);
});

afterAll(async () => {
  if (!root) return;
  for (const c of children.reverse()) await stopProcess(c);
  for (const ns of [clientNs, serverNs]) spawnSync("ip", ["netns", "delete", ns]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!root)("the DHCP shim installed into an image root (needs root)", () => {
  it("installs a self-contained tree and a systemd unit", () => {
    const lib = path.join(image, "usr/lib/paddock");
    expect(readdirSync(lib).sort()).toEqual(["calves", "native", "paddock.mjs"]);
    expect(readdirSync(path.join(lib, "native")).sort()).toEqual(["dhcp_filter.bpf.o", "egress_policy.bpf.o", "paddock_native.node"]);
    expect(existsSync(path.join(image, "lib/systemd/system/paddock-dhcp@.service"))).toBe(true);
    expect(readFileSync(path.join(image, "usr/sbin/paddock"), "utf8")).toContain("PADDOCK_CALF_DIR=/usr/lib/paddock/calves");
    // No TypeScript and no node_modules in the image.
    const all = spawnSync("find", [image, "-type", "f"], { encoding: "utf8" }).stdout;
    expect(all).not.toMatch(/\.ts$|node_modules/m);
  });

  it("gets and applies a lease from the installed copy", async () => {
    const lib = path.join(image, "usr/lib/paddock");
    const shim = spawn("nsenter", [`--net=/run/netns/${clientNs}`, process.execPath, path.join(lib, "paddock.mjs"), "dhcp", "--iface", clientIf,
      "--state-dir", path.join(work, "state"), "--runtime-dir", path.join(work, "run"), "--admin-socket", path.join(work, "admin.sock"),
      "--resolv-conf", path.join(work, "resolv.conf")], {
      stdio: ["ignore", "pipe", "pipe"],
      // The wrapper's settings, pointed at the temporary root; and run from elsewhere than the repository.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PADDOCK_NATIVE_DIR: path.join(lib, "native"), PADDOCK_CALF_DIR: path.join(lib, "calves") },
      cwd: work,
    });
    children.push(shim);
    shim.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    shim.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    type Addr = { addr_info: Array<{ family: string; local: string }> };
    const address = await until("a lease from the installed copy", () =>
      ipJson<Addr[]>(clientNs, ["addr", "show", "dev", clientIf])[0]?.addr_info.find((a) => a.family === "inet" && a.local.startsWith("10.79.0."))?.local,
      30_000, () => output.slice(-3000));
    expect(address).toMatch(/^10\.79\.0\.\d+$/);
    await stopProcess(shim);
    expect(shim.exitCode).toBe(0);
  }, 60_000);
});
