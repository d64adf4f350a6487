/**
 * The `paddock` command.
 */
import { Command, CommanderError } from "commander";
import { usageError } from "./usage-error.ts";
import { registerCommandsFor } from "./command-table.ts";
import { takeEarlyCalf } from "./early-entry.ts";
import { reportError } from "./errors.ts";
import { markStartPhase } from "@paddock/runtime/start-phases";

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

// An async function, not top-level awaits: the packed single executable (paddock pack) runs
// this module as CommonJS, which has none.
async function main(): Promise<void> {
  try {
    // Only the modules of the command being run load (command-table.ts).
    await registerCommandsFor(program, process.argv.slice(2));
    markStartPhase("command loaded");
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
