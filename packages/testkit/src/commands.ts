/**
 * Running host commands: to completion (sync for setup, async inside tests) and checks that the
 * commands a lab needs are installed, with the Debian package to install when one is not.
 */
import { execFile, spawnSync } from "node:child_process";
import { TestkitError } from "./errors.ts";

/** How long one setup command (ip, sysctl, nsenter …) may take before it counts as hung. */
const COMMAND_TIMEOUT_MS = 20_000;
/** Output kept from a command run to completion: enough for `ip -j` of a busy namespace. */
const MAX_COMMAND_OUTPUT_BYTES = 16 * 1024 * 1024;

/** The Debian package that provides each command the kit starts. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  ip: "iproute2",
  nsenter: "util-linux",
  dnsmasq: "dnsmasq-base",
  "kea-dhcp4": "kea-dhcp4-server",
  "kea-dhcp6": "kea-dhcp6-server",
  dhcpd: "isc-dhcp-server",
  busybox: "busybox",
  chronyd: "chrony",
  radvd: "radvd",
  runc: "runc",
  tcpdump: "tcpdump",
};

/** The result of a command run to completion. */
export interface RunResult {
  /** Exit status; null when it was killed by a signal or could not start. */
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop; never throws. */
export function runAsync(cmd: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { encoding: "utf8", timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS, maxBuffer: MAX_COMMAND_OUTPUT_BYTES, env: options.env ?? process.env },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err ? (typeof code === "number" ? code : null) : 0, stdout, stderr: stderr || (err && typeof code !== "number" ? err.message : "") });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs a command to completion; returns its stdout; throws a {@link TestkitError} with its stderr when it fails. */
export function runOk(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS, maxBuffer: MAX_COMMAND_OUTPUT_BYTES, env: options.env ?? process.env, input: options.input });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") throw missingCommand(cmd);
  if (r.status !== 0) {
    throw new TestkitError("PADDOCK_E_TESTKIT_COMMAND_FAILED", `${cmd} ${args.join(" ")} failed (${r.status ?? r.signal ?? r.error?.message}): ${(r.stderr || r.stdout).trim()}`, { cause: r.error });
  }
  return r.stdout;
}

/** Whether `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$1" >/dev/null', "sh", cmd]).status === 0;
}

/** Whether every command is on PATH. */
export function hasCommands(cmds: readonly string[]): boolean {
  return cmds.every(hasCommand);
}

/** Throws a {@link TestkitError} naming the Debian package of the first command that is not installed. */
export function requireCommands(cmds: readonly string[]): void {
  for (const cmd of cmds) if (!hasCommand(cmd)) throw missingCommand(cmd);
}

function missingCommand(cmd: string): TestkitError {
  const pkg = DEBIAN_PACKAGES[cmd];
  return new TestkitError(
    "PADDOCK_E_TESTKIT_MISSING_COMMAND",
    `${cmd} is not installed${pkg ? `: install the Debian package ${pkg} (apt-get install ${pkg})` : ""}`,
  );
}

/**
 * Whether this process may build labs: root, or CI=true (where a missing privilege must fail the
 * run rather than skip it). Use with `describe.skipIf(!canCreateLabs)`.
 */
export const canCreateLabs: boolean = process.getuid?.() === 0 || process.env.CI === "true";

/** Why lab tests are skipped when {@link canCreateLabs} is false. */
export const LAB_SKIP_REASON = "needs root to create network namespaces (skipped only when not root and CI is not true)";
