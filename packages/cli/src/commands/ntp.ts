/**
 * `paddock ntp --iface IF --server IP [--server IP …] [--clock observe|system]`: the friendly name
 * of `paddock run ntp`, the NTP client service on one interface in the foreground until stopped,
 * with its options as flags.
 */
import type { Command } from "commander";
import type { EarlyCalf } from "@paddock/runtime/early";
import { withEarlyCalf } from "../early-entry.ts";
import { ntpService } from "@paddock/service-ntp";
import { UserError } from "../errors.ts";
import { DEFAULT_CONFIG_FILE, resolveOptions } from "../config-file.ts";
import { NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { BUILTIN_SERVICES, builtinCalfScript, CALF_ENGINE_HELP, calfOnEngine, parseCalfEngine } from "../services.ts";
import type { CalfEngine, ContainerRuntimeChoice } from "@paddock/runtime";
import { CONTAINER_RUNTIME_HELP, parseContainerRuntime } from "../container-runtime-option.ts";
import { interfaceNames, runServices } from "./run.ts";

interface NtpOptions {
  iface?: string[];
  server?: string[];
  clock?: string;
  stepThresholdSeconds?: string;
  panicSeconds?: string;
  stepCapSeconds?: string;
  stateDir?: string;
  runtimeDir: string;
  adminSocket?: string;
  metrics?: string;
  config?: string;
  logLevel: string;
  logFormat: string;
  calfEngine?: CalfEngine;
  containerRuntime?: ContainerRuntimeChoice;
  /** --no-sandbox: false. */
  sandbox: boolean;
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

async function runNtp(opts: NtpOptions, early: EarlyCalf | undefined): Promise<void> {
  const ifaces = interfaceNames(opts.iface, "the NTP client");
  if (ifaces.length > 1) throw new UserError("paddock ntp runs on one interface: give --iface once (the servers are reached through it)");
  const iface = ifaces[0]!;
  const flags = ntpFlagOptions(opts);
  const settings = () => resolveOptions({ configPath: opts.config, iface, services: [{ definition: ntpService, flags }], otherServices: Object.values(BUILTIN_SERVICES) });
  const options = settings().get(ntpService.name) ?? {};
  if (!options.server) throw new UserError("paddock ntp needs a server: --server IP (repeat it for several), or server: in the configuration file");
  await runServices({
    interfaces: [
      {
        iface,
        reloadSettings: settings,
        services: [
          {
            definition: ntpService,
            ...calfOnEngine({ definition: ntpService, calfScript: builtinCalfScript(ntpService.name), source: ntpService.name }, opts.calfEngine),
            ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
            ...(opts.adminSocket ? { adminSocket: opts.adminSocket } : {}),
            options,
          },
        ],
      },
    ],
    runtimeDir: opts.runtimeDir,
    // The calf bin/paddock.mjs started early for this command line, adopted by the host.
    ...(early ? { early } : {}),
    ...(opts.containerRuntime ? { containerRuntime: opts.containerRuntime } : {}),
    logLevel: opts.logLevel,
    logFormat: opts.logFormat,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    sandbox: opts.sandbox,
  });
}

export function registerNtp(program: Command): void {
  program
    .command("ntp")
    .description("run the NTP client service on an interface (paddock run ntp, with its options as flags); the clock is only observed unless --clock system")
    .option("--iface <name>", "the interface the servers are reached through", (v: string, acc: string[] = []) => [...acc, v])
    .option("--server <ip>", "an NTP server's IPv4 address (names are not resolved); repeat it for several (3 or more let one wrong server be outvoted)", (v: string, acc: string[] = []) => [...acc, v])
    .option("--clock <target>", "observe (compute and report what would be done, touch nothing; the default) or system (adjust CLOCK_REALTIME with clock_adjtime)")
    .option("--step-threshold-seconds <s>", "after the first adjustment, step only offsets beyond this (default 1); smaller ones are slewed")
    .option("--panic-seconds <s>", "never correct an offset beyond this (default 1000)")
    .option("--step-cap-seconds <s>", "the most all steps of one run may add up to (default 3600)")
    .option("--state-dir <dir>", "store and audit log (default /var/lib/paddock/ntp-IFACE)")
    .option("--runtime-dir <dir>", "calf bundles, runc state and the admin socket", "/run/paddock")
    .option("--admin-socket <path>", "the operators' KV socket, mode 0600 (default RUNTIME_DIR/ntp-IFACE.sock)")
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .option("--calf-engine <engine>", CALF_ENGINE_HELP, parseCalfEngine)
    .option("--container-runtime <runtime>", CONTAINER_RUNTIME_HELP, parseContainerRuntime)
    .option("--config <path>", `the configuration file: ntp options per interface, overridden by these flags (default ${DEFAULT_CONFIG_FILE}, if it exists)`)
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text")
    .action((opts: NtpOptions) => withEarlyCalf((early) => runNtp(opts, early)));
}
