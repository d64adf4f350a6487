/**
 * The early start of `paddock dhcp` (bundled apart as dist/early.mjs, a few KiB): bin/paddock.mjs
 * runs it before it loads the CLI, so that runc and the calf start while the rest loads. It reads
 * only the options that decide where the calf runs, with the CLI's defaults, and steps aside
 * (leaves the start to the service host) for anything it does not expect.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { calfFileName, isCalfEngine, isContainerRuntimeChoice, startCalfEarly, type CalfEngine, type ContainerRuntimeChoice, type EarlyCalf } from "@paddock/runtime/early";

/** The DHCP calf's memory and pids limits (dhcp4Service.calf; a test keeps them equal). */
export const EARLY_DHCP_CALF = { memoryMiB: 96, pids: 32 } as const;

/** The key the CLI's dhcp command looks for. */
export const EARLY_CALF_KEY = "__paddockEarlyCalf";

/** Options whose value is the next argument, as `paddock dhcp` declares them. */
const WITH_VALUE = new Set(["--iface", "--state-dir", "--runtime-dir", "--admin-socket", "--resolv-conf", "--hostname", "--metrics", "--log-level", "--log-format", "--min-lease-seconds", "--config", "--client-id", "--vendor-class", "--ready-timeout", "--route-metric", "--hooks-dir", "--hook-timeout-seconds", "--container-runtime", "--calf-engine"]);
/** Flags without a value. */
const FLAGS = new Set(["--no-resolv-conf-managed", "--set-hostname", "--release-on-exit", "--no-link-up", "--no-arp-probe"]);

/** The calf bin/paddock.mjs started early for this command line, if it did; the caller owns it now. */
export async function takeEarlyCalf(): Promise<EarlyCalf | undefined> {
  const g = globalThis as Record<string, unknown>;
  const early = (await g[EARLY_CALF_KEY]) as EarlyCalf | undefined;
  g[EARLY_CALF_KEY] = undefined;
  return early;
}

/** The iface and runtime dir of a plain `paddock dhcp …` command line, or undefined. */
export function parseEarlyArgs(argv: readonly string[]): { iface: string; runtimeDir: string; containerRuntime?: ContainerRuntimeChoice; engine?: CalfEngine } | undefined {
  if (argv[0] !== "dhcp") return undefined;
  const values = new Map<string, string>();
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (FLAGS.has(a)) continue;
    if (!WITH_VALUE.has(name)) return undefined; // --help, --calf, a subcommand, a typo: not ours to judge
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) return undefined;
    values.set(name, value);
  }
  const iface = values.get("--iface");
  if (!iface || !/^[^\s/]{1,15}$/.test(iface)) return undefined;
  const runtime = values.get("--container-runtime");
  if (runtime !== undefined && !isContainerRuntimeChoice(runtime)) return undefined; // the CLI says what is wrong with it
  const engine = values.get("--calf-engine");
  if (engine !== undefined && !isCalfEngine(engine)) return undefined;
  return { iface, runtimeDir: values.get("--runtime-dir") ?? "/run/paddock", ...(runtime !== undefined ? { containerRuntime: runtime } : {}), ...(engine !== undefined ? { engine } : {}) };
}

/** Starts the calf for `argv` if it is a plain `paddock dhcp` run; never throws. */
export function startEarly(argv: readonly string[]): Promise<EarlyCalf | undefined> {
  const args = parseEarlyArgs(argv);
  if (!args) return Promise.resolve(undefined);
  // Beside this bundle (packages/cli/dist) the repository's calf bundle; an image sets the dir.
  // The DHCP service's calf limits, as its definition declares them (a test keeps the two equal;
  // importing the definition here would load the runtime before the calf starts).
  const calfDir = process.env.PADDOCK_CALF_DIR ?? fileURLToPath(new URL("../../services/dhcp4/calf/dist/", import.meta.url));
  return startCalfEarly({
    service: "dhcp4",
    iface: args.iface,
    runtimeDir: args.runtimeDir,
    ...(args.containerRuntime ? { containerRuntime: args.containerRuntime } : {}),
    // The calf on the engine asked for (decision 0010): the Node bundle, or the QuickJS executable.
    ...(args.engine ? { engine: args.engine } : {}),
    calfScript: path.join(calfDir, calfFileName("dhcp4", args.engine ?? "node")),
    calfMemoryBytes: EARLY_DHCP_CALF.memoryMiB * 1024 * 1024,
    calfPids: EARLY_DHCP_CALF.pids,
  }).catch(() => undefined);
}
