/**
 * `paddock ntp --iface IF --server IP [--server IP …] [--clock observe|system]`: the friendly name
 * of `paddock run ntp`, the NTP client service on one interface in the foreground until stopped,
 * with its options as flags.
 */
import type { Command } from "commander";
import { withEarlyCalf } from "../early-entry.ts";
import { ntpService } from "@paddock/service-ntp";
import { UserError } from "../errors.ts";
import { runSingleService, singleServiceCommand, type SingleService, type SingleServiceOptions } from "./single-service.ts";

interface NtpOptions extends SingleServiceOptions {
  server?: string[];
  clock?: string;
  stepThresholdSeconds?: string;
  panicSeconds?: string;
  stepCapSeconds?: string;
}

/** The service options the flags give (only those typed: the configuration file's stand otherwise). */
export function ntpFlagOptions(opts: NtpOptions): Record<string, string> {
  return {
    ...(opts.server !== undefined ? { server: opts.server.join(",") } : {}),
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
    ...(opts.stepThresholdSeconds !== undefined ? { "step-threshold-seconds": opts.stepThresholdSeconds } : {}),
    ...(opts.panicSeconds !== undefined ? { "panic-seconds": opts.panicSeconds } : {}),
    ...(opts.stepCapSeconds !== undefined ? { "step-cap-seconds": opts.stepCapSeconds } : {}),
  };
}

const NTP: SingleService = {
  definition: ntpService,
  what: "the NTP client",
  oneInterface: "paddock ntp runs on one interface: give --iface once (the servers are reached through it)",
  check: (options) => {
    if (!options.server) throw new UserError("paddock ntp needs a server: --server IP (repeat it for several), or server: in the configuration file");
  },
};

export function registerNtp(program: Command): void {
  singleServiceCommand(
    program,
    "ntp",
    "run the NTP client service on an interface (paddock run ntp, with its options as flags); the clock is only observed unless --clock system",
    "the interface the servers are reached through",
    "store and audit log",
    (cmd) =>
      cmd
        .option("--server <ip>", "an NTP server's IPv4 address (names are not resolved); repeat it for several (3 or more let one wrong server be outvoted)", (v: string, acc: string[] = []) => [...acc, v])
        .option("--clock <target>", "observe (compute and report what would be done, touch nothing; the default) or system (adjust CLOCK_REALTIME with clock_adjtime)")
        .option("--step-threshold-seconds <s>", "after the first adjustment, step only offsets beyond this (default 1); smaller ones are slewed")
        .option("--panic-seconds <s>", "never correct an offset beyond this (default 1000)")
        .option("--step-cap-seconds <s>", "the most all steps of one run may add up to (default 3600)"),
  ).action((opts: NtpOptions) => withEarlyCalf((early) => runSingleService(NTP, opts, ntpFlagOptions(opts), early)));
}
