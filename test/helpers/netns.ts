/**
 * Namespace helpers shared by the native, netlink and cross-package tests: unique names, commands
 * run inside a namespace with nsenter --net, and `ip -j` output parsed.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

let counter = 0;

/** A unique short name (≤ 15 bytes, the interface-name limit) for this process. */
export function uniqueName(prefix: string): string {
  counter += 1;
  const name = `${prefix}${process.pid % 100000}${counter}`;
  if (name.length > 15) throw new Error(`name too long: ${name}`);
  return name;
}

/** Runs a command; returns stdout; throws with its stderr when it fails. */
export function sh(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * Runs a command inside a namespace with nsenter --net (never `ip netns exec`, which remounts
 * /sys and breaks runc; DESIGN.md measured facts).
 */
export function inNetns(ns: string, cmd: string, args: readonly string[]): string {
  return sh("nsenter", [`--net=/run/netns/${ns}`, cmd, ...args]);
}

/** `ip -j -n NS ARGS…` parsed. */
export function ipJson<T = unknown>(ns: string, args: readonly string[]): T {
  const out = sh("ip", ["-j", "-n", ns, ...args]).trim();
  return (out === "" ? [] : JSON.parse(out)) as T;
}

/**
 * What a test started and created, undone in one call from afterEach even when the test failed:
 * processes killed by pid, namespaces deleted, files and directories removed.
 */
export class Teardown {
  readonly children: ChildProcess[] = [];
  readonly namespaces: string[] = [];
  /** Files and directories, removed recursively. */
  readonly paths: string[] = [];

  run(): void {
    for (const c of this.children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        try {
          process.kill(c.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    for (const ns of this.namespaces.splice(0)) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    for (const p of this.paths.splice(0)) rmSync(p, { recursive: true, force: true });
  }
}
