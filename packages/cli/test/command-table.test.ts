// The CLI loads only the module of the command it runs (command-table.ts): the table must name
// every command each module registers, or `paddock NAME` would load the wrong module (or all).
import { spawnSync } from "node:child_process";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { findPaddockBin } from "@paddock/testkit";
import { COMMAND_MODULES, commandModulesFor, registerCommandsFor } from "../src/command-table.ts";

describe("the command table", () => {
  it.each(COMMAND_MODULES.map((m) => [m.names.join(", "), m] as const))("the module of %s registers exactly those commands", async (_, m) => {
    const program = new Command();
    // lab-ntp and lab-ipv6 add to lab; the others register top-level commands only.
    (await m.load())(program);
    expect(program.commands.map((c) => c.name())).toEqual(m.names);
  });

  it("every module together is the whole program, each command once", async () => {
    const program = new Command();
    await registerCommandsFor(program, ["--help"]);
    const names = program.commands.map((c) => c.name());
    expect(names).toEqual(COMMAND_MODULES.flatMap((m) => m.names));
    expect(new Set(names).size).toBe(names.length);
    expect(program.commands.find((c) => c.name() === "lab")!.commands.map((c) => c.name())).toEqual(["ntp", "ipv6"]);
  });

  it.each([
    [["dhcp", "--iface", "eth0"], ["dhcp"]],
    [["dhcp", "decode", "x.pcap"], ["dhcp"]],
    [["wait-online", "--timeout", "5"], ["status", "renew", "release", "wait-online"]],
    [["apply", "new.yaml"], ["serve", "apply"]],
    [["lab", "ntp"], ["lab"]],
  ])("paddock %j loads only the module of its command", (args, names) => {
    expect(commandModulesFor(args).map((m) => m.names)).toEqual([names]);
  });

  it.each([[["--version"]], [["-V"]]])("paddock %j loads no command module", (args) => {
    expect(commandModulesFor(args)).toEqual([]);
  });

  it.each([[[]], [["--help"]], [["help", "dhcp"]], [["frob"]], [["--version", "dhcp"]]])("paddock %j loads every module (help, or a mistake to name the nearest command for)", (args) => {
    expect(commandModulesFor(args)).toBe(COMMAND_MODULES);
  });
});

describe("every command still works when only its module loads (the built CLI)", () => {
  const help = (args: string[]) => spawnSync(findPaddockBin(), [...args, "--help"], { encoding: "utf8", timeout: 60_000 });

  it.each(COMMAND_MODULES.flatMap((m) => m.names.map((n) => [n])))("paddock %s --help", (name) => {
    const r = help([name]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    expect(r.stdout).toMatch(new RegExp(`^Usage: paddock ${name} `));
  });

  it.each([[["dhcp", "decode"]], [["lab", "ntp"]], [["kv", "get"]], [["calf", "dev"]]])("paddock %j --help (a subcommand)", (args) => {
    const r = help(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: paddock ${args.join(" ")} `));
  });

  it("paddock --help lists every command", () => {
    const r = help([]);
    expect(r.status).toBe(0);
    for (const name of COMMAND_MODULES.flatMap((m) => m.names)) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, "m"));
  });
});
