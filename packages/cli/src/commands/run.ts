/**
 * `paddock run SERVICE [SERVICE…] --iface IF [--iface IF2 …] …`: runs services (built-in names or
 * paths to service modules) in one priv on one or more interfaces (one host per interface,
 * @paddock/runtime's InterfaceHosts), in the foreground until stopped.
 */
import path from "node:path";
import type { Command } from "commander";
import { withEarlyCalf } from "../early-entry.ts";
import type { Logger } from "pino";
import { calfNameFor, HostError, InterfaceHosts, type CalfEngine, type ContainerRuntimeChoice, type HostedService, type ServiceDefinition } from "@paddock/runtime";
import type { EarlyCalf } from "@paddock/runtime/early";
import { UserError } from "../errors.ts";
import { parseReadyTimeout, READY_TIMEOUT_HELP } from "./operator.ts";
import { createLogger, type LogFormat, type LogLevel } from "../log.ts";
import { logStartPhases, markStartPhase } from "@paddock/runtime/start-phases";
import { DEFAULT_CONFIG_FILE, resolveOptions } from "../config-file.ts";
import { listenForReload, type SettingsSource } from "../reload.ts";
import { applyPrivSandbox, NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { BUILTIN_SERVICES, CALF_ENGINE_HELP, calfOnEngine, loadService, parseCalfEngine, type LoadedService } from "../services.ts";
import { CONTAINER_RUNTIME_HELP, parseContainerRuntime } from "../container-runtime-option.ts";
import { CALF_LAUNCH_HELP, CALF_USER_HELP, calfLaunchRequest, parseCalfLaunch, type CalfLaunch } from "../calf-launch-option.ts";

/** One service as the command line gives it; directories default from the service and interface. */
export interface ServiceRequest {
  readonly definition: ServiceDefinition<any>;
  readonly calfScript: string;
  /** The engine calfScript is for (--calf-engine, or the definition's); default node. */
  readonly calfEngine?: CalfEngine;
  readonly stateDir?: string;
  readonly adminSocket?: string;
  readonly options?: Readonly<Record<string, string | boolean | number>>;
  /** A calf bundle written beforehand (--bundle-dir DIR: DIR/SERVICE-IFACE, from paddock generate). */
  readonly bundleDir?: string;
  /** Logged once at start, however many interfaces run the service (its calf fell back to Node: calfOnEngine). */
  readonly warning?: string;
}

/** One interface and the services to run on it. */
export interface InterfaceRequest {
  readonly iface: string;
  readonly services: readonly ServiceRequest[];
  /** The services' settings on this interface computed again on SIGHUP (the configuration file and the same command line). */
  readonly reloadSettings?: SettingsSource;
}

/** What runServices needs. */
export interface RunRequest {
  /** One entry per interface (--iface given once per interface): a host each, in this process. */
  readonly interfaces: readonly InterfaceRequest[];
  readonly runtimeDir: string;
  readonly logLevel: string;
  readonly logFormat: string;
  readonly metrics?: string;
  /** false (--no-link-up): leave an administratively down interface down. */
  readonly linkUp?: boolean;
  /** --ready-timeout: systemd READY=1 anyway after this long (seconds, as given). */
  readonly readyTimeout?: string;
  readonly early?: EarlyCalf;
  /** false (--no-sandbox): the priv keeps every capability and gets no seccomp filter (./priv-sandbox.ts). */
  readonly sandbox?: boolean;
  /** Logged at start (e.g. a custom calf in a built-in service's slot). */
  readonly warning?: string;
  /** --container-runtime: auto (default), runc or crun. */
  readonly containerRuntime?: ContainerRuntimeChoice;
  /** --calf-launch external: calves started outside the priv connect as this uid (../calf-launch-option.ts). */
  readonly externalCalves?: { readonly uid: number };
}

/** The default state directory of a service on an interface. */
export function defaultStateDir(service: string, iface: string): string {
  return `/var/lib/paddock/${service}-${iface}`;
}

/** The default admin socket of a service on an interface. */
export function defaultAdminSocket(runtimeDir: string, service: string, iface: string): string {
  return path.join(runtimeDir, `${service}-${iface}.sock`);
}

/** --iface, given once per interface: at least one, each an interface name, none twice. */
export function interfaceNames(given: readonly string[] | undefined, what: string): string[] {
  if (!given || given.length === 0) throw new UserError(`--iface is required: name the interface to run ${what} on (e.g. --iface eth0; repeat it for several)`);
  for (const iface of given) {
    if (!/^[^\s/,]{1,15}$/.test(iface)) throw new UserError(`${JSON.stringify(iface)} is not an interface name (1–15 characters, no '/', ',' or spaces; repeat --iface for several interfaces)`);
  }
  const twice = given.find((iface, n) => given.indexOf(iface) !== n);
  if (twice !== undefined) throw new UserError(`--iface ${twice} is given twice`);
  return [...given];
}

/**
 * A service's state directory under --state-dir DIR: DIR itself for one service on one
 * interface; DIR/IFACE with several interfaces; then DIR[/IFACE]/SERVICE with several services.
 */
export function stateDirUnder(dir: string, iface: string, service: string, several: { readonly interfaces: boolean; readonly services: boolean }): string {
  const perIface = several.interfaces ? path.join(dir, iface) : dir;
  return several.services ? path.join(perIface, service) : perIface;
}

/** Checks the common flags, starts one host per interface, waits for SIGINT/SIGTERM, stops. */
export async function runServices(req: RunRequest): Promise<void> {
  markStartPhase("options resolved");
  interfaceNames(req.interfaces.map((i) => i.iface), "the services");
  if (!["debug", "info", "warn", "error"].includes(req.logLevel)) throw new UserError(`--log-level must be debug, info, warn or error, not ${JSON.stringify(req.logLevel)}`);
  if (!["text", "json"].includes(req.logFormat)) throw new UserError(`--log-format must be text or json, not ${JSON.stringify(req.logFormat)}`);
  const log = createLogger(req.logLevel as LogLevel, req.logFormat as LogFormat);
  // The steps before the logger existed (bin/paddock.mjs, the early calf, the CLI's load).
  logStartPhases(log);
  for (const warning of new Set([req.warning, ...req.interfaces.flatMap((i) => i.services.map((s) => s.warning))])) if (warning) log.warn({}, warning);
  // From here on SIGHUP reloads (once the hosts run) instead of ending the process.
  const reloads = listenForReload(log);
  try {
    await runHosts(req, log, reloads);
  } finally {
    reloads.stop();
  }
}

async function runHosts(req: RunRequest, log: Logger, reloads: ReturnType<typeof listenForReload>): Promise<void> {
  const hosts = req.interfaces.map(({ iface, services }) => ({
    iface,
    runtimeDir: req.runtimeDir,
    services: services.map((s): HostedService => ({
      definition: s.definition,
      calfScript: s.calfScript,
      ...(s.calfEngine !== undefined ? { calfEngine: s.calfEngine } : {}),
      stateDir: s.stateDir ?? defaultStateDir(s.definition.name, iface),
      adminSocket: s.adminSocket ?? defaultAdminSocket(req.runtimeDir, s.definition.name, iface),
      options: s.options ?? {},
      ...(s.bundleDir !== undefined ? { bundleDir: s.bundleDir } : {}),
    })),
    calfLogLevel: req.logLevel as LogLevel,
    ...(req.containerRuntime ? { containerRuntime: req.containerRuntime } : {}),
    ...(req.externalCalves ? { externalCalves: req.externalCalves } : {}),
    ...(req.linkUp === false ? { linkUp: false } : {}),
    ...(req.readyTimeout !== undefined ? { readyTimeoutMs: parseReadyTimeout(req.readyTimeout) } : {}),
  }));
  // SIGINT and SIGTERM stop the hosts; before they have started (while they wait for their
  // interfaces) they end the start, which then undoes what it did.
  const stopping = new AbortController();
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        stopping.abort();
        resolve(signal);
      });
    }
  });
  let running: InterfaceHosts;
  try {
    running = await InterfaceHosts.start({
      hosts: hosts.map((h) => ({ ...h, signal: stopping.signal })),
      log,
      ...(req.metrics ? { metrics: req.metrics } : {}),
      ...(req.early ? { early: req.early } : {}),
    });
  } catch (err) {
    if (err instanceof HostError && err.code === "PADDOCK_E_HOST_STOPPED") {
      log.info({ signal: await stopped }, err.message);
      return;
    }
    if (err instanceof HostError) throw new UserError(err.message);
    throw err;
  }
  try {
    applyPrivSandbox(req.interfaces.flatMap((i) => i.services.map((s) => ({ definition: s.definition, options: s.options ?? {} }))), req.sandbox !== false, log, { runsCalves: req.externalCalves === undefined });
  } catch (err) {
    await running.stop();
    throw err;
  }
  reloads.attach(req.interfaces.flatMap((i) => (i.reloadSettings ? [{ host: running.hosts.get(i.iface)!, settings: i.reloadSettings, log: log.child({ iface: i.iface }) }] : [])));
  log.info({ signal: await stopped }, "stopping");
  reloads.stop();
  await running.stop();
}

interface RunOptions {
  iface?: string[];
  stateDir?: string;
  runtimeDir: string;
  set: string[];
  metrics?: string;
  logLevel: string;
  logFormat: string;
  linkUp: boolean;
  sandbox: boolean;
  config?: string;
  readyTimeout?: string;
  bundleDir?: string;
  calfEngine?: CalfEngine;
  containerRuntime?: ContainerRuntimeChoice;
  calfLaunch?: CalfLaunch;
  calfUser?: string;
}

/**
 * The directory of a generated calf bundle under `paddock generate`'s bundles/ (--bundle-dir):
 * SERVICE-IFACE, the calf's name without the network namespace tag a priv outside the host's
 * namespace adds (the generator cannot know that namespace).
 */
export function generatedBundleDir(dir: string, service: string, iface: string): string {
  return path.join(dir, calfNameFor(service, iface, undefined));
}

/** "NAME=VALUE" or "SERVICE.NAME=VALUE" settings, by service. */
export function parseSettings(settings: readonly string[], services: readonly string[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>(services.map((s) => [s, {}]));
  for (const s of settings) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UserError(`--set ${JSON.stringify(s)} is not NAME=VALUE`);
    const key = s.slice(0, eq);
    const value = s.slice(eq + 1);
    const dot = key.indexOf(".");
    const service = dot > 0 ? key.slice(0, dot) : services.length === 1 ? services[0]! : undefined;
    if (service === undefined) throw new UserError(`--set ${key}: with several services, name the service (SERVICE.${key}=…)`);
    const target = out.get(service);
    if (!target) throw new UserError(`--set ${key}: no service named ${service} is running here (${services.join(", ")})`);
    target[dot > 0 ? key.slice(dot + 1) : key] = value;
  }
  return out;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run services in one priv on one or more interfaces: built-in names (dhcp4) or service modules (./service.ts, or a paddock build directory)")
    .argument("<services...>", "built-in service names or paths to service modules")
    .option("--iface <name>", "an interface to run the services on; repeat it for several (one priv, a host per interface)", (v: string, acc: string[] = []) => [...acc, v])
    .option("--state-dir <dir>", "store, audit log and handler records (one service on one interface: DIR; with several interfaces DIR/IFACE, with several services …/SERVICE); default /var/lib/paddock/SERVICE-IFACE")
    .option("--runtime-dir <dir>", "calf bundles, runc state, locks and admin sockets (RUNTIME_DIR/SERVICE-IFACE.sock)", "/run/paddock")
    .option("--set <name=value>", "a service option (SERVICE.NAME=VALUE with several services; paddock describe SERVICE lists them); repeatable; wins over the configuration file", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--config <path>", `the configuration file: service options per interface (default ${DEFAULT_CONFIG_FILE}, if it exists); re-read on SIGHUP (paddock reload)`)
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--no-link-up", "leave the interface down if it is administratively down (default: set it up at start and whenever it reappears)")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .option("--ready-timeout <seconds>", READY_TIMEOUT_HELP)
    .option("--calf-engine <engine>", CALF_ENGINE_HELP, parseCalfEngine)
    .option("--container-runtime <runtime>", CONTAINER_RUNTIME_HELP, parseContainerRuntime)
    .option("--calf-launch <how>", CALF_LAUNCH_HELP, parseCalfLaunch)
    .option("--calf-user <user>", CALF_USER_HELP)
    .option("--bundle-dir <dir>", "run the calf bundles paddock generate wrote (DIR/SERVICE-IFACE) instead of writing them at start (docs/generate.md)")
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text")
    .action((specs: string[], opts: RunOptions) => withEarlyCalf(async (early) => {
      const ifaces = interfaceNames(opts.iface, "the services");
      const loaded: Array<LoadedService & { cleanup(): void }> = [];
      try {
        for (const spec of specs) loaded.push(await loadService(spec));
        const names = loaded.map((l) => l.definition.name);
        const flags = parseSettings(opts.set, names);
        const several = { interfaces: ifaces.length > 1, services: loaded.length > 1 };
        const sources = (iface: string) => () =>
          resolveOptions({
            configPath: opts.config,
            iface,
            services: loaded.map((l) => ({ definition: l.definition, flags: flags.get(l.definition.name) ?? {} })),
            otherServices: Object.values(BUILTIN_SERVICES),
          });
        await runServices({
          interfaces: ifaces.map((iface) => {
            const settings = sources(iface)();
            return {
              iface,
              reloadSettings: sources(iface),
              services: loaded.map((l) => ({
                definition: l.definition,
                // paddock generate writes Node calves' bundles: --bundle-dir runs them on Node.
                ...calfOnEngine(l, opts.calfEngine ?? (opts.bundleDir !== undefined ? "node" : undefined)),
                ...(opts.stateDir ? { stateDir: stateDirUnder(opts.stateDir, iface, l.definition.name, several) } : {}),
                options: settings.get(l.definition.name) ?? {},
                ...(opts.bundleDir !== undefined ? { bundleDir: generatedBundleDir(path.resolve(opts.bundleDir), l.definition.name, iface) } : {}),
              })),
            };
          }),
          runtimeDir: opts.runtimeDir,
          logLevel: opts.logLevel,
          logFormat: opts.logFormat,
          ...(opts.metrics ? { metrics: opts.metrics } : {}),
          linkUp: opts.linkUp,
          sandbox: opts.sandbox,
          ...(opts.readyTimeout !== undefined ? { readyTimeout: opts.readyTimeout } : {}),
          ...(opts.containerRuntime ? { containerRuntime: opts.containerRuntime } : {}),
          ...calfLaunchRequest(opts.calfLaunch, opts.calfUser),
          // The calf bin/paddock.mjs started early for this command line, adopted by its host.
          ...(early ? { early } : {}),
        });
      } finally {
        for (const l of loaded) l.cleanup();
      }
    }));
}
