/**
 * A Paddock command (`paddock dhcp …`, `paddock run <service> …`) started in a namespace, its
 * text or JSON log kept, and the runc containers it leaves removed with the lab.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TestkitError } from "./errors.ts";
import type { Lab, NsRef } from "./lab.ts";
import { LabProcess, type WaitForLogOptions } from "./process.ts";
import { DEFAULT_WAIT_MS, waitFor } from "./wait.ts";

/** One line of a JSON log (pino: level, time, msg, and the service's fields). */
export type LogEntry = Record<string, unknown>;

/** A running Paddock command: a {@link LabProcess} that also reads its JSON log. */
export class PaddockProcess extends LabProcess {
  /** The lines of output that are JSON objects, parsed (a text log has none). */
  logEntries(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const line of this.output.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const v = JSON.parse(line) as unknown;
        if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(v as LogEntry);
      } catch {
        // A line cut by the output cap, or not JSON after all.
      }
    }
    return out;
  }

  /** Waits until a JSON log entry satisfies `match`; returns it. Fails at once if the process exits. */
  waitForEntry(match: (e: LogEntry) => boolean, options: WaitForLogOptions & { what?: string } = {}): Promise<LogEntry> {
    return waitFor(() => this.logEntries().filter(match)[(options.occurrence ?? 1) - 1], {
      what: `${this.name} to log ${options.what ?? "a matching JSON entry"}`,
      timeoutMs: options.timeoutMs ?? DEFAULT_WAIT_MS,
      abortOnExit: this,
      state: () => `output:\n${this.tail()}`,
    });
  }
}

/** Options of {@link startPaddock}. */
export interface StartPaddockOptions<P extends PaddockProcess = PaddockProcess> {
  /** The `paddock` executable (default: $PADDOCK_BIN, else node_modules/.bin/paddock found from the working directory up, else this checkout's). */
  bin?: string;
  /** Environment (default this process's). */
  env?: NodeJS.ProcessEnv;
  /** A name for messages (default "paddock ARGS[0]"). */
  name?: string;
  /** Builds the handle (a subclass of PaddockProcess); default a PaddockProcess. */
  create?: (name: string, child: ChildProcess) => P;
}

/** The checkout this package lives in (packages/testkit/src → root). */
const CHECKOUT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** Finds the `paddock` executable: $PADDOCK_BIN, node_modules/.bin/paddock from the working directory up, or this checkout's. */
export function findPaddockBin(): string {
  if (process.env.PADDOCK_BIN) return process.env.PADDOCK_BIN;
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    const bin = path.join(dir, "node_modules/.bin/paddock");
    if (existsSync(bin)) return bin;
    if (path.dirname(dir) === dir) break;
  }
  const own = path.join(CHECKOUT_ROOT, "node_modules/.bin/paddock");
  if (existsSync(own)) return own;
  throw new TestkitError("PADDOCK_E_TESTKIT_MISSING_COMMAND", "paddock not found: set PADDOCK_BIN, pass { bin }, or install @paddock/cli (node_modules/.bin/paddock)");
}

/**
 * Starts `paddock ARGS…` in `ns`. The handle keeps its log (`waitForLog(regex)`,
 * `logEntries()` for `--log-format json`); `stop()` sends SIGTERM and waits for it to exit. If
 * the args name a `--runtime-dir`, destroy() also force-deletes any runc container left under it
 * (a shim killed hard leaves its calf). Under PADDOCK_TEST_CALF_ENGINE, see {@link calfEngineLaneArgs};
 * under PADDOCK_TEST_CONTAINER_RUNTIME, {@link containerRuntimeLaneArgs}.
 */
export function startPaddock<P extends PaddockProcess = PaddockProcess>(lab: Lab, ns: NsRef | null, args: readonly string[], options: StartPaddockOptions<P> = {}): P {
  const bin = options.bin ?? findPaddockBin();
  const argv = /\.[cm]?js$/.test(bin) ? [process.execPath, bin, ...args] : [bin, ...args];
  const runtimeDir = optionValue(args, "--runtime-dir");
  if (runtimeDir !== undefined) {
    lab.defer(() => removeRuncContainers(path.join(runtimeDir, "runc")));
    lab.defer(() => removeRuncContainers(path.join(runtimeDir, "crun"), "crun"));
  }
  argv.push(...calfEngineLaneArgs(args, { ...process.env, ...options.env }), ...containerRuntimeLaneArgs(args, { ...process.env, ...options.env }));
  return lab.spawn<P>(ns, argv, {
    name: options.name ?? `paddock ${args[0] ?? ""}`.trim(),
    env: options.env,
    create: options.create ?? ((name, child) => new PaddockProcess(name, child) as P),
  });
}

/** The commands that run calves and take `--calf-engine`. */
const CALF_COMMANDS: ReadonlySet<string> = new Set(["dhcp", "ntp", "ra", "dhcp6", "run"]);

/**
 * The calf engine lane (docs/decisions/0010-quickjs-calf-engine.md): with
 * PADDOCK_TEST_CALF_ENGINE=quickjs (or node) in the environment, a command that runs calves gets
 * `--calf-engine ENGINE` added, so one run of the namespace tests puts every calf on that engine.
 * Not when the args choose an engine themselves or a custom calf (`--calf`, Node only), nor when
 * PADDOCK_CALF_DIR points at calves a test built (for Node), nor for a `paddock run` that names a
 * service by path (a built service has a Node calf only). Unset: nothing.
 */
export function calfEngineLaneArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const engine = env.PADDOCK_TEST_CALF_ENGINE;
  if (!engine || env.PADDOCK_CALF_DIR || !CALF_COMMANDS.has(args[0] ?? "")) return [];
  if (args.some((a) => a === "--calf" || a === "--calf-engine" || a.startsWith("--calf=") || a.startsWith("--calf-engine="))) return [];
  if (args[0] === "run") {
    const end = args.findIndex((a, i) => i > 0 && a.startsWith("-"));
    if (!args.slice(1, end === -1 ? undefined : end).every((s) => /^[a-z0-9-]+$/.test(s))) return [];
  }
  return ["--calf-engine", engine];
}

/**
 * The container runtime lane (docs/decisions/0011-container-runtime.md): with
 * PADDOCK_TEST_CONTAINER_RUNTIME=runc (or crun, auto) in the environment, a command that runs
 * calves gets `--container-runtime RUNTIME` added, unless its args choose one. Unset: nothing (auto).
 */
export function containerRuntimeLaneArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const runtime = env.PADDOCK_TEST_CONTAINER_RUNTIME;
  if (!runtime || !CALF_COMMANDS.has(args[0] ?? "") || optionValue(args, "--container-runtime") !== undefined) return [];
  return ["--container-runtime", runtime];
}

/** The value of `--flag VALUE` or `--flag=VALUE` in `args`. */
function optionValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i]!.startsWith(`${flag}=`)) return args[i]!.slice(flag.length + 1);
  }
  return undefined;
}

/**
 * Force-deletes every container whose state is under `root`, with `runtime` (runc, or crun: the
 * calves' runtime, docs/decisions/0011-container-runtime.md). crun refuses a hybrid cgroup layout
 * unless the cgroup2 mount is out of its sight, so it runs here as the priv runs it: in a mount
 * namespace of its own without /sys/fs/cgroup/unified.
 */
export function removeRuncContainers(root: string, runtime: "runc" | "crun" = "runc"): void {
  if (!existsSync(root)) return;
  const run = (args: string[], stdio?: "ignore") =>
    runtime === "runc"
      ? spawnSync("runc", args, { encoding: "utf8", ...(stdio ? { stdio } : {}) })
      : spawnSync("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', "sh", "crun", ...args], { encoding: "utf8", ...(stdio ? { stdio } : {}) });
  const r = run(["--root", root, "list", "--format", "json"]);
  if (r.status !== 0) return;
  let list: Array<{ id: string }>;
  try {
    list = (JSON.parse(r.stdout || "null") ?? []) as Array<{ id: string }>;
  } catch {
    return;
  }
  for (const c of list) {
    run(["--root", root, "delete", "--force", c.id], "ignore");
  }
}
