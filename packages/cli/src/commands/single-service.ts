/**
 * What `paddock ntp`, `paddock ra` and `paddock dhcp6` share: each is the friendly name of `paddock
 * run SERVICE` for one built-in service on one interface, with the service's options as flags and
 * the same priv options as `paddock run` (state and runtime directories, admin socket, metrics,
 * sandbox, calf engine, container runtime, configuration file, logging).
 */
import type { Command } from "commander";
import type { EarlyCalf } from "@paddock/runtime/early";
import type { CalfEngine, ContainerRuntimeChoice, ServiceDefinition } from "@paddock/runtime";
import { UserError } from "../errors.ts";
import { DEFAULT_CONFIG_FILE, resolveOptions } from "../config-file.ts";
import { NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { BUILTIN_SERVICES, builtinCalfScript, CALF_ENGINE_HELP, calfOnEngine, parseCalfEngine } from "../services.ts";
import { CONTAINER_RUNTIME_HELP, parseContainerRuntime } from "../container-runtime-option.ts";
import { interfaceNames, runServices } from "./run.ts";

/** The options every single-service command takes besides its service's own. */
export interface SingleServiceOptions {
  iface?: string[];
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

/** What differs between the single-service commands besides their flags. */
export interface SingleService {
  readonly definition: ServiceDefinition<any>;
  /** What the service is, for the --iface error ("the NTP client"). */
  readonly what: string;
  /** The sentence when --iface is given more than once. */
  readonly oneInterface: string;
  /** A check of the resolved options, throwing a UserError (e.g. ntp needs a server). */
  readonly check?: (options: Readonly<Record<string, string | boolean | number>>) => void;
}

/**
 * `--iface` (repeatable, so that a second one is refused in a sentence rather than silently
 * replacing the first), the service's own options (`addOwn`), then the priv options of `paddock
 * run`. `stateDirHelp` says what the state directory holds.
 */
export function singleServiceCommand(program: Command, name: string, description: string, ifaceHelp: string, stateDirHelp: string, addOwn: (cmd: Command) => void): Command {
  const cmd = program
    .command(name)
    .description(description)
    .option("--iface <name>", ifaceHelp, (v: string, acc: string[] = []) => [...acc, v]);
  addOwn(cmd);
  return cmd
    .option("--state-dir <dir>", `${stateDirHelp} (default /var/lib/paddock/${name}-IFACE)`)
    .option("--runtime-dir <dir>", "calf bundles, runc state and the admin socket", "/run/paddock")
    .option("--admin-socket <path>", `the operators' KV socket, mode 0600 (default RUNTIME_DIR/${name}-IFACE.sock)`)
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .option("--calf-engine <engine>", CALF_ENGINE_HELP, parseCalfEngine)
    .option("--container-runtime <runtime>", CONTAINER_RUNTIME_HELP, parseContainerRuntime)
    .option("--config <path>", `the configuration file: ${name} options per interface, overridden by these flags (default ${DEFAULT_CONFIG_FILE}, if it exists)`)
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text");
}

/**
 * Runs `service` on the one interface of `opts` until stopped: its options from the configuration
 * file overridden by `flags`, re-read on SIGHUP; the calf started early (`early`) adopted.
 */
export async function runSingleService(service: SingleService, opts: SingleServiceOptions, flags: Readonly<Record<string, string | boolean>>, early: EarlyCalf | undefined): Promise<void> {
  const { definition } = service;
  const ifaces = interfaceNames(opts.iface, service.what);
  if (ifaces.length > 1) throw new UserError(service.oneInterface);
  const iface = ifaces[0]!;
  const settings = () => resolveOptions({ configPath: opts.config, iface, services: [{ definition, flags }], otherServices: Object.values(BUILTIN_SERVICES) });
  const options = settings().get(definition.name) ?? {};
  service.check?.(options);
  await runServices({
    interfaces: [
      {
        iface,
        reloadSettings: settings,
        services: [
          {
            definition,
            ...calfOnEngine({ definition, calfScript: builtinCalfScript(definition.name), source: definition.name }, opts.calfEngine),
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
