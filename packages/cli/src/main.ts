/**
 * The `paddock` command.
 */
import { Command, CommanderError } from "commander";
import { registerBuild } from "./commands/build.ts";
import { registerCalf } from "./commands/calf.ts";
import { registerDescribe } from "./commands/describe.ts";
import { registerDhcp, takeEarlyCalf } from "./commands/dhcp.ts";
import { registerDhcpDecode } from "./commands/dhcp-decode.ts";
import { registerKv } from "./commands/kv.ts";
import { registerLab } from "./commands/lab.ts";
import { registerNtp } from "./commands/ntp.ts";
import { registerOperator } from "./commands/operator.ts";
import { registerReload } from "./commands/reload.ts";
import { registerRun } from "./commands/run.ts";
import { reportError } from "./errors.ts";

const program = new Command();
program
  .name("paddock")
  .description("Privilege-separated network system services: a privileged priv runs each service's protocol logic in a sandboxed calf (paddock run)")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

registerRun(program);
registerBuild(program);
registerDescribe(program);
registerKv(program);
registerOperator(program);
registerReload(program);
const dhcp = program.command("dhcp").description("run the DHCPv4 client service on an interface (paddock run dhcp4, with its options as flags), or decode DHCP captures");
registerDhcp(dhcp);
registerDhcpDecode(dhcp);
registerNtp(program);
registerLab(program);
registerCalf(program);
(await import("./commands/new.ts")).registerNew(program);

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
