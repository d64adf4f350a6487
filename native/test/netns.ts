/**
 * Test support for the native tests: throwaway network namespaces and veth pairs from
 * @paddock/testkit (unique names, nsenter --net, cleanup even after an interrupted run), removed
 * in afterAll with removeAllNetns().
 */
import { canCreateLabs, createLab, LAB_SKIP_REASON, waitFor as waitForKit, type Lab } from "@paddock/testkit";
import { inNetns, sh as run, uniqueName } from "../../test/helpers/netns.ts";

export { inNetns, run, uniqueName };

/** Whether integration tests may run: root, or CI=true (where missing root must fail). */
export const canRunAsRoot = canCreateLabs;
/** Why the integration tests are skipped (only ever off CI). */
export const skipReason = LAB_SKIP_REASON;

/** Two namespaces joined by a veth pair: `a`/`ifA` is "ours", `b`/`ifB` the peer. */
export interface VethPair {
  a: string;
  b: string;
  ifA: string;
  ifB: string;
  pathA: string;
  pathB: string;
  macA: string;
  macB: string;
}

/** This module's labs, one per namespace prefix, until removeAllNetns(). */
const labs = new Map<string, Lab>();
/** Numbers the namespaces of this module (their labs make the names unique across runs). */
let created = 0;

function labFor(nsPrefix = "pn"): Lab {
  // A lab prefix is letters and digits (≤ 8): "pdk-nat-" becomes "pdknat".
  const prefix = nsPrefix.replace(/[^a-z0-9]/g, "").slice(0, 8) || "pn";
  let lab = labs.get(prefix);
  if (!lab) {
    lab = createLab({ prefix });
    labs.set(prefix, lab);
  }
  return lab;
}

/**
 * Creates namespaces a and b and a veth pair between them, both up, IPv6 off (no router
 * solicitations or MLD reports in the frame counts). `nsPrefix` starts the namespaces' names.
 */
export function createVethPair(options: { nsPrefix?: string } = {}): VethPair {
  const lab = labFor(options.nsPrefix);
  const n = ++created;
  const { a, b } = lab.veth(lab.namespace(`a${n}`, { ipv6: false }), lab.namespace(`b${n}`, { ipv6: false }));
  return { a: a.ns.name, b: b.ns.name, ifA: a.name, ifB: b.name, pathA: a.ns.path, pathB: b.ns.path, macA: a.mac, macB: b.mac };
}

/** Creates one namespace with lo up. */
export function createNetns(): { name: string; path: string } {
  return labFor().namespace(`n${++created}`);
}

/** Deletes every namespace this module created (their veths, qdiscs and filters go too). */
export function removeAllNetns(): void {
  for (const lab of labs.values()) lab.destroySync();
  labs.clear();
}

/** Resolves when `pred` holds, polling every few ms; rejects after `ms` (a bound on a hang: load only delays what is awaited). */
export async function waitFor(pred: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  await waitForKit(pred, { what, timeoutMs: ms, intervalMs: 5 });
}
