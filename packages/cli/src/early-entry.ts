/**
 * The early start of a service's calf (bundled apart as dist/early.mjs, a few KiB): bin/paddock.mjs
 * runs it before it loads the CLI, so that runc and the calf start while the rest loads. It knows
 * the commands that run one built-in service's calf: `paddock dhcp`, `ntp`, `ra`, `dhcp6`, and
 * `paddock run SERVICE` with one built-in service. It reads only the options that decide where the
 * calf runs, with the CLI's defaults, and steps aside (leaves the start to the service host) for
 * anything it does not expect.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { builtinCalfWithFallback, calfFileName, isCalfEngine, isContainerRuntimeChoice, startCalfEarly, type CalfEngine, type ContainerRuntimeChoice, type EarlyCalf } from "@paddock/runtime/early";

/**
 * The built-in services' calf limits, as their definitions declare them (calf.memoryMiB, calf.pids;
 * a test keeps them equal: importing the definitions here would load the runtime before the calf
 * starts).
 */
export const EARLY_CALF_LIMITS: Readonly<Record<string, { readonly memoryMiB: number; readonly pids: number }>> = {
  dhcp4: { memoryMiB: 96, pids: 32 },
  ntp: { memoryMiB: 96, pids: 32 },
  ra: { memoryMiB: 96, pids: 32 },
  dhcp6: { memoryMiB: 96, pids: 32 },
};

/** The built-in services' calf engine, as their definitions declare it (calf.engine; a test keeps them equal). */
export const EARLY_CALF_ENGINE: CalfEngine = "quickjs";

/** The key the commands look for (takeEarlyCalf). */
export const EARLY_CALF_KEY = "__paddockEarlyCalf";

/**
 * A command whose calf may start early: the service it runs (undefined: `run`, whose one
 * positional argument names it) and its options as the command declares them — those whose value
 * is the next argument, flags, and those that make the early start step aside (a custom calf, a
 * prebuilt bundle, calves started by someone else). A test keeps the three equal to the command's.
 */
export interface EarlyCommand {
  readonly service: string | undefined;
  readonly withValue: ReadonlySet<string>;
  readonly flags: ReadonlySet<string>;
  readonly stepAside: ReadonlySet<string>;
}

/** What every service command declares. */
const COMMON_WITH_VALUE = ["--iface", "--state-dir", "--runtime-dir", "--metrics", "--config", "--log-level", "--log-format", "--calf-engine", "--container-runtime"];

function earlyCommand(service: string | undefined, withValue: string[], flags: string[], stepAside: string[] = []): EarlyCommand {
  return { service, withValue: new Set([...COMMON_WITH_VALUE, ...withValue]), flags: new Set(["--no-sandbox", ...flags]), stepAside: new Set(stepAside) };
}

/** The commands the early start knows, by name. bin/paddock.mjs and sea-entry.ts list the same names. */
export const EARLY_COMMANDS: Readonly<Record<string, EarlyCommand>> = {
  dhcp: earlyCommand(
    "dhcp4",
    ["--admin-socket", "--resolv-conf", "--route-metric", "--hostname", "--client-id", "--vendor-class", "--ready-timeout", "--hooks-dir", "--hook-timeout-seconds", "--min-lease-seconds"],
    ["--no-resolv-conf-managed", "--set-hostname", "--no-link-up", "--no-arp-probe", "--release-on-exit"],
    ["--calf"],
  ),
  ntp: earlyCommand("ntp", ["--server", "--clock", "--step-threshold-seconds", "--panic-seconds", "--step-cap-seconds", "--admin-socket"], []),
  ra: earlyCommand("ra", ["--resolv-conf", "--route-metric", "--admin-socket"], ["--temporary-addresses", "--no-solicit"]),
  dhcp6: earlyCommand("dhcp6", ["--mode", "--ia-pd", "--duid", "--prefix-delegation", "--resolv-conf", "--admin-socket"], ["--no-ia-na", "--no-rapid-commit", "--no-release"]),
  run: earlyCommand(undefined, ["--set", "--ready-timeout"], ["--no-link-up"], ["--calf-launch", "--calf-user", "--bundle-dir"]),
};

/** The calf bin/paddock.mjs started early for this command line, if it did; the caller owns it now. */
export async function takeEarlyCalf(): Promise<EarlyCalf | undefined> {
  const g = globalThis as Record<string, unknown>;
  const early = (await g[EARLY_CALF_KEY]) as EarlyCalf | undefined;
  g[EARLY_CALF_KEY] = undefined;
  return early;
}

/** Where the calf of a plain early command line runs. */
export interface EarlyArgs {
  readonly service: string;
  readonly iface: string;
  readonly runtimeDir: string;
  readonly containerRuntime?: ContainerRuntimeChoice;
  readonly engine?: CalfEngine;
}

/** The service, iface and runtime dir of a plain command line of EARLY_COMMANDS, or undefined. */
export function parseEarlyArgs(argv: readonly string[]): EarlyArgs | undefined {
  const command = Object.hasOwn(EARLY_COMMANDS, argv[0] ?? "") ? EARLY_COMMANDS[argv[0]!]! : undefined;
  if (!command) return undefined;
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (command.flags.has(a)) continue;
    if (!command.withValue.has(name)) return undefined; // --help, --calf, a typo: not ours to judge
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) return undefined;
    values.set(name, value);
  }
  // `paddock run` names one built-in service; the others take no positional argument.
  const service = command.service ?? (positional.length === 1 ? positional[0]! : undefined);
  if (service === undefined || (command.service !== undefined && positional.length > 0) || !Object.hasOwn(EARLY_CALF_LIMITS, service)) return undefined;
  const iface = values.get("--iface");
  if (!iface || !/^[^\s/]{1,15}$/.test(iface)) return undefined;
  const runtime = values.get("--container-runtime");
  if (runtime !== undefined && !isContainerRuntimeChoice(runtime)) return undefined; // the CLI says what is wrong with it
  const engine = values.get("--calf-engine");
  if (engine !== undefined && !isCalfEngine(engine)) return undefined;
  return { service, iface, runtimeDir: values.get("--runtime-dir") ?? "/run/paddock", ...(runtime !== undefined ? { containerRuntime: runtime } : {}), ...(engine !== undefined ? { engine } : {}) };
}

/** Starts the calf for `argv` if it is a plain command line of EARLY_COMMANDS; never throws. */
export function startEarly(argv: readonly string[]): Promise<EarlyCalf | undefined> {
  const args = parseEarlyArgs(argv);
  if (!args) return Promise.resolve(undefined);
  // Beside this bundle (packages/cli/dist) the repository's calf bundles; an image sets the dir.
  const calfDir = process.env.PADDOCK_CALF_DIR ?? fileURLToPath(new URL(`../../services/${args.service}/calf/dist/`, import.meta.url));
  const limits = EARLY_CALF_LIMITS[args.service]!;
  // The calf on the engine asked for, else the built-in services' (decision 0010), falling back to
  // the Node bundle as the CLI does when the QuickJS executable is missing. The host adopts it
  // only on the engine it runs.
  const calf = args.engine ? { engine: args.engine, file: path.join(calfDir, calfFileName(args.service, args.engine)) } : builtinCalfWithFallback(args.service, calfDir, EARLY_CALF_ENGINE);
  return startCalfEarly({
    service: args.service,
    iface: args.iface,
    runtimeDir: args.runtimeDir,
    ...(args.containerRuntime ? { containerRuntime: args.containerRuntime } : {}),
    engine: calf.engine,
    calfScript: calf.file,
    calfMemoryBytes: limits.memoryMiB * 1024 * 1024,
    calfPids: limits.pids,
  }).catch(() => undefined);
}

/**
 * Runs a command's start with the calf started early for its command line, if one was: a start
 * that fails before the service host took the calf over does not leave it behind.
 */
export async function withEarlyCalf(start: (early: EarlyCalf | undefined) => Promise<void>): Promise<void> {
  const early = await takeEarlyCalf();
  try {
    await start(early);
  } catch (err) {
    await early?.discard();
    early?.lock.release();
    throw err;
  }
}
