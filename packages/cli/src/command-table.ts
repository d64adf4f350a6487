/**
 * Which module defines each top-level command, so that a run loads only the command it runs
 * (issue 14 item 3). `paddock dhcp --iface eth0` loads the dhcp command's module and what it
 * imports, not the lab, the scaffolder, the packer or the generator; each module is a chunk of
 * its own in the CLI build (scripts/build.ts splits the bundle at these imports). Help without a
 * command, `paddock help`, a mistyped command and options before the command load them all.
 */
import type { Command } from "commander";

/** Registers one module's commands on the program. */
export type RegisterCommands = (program: Command) => void;

/** One module's commands: the names it registers and how to load it. */
export interface CommandModule {
  /** The top-level commands it registers, in the order `paddock --help` lists them. */
  readonly names: readonly string[];
  readonly load: () => Promise<RegisterCommands>;
}

/** The subcommand of `paddock lab` a module adds, given `lab` itself. */
function underLab(register: (lab: Command) => void): RegisterCommands {
  return (program) => register(program.commands.find((c) => c.name() === "lab")!);
}

/** Every command module, in the order `paddock --help` lists their commands. */
export const COMMAND_MODULES: readonly CommandModule[] = [
  { names: ["run"], load: async () => (await import("./commands/run.ts")).registerRun },
  { names: ["build"], load: async () => (await import("./commands/build.ts")).registerBuild },
  { names: ["describe"], load: async () => (await import("./commands/describe.ts")).registerDescribe },
  { names: ["generate"], load: async () => (await import("./commands/generate.ts")).registerGenerate },
  { names: ["serve", "apply"], load: async () => (await import("./commands/apply.ts")).registerApply },
  { names: ["kv"], load: async () => (await import("./commands/kv.ts")).registerKv },
  { names: ["status", "renew", "release", "wait-online"], load: async () => (await import("./commands/operator.ts")).registerOperator },
  { names: ["reload"], load: async () => (await import("./commands/reload.ts")).registerReload },
  {
    names: ["dhcp"],
    load: async () => {
      const [{ registerDhcp }, { registerDhcpDecode }] = await Promise.all([import("./commands/dhcp.ts"), import("./commands/dhcp-decode.ts")]);
      return (program) => {
        const dhcp = program.command("dhcp").description("run the DHCPv4 client service on an interface (paddock run dhcp4, with its options as flags), or decode DHCP captures");
        registerDhcp(dhcp);
        registerDhcpDecode(dhcp);
      };
    },
  },
  { names: ["ntp"], load: async () => (await import("./commands/ntp.ts")).registerNtp },
  { names: ["ra"], load: async () => (await import("./commands/ra.ts")).registerRa },
  { names: ["dhcp6"], load: async () => (await import("./commands/dhcp6.ts")).registerDhcp6 },
  {
    names: ["lab"],
    load: async () => {
      const [{ registerLab }, { registerLabNtp }, { registerLabIpv6 }] = await Promise.all([import("./commands/lab.ts"), import("./commands/lab-ntp.ts"), import("./commands/lab-ipv6.ts")]);
      return (program) => {
        registerLab(program);
        underLab(registerLabNtp)(program);
        underLab(registerLabIpv6)(program);
      };
    },
  },
  { names: ["calf"], load: async () => (await import("./commands/calf.ts")).registerCalf },
  { names: ["new"], load: async () => (await import("./commands/new.ts")).registerNew },
  { names: ["pack"], load: async () => (await import("./commands/pack.ts")).registerPack },
];

/**
 * The modules a command line needs: the one defining its command; none for `--version` alone
 * (commander answers it); all of them for anything else (help lists every command, and commander
 * names the nearest one to a typo).
 */
export function commandModulesFor(args: readonly string[]): readonly CommandModule[] {
  const first = args[0];
  if (args.length === 1 && (first === "--version" || first === "-V")) return [];
  const own = first === undefined ? undefined : COMMAND_MODULES.find((m) => m.names.includes(first));
  return own ? [own] : COMMAND_MODULES;
}

/** Loads and registers the modules `args` (process.argv without node and the script) needs. */
export async function registerCommandsFor(program: Command, args: readonly string[]): Promise<void> {
  const modules = commandModulesFor(args);
  const registers = await Promise.all(modules.map((m) => m.load()));
  for (const register of registers) register(program);
}
