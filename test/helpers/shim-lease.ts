/**
 * The scenarios of test/dhcp-shim-lease.test.ts, for either calf engine: `paddock dhcp` through a
 * lease's life against Kea, which grants leases of a few seconds with T1/T2 to match: renewals
 * that never let the address disappear, a calf killed with SIGKILL in the middle of a lease,
 * renewals that change the options (applied together, in place), a NAK while RENEWING, and the
 * server going away (renew → rebind → expiry → withdrawal). test/dhcp-shim-lease.test.ts runs them
 * on Node, test/calf-quickjs.test.ts on QuickJS (issue 14), each in labs of its own prefix.
 *
 * The client stretches leases shorter than 60 s to 60 s (MIN_LEASE_SECONDS: RFC 2131 §4.4.5
 * forbids retransmitting a renewal faster), but keeps the server's T1/T2 when 0 < T1 < T2 < lease;
 * so with T1 = 2 s and T2 = 4 s it renews every 2 s. The expiry test lowers the stretch with the
 * test configuration `--min-lease-seconds`, so Kea's 8 s lease expires 8 s after its last ACK
 * instead of a minute.
 *
 * No assertion here is on a duration or a count of samples: waits are for states (log lines,
 * addresses, files), with timeouts that only bound a hang.
 *
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { existsSync, readFileSync } from "node:fs";
import { connectKv } from "@paddock/kv";
import type { CalfEngine } from "@paddock/runtime";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defaultOffer, haveAll, NetLab, type Proc, type ServerOffer, type ShimProc } from "./lab.ts";

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === "true") throw new Error("the DHCP shim integration tests need root, and CI must run them");
const NEEDED = ["kea-dhcp4", "runc", "nsenter"];
if (isRoot && process.env.CI === "true" && !haveAll(NEEDED)) throw new Error(`CI must have ${NEEDED.join(", ")} (make setup installs them)`);
const canRun = isRoot && haveAll(NEEDED);
const skipReason = !isRoot ? "needs root (network namespaces and runc)" : `needs ${NEEDED.join(", ")}`;

/** Kea's lease (stretched to 60 s by the client), T1 and T2: a renewal every 2 s. */
const KEA_LEASE_S = 8;
const T1_S = 2;
const T2_S = 4;
/** The client's minimum lease: what a short lease is stretched to (packages/services/dhcp4/core MIN_LEASE_SECONDS). */
const STRETCHED_LEASE_S = 60;
const LEASE_TIMEOUT_MS = 15_000;

/** Which engine the calf runs on (under which container runtime: default the lane's), and the prefix of the labs' names. */
export interface ShimLeaseRun {
  readonly engine: CalfEngine;
  readonly prefix: string;
  readonly containerRuntime?: "runc" | "crun";
}

let lab: NetLab | undefined;

/** Kea with a short lease, and the shim bound to it, its calf on `run.engine` (with extra `paddock dhcp` arguments). */
async function keaLab(run: ShimLeaseRun, net: string, extraArgs: string[] = []): Promise<{ l: NetLab; kea: Proc; shim: ShimProc; address: string }> {
  const l = NetLab.create(net, run.prefix);
  lab = l;
  const kea = l.startKea(defaultOffer(net, { leaseSeconds: KEA_LEASE_S }), { renew: T1_S, rebind: T2_S });
  await kea.waitFor(/DHCP4_STARTED/, 10_000);
  const runtimeArgs = run.containerRuntime ? ["--container-runtime", run.containerRuntime] : [];
  const shim = l.startShim({ extraArgs: ["--calf-engine", run.engine, ...runtimeArgs, ...extraArgs] });
  const a = await l.waitForAddress(LEASE_TIMEOUT_MS).catch((err: Error) => {
    throw new Error(`${err.message}; shim output:\n${shim.output.slice(-3000)}`);
  });
  await shim.waitFor(/handler lease applied/, LEASE_TIMEOUT_MS);
  return { l, kea, shim, address: a.local };
}

/** Kea's allocations (DISCOVER/REQUEST answered with this address): the first, then one per renewal. */
function keaAcks(kea: Proc, address: string): number {
  return kea.lines(new RegExp(`DHCP4_LEASE_ALLOC .*lease ${address.replace(/\./g, "\\.")} `)).length;
}

/** Milliseconds between the text log's "HH:MM:SS.mmm" stamps of consecutive lines matching `re`. */
function intervals(shim: Proc, re: RegExp): number[] {
  const stamps = shim.lines(re).map((l) => {
    const [h, m, s] = l.slice(0, 12).split(":").map(Number) as [number, number, number];
    return (h * 3600 + m * 60 + s) * 1000;
  });
  return stamps.slice(1).map((t, i) => Math.round(t - stamps[i]!));
}

/** Two option sets for the same address: a renewal ACK switching between them changes MTU, routes and DNS. */
const optionsA = (net: string) => defaultOffer(net, { leaseSeconds: KEA_LEASE_S });
const optionsB = (net: string) =>
  defaultOffer(net, { leaseSeconds: KEA_LEASE_S, mtu: 1360, dns: [`${net}.7`], domain: "changed.test", search: ["changed.test"], classless: [{ dst: "10.98.0.0/16", via: `${net}.1` }] });

/** Restarts Kea with `offer` (its leases are not persisted, so it grants the renewal afresh) and waits for the next renewal ACK. */
async function switchOptions(l: NetLab, kea: Proc, shim: ShimProc, offer: ServerOffer): Promise<Proc> {
  await kea.stop();
  const next = l.startKea(offer, { renew: T1_S, rebind: T2_S });
  await next.waitFor(/DHCP4_STARTED/, 10_000);
  const n = shim.lines(/RENEWING → BOUND/).length;
  await shim.waitFor(/RENEWING → BOUND/, 4 * T1_S * 1000, n + 1);
  await shim.settle();
  return next;
}

/** resolv.conf as the lease handler's log line describes a write of it, for an offer. */
function resolvSummary(o: ServerOffer): string {
  return [`domain ${o.domain}`, `search ${o.search.join(" ")}`, ...o.dns.map((d) => `nameserver ${d}`)].join(", ");
}

/** Registers the scenarios for `r.engine`; the figures are printed after the file's tests. */
export function describeShimLease(r: ShimLeaseRun): void {
  const figures: string[] = [];
  afterAll(() => {
    if (figures.length > 0) console.log(`dhcp-shim-lease figures (${r.engine}${r.containerRuntime ? `, ${r.containerRuntime}` : ""}):\n  ${figures.join("\n  ")}`);
  });
  describe.skipIf(!canRun)(`paddock dhcp through a short lease (Kea), calf on ${r.engine}${r.containerRuntime ? ` under ${r.containerRuntime}` : ""}${canRun ? "" : ` (skipped: ${skipReason})`}`, () => {
    afterEach(async () => {
      await lab?.destroy();
      lab = undefined;
    });
    it("renews without the address ever disappearing, and refreshes its valid lifetime", async () => {
      const { l, kea, shim, address } = await keaLab(r, "10.92.0");
      expect(shim.lines(/stretched to 60 s/).length).toBeGreaterThanOrEqual(1);
      const [v0] = await l.addrs();
      const expires0 = Number((await shim.kv(["/lease/expires"]))["/lease/expires"]);
      const watch = await l.watchAddresses(20);
      const t0 = Date.now();
      // Two renewals at least, and the handler refreshing the kernel's lifetimes at least once.
      await l.waitUntil("two renewals", () => keaAcks(kea, address) >= 3, 4 * T1_S * 1000);
      await shim.waitFor(/handler lease applied: refresh /, 4 * T1_S * 1000);
      await shim.waitFor(/RENEWING → BOUND/, 4 * T1_S * 1000, 2);
      const elapsedS = (Date.now() - t0) / 1000;
      await watch.stop();

      expect(watch.deletions(), "ip monitor saw the address deleted").toEqual([]);
      expect(watch.gaps(address), "polls without the address").toEqual([]);
      const [v1] = await l.addrs();
      // The kernel's lifetime is the lease's, refreshed (the log line above), never longer.
      expect(v1!.valid_life_time).toBeLessThanOrEqual(STRETCHED_LEASE_S);
      const expires1 = Number((await shim.kv(["/lease/expires"]))["/lease/expires"]);
      expect(expires1).toBeGreaterThan(expires0);
      const renewals = intervals(shim, /→ RENEWING: T1 reached/);
      figures.push(`renewal: T1 every ${renewals.join(", ")} ms; ${watch.samples.length} polls over ${elapsedS.toFixed(1)} s, 0 without the address; valid_lft ${v0!.valid_life_time} → ${v1!.valid_life_time} s`);
    });

    it("a calf killed with SIGKILL mid-lease is restarted, resumes renewing, and the address is never removed", async () => {
      const { l, kea, shim, address } = await keaLab(r, "10.93.0");
      const watch = await l.watchAddresses(20);
      const pid = await shim.calfPid();
      expect(pid).toBeGreaterThan(1);
      expect((await shim.metrics()).get("paddock_calf_restarts_total")).toBe(0);
      const acksBefore = keaAcks(kea, address);
      const killedAt = Date.now();
      process.kill(pid!, "SIGKILL");

      await shim.waitFor(/calf started .*restarts=1/, 10_000);
      const restartedMs = Date.now() - killedAt;
      await l.waitUntil("the restart metric", async () => (await shim.metrics()).get("paddock_calf_restarts_total") === 1, 5000);
      // runc records the new container's pid a moment after the supervisor logs its start.
      let pid2: number | undefined;
      await l.waitUntil("runc to list the restarted calf", async () => (pid2 = await shim.calfPid()) !== undefined, 5000);
      expect(pid2).toBeGreaterThan(1);
      expect(pid2).not.toBe(pid);
      // The new calf carries on with the lease: two more ACKs from Kea for the same address.
      await l.waitUntil("renewals by the restarted calf", () => keaAcks(kea, address) >= acksBefore + 2, 4 * T1_S * 1000 + 5000);
      const renewedMs = Date.now() - killedAt;
      await watch.stop();

      expect(watch.deletions(), "ip monitor saw the address deleted").toEqual([]);
      expect(watch.gaps(address), "polls without the address").toEqual([]);
      expect((await l.addrs()).map((a) => a.local)).toEqual([address]);
      expect(shim.running).toBe(true);
      figures.push(`calf SIGKILL: restarted (log) ${restartedMs} ms after the kill, two renewals ${renewedMs} ms after; ${watch.samples.length} polls, 0 without the address`);
    });

    it("a renewal that changes the options updates MTU, routes and resolv.conf in place; the address stays", async () => {
      const { l, kea, shim, address } = await keaLab(r, "10.96.0");
      const watch = await l.watchAddresses(20);
      let server = kea;
      for (const offer of [optionsB("10.96.0"), optionsA("10.96.0")]) {
        server = await switchOptions(l, server, shim, offer);
        expect((await l.addrs()).map((a) => a.local)).toEqual([address]);
        expect(await l.mtu()).toBe(offer.mtu);
        const routes = (await l.paddockRoutes()).map((r) => `${r.dst} via ${r.gateway}`).sort();
        expect(routes).toEqual([`default via ${offer.router}`, ...offer.classless.map((r) => `${r.dst} via ${r.via}`)].sort());
        const resolv = readFileSync(l.resolvConf, "utf8").split("\n").filter((x) => x !== "" && !x.startsWith("#"));
        expect(resolv).toEqual([`domain ${offer.domain}`, `search ${offer.search.join(" ")}`, ...offer.dns.map((d) => `nameserver ${d}`)]);
        expect((await shim.kv(["/mtu", "/domain"]))).toEqual({ "/mtu": String(offer.mtu), "/domain": offer.domain });
      }
      await watch.stop();
      expect(watch.deletions()).toEqual([]);
      expect(watch.gaps(address)).toEqual([]);
    });

    // Regression: a renewal ACK that changes several options is published as a run of KV writes.
    // When the store committed them in more than one batch (an asynchronous fsync between), the
    // handler runner's 2 ms debounce ended between the batches and the handler applied half a
    // lease: resolv.conf with the old domain and the new name server, and so on (3–4 of 6 switches
    // before synchronous commits). DESIGN.md invariant 6: a lease applies together.
    it("a renewal that changes the options never applies a mix of the old and the new lease", async () => {
      const { l, kea, shim } = await keaLab(r, "10.97.0");
      const [a, b] = [optionsA("10.97.0"), optionsB("10.97.0")];
      let server = kea;
      for (let i = 0; i < 6; i++) server = await switchOptions(l, server, shim, i % 2 === 0 ? b : a);
      const written = shim.lines(/handler lease applied: .*write \S*resolv\.conf \(/).map((line) => /resolv\.conf \(([^)]*)\)/.exec(line)![1]!);
      expect(written.length).toBeGreaterThanOrEqual(7);
      const torn = written.filter((w) => w !== resolvSummary(a) && w !== resolvSummary(b));
      figures.push(`option switches: ${written.length} resolv.conf writes, ${torn.length} of them a mix of two leases`);
      expect(torn).toEqual([]);
    }, 60_000);

    // Issue 13 A10: the egress check once took the calf's /ip as the leased address, so deleting
    // it made every renewal "from a foreign address" and the lease ran out. The priv now keeps the
    // address of the ACK it delivered (/lease/acked) and the renewals go on.
    it("paddock kv del /ip withdraws the address, and renewals go on and bring it back", async () => {
      const { l, kea, shim, address } = await keaLab(r, "10.99.3");
      expect((await shim.kv(["/lease/acked"]))["/lease/acked"]).toBe(address);
      const admin = await connectKv(shim.adminSocket);
      try {
        await admin.delete("/ip");
      } finally {
        admin.close();
      }
      await l.waitUntil("the address to be withdrawn", async () => (await l.addrs()).length === 0, LEASE_TIMEOUT_MS);
      const acks = keaAcks(kea, address);
      await l.waitUntil("two renewals after the delete", () => keaAcks(kea, address) >= acks + 2, LEASE_TIMEOUT_MS);
      const refused = (await shim.metrics()).get("paddock_egress_rejected_total", { reason: "PADDOCK_E_EGRESS_SOURCE_IP" }) ?? 0;
      expect(refused).toBe(0);
      // The calf publishes the whole lease again with the next ACK, and the address comes back.
      await l.waitForAddress(LEASE_TIMEOUT_MS, (x) => x.local === address);
    });

    it("a NAK while RENEWING withdraws the lease and a fresh one is applied", async () => {
      const { l, kea, shim, address } = await keaLab(r, "10.98.0");
      await kea.stop();
      // The network moves to 10.99.1.0/24 while the client is bound. The old server address stays
      // (second) so the unicast renewal reaches Kea, which NAKs it: no subnet of its own holds it.
      // The new one comes first, so Kea picks its subnet for the DISCOVER that follows.
      l.server(["addr", "flush", "dev", l.serverIf]);
      l.server(["addr", "add", "10.99.1.1/24", "dev", l.serverIf]);
      l.server(["addr", "add", "10.98.0.1/24", "dev", l.serverIf]);
      const fresh = defaultOffer("10.99.1", { leaseSeconds: KEA_LEASE_S, dns: ["10.99.1.1"], classless: [] });
      const next = l.startKea(fresh, { renew: T1_S, rebind: T2_S }, true);
      await next.waitFor(/DHCP4_STARTED/, 10_000);
      await shim.waitFor(/RENEWING → INIT: NAK/, 4 * T1_S * 1000);
      const a = await l.waitForAddress(LEASE_TIMEOUT_MS, (x) => x.local.startsWith("10.99.1."));
      await shim.waitFor(/handler lease applied: add 10\.99\.1\./, 5000);
      await shim.settle();
      expect(next.lines(/DHCP4_PACKET_NAK/).length).toBeGreaterThanOrEqual(1);
      expect((await l.addrs()).map((x) => `${x.local}/${x.prefixlen}`)).toEqual([`${a.local}/24`]);
      expect(a.local).not.toBe(address);
      expect((await l.paddockRoutes()).map((r) => `${r.dst} via ${r.gateway}`)).toEqual(["default via 10.99.1.1"]);
      expect(readFileSync(l.resolvConf, "utf8")).toMatch(/^nameserver 10\.99\.1\.1$/m);
      expect(readFileSync(l.resolvConf, "utf8")).not.toMatch(/10\.98\.0\./);
      expect(await shim.kv(["/ip", "/gateway"])).toEqual({ "/ip": `${a.local}/24`, "/gateway": "10.99.1.1" });
    });

    it("server gone: renew, rebind, then at expiry the address, routes, MTU and resolv.conf are withdrawn", async () => {
      // The test configuration keeps Kea's 8 s lease as it is (no stretch to 60 s).
      const { l, kea, shim, address } = await keaLab(r, "10.94.0", ["--min-lease-seconds", String(KEA_LEASE_S)]);
      expect(shim.lines(/stretched to/)).toEqual([]);
      const offer = defaultOffer("10.94.0");
      expect(await l.mtu()).toBe(offer.mtu);
      expect((await l.paddockRoutes()).length).toBe(2);
      expect(existsSync(l.resolvConf)).toBe(true);

      const watch = await l.watchAddresses(100);
      await kea.stop("SIGKILL");
      const killedAt = Date.now();
      // The client notices by itself, in the order of RFC 2131 §4.4.5.
      await shim.waitFor(/RENEWING → REBINDING/, LEASE_TIMEOUT_MS);
      // A renewal already in flight when Kea died could still have been answered: the expiry is
      // read once no server can answer any more.
      const expiresAt = Number((await shim.kv(["/lease/expires"]))["/lease/expires"]) * 1000;
      expect(expiresAt).toBeGreaterThan(killedAt - KEA_LEASE_S * 1000);
      await l.waitUntil("the address to be withdrawn", async () => (await l.addrs()).length === 0, LEASE_TIMEOUT_MS + KEA_LEASE_S * 1000);
      // Withdrawn by the shim, not left to the kernel's lifetime: routes, MTU and resolv.conf go
      // with it, which the kernel would never do.
      await l.waitUntil("the routes, MTU and resolv.conf to be withdrawn", async () =>
        (await l.paddockRoutes()).length === 0 && (await l.mtu()) === 1500 && !existsSync(l.resolvConf), LEASE_TIMEOUT_MS);
      await watch.stop();

      // Not before the lease ran out: every poll taken a second or more before /lease/expires (whole
      // seconds, rounded down) saw the address; one deletion, no flapping.
      expect(watch.samples.filter((x) => x.done < expiresAt - 1000).every((x) => x.addrs.some((a) => a.local === address))).toBe(true);
      expect(watch.deletions()).toHaveLength(1);
      expect(await l.paddockRoutes()).toEqual([]);
      expect((await l.routes()).filter((r) => r.gateway === offer.router)).toEqual([]);
      // The calf's own expiry timer fires at the exact lease end and deletes its keys (one commit).
      await shim.waitFor(/REBINDING → INIT: lease .* expired/, LEASE_TIMEOUT_MS);
      expect(await shim.kv(["/ip", "/gateway", "/lease/expires"])).toEqual({ "/ip": undefined, "/gateway": undefined, "/lease/expires": undefined });
      // The client starts over, looking for a server.
      await shim.waitFor(/INIT → SELECTING/, LEASE_TIMEOUT_MS, 2);
      expect(shim.running).toBe(true);
    }, 4 * LEASE_TIMEOUT_MS);
  });
}
