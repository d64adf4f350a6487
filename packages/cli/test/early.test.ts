import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseEarlyArgs } from "../src/early-entry.ts";

describe("parseEarlyArgs: when bin/paddock.mjs may start the calf before the CLI loads", () => {
  it.each([
    [["dhcp", "--iface", "eth0"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock" }],
    [["dhcp", "--iface=eth0", "--runtime-dir", "/tmp/r", "--release-on-exit", "--log-format", "json"], { service: "dhcp4", iface: "eth0", runtimeDir: "/tmp/r" }],
    [["dhcp", "--state-dir", "/s", "--iface", "br-lan", "--set-hostname", "--metrics", "/m.sock"], { service: "dhcp4", iface: "br-lan", runtimeDir: "/run/paddock" }],
    [["dhcp", "--iface", "eth0", "--hooks-dir", "/etc/h.d", "--hook-timeout-seconds", "5"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock" }],
    [["dhcp", "--no-arp-probe", "--iface", "eth0"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock" }],
    [["dhcp", "--iface", "eth0", "--container-runtime", "crun"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock", containerRuntime: "crun" }],
    [["dhcp", "--container-runtime=runc", "--iface", "eth0"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock", containerRuntime: "runc" }],
    [["dhcp", "--iface", "eth0", "--calf-engine", "quickjs"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock", engine: "quickjs" }],
    [["dhcp", "--calf-engine=node", "--iface", "eth0"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock", engine: "node" }],
    [["ntp", "--iface", "eth0", "--server", "10.0.0.1", "--server=10.0.0.2", "--clock", "system"], { service: "ntp", iface: "eth0", runtimeDir: "/run/paddock" }],
    [["ra", "--iface", "eth0", "--temporary-addresses", "--runtime-dir", "/tmp/r"], { service: "ra", iface: "eth0", runtimeDir: "/tmp/r" }],
    [["dhcp6", "--iface", "eth0", "--ia-pd", "56", "--prefix-delegation", "lan0=1", "--no-rapid-commit"], { service: "dhcp6", iface: "eth0", runtimeDir: "/run/paddock" }],
    [["run", "dhcp4", "--iface", "eth0", "--set", "route-metric=5"], { service: "dhcp4", iface: "eth0", runtimeDir: "/run/paddock" }],
    [["run", "--iface", "eth0", "ntp", "--set", "server=10.0.0.1", "--calf-engine", "quickjs"], { service: "ntp", iface: "eth0", runtimeDir: "/run/paddock", engine: "quickjs" }],
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
    [["run", "--iface", "eth0"]],
    [["run", "dhcp4", "ntp", "--iface", "eth0"]],
    [["run", "./my/service.ts", "--iface", "eth0"]],
    [["run", "dhcp4", "--iface", "eth0", "--calf-launch", "external"]],
    [["run", "dhcp4", "--iface", "eth0", "--bundle-dir", "/usr/lib/paddock/bundles"]],
    [["ntp", "extra", "--iface", "eth0"]],
    [["ra", "--iface", "eth0", "--bogus"]],
    [["status", "eth0"]],
  ])("anything else is left to the CLI: %j", (argv) => {
    expect(parseEarlyArgs(argv)).toBeUndefined();
  });
});

describe("what the early start knows is what the CLI declares", () => {
  it("each built-in service's calf limits are its definition's (the early start cannot load the definitions)", async () => {
    const { EARLY_CALF_LIMITS } = await import("../src/early-entry.ts");
    const { BUILTIN_SERVICES } = await import("../src/services.ts");
    const declared = Object.fromEntries(Object.values(BUILTIN_SERVICES).map((d) => [d.name, { memoryMiB: d.calf.memoryMiB, pids: d.calf.pids }]));
    expect(EARLY_CALF_LIMITS).toEqual(declared);
  });

  it("the built-in services' calf engine is their definitions' (the early calf is adopted only on the host's engine)", async () => {
    const { EARLY_CALF_ENGINE } = await import("../src/early-entry.ts");
    const { BUILTIN_SERVICES } = await import("../src/services.ts");
    for (const d of Object.values(BUILTIN_SERVICES)) expect(d.calf.engine, d.name).toBe(EARLY_CALF_ENGINE);
    expect(EARLY_CALF_ENGINE).toBe("quickjs");
  });

  it.each(["dhcp", "ntp", "ra", "dhcp6", "run"])("paddock %s: its options with a value, its flags and those that make the early start step aside are the command's", async (name) => {
    const { EARLY_COMMANDS } = await import("../src/early-entry.ts");
    const { Command } = await import("commander");
    const { registerCommandsFor } = await import("../src/command-table.ts");
    const program = new Command();
    await registerCommandsFor(program, [name]);
    const cmd = program.commands.find((c) => c.name() === name)!;
    const early = EARLY_COMMANDS[name]!;
    const withValue = cmd.options.filter((o) => o.required || o.optional).map((o) => o.long!);
    const flags = cmd.options.filter((o) => !(o.required || o.optional)).map((o) => o.long!);
    expect([...early.withValue, ...early.stepAside].sort()).toEqual(withValue.sort());
    expect([...early.flags].sort()).toEqual(flags.sort());
  });

  it("bin/paddock.mjs and the packed entry start early for exactly these commands", async () => {
    const { EARLY_COMMANDS } = await import("../src/early-entry.ts");
    for (const file of ["../bin/paddock.mjs", "../src/sea-entry.ts"]) {
      const text = readFileSync(new URL(file, import.meta.url), "utf8");
      const list = /\[((?:"[a-z0-9]+",? ?)+)\]\.includes\((?:process\.argv\[2\]|args\[0\])/.exec(text);
      expect({ file, names: list ? JSON.parse(`[${list[1]}]`) : null }).toEqual({ file, names: Object.keys(EARLY_COMMANDS) });
    }
  });
});
