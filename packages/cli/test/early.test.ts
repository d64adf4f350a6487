import { describe, expect, it } from "vitest";
import { parseEarlyArgs } from "../src/early-entry.ts";

describe("parseEarlyArgs: when bin/paddock.mjs may start the calf before the CLI loads", () => {
  it.each([
    [["dhcp", "--iface", "eth0"], { iface: "eth0", runtimeDir: "/run/paddock" }],
    [["dhcp", "--iface=eth0", "--runtime-dir", "/tmp/r", "--release-on-exit", "--log-format", "json"], { iface: "eth0", runtimeDir: "/tmp/r" }],
    [["dhcp", "--state-dir", "/s", "--iface", "br-lan", "--set-hostname", "--metrics", "/m.sock"], { iface: "br-lan", runtimeDir: "/run/paddock" }],
    [["dhcp", "--iface", "eth0", "--hooks-dir", "/etc/h.d", "--hook-timeout-seconds", "5"], { iface: "eth0", runtimeDir: "/run/paddock" }],
    [["dhcp", "--no-arp-probe", "--iface", "eth0"], { iface: "eth0", runtimeDir: "/run/paddock" }],
    [["dhcp", "--iface", "eth0", "--container-runtime", "crun"], { iface: "eth0", runtimeDir: "/run/paddock", containerRuntime: "crun" }],
    [["dhcp", "--container-runtime=runc", "--iface", "eth0"], { iface: "eth0", runtimeDir: "/run/paddock", containerRuntime: "runc" }],
    [["dhcp", "--iface", "eth0", "--calf-engine", "quickjs"], { iface: "eth0", runtimeDir: "/run/paddock", engine: "quickjs" }],
    [["dhcp", "--calf-engine=node", "--iface", "eth0"], { iface: "eth0", runtimeDir: "/run/paddock", engine: "node" }],
  ])("a plain run: %j", (argv, want) => {
    expect(parseEarlyArgs(argv)).toEqual(want);
  });

  it.each([
    [[]],
    [["kv", "serve"]],
    [["dhcp"]],
    [["dhcp", "decode", "x.pcap"]],
    [["dhcp", "--iface", "eth0", "--help"]],
    [["dhcp", "--iface", "eth0", "--calf", "my.ts"]],
    [["dhcp", "--iface"]],
    [["dhcp", "--iface", "a/b"]],
    [["dhcp", "--iface", "much-too-long-name"]],
    [["dhcp", "--iface", "eth0", "--typo"]],
    [["dhcp", "--iface", "eth0", "--container-runtime", "podman"]],
    [["dhcp", "--iface", "eth0", "--calf-engine", "v8"]],
  ])("anything else is left to the CLI: %j", (argv) => {
    expect(parseEarlyArgs(argv)).toBeUndefined();
  });
});

describe("the early start's DHCP calf", () => {
  it("has the limits the DHCP service's definition declares (the early start cannot load the definition)", async () => {
    const { EARLY_DHCP_CALF } = await import("../src/early-entry.ts");
    const { dhcp4Service } = await import("@paddock/service-dhcp4");
    expect({ memoryMiB: dhcp4Service.calf.memoryMiB, pids: dhcp4Service.calf.pids }).toEqual(EARLY_DHCP_CALF);
    expect(dhcp4Service.name).toBe("dhcp4");
  });
});
