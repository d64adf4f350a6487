/**
 * Namespace helpers of the native, netlink and cross-package tests: thin re-exports of
 * @paddock/testkit (docs/testkit.md), kept so those tests keep their imports. New tests use
 * `createLab()` from the kit directly.
 */
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { inNamespace, ipJson, runOk, signalPid, uniqueName } from "@paddock/testkit";

export { ipJson, runOk as sh, uniqueName };

/**
 * Runs a command inside a namespace with nsenter --net (never `ip netns exec`, which remounts
 * /sys and breaks runc; DESIGN.md measured facts).
 */
export function inNetns(ns: string, cmd: string, args: readonly string[]): string {
  const [nsenter, ...rest] = inNamespace(ns, [cmd, ...args]);
  return runOk(nsenter!, rest);
}

/**
 * What a test started and created by hand, undone in one call from afterEach even when the test
 * failed: processes killed by pid, namespaces deleted, files removed. A lab from `createLab()`
 * does this (and survives an interrupted run); this remains for tests that build their
 * namespaces themselves.
 */
export class Teardown {
  readonly children: ChildProcess[] = [];
  readonly namespaces: string[] = [];
  /** Files and directories, removed recursively. */
  readonly paths: string[] = [];

  run(): void {
    for (const c of this.children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) signalPid(c.pid, "SIGKILL");
    }
    for (const ns of this.namespaces.splice(0)) {
      try {
        runOk("ip", ["netns", "del", ns]);
      } catch {
        // Already gone.
      }
    }
    for (const p of this.paths.splice(0)) rmSync(p, { recursive: true, force: true });
  }
}
