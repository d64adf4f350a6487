/**
 * The hostile calf battery, through the real priv: a calf (test/fixtures/hostile-priv-calf.ts)
 * runs in the DHCP service's sandbox slot of `paddock dhcp` and attacks through its two channels.
 * Every attempt fails, the priv observes it (error, metric, audit line), stays healthy, restarts
 * the calf after it breaks the protocol, and nothing reaches the host or the wire.
 * (The sandbox's own walls — no socket(), read-only root, pids and memory limits — are proven in
 * packages/runtime/test/sandbox-runc.test.ts.)
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CALF_LIMITS, connectKv, KvClient } from "@paddock/kv";
import { ACCEPT_ALL_FILTER, ETH_P_ALL, openPacketSocket } from "@paddock/native";
import { NetLab, sleep, type Metrics } from "./helpers/lab.ts";
import { repoRoot } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the hostile calf battery needs root, and CI must run it");

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number, output: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; shim output:\n${output().slice(-4000)}`);
    await sleep(100);
  }
}

describe.skipIf(!root)("a hostile calf under the real priv (needs root)", () => {
  it("is refused everything, observed, restarted after breaking the protocol, and the priv stays healthy", async () => {
    lab = NetLab.create("10.82.0");
    const l = lab;
    // What reaches the wire, seen from the peer's side of the veth.
    const observer = openPacketSocket({ ifname: l.serverIf, netnsPath: `/run/netns/${l.serverNs}`, filter: ACCEPT_ALL_FILTER.bytes, protocol: ETH_P_ALL });
    const seen: Buffer[] = [];
    observer.onFrame((f) => seen.push(f));
    try {
      const shim = l.startShim({ extraArgs: ["--log-format", "json", "--calf", path.join(repoRoot, "test/fixtures/hostile-priv-calf.ts")] });
      const report = await until("the calf's report", async () => {
        const c = await connectKv(shim.adminSocket);
        try {
          return JSON.parse(await c.read("/state/report")) as Record<string, unknown>;
        } finally {
          c.close();
        }
      }, 60_000, () => shim.output);
      expect(report).toMatchObject({
        writeMac: "PADDOCK_E_KV_READ_ONLY",
        writeUnknown: "PADDOCK_E_KV_UNKNOWN_PATH",
        writeBadIp: "PADDOCK_E_KV_INVALID_VALUE",
        injectResolv: "PADDOCK_E_KV_INVALID_VALUE",
        readIp: "PADDOCK_E_KV_FORBIDDEN",
        done: true,
      });
      // Every request was answered, and no more were let through than the limiter allows in the
      // time the flood took (how many that is depends on how fast this machine answered).
      const floodOk = report.floodOk as number;
      expect(report.floodOther).toEqual([]);
      expect((report.floodRateLimited as number) + floodOk).toBe(2000);
      expect(floodOk).toBeLessThanOrEqual(CALF_LIMITS.burst + CALF_LIMITS.ratePerSecond * Math.ceil((report.floodMs as number) / 1000 + 1));
      expect(report.floodRateLimited as number).toBeGreaterThan(0);

      // The 1 MB value broke the protocol: the priv dropped the channel, the calf was restarted.
      const m: Metrics = await until("a calf restart", async () => {
        const t = await shim.metrics();
        return (t.get("paddock_calf_restarts_total") ?? 0) >= 1 && (t.get("paddock_kv_protocol_violations_total") ?? 0) >= 1 ? t : undefined;
      }, 30_000, () => shim.output);
      // A DHCP-shaped frame to port 53 matches none of the service's egress rules; an ARP frame
      // that is no RFC 5227 probe or announcement (all zeroes after the Ethernet header) is refused
      // by the DHCP service's ARP check; a frame from a forged MAC before the rules are looked at.
      expect(m.get("paddock_egress_rejected_total", { reason: "PADDOCK_E_EGRESS_NO_RULE" })).toBe(1);
      expect(m.get("paddock_egress_rejected_total", { reason: "PADDOCK_E_EGRESS_ARP" })).toBe(1);
      expect(m.get("paddock_egress_rejected_total", { reason: "PADDOCK_E_EGRESS_SOURCE_MAC" })).toBe(1);
      expect(m.get("paddock_datapath_frames_total", { direction: "sent" })).toBe(0);
      expect(m.get("paddock_kv_requests_total", { result: "PADDOCK_E_KV_RATE_LIMITED" })).toBeGreaterThanOrEqual(report.floodRateLimited as number);

      // The priv is alive and serves operators; the audit log has the refusals.
      expect(shim.running).toBe(true);
      const c = await connectKv(shim.adminSocket);
      const audit = (await c.audit()).map((line) => JSON.parse(line) as { path: string; result: string });
      c.close();
      const refused = audit.map((a) => `${a.path} ${a.result}`);
      expect(refused).toContain("/mac PADDOCK_E_KV_READ_ONLY");
      expect(refused).toContain("/etc/shadow PADDOCK_E_KV_UNKNOWN_PATH");
      expect(refused).toContain("/domain PADDOCK_E_KV_INVALID_VALUE");
      expect(refused).toContain("/ip PADDOCK_E_KV_FORBIDDEN");

      // Nothing reached the wire or the host.
      const forged = seen.filter((f) => f[6] === 0x02 && f[7] === 0 && f[8] === 0 && f[9] === 0 && f[10] === 0 && f[11] === 0x99);
      const arp = seen.filter((f) => f[12] === 0x08 && f[13] === 0x06);
      const dns = seen.filter((f) => f[12] === 0x08 && f[13] === 0x00 && f[14 + 9] === 17 && ((f[14 + 22]! << 8) | f[14 + 23]!) === 53);
      expect({ forged: forged.length, arp: arp.length, dns: dns.length }).toEqual({ forged: 0, arp: 0, dns: 0 });
      expect(await l.addrs()).toEqual([]);
      expect(existsSync(l.resolvConf)).toBe(false);
    } finally {
      observer.close();
    }
  }, 120_000);
});
