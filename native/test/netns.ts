/**
 * Test support: throwaway network namespaces and veth pairs with unique names, removed in
 * afterAll even when a test fails. Namespaces are entered with nsenter --net (never
 * `ip netns exec`, which remounts /sys; DESIGN.md measured facts).
 */

import { randomBytes } from "node:crypto";

import { inNetns, sh as run, uniqueName } from "../../test/helpers/netns.ts";

export { inNetns, run, uniqueName };

/** Whether integration tests may run: root, or CI=true (where missing root must fail). */
export const canRunAsRoot = process.getuid?.() === 0 || process.env.CI === "true";
/** Why the integration tests are skipped (only ever off CI). */
export const skipReason = "needs root to create network namespaces (skipped only when not root and CI is not true)";

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

const created: string[] = [];

/** A random hex suffix: names stay unique across concurrent runs and leftovers of crashed ones. */
function randomSuffix(): string {
  return randomBytes(3).toString("hex");
}

/**
 * Creates namespaces a and b, a veth pair between them, both up, IPv6 off (no stray frames).
 * With `nsPrefix` the namespaces are `${nsPrefix}a-<random>` / `${nsPrefix}b-<random>` and the
 * interfaces `pva<random>` / `pvb<random>`, so a run's leftovers are recognisable by prefix.
 */
export function createVethPair(opts: { nsPrefix?: string } = {}): VethPair {
  const suffix = randomSuffix();
  const a = opts.nsPrefix === undefined ? uniqueName("pna") : `${opts.nsPrefix}a-${suffix}`;
  const b = opts.nsPrefix === undefined ? uniqueName("pnb") : `${opts.nsPrefix}b-${suffix}`;
  run("ip", ["netns", "add", a]);
  created.push(a);
  run("ip", ["netns", "add", b]);
  created.push(b);
  const ifA = opts.nsPrefix === undefined ? uniqueName("va") : `pva${suffix}`;
  const ifB = opts.nsPrefix === undefined ? uniqueName("vb") : `pvb${suffix}`;
  run("ip", ["link", "add", ifA, "netns", a, "type", "veth", "peer", "name", ifB, "netns", b]);
  for (const [ns, ifname] of [
    [a, ifA],
    [b, ifB],
  ] as const) {
    // Disable IPv6 so router solicitations and MLD reports do not add frames to the counts.
    inNetns(ns, "sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
    inNetns(ns, "ip", ["link", "set", "lo", "up"]);
    inNetns(ns, "ip", ["link", "set", ifname, "up"]);
  }
  const mac = (ns: string, ifname: string): string =>
    (JSON.parse(inNetns(ns, "ip", ["-j", "link", "show", ifname])) as { address: string }[])[0]!.address;
  return { a, b, ifA, ifB, pathA: `/run/netns/${a}`, pathB: `/run/netns/${b}`, macA: mac(a, ifA), macB: mac(b, ifB) };
}

/** Creates one namespace with lo up. */
export function createNetns(): { name: string; path: string } {
  const name = uniqueName("pnn");
  run("ip", ["netns", "add", name]);
  created.push(name);
  inNetns(name, "ip", ["link", "set", "lo", "up"]);
  return { name, path: `/run/netns/${name}` };
}

/** Deletes every namespace this process created (their veths, qdiscs and filters go too). */
export function removeAllNetns(): void {
  for (const ns of created.splice(0)) {
    try {
      run("ip", ["netns", "del", ns]);
    } catch {
      // Already gone: nothing to clean.
    }
  }
}

/** Resolves when `pred` holds, polling every few ms; rejects after `ms`. */
export async function waitFor(pred: () => boolean, ms = 2000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
