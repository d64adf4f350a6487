/**
 * Test support: a throwaway network namespace with a veth pair from @paddock/testkit (unique
 * names, cleanup even after an interrupted run), and `ip -j -n NS …` to check what the kernel
 * holds independently of our codec.
 */
import { canCreateLabs, createLab } from "@paddock/testkit";
import { ipJson, sh as run, uniqueName } from "../../../test/helpers/netns.ts";

export { ipJson, run, uniqueName };

/** Whether the namespace tests run: as root, or under CI=true (where lacking root must fail, not skip). */
export const runNamespaceTests = canCreateLabs;

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
  const lab = createLab({ prefix: "pnl" });
  try {
    const ns = lab.namespace("n");
    const { a, b } = lab.veth(ns, ns, { up: { a: false } });
    return { name: ns.name, path: ns.path, v0: a.name, v1: b.name, remove: () => lab.destroySync() };
  } catch (e) {
    lab.destroySync();
    throw e;
  }
}
