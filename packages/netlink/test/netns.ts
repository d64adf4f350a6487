/**
 * Test support: a throwaway network namespace with a veth pair, unique names per process, and
 * `ip -j -n NS …` to check what the kernel holds independently of our codec.
 */

import { ipJson, sh as run, uniqueName } from "../../../test/helpers/netns.ts";

export { ipJson, run, uniqueName };

/** Whether the namespace tests run: as root, or under CI=true (where lacking root must fail, not skip). */
export const runNamespaceTests = process.getuid?.() === 0 || process.env.CI === "true";

/** A namespace holding a veth pair `v0` ↔ `v1` (both ends inside it). */
export interface TestNetns {
  readonly name: string;
  readonly path: string;
  readonly v0: string;
  readonly v1: string;
  /** Deletes the namespace (and with it the veth pair). Idempotent. */
  remove(): void;
}

/** Creates the namespace and veth pair; v1 is up, v0 is left down for the tests to raise. */
export function createTestNetns(): TestNetns {
  const name = uniqueName("pnl");
  run("ip", ["netns", "add", name]);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    run("ip", ["netns", "del", name]);
  };
  try {
    const v0 = uniqueName("nv");
    const v1 = uniqueName("nw");
    run("ip", ["-n", name, "link", "add", v0, "type", "veth", "peer", "name", v1]);
    run("ip", ["-n", name, "link", "set", "lo", "up"]);
    run("ip", ["-n", name, "link", "set", v1, "up"]);
    return { name, path: `/run/netns/${name}`, v0, v1, remove };
  } catch (e) {
    remove();
    throw e;
  }
}
