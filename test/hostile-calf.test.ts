/**
 * The hostile calf battery, through the real priv: a calf (test/fixtures/hostile-priv-calf.ts)
 * runs in the DHCP service's sandbox slot of `paddock dhcp` and attacks through its two channels.
 * Every attempt fails, the priv observes it (error, metric, audit line), stays healthy, restarts
 * the calf after it breaks the protocol, and nothing reaches the host or the wire.
 * (The sandbox's own walls — no socket(), read-only root, pids and memory limits — are proven in
 * packages/priv/test/sandbox-runc.test.ts.)
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KvClient } from "@paddock/kv";
import { ACCEPT_ALL_FILTER, ETH_P_ALL, openPacketSocket, type PacketSocket } from "@paddock/native";
import { metric, scrape, sh, until } from "./helpers/netns.ts";
import { repoRoot, stopProcess } from "./helpers/paddock.ts";

const root = process.getuid?.() === 0;
if (!root && process.env.CI === "true") throw new Error("the hostile calf battery needs root, and CI must run it");

const id = `${process.pid % 100000}`;
const calfNs = `pdh-c-${id}`;
const peerNs = `pdh-p-${id}`;
const calfIf = `hc${id}`;
const peerIf = `hp${id}`;
let work: string;
let shim: ChildProcess | undefined;
let observer: PacketSocket | undefined;
const seen: Buffer[] = [];
let shimOutput = "";

beforeAll(async () => {
  if (!root) return;
  work = mkdtempSync(path.join(tmpdir(), "paddock-hostile-"));
  chmodSync(work, 0o711);
  sh("ip", ["netns", "add", calfNs]);
  sh("ip", ["netns", "add", peerNs]);
  sh("ip", ["link", "add", calfIf, "netns", calfNs, "type", "veth", "peer", "name", peerIf, "netns", peerNs]);
  sh("ip", ["-n", calfNs, "link", "set", calfIf, "up"]);
  sh("ip", ["-n", peerNs, "link", "set", peerIf, "up"]);
  observer = openPacketSocket({ ifname: peerIf, netnsPath: `/run/netns/${peerNs}`, filter: ACCEPT_ALL_FILTER.bytes, protocol: ETH_P_ALL });
  observer.onFrame((f) => seen.push(f));
  shim = spawn("nsenter", [
    `--net=/run/netns/${calfNs}`, path.join(repoRoot, "node_modules/.bin/paddock"), "dhcp", "--iface", calfIf,
    "--state-dir", path.join(work, "state"), "--runtime-dir", path.join(work, "run"), "--admin-socket", path.join(work, "admin.sock"),
    "--resolv-conf", path.join(work, "resolv.conf"), "--metrics", path.join(work, "metrics.sock"), "--log-format", "json",
    "--calf", path.join(repoRoot, "test/fixtures/hostile-priv-calf.ts"),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  shim.stdout!.on("data", (c: Buffer) => (shimOutput += c.toString()));
  shim.stderr!.on("data", (c: Buffer) => (shimOutput += c.toString()));
}, 60_000);

afterAll(async () => {
  if (!root) return;
  await stopProcess(shim);
  observer?.close();
  for (const ns of [calfNs, peerNs]) spawnSync("ip", ["netns", "delete", ns]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!root)("a hostile calf under the real priv (needs root)", () => {
  it("is refused everything, observed, restarted after breaking the protocol, and the priv stays healthy", async () => {
    const admin = path.join(work, "admin.sock");
    const metricsSock = path.join(work, "metrics.sock");
    const report = await until("the calf's report", async () => {
      const c = await KvClient.connect(admin);
      try {
        return JSON.parse(await c.read("/state/report")) as Record<string, unknown>;
      } finally {
        c.close();
      }
    }, 60_000, () => shimOutput.slice(-4000));
    expect(report).toMatchObject({
      writeMac: "PADDOCK_E_KV_READ_ONLY",
      writeUnknown: "PADDOCK_E_KV_UNKNOWN_PATH",
      writeBadIp: "PADDOCK_E_KV_INVALID_VALUE",
      injectResolv: "PADDOCK_E_KV_INVALID_VALUE",
      readIp: "PADDOCK_E_KV_FORBIDDEN",
      done: true,
    });
    expect(report.floodRateLimited as number).toBeGreaterThan(9_000);
    expect((report.floodRateLimited as number) + (report.floodOk as number)).toBe(10_000);

    // The 1 MB value broke the protocol: the priv dropped the channel, the calf was restarted.
    const text = await until("a calf restart", async () => {
      const t = await scrape(metricsSock);
      return metric(t, "paddock_calf_restarts_total") >= 1 && metric(t, "paddock_kv_protocol_violations_total") >= 1 ? t : undefined;
    }, 30_000, () => shimOutput.slice(-4000));
    for (const reason of ["PADDOCK_E_EGRESS_NOT_IPV4", "PADDOCK_E_EGRESS_SOURCE_MAC", "PADDOCK_E_EGRESS_PORTS"]) {
      expect(metric(text, "paddock_egress_rejected_total", { reason }), reason).toBe(1);
    }
    expect(metric(text, "paddock_datapath_frames_total", { direction: "sent" })).toBe(0);
    expect(metric(text, "paddock_kv_requests_total", { result: "PADDOCK_E_KV_RATE_LIMITED" })).toBeGreaterThan(9_000);

    // The priv is alive and serves operators; the audit log has the refusals.
    expect(shim!.exitCode).toBeNull();
    const c = await KvClient.connect(admin);
    const audit = (await c.audit()).map((l) => JSON.parse(l) as { path: string; result: string });
    c.close();
    const refused = audit.map((a) => `${a.path} ${a.result}`);
    expect(refused).toContain("/mac PADDOCK_E_KV_READ_ONLY");
    expect(refused).toContain("/etc/shadow PADDOCK_E_KV_UNKNOWN_PATH");
    expect(refused).toContain("/domain PADDOCK_E_KV_INVALID_VALUE");
    expect(refused).toContain("/ip PADDOCK_E_KV_FORBIDDEN");

    // Nothing reached the wire or the host.
    const forged = seen.filter((f) => f[6] === 0x02 && f[7] === 0 && f[8] === 0 && f[9] === 0 && f[10] === 0 && f[11] === 0x99);
    const arpFromCalf = seen.filter((f) => f[12] === 0x08 && f[13] === 0x06);
    const dns = seen.filter((f) => f[12] === 0x08 && f[13] === 0x00 && f[14 + 9] === 17 && ((f[14 + 22]! << 8) | f[14 + 23]!) === 53);
    expect({ forged: forged.length, arp: arpFromCalf.length, dns: dns.length }).toEqual({ forged: 0, arp: 0, dns: 0 });
    const addrs = JSON.parse(sh("ip", ["-j", "-n", calfNs, "-4", "addr", "show", "dev", calfIf])) as Array<{ addr_info: unknown[] }>;
    expect(addrs[0]?.addr_info ?? []).toEqual([]);
    expect(existsSync(path.join(work, "resolv.conf"))).toBe(false);
  }, 120_000);
});
