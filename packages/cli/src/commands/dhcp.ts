/**
 * `paddock dhcp --iface IF …`: the DHCPv4 shim in the foreground until stopped.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCalf, DhcpShim, ShimError } from "@paddock/runtime";
import type { EarlyCalf } from "@paddock/runtime/early";
import { EARLY_CALF_KEY } from "../early-entry.ts";
import { dhcp4CalfProfile } from "@paddock/calf-dhcp4/profile";
import type { Command } from "commander";
import { UserError } from "../errors.ts";
import { createLogger, type LogFormat, type LogLevel } from "../log.ts";

interface DhcpOptions {
  iface?: string;
  stateDir?: string;
  runtimeDir: string;
  adminSocket?: string;
  resolvConf: string;
  resolvConfManaged: boolean;
  hostname?: string;
  setHostname?: boolean;
  metrics?: string;
  releaseOnExit?: boolean;
  logLevel: string;
  logFormat: string;
  calf?: string;
}

/** The repository (or installed tree) root: where packages/ and native/ are. */
function installRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "pnpm-workspace.yaml"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new UserError("cannot find Paddock's installation (no pnpm-workspace.yaml above the CLI)");
    dir = up;
  }
  return dir;
}

/** The DHCP calf's bundled script: PADDOCK_CALF_DIR overrides, for image builders. */
export function dhcpCalfScript(): string {
  const dir = process.env.PADDOCK_CALF_DIR ?? path.join(installRoot(), "packages/services/dhcp4/calf/dist");
  return path.join(dir, "calf-dhcp4.mjs");
}

/** The calf bin/paddock.mjs started early for this command line, if it did (early-entry.ts). */
export async function takeEarlyCalf(): Promise<EarlyCalf | undefined> {
  const g = globalThis as Record<string, unknown>;
  const early = (await g[EARLY_CALF_KEY]) as EarlyCalf | undefined;
  g[EARLY_CALF_KEY] = undefined;
  return early;
}

async function runDhcp(opts: DhcpOptions): Promise<void> {
  const early = await takeEarlyCalf();
  try {
    await runDhcpWith(opts, early);
  } catch (err) {
    // A start that failed before the shim took the early calf over must not leave it behind.
    await early?.discard();
    early?.lock.release();
    throw err;
  }
}

async function runDhcpWith(opts: DhcpOptions, early: EarlyCalf | undefined): Promise<void> {
  if (!opts.iface) throw new UserError("--iface is required: name the interface to run DHCP on (e.g. --iface eth0)");
  if (!/^[^\s/]{1,15}$/.test(opts.iface)) throw new UserError(`${JSON.stringify(opts.iface)} is not an interface name (1–15 characters, no '/' or spaces)`);
  if (!["debug", "info", "warn", "error"].includes(opts.logLevel)) throw new UserError(`--log-level must be debug, info, warn or error, not ${JSON.stringify(opts.logLevel)}`);
  if (!["text", "json"].includes(opts.logFormat)) throw new UserError(`--log-format must be text or json, not ${JSON.stringify(opts.logFormat)}`);
  const log = createLogger(opts.logLevel as LogLevel, opts.logFormat as LogFormat);
  const iface = opts.iface;
  let calfScript = dhcpCalfScript();
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
      await bundleCalf(path.resolve(opts.calf), calfScript).catch((err: Error) => {
        throw new UserError(`cannot build the calf ${opts.calf}: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message.split("\n")[0]}` : ""}`);
      });
    }
    log.warn({ calf: opts.calf }, "running a custom calf in the DHCP service's sandbox slot");
  }
  let shim: DhcpShim;
  try {
    shim = await DhcpShim.start({
      iface,
      stateDir: opts.stateDir ?? `/var/lib/paddock/dhcp4-${iface}`,
      runtimeDir: opts.runtimeDir,
      adminSocket: opts.adminSocket ?? path.join(opts.runtimeDir, `dhcp4-${iface}.sock`),
      resolvConf: opts.resolvConfManaged ? opts.resolvConf : null,
      ...(opts.hostname ? { hostname: opts.hostname } : {}),
      setHostname: opts.setHostname === true,
      releaseOnExit: opts.releaseOnExit ?? false,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      calfScript,
      calfMemoryBytes: dhcp4CalfProfile.memoryMiB * 1024 * 1024,
      calfPids: dhcp4CalfProfile.pids,
      log,
      calfLogLevel: opts.logLevel as LogLevel,
      ...(early && !opts.calf ? { early } : {}),
    });
  } catch (err) {
    if (err instanceof ShimError) throw new UserError(err.message);
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping");
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  await shim.stop();
}

export function registerDhcp(dhcp: Command): void {
  dhcp
    .option("--iface <name>", "the interface to run the DHCP client on")
    .option("--state-dir <dir>", "store, audit log and lease (default /var/lib/paddock/dhcp4-IFACE)")
    .option("--runtime-dir <dir>", "calf bundles, runc state and the admin socket", "/run/paddock")
    .option("--admin-socket <path>", "the operators' KV socket, mode 0600 (default RUNTIME_DIR/dhcp4-IFACE.sock)")
    .option("--resolv-conf <path>", "the resolv.conf to manage", "/etc/resolv.conf")
    .option("--no-resolv-conf-managed", "leave resolv.conf alone")
    .option("--hostname <name>", "host name to send to the server (option 12)")
    .option("--set-hostname", "apply the host name the server assigns (restored when the lease ends)")
    .option("--metrics <address>", "serve Prometheus metrics on a Unix socket path or a loopback HOST:PORT")
    .option("--release-on-exit", "send RELEASE and withdraw the configuration when stopped (default: keep it; its lifetimes bound it)")
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text (one readable line per event) or json", "text")
    .option("--calf <file>", "run this calf (a .ts entry, bundled on start, or a bundled .mjs) in the DHCP service's sandbox slot instead of the built-in DHCP client: for SDK development")
    .action(runDhcp);
}
