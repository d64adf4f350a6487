/**
 * Helpers for tests that run the real `paddock` command (the bundle built by `make setup`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

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
  const end = Date.now() + ms;
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`${file} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kills a process we started (by its pid) and waits for it to exit. */
export async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** Whether a command is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Waits until a child's stdout or stderr prints a line matching `pattern`. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no output matching ${pattern} within ${ms} ms; got: ${seen.slice(-2000)}`));
    }, ms);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split("\n").find((l) => pattern.test(l));
      if (line !== undefined) {
        cleanup();
        resolve(line);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before printing ${pattern}; output: ${seen.slice(-2000)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}
