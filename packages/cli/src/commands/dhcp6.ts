/**
 * `paddock dhcp6 --iface IF [--mode auto|stateful|stateless] [--ia-pd LEN] …`: the friendly name of
 * `paddock run dhcp6`, the DHCPv6 client service on one interface in the foreground until stopped,
 * with its options as flags.
 */
import type { Command } from "commander";
import type { EarlyCalf } from "@paddock/runtime/early";
import { withEarlyCalf } from "../early-entry.ts";
import { dhcp6Service } from "@paddock/service-dhcp6";
import { UserError } from "../errors.ts";
import { DEFAULT_CONFIG_FILE, resolveOptions } from "../config-file.ts";
import { NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { BUILTIN_SERVICES, builtinCalfScript, CALF_ENGINE_HELP, calfOnEngine, parseCalfEngine } from "../services.ts";
import type { CalfEngine, ContainerRuntimeChoice } from "@paddock/runtime";
import { CONTAINER_RUNTIME_HELP, parseContainerRuntime } from "../container-runtime-option.ts";
import { interfaceNames, runServices } from "./run.ts";

interface Dhcp6Flags {
  iface?: string[];
  mode?: string;
  iaNa?: boolean;
  iaPd?: string;
  duid?: string;
  rapidCommit?: boolean;
  prefixDelegation?: string[];
  resolvConf?: string;
  release?: boolean;
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
export function dhcp6FlagOptions(opts: Dhcp6Flags): Record<string, string | boolean> {
  return {
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.iaNa !== undefined ? { "ia-na": opts.iaNa } : {}),
    ...(opts.iaPd !== undefined ? { "ia-pd": opts.iaPd } : {}),
    ...(opts.duid !== undefined ? { duid: opts.duid } : {}),
    ...(opts.rapidCommit !== undefined ? { "rapid-commit": opts.rapidCommit } : {}),
    ...(opts.prefixDelegation !== undefined ? { "prefix-delegation": opts.prefixDelegation.join(",") } : {}),
    ...(opts.resolvConf !== undefined ? { "resolv-conf": opts.resolvConf } : {}),
    ...(opts.release !== undefined ? { "release-on-stop": opts.release } : {}),
  };
}

async function runDhcp6(opts: Dhcp6Flags, early: EarlyCalf | undefined): Promise<void> {
  const ifaces = interfaceNames(opts.iface, "the DHCPv6 client");
  if (ifaces.length > 1) throw new UserError("paddock dhcp6 runs on one interface: give --iface once (paddock run dhcp6 --iface A --iface B runs it on several)");
  const iface = ifaces[0]!;
  const flags = dhcp6FlagOptions(opts);
  const settings = () => resolveOptions({ configPath: opts.config, iface, services: [{ definition: dhcp6Service, flags }], otherServices: Object.values(BUILTIN_SERVICES) });
  await runServices({
    interfaces: [
      {
        iface,
        reloadSettings: settings,
        services: [
          {
            definition: dhcp6Service,
            ...calfOnEngine({ definition: dhcp6Service, calfScript: builtinCalfScript(dhcp6Service.name), source: dhcp6Service.name }, opts.calfEngine),
            ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
            ...(opts.adminSocket ? { adminSocket: opts.adminSocket } : {}),
            options: settings().get(dhcp6Service.name) ?? {},
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

export function registerDhcp6(program: Command): void {
  program
    .command("dhcp6")
    .description("run the DHCPv6 client service on an interface (paddock run dhcp6, with its options as flags): IA_NA addresses as /128s with the server's lifetimes, a delegated prefix (--ia-pd) with /64s for downstream interfaces, DNS into resolv.conf")
    .option("--iface <name>", "the interface to run on (its link-local address must pass duplicate address detection first)", (v: string, acc: string[] = []) => [...acc, v])
    .option("--mode <mode>", "auto (follow the router advertisement's M and O flags when paddock ra runs in the same priv; stateful otherwise; the default), stateful (SOLICIT) or stateless (INFORMATION-REQUEST, DNS only)")
    .option("--no-ia-na", "stateful: ask for no address (IA_NA), e.g. only a prefix")
    .option("--ia-pd <length>", "stateful: ask for a delegated prefix (IA_PD) with this length hint (0: no hint); default off")
    .option("--duid <kind>", "the client's DUID: ll (from the MAC; the default), llt (MAC and the time it is first made), uuid (/etc/machine-id) or a DUID in hex; kept in the state directory")
    .option("--no-rapid-commit", "do not offer rapid commit (always SOLICIT, ADVERTISE, REQUEST, REPLY)")
    .option("--prefix-delegation <iface=id>", "give downstream interface IFACE the /64 with sub-prefix id ID of the delegated prefix (its address PREFIX::1/64); repeat it for several", (v: string, acc: string[] = []) => [...acc, v])
    .option("--resolv-conf <path>", "the resolv.conf the DNS servers go to (default /etc/resolv.conf; empty: leave it alone)")
    .option("--no-release", "at stop, keep the lease (no RELEASE): the addresses stay until their lifetimes end")
    .option("--state-dir <dir>", "store, audit log, DUID and ownership records (default /var/lib/paddock/dhcp6-IFACE)")
    .option("--runtime-dir <dir>", "calf bundles, runc state and the admin socket", "/run/paddock")
    .option("--admin-socket <path>", "the operators' KV socket, mode 0600 (default RUNTIME_DIR/dhcp6-IFACE.sock)")
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--config <path>", `the configuration file: dhcp6 options per interface, overridden by these flags (default ${DEFAULT_CONFIG_FILE}, if it exists)`)
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .option("--calf-engine <engine>", CALF_ENGINE_HELP, parseCalfEngine)
    .option("--container-runtime <runtime>", CONTAINER_RUNTIME_HELP, parseContainerRuntime)
    .action((opts: Dhcp6Flags) => withEarlyCalf((early) => runDhcp6(opts, early)));
}
