/**
 * kill -9 of the priv (invariant 5): the configuration it applied stays while it is dead; a new
 * priv on the same state directory reconciles from the persisted store without duplicating a
 * route, a second address or a second tc program, and without touching an address or a route it
 * did not add; its calf resumes with INIT-REBOOT to the same address.
 */
import { afterEach, describe, expect, it } from "vitest";
import { defaultOffer, NetLab, runOk, sleep } from "./helpers/lab.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the priv crash test needs root, and CI must run it");

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

describe.skipIf(!root)("kill -9 of the priv (needs root)", () => {
  it("keeps the configuration while dead, and reconciles on restart without duplicates or collateral", async () => {
    lab = NetLab.create("10.78.0");
    const l = lab;
    l.startDnsmasq(defaultOffer("10.78.0"));
    const inet = async () => (await l.addrs()).map((a) => `${a.local}/${a.prefixlen}`).sort();
    const routes = async () => (await l.routes()).map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.protocol}`).sort();
    const tcEgressFilters = () =>
      (JSON.parse(runOk("tc", ["-n", l.clientNs, "-j", "filter", "show", "dev", l.clientIf, "egress"]) || "[]") as Array<{ options?: unknown }>).filter((f) => f.options !== undefined).length;

    const first = l.startShim();
    const leased = (await l.waitForAddress(30_000, (a) => a.local.startsWith("10.78.0."))).local;
    await l.waitUntil("the default route", async () => (await routes()).some((r) => r.startsWith("default 10.78.0.1 176")), 10_000);
    // Someone else's address and route on the same link: never ours to remove.
    l.client(["addr", "add", "10.88.0.5/24", "dev", l.clientIf]);
    l.client(["route", "add", "10.66.0.0/16", "via", "10.78.0.1", "proto", "static"]);
    await first.settle();
    const before = { addrs: await inet(), routes: await routes() };
    expect(tcEgressFilters()).toBe(1);

    await first.stop("SIGKILL");
    // Dead priv: the lease stays applied (its lifetimes bound it), nothing else moves. What is
    // tested is an absence over a window (about half a second): the sleep paces the checks.
    for (let i = 0; i < 10; i++) {
      expect(await inet()).toEqual(before.addrs);
      await sleep(50);
    }

    const second = l.startShim();
    await second.waitFor(/REBOOTING → BOUND/, 30_000);
    expect(second.lines(/DISCOVER/)).toEqual([]);
    await second.settle();
    expect(await inet()).toEqual(before.addrs);
    expect(await inet()).toContain(`${leased}/24`);
    expect(await inet()).toContain("10.88.0.5/24");
    expect(await routes()).toEqual(before.routes);
    expect((await routes()).filter((r) => r.startsWith("default")).length).toBe(1);
    expect(await routes()).toContain("10.66.0.0/16 10.78.0.1 static");
    expect(tcEgressFilters()).toBe(1);

    expect((await second.stop()).code).toBe(0);
    // A clean stop without --release-on-exit keeps the lease applied; the foreign address stays too.
    expect(await inet()).toEqual(before.addrs);
    expect(tcEgressFilters()).toBe(0);
  }, 90_000);
});
