/**
 * Helpers for tests that run the real `paddock` command (the bundle built by `make setup`) in
 * the host's namespace; in a lab, use `startPaddock` of @paddock/testkit.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hasCommand, LabProcess, waitFor } from "@paddock/testkit";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const paddockBin = path.join(repoRoot, "node_modules/.bin/paddock");

/** Runs `paddock ARGS…` to completion. */
export function paddock(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(paddockBin, args, { encoding: "utf8", input, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `paddock ARGS…` in the background; the caller must stop it (see stopProcess). */
export function startPaddock(args: string[]): ChildProcess {
  return spawn(paddockBin, args, { stdio: ["ignore", "pipe", "pipe"] });
}

/** Waits until a file (e.g. a socket) exists. */
export async function waitForFile(file: string, ms = 10_000): Promise<void> {
  await waitFor(() => existsSync(file), { what: `${file} to appear`, timeoutMs: ms, state: () => "absent" });
}

/** Kills a process we started (by its pid) and waits for it to exit; SIGKILL after 5 s. */
export async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child) await new LabProcess("paddock", child).stop(signal, 5000);
}

/** Whether a command is on PATH. */
export const have = hasCommand;

/** Waits until a child's stdout or stderr prints a line matching `pattern` (from now on). */
export function waitForOutput(child: ChildProcess, pattern: RegExp, ms = 10_000): Promise<string> {
  return new LabProcess("paddock", child).waitForLog(pattern, { timeoutMs: ms });
}
