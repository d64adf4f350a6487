// The lease handler's rules on a real link. MTU (issue 13 B7): a lease's MTU below 1280 is not
// applied on a link that has IPv6 addresses (the kernel would delete them, and they are not
// ours), below 576 never. Other links (B6): a lease whose address is on another link, or whose
// prefix is inside another link's, is not applied; a route into another link's prefix is dropped.
// Each refusal is a visible conflict, and the system keeps what it had.
// Needs root (a network namespace); never skipped under CI=true.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, LAB_SKIP_REASON, type Lab, type Netns, type Veth } from "@paddock/testkit";
import type { StoreView } from "@paddock/runtime";
import { dhcp4Schema, LeaseHandler, desiredLease, type LeaseDesired } from "../src/index.ts";
import { KvStore } from "@paddock/kv";

const calf = { role: "calf" as const, name: "calf:test" };
const enc = new TextEncoder();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe.skipIf(!canCreateLabs)(`lease MTU rules on a real link (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let ns: Netns;
  let link: Veth;
  let dir: string;

  beforeAll(() => {
    lab = createLab({ prefix: "pdkmtu" });
    ns = lab.namespace("a", { ipv6: true });
    const other = lab.namespace("b", { ipv6: true });
    link = lab.veth(ns, other, {});
    dir = mkdtempSync(path.join(tmpdir(), "paddock-mtu-"));
  });
  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Applies a lease with `mtu` through a store and the handler; returns the link's MTU and the conflicts. */
  async function applyWithMtu(mtu: number, name: string): Promise<{ mtu: number; conflicts: readonly string[] }> {
    return applyLease({ "/ip": "10.77.0.5/24", "/mtu": String(mtu) }, name);
  }

  /** Applies the lease `keys` through a store and the handler; returns the link's MTU and the conflicts. */
  async function applyLease(keys: Record<string, string>, name: string): Promise<{ mtu: number; conflicts: readonly string[]; applied?: unknown }> {
    const stateDir = path.join(dir, name);
    const store = new KvStore({ schema: dhcp4Schema, stateDir });
    try {
      const r = await store.commit(calf, Object.entries(keys).map(([k, v]) => ({ path: k.split("/").filter(Boolean), value: enc.encode(v) })));
      if (!r.ok) throw r.error;
      const handler = new LeaseHandler({ link: link.a.name, stateDir, netnsPath: ns.path, log: quiet });
      const view: StoreView = { parsed: store.parsed, values: store.values };
      const report = await handler.apply(handler.desired(view, Date.now()), { log: quiet, now: Date.now });
      const shown = lab.ipJson<Array<{ mtu: number }>>(ns, ["link", "show", "dev", link.a.name]);
      return { mtu: shown[0]!.mtu, conflicts: report.conflicts ?? [], ...(report.applied !== undefined ? { applied: report.applied } : {}) };
    } finally {
      await store.close();
    }
  }

  it("applies an MTU of 1280 or more on a link with IPv6 addresses", async () => {
    const r = await applyWithMtu(1400, "ok");
    expect(r).toEqual({ mtu: 1400, conflicts: [] });
  });

  it("keeps the link's MTU when the lease's is below 1280 and the link has IPv6 addresses", async () => {
    lab.ip(ns, ["-6", "addr", "add", "fd00:78::1/64", "dev", link.a.name, "nodad"]);
    lab.ip(ns, ["link", "set", link.a.name, "mtu", "1500"]);
    const r = await applyWithMtu(1000, "v6");
    expect(r.mtu).toBe(1500);
    expect(r.conflicts.join("\n")).toMatch(/mtu 1000 .* below 1280 and the link has IPv6 addresses/);
    // The IPv6 address is still there.
    expect(lab.exec(ns, ["ip", "-6", "addr", "show", "dev", link.a.name])).toContain("fd00:78::1/64");
  });

  it("never applies an MTU below 576", async () => {
    lab.ip(ns, ["-6", "addr", "flush", "dev", link.a.name]);
    lab.ip(ns, ["link", "set", link.a.name, "mtu", "1500"]);
    const r = await applyWithMtu(500, "tiny");
    expect(r.mtu).toBe(1500);
    expect(r.conflicts.join("\n")).toMatch(/mtu 500 .* below 576/);
  });

  it("does not apply a lease whose address or prefix belongs to another link, and drops routes into another link's prefix", async () => {
    const other = lab.namespace("c", { ipv6: false });
    const second = lab.veth(ns, other, {});
    lab.ip(ns, ["addr", "add", "10.80.0.1/16", "dev", second.a.name]);
    lab.ip(ns, ["addr", "add", "10.81.0.9/24", "dev", second.a.name]);
    const mine = () => lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(ns, ["-4", "addr", "show", "dev", link.a.name])[0]!.addr_info.map((a) => a.local);

    const inside = await applyLease({ "/ip": "10.80.5.5/24" }, "inside");
    expect(inside.conflicts.join("\n")).toMatch(/prefix 10\.80\.5\.0\/24 is inside 10\.80\.0\.0\/16, configured on another link: lease not applied/);
    const same = await applyLease({ "/ip": "10.81.0.9/24" }, "same");
    expect(same.conflicts.join("\n")).toMatch(/address 10\.81\.0\.9 is already a local address .*lease not applied/);
    // What hooks are told (docs/hooks.md): no lease was applied.
    expect([inside.applied, same.applied]).toEqual([expect.objectContaining({ lease: null }), expect.objectContaining({ lease: null })]);
    expect(mine().filter((a) => a.startsWith("10.80.") || a.startsWith("10.81."))).toEqual([]);

    const routed = await applyLease({ "/ip": "10.82.0.5/24", "/route/001": "10.80.7.0/24 10.82.0.1", "/route/002": "10.90.0.0/16 10.82.0.1" }, "routes");
    expect(routed.conflicts.join("\n")).toMatch(/route to 10\.80\.7\.0\/24 is inside 10\.80\.0\.0\/16, configured on another link: refused/);
    expect((routed.applied as LeaseDesired).lease!.routes.map((r) => r.destination)).not.toContain("10.80.7.0/24");
    const routes = lab.ipJson<Array<{ dst: string }>>(ns, ["-4", "route", "show", "proto", "176"]).map((r) => r.dst);
    expect(routes).toContain("10.90.0.0/16");
    expect(routes).not.toContain("10.80.7.0/24");
    expect(mine()).toContain("10.82.0.5");
  });

  it("desiredLease carries the store's MTU as it was parsed", () => {
    const parsed = new Map<string, unknown>([["/ip", { address: "10.0.0.5", prefixLength: 24, text: "10.0.0.5/24", network: { address: "10.0.0.0", prefixLength: 24, text: "10.0.0.0/24" } }], ["/mtu", 1000]]);
    expect(desiredLease(parsed, Date.now()).lease?.mtu).toBe(1000);
  });
});
