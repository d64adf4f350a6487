/**
 * The `paddock` command.
 */
import { Command, CommanderError } from "commander";
import { usageError } from "./usage-error.ts";
import { registerBuild } from "./commands/build.ts";
import { registerCalf } from "./commands/calf.ts";
import { registerDescribe } from "./commands/describe.ts";
import { registerDhcp, takeEarlyCalf } from "./commands/dhcp.ts";
import { registerDhcpDecode } from "./commands/dhcp-decode.ts";
import { registerApply } from "./commands/apply.ts";
import { registerGenerate } from "./commands/generate.ts";
import { registerKv } from "./commands/kv.ts";
import { registerLab } from "./commands/lab.ts";
import { registerLabNtp } from "./commands/lab-ntp.ts";
import { registerLabIpv6 } from "./commands/lab-ipv6.ts";
import { registerNew } from "./commands/new.ts";
import { registerNtp } from "./commands/ntp.ts";
import { registerRa } from "./commands/ra.ts";
import { registerDhcp6 } from "./commands/dhcp6.ts";
import { registerOperator } from "./commands/operator.ts";
import { registerPack } from "./commands/pack.ts";
import { registerReload } from "./commands/reload.ts";
import { registerRun } from "./commands/run.ts";
import { reportError } from "./errors.ts";

// A reader that stops early (`paddock status | head -3`, `paddock dhcp decode x.pcap | head`)
// closes the pipe: that is the reader's choice, not an error of ours, so a command that prints and
// ends stops quietly instead of with a stack trace. A command that serves (a priv, a store, the
// lab) keeps the old behaviour: it must undo what it set up, not vanish mid-way.
const [command, sub] = process.argv.slice(2);
const serves = ["run", "serve", "ntp", "ra", "dhcp6", "lab", "calf"].includes(command ?? "") || (command === "dhcp" && sub !== "decode") || (command === "kv" && sub === "serve");
if (!serves) {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}

const program = new Command();
program
  .name("paddock")
  .description("Privilege-separated network system services: a privileged priv runs each service's protocol logic in a sandboxed calf (paddock run)")
  .version("0.1.0")
  // A mistake on the command line is one "paddock: ..." sentence that says where the options are,
  // not commander's "error: ..." followed by the whole usage text.
  .configureOutput({ outputError: (message, write) => write(usageError(program, message, process.argv.slice(2))) })
  .exitOverride();

registerRun(program);
registerBuild(program);
registerDescribe(program);
registerGenerate(program);
registerApply(program);
registerKv(program);
registerOperator(program);
registerReload(program);
const dhcp = program.command("dhcp").description("run the DHCPv4 client service on an interface (paddock run dhcp4, with its options as flags), or decode DHCP captures");
registerDhcp(dhcp);
registerDhcpDecode(dhcp);
registerNtp(program);
registerRa(program);
registerDhcp6(program);
registerLab(program);
registerLabNtp(program.commands.find((c) => c.name() === "lab")!);
registerLabIpv6(program.commands.find((c) => c.name() === "lab")!);
registerCalf(program);
registerNew(program);
registerPack(program);

// An async function, not top-level awaits: the packed single executable (paddock pack) runs
// this module as CommonJS, which has none.
async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exitCode = err.exitCode;
    else process.exitCode = reportError(err);
  } finally {
    // A calf started early for a command that never ran (bad options) is not left running.
    const early = await takeEarlyCalf();
    await early?.discard();
    early?.lock.release();
  }
}
void main();
