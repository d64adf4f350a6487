/**
 * The DHCP client core (packages/services/dhcp4/core, which imports nothing of ours) and the store's DHCP schema
 * (packages/kv) are written apart; this checks they agree: every path the client may write is
 * declared as calf-writable, and a rich real lease, published by the client, is accepted whole.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { DHCP_CLIENT_KV_PATHS, leaseKeys, type PersistedLease } from "@paddock/dhcp4";
import { KvStore, matchEntry } from "@paddock/kv";
import { dhcp4Schema } from "@paddock/service-dhcp4";

it("declares every path the client writes as calf-writable", () => {
  for (const p of DHCP_CLIENT_KV_PATHS) {
    const segments = p.pattern.replace("NNN", "001").split("/").filter(Boolean);
    const entry = matchEntry(dhcp4Schema, segments);
    expect(entry, p.pattern).toBeDefined();
    expect(entry!.writer, p.pattern).toBe("calf");
  }
});

it("accepts every key of a rich lease as the client publishes it", async () => {
  const lease: PersistedLease = {
    v: 1,
    mac: "02:00:00:00:00:01",
    address: "10.77.0.161",
    prefix: 24,
    serverId: "10.77.0.1",
    serverMac: "02:00:00:00:00:02",
    acquiredAt: 1_790_000_000_000,
    leaseSeconds: 3600,
    renewMs: 1_800_000,
    rebindMs: 3_150_000,
    routers: ["10.77.0.1"],
    classlessRoutes: [
      { destination: "0.0.0.0/0", router: "10.77.0.1" },
      { destination: "10.0.0.0/8", router: "10.77.0.1" },
      { destination: "192.168.5.0/24", router: "0.0.0.0" },
    ],
    dns: ["10.77.0.1", "10.77.0.2"],
    domain: "anc.test",
    search: ["anc.test", "lab.anc.test"],
    mtu: 1400,
    ntp: ["10.77.0.123"],
  };
  const dir = mkdtempSync(path.join(tmpdir(), "paddock-schema-"));
  try {
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const entries = [...leaseKeys(lease)];
    expect(entries.length).toBeGreaterThan(8);
    for (const [key, value] of entries) {
      const r = await store.write({ role: "calf", name: "calf:dhcp4" }, key.split("/").filter(Boolean), new TextEncoder().encode(value));
      expect(r, `${key}=${value}`).toEqual({ ok: true, value: undefined });
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
