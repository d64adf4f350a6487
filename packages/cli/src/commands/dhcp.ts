/**
 * `paddock dhcp --iface IF [--iface IF2 …] …`: the friendly name of `paddock run dhcp4`, the
 * DHCPv4 client service on one or more interfaces in the foreground until stopped, with its
 * options as flags.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { EarlyCalf } from "@paddock/runtime/early";
import { dhcp4Service } from "@paddock/service-dhcp4";
import { withEarlyCalf } from "../early-entry.ts";
import type { Command } from "commander";
import { UserError } from "../errors.ts";
import { DEFAULT_CONFIG_FILE, resolveOptions } from "../config-file.ts";
import { BUILTIN_SERVICES, builtinCalfScript, CALF_ENGINE_HELP, calfOnEngine, parseCalfEngine } from "../services.ts";
import type { CalfEngine, ContainerRuntimeChoice } from "@paddock/runtime";
import { CONTAINER_RUNTIME_HELP, parseContainerRuntime } from "../container-runtime-option.ts";
import { NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { READY_TIMEOUT_HELP } from "./operator.ts";
import { interfaceNames, runServices, stateDirUnder } from "./run.ts";

interface DhcpOptions {
  iface?: string[];
  stateDir?: string;
  runtimeDir: string;
  adminSocket?: string;
  resolvConf: string;
  resolvConfManaged: boolean;
  hostname?: string;
  setHostname?: boolean;
  metrics?: string;
  releaseOnExit?: boolean;
  /** --no-arp-probe: false. */
  arpProbe: boolean;
  logLevel: string;
  minLeaseSeconds?: string;
  hooksDir?: string;
  hookTimeoutSeconds?: string;
  logFormat: string;
  calf?: string;
  calfEngine?: CalfEngine;
  containerRuntime?: ContainerRuntimeChoice;
  linkUp: boolean;
  /** --no-sandbox: false. */
  sandbox: boolean;
  config?: string;
  clientId?: string;
  vendorClass?: string;
  readyTimeout?: string;
  routeMetric?: string;
}

async function runDhcp(opts: DhcpOptions, cmd: Command): Promise<void> {
  await withEarlyCalf((early) => runDhcpWith(opts, early, (name) => cmd.getOptionValueSource(name) === "cli"));
}

/**
 * The service options the command line gives: only flags the user typed, so that the
 * configuration file's values stand where no flag overrides them.
 */
export function dhcpFlagOptions(opts: DhcpOptions, given: (flag: keyof DhcpOptions) => boolean): Record<string, string | boolean> {
  return {
    ...(!opts.resolvConfManaged ? { "resolv-conf": "" } : given("resolvConf") ? { "resolv-conf": opts.resolvConf } : {}),
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
    ...(opts.setHostname ? { "set-hostname": true } : {}),
    ...(opts.releaseOnExit ? { "release-on-exit": true } : {}),
    ...(given("arpProbe") ? { "arp-probe": opts.arpProbe } : {}),
    ...(given("logLevel") ? { "log-level": opts.logLevel } : {}),
    ...(opts.minLeaseSeconds !== undefined ? { "min-lease-seconds": opts.minLeaseSeconds } : {}),
    ...(opts.hooksDir !== undefined ? { "hooks-dir": opts.hooksDir } : {}),
    ...(opts.hookTimeoutSeconds !== undefined ? { "hook-timeout-seconds": opts.hookTimeoutSeconds } : {}),
    ...(opts.clientId !== undefined ? { "client-id": opts.clientId } : {}),
    ...(opts.vendorClass !== undefined ? { "vendor-class": opts.vendorClass } : {}),
    ...(opts.routeMetric !== undefined ? { "route-metric": opts.routeMetric } : {}),
  };
}

async function runDhcpWith(opts: DhcpOptions, early: EarlyCalf | undefined, given: (flag: keyof DhcpOptions) => boolean): Promise<void> {
  const ifaces = interfaceNames(opts.iface, "DHCP");
  const several = ifaces.length > 1;
  // One socket or metric for several interfaces would make them collide: each gets its own.
  if (several && opts.adminSocket) throw new UserError("--admin-socket names one socket, but there are several interfaces: leave it out (each gets RUNTIME_DIR/dhcp4-IFACE.sock)");
  if (several && opts.routeMetric !== undefined) throw new UserError("--route-metric gives every interface the same metric, so their default routes would replace each other: leave it out (each link gets 1000 + its index), set it per interface in the configuration file, or run one paddock dhcp per interface");
  const iface = ifaces[0]!;
  let calfScript = builtinCalfScript(dhcp4Service.name);
  if (opts.calf) {
    if (!existsSync(opts.calf)) throw new UserError(`the calf ${opts.calf} does not exist`);
    if (/\.m?js$/.test(opts.calf)) {
      calfScript = path.resolve(opts.calf);
    } else {
      // A calf's source: bundle it as the build does, into the runtime directory.
      calfScript = path.join(opts.runtimeDir, `calf-${iface}.mjs`);
      try {
        mkdirSync(opts.runtimeDir, { recursive: true, mode: 0o711 });
      } catch (err) {
        throw new UserError(`cannot create the runtime directory ${opts.runtimeDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      // The bundler loads only here: a priv running a built calf never needs it.
      const { bundleCalf } = await import("@paddock/bundler");
      await bundleCalf(path.resolve(opts.calf), calfScript).catch((err: Error) => {
        throw new UserError(`cannot build the calf ${opts.calf}: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message.split("\n")[0]}` : ""}`);
      });
    }
  }
  if (opts.calf && opts.calfEngine === "quickjs") throw new UserError("--calf runs a calf on Node only: leave out --calf-engine quickjs");
  const calf = opts.calf ? { calfScript, calfEngine: "node" as const } : calfOnEngine({ definition: dhcp4Service, calfScript, source: dhcp4Service.name }, opts.calfEngine);
  const flags = dhcpFlagOptions(opts, given);
  const sources = (i: string) => () => resolveOptions({ configPath: opts.config, iface: i, services: [{ definition: dhcp4Service, flags }], otherServices: Object.values(BUILTIN_SERVICES) });
  await runServices({
    interfaces: ifaces.map((i) => ({
      iface: i,
      reloadSettings: sources(i),
      services: [
        {
          definition: dhcp4Service,
          ...calf,
          ...(opts.stateDir ? { stateDir: stateDirUnder(opts.stateDir, i, dhcp4Service.name, { interfaces: several, services: false }) } : {}),
          ...(opts.adminSocket ? { adminSocket: opts.adminSocket } : {}),
          options: sources(i)().get(dhcp4Service.name) ?? {},
        },
      ],
    })),
    runtimeDir: opts.runtimeDir,
    logLevel: opts.logLevel,
    logFormat: opts.logFormat,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    linkUp: opts.linkUp,
    sandbox: opts.sandbox,
    ...(opts.readyTimeout !== undefined ? { readyTimeout: opts.readyTimeout } : {}),
    ...(early && !opts.calf ? { early } : {}),
    ...(opts.containerRuntime ? { containerRuntime: opts.containerRuntime } : {}),
    ...(opts.calf ? { warning: `running the custom calf ${opts.calf} in the DHCP service's sandbox slot` } : {}),
  });
}

export function registerDhcp(dhcp: Command): void {
  dhcp
    .option("--iface <name>", "an interface to run the DHCP client on; repeat it for several (one priv, a lease per interface)", (v: string, acc: string[] = []) => [...acc, v])
    .option("--state-dir <dir>", "store, audit log and lease (default /var/lib/paddock/dhcp4-IFACE; with several interfaces DIR/IFACE)")
    .option("--runtime-dir <dir>", "calf bundles, runc state and the admin socket", "/run/paddock")
    .option("--admin-socket <path>", "the operators' KV socket, mode 0600 (default RUNTIME_DIR/dhcp4-IFACE.sock)")
    .option("--resolv-conf <path>", "the resolv.conf to manage (one file, composed from every interface's lease)", "/etc/resolv.conf")
    .option("--route-metric <n>", "metric of the lease's routes and priority of its DNS servers (default 1000 + the interface's index; one interface only)")
    .option("--no-resolv-conf-managed", "leave resolv.conf alone")
    .option("--config <path>", `the configuration file: dhcp4 options per interface, overridden by these flags (default ${DEFAULT_CONFIG_FILE}, if it exists); re-read on SIGHUP (paddock reload)`)
    .option("--hostname <name>", "host name to send to the server (option 12)")
    .option("--client-id <id>", "client identifier (option 61): duid (default, RFC 4361), mac, none, or hex bytes")
    .option("--vendor-class <text>", "vendor class identifier to send (option 60), printable ASCII")
    .option("--set-hostname", "apply the host name the server assigns (restored when the lease ends)")
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--no-link-up", "leave the interface down if it is administratively down (default: set it up at start and whenever it reappears)")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .option("--ready-timeout <seconds>", READY_TIMEOUT_HELP)
    .option("--no-arp-probe", "use an offered address without an ARP probe, announcement or defence (RFC 5227; default: probe, DECLINE an address in use, which adds 4–7 s before it is applied)")
    .option("--release-on-exit", "send RELEASE and withdraw the configuration when stopped (default: keep it; its lifetimes bound it)")
    .option("--hooks-dir <dir>", "run the executables of this directory on lease events: BOUND, RENEW, EXPIRE, RELEASE, STOP (default /etc/paddock/hooks.d; missing: none; empty: off; docs/hooks.md)")
    .option("--hook-timeout-seconds <s>", "kill a hook's process group after this long (1–3600, default 10)")
    .option("--min-lease-seconds <s>", "stretch shorter leases to this (1–60, default 60; lower only in tests)")
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text")
    .option("--calf-engine <engine>", CALF_ENGINE_HELP, parseCalfEngine)
    .option("--container-runtime <runtime>", CONTAINER_RUNTIME_HELP, parseContainerRuntime)
    .option("--calf <file>", "run this calf (a .ts entry, bundled on start, or a bundled .mjs) in the DHCP service's sandbox slot instead of the built-in DHCP client: for SDK development")
    .action(runDhcp);
}
