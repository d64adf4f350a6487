/**
 * Namespace helpers of the native, netlink and cross-package tests: thin re-exports of
 * @paddock/testkit (docs/testkit.md), kept so those tests keep their imports. New tests use
 * `createLab()` from the kit directly.
 */
import { inNamespace, ipJson, runOk, uniqueName } from "@paddock/testkit";

export { ipJson, runOk as sh, uniqueName };

/**
 * Runs a command inside a namespace with nsenter --net (never `ip netns exec`, which remounts
 * /sys and breaks runc; DESIGN.md measured facts).
 */
export function inNetns(ns: string, cmd: string, args: readonly string[]): string {
  const [nsenter, ...rest] = inNamespace(ns, [cmd, ...args]);
  return runOk(nsenter!, rest);
}
