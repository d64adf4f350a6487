/**
 * `paddock ra --iface IF [--temporary-addresses] [--resolv-conf PATH] [--route-metric N]`: the
 * friendly name of `paddock run ra`, the IPv6 router discovery service (SLAAC) on one interface in
 * the foreground until stopped, with its options as flags.
 */
import type { Command } from "commander";
import type { EarlyCalf } from "@paddock/runtime/early";
import { withEarlyCalf } from "../early-entry.ts";
import { raService } from "@paddock/service-ra";
import { UserError } from "../errors.ts";
import { DEFAULT_CONFIG_FILE, resolveOptions } from "../config-file.ts";
import { NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { BUILTIN_SERVICES, builtinCalfScript, CALF_ENGINE_HELP, calfOnEngine, parseCalfEngine } from "../services.ts";
import type { CalfEngine, ContainerRuntimeChoice } from "@paddock/runtime";
import { CONTAINER_RUNTIME_HELP, parseContainerRuntime } from "../container-runtime-option.ts";
import { interfaceNames, runServices } from "./run.ts";

interface RaOptions {
  iface?: string[];
  temporaryAddresses?: boolean;
  resolvConf?: string;
  routeMetric?: string;
  /** --no-solicit: false. */
  solicit?: boolean;
  stateDir?: string;
  runtimeDir: string;
  adminSocket?: string;
  metrics?: string;
  config?: string;
  logLevel: string;
  logFormat: string;
  /** --no-sandbox: false. */
  sandbox: boolean;
  calfEngine?: CalfEngine;
  containerRuntime?: ContainerRuntimeChoice;
}

/** The service options the flags give (only those typed: the configuration file's stand otherwise). */
export function raFlagOptions(opts: RaOptions): Record<string, string> {
  return {
    ...(opts.temporaryAddresses !== undefined ? { "temporary-addresses": String(opts.temporaryAddresses) } : {}),
    ...(opts.resolvConf !== undefined ? { "resolv-conf": opts.resolvConf } : {}),
    ...(opts.routeMetric !== undefined ? { "route-metric": opts.routeMetric } : {}),
    ...(opts.solicit === false ? { solicit: "false" } : {}),
  };
}

async function runRa(opts: RaOptions, early: EarlyCalf | undefined): Promise<void> {
  const ifaces = interfaceNames(opts.iface, "the RA client");
  if (ifaces.length > 1) throw new UserError("paddock ra runs on one interface: give --iface once (run one per interface)");
  const iface = ifaces[0]!;
  const flags = raFlagOptions(opts);
  const settings = () => resolveOptions({ configPath: opts.config, iface, services: [{ definition: raService, flags }], otherServices: Object.values(BUILTIN_SERVICES) });
  const options = settings().get(raService.name) ?? {};
  await runServices({
    interfaces: [
      {
        iface,
        reloadSettings: settings,
        services: [
          {
            definition: raService,
            ...calfOnEngine({ definition: raService, calfScript: builtinCalfScript(raService.name), source: raService.name }, opts.calfEngine),
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

export function registerRa(program: Command): void {
  program
    .command("ra")
    .description("run the IPv6 router discovery service on an interface (paddock run ra, with its options as flags): SLAAC addresses with RFC 7217 stable identifiers, default and RFC 4191 routes, MTU, RDNSS/DNSSL; the kernel's own accept_ra and autoconf are off on the interface while it runs and restored at stop")
    .option("--iface <name>", "the interface to listen for router advertisements on", (v: string, acc: string[] = []) => [...acc, v])
    .option("--temporary-addresses", "RFC 8981 temporary (privacy) addresses beside each stable one, made and retired by the kernel (default off)")
    .option("--resolv-conf <path>", "the resolv.conf the RA's DNS servers and search names are composed into (default /etc/resolv.conf; empty: leave it alone)")
    .option("--route-metric <n>", "metric of the RA's routes and priority of its DNS servers (default 1000 + the interface's index)")
    .option("--no-solicit", "send no router solicitations: only listen for unsolicited advertisements")
    .option("--state-dir <dir>", "store, audit log, ownership records and the RFC 7217 secret (default /var/lib/paddock/ra-IFACE)")
    .option("--runtime-dir <dir>", "calf bundles, runc state and the admin socket", "/run/paddock")
    .option("--admin-socket <path>", "the operators' KV socket, mode 0600 (default RUNTIME_DIR/ra-IFACE.sock)")
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .option("--calf-engine <engine>", CALF_ENGINE_HELP, parseCalfEngine)
    .option("--container-runtime <runtime>", CONTAINER_RUNTIME_HELP, parseContainerRuntime)
    .option("--config <path>", `the configuration file: ra options per interface, overridden by these flags (default ${DEFAULT_CONFIG_FILE}, if it exists)`)
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text")
    .action((opts: RaOptions) => withEarlyCalf((early) => runRa(opts, early)));
}
