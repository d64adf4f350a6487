// A state directory that served another interface or MAC: its lease is forgotten before any handler runs (issue 13 A8).
import { describe, expect, it } from "vitest";
import { dhcp4Schema } from "../src/index.ts";
import { forgetOtherLinksLease } from "../src/other-link.ts";
import { parsedStore } from "./parsed-store.ts";

const lease = {
  "/mac": "02:00:00:00:00:01",
  "/iface": "eth0",
  "/config/min-lease": "60",
  "/ip": "10.0.0.5/24",
  "/gateway": "10.0.0.1",
  "/nameserver/001": "10.0.0.53",
  "/route/001": "10.9.0.0/16 10.0.0.2",
  "/lease/expires": "4000000000",
  "/lease/acked": "10.0.0.5",
  "/state/lease": "{}",
};
const view = (o: Record<string, string>) => {
  const s = parsedStore(o);
  return { get: (k: string) => s.values.get(k), parsed: s.parsed };
};
const iface = (name: string, mac: string) => ({ name, index: 7, mac, mtu: 1500 });

describe("forgetOtherLinksLease", () => {
  it("keeps the lease of the same interface and MAC, and a fresh store", () => {
    expect(forgetOtherLinksLease(dhcp4Schema, view(lease), iface("eth0", "02:00:00:00:00:01"))).toEqual({ keys: {}, was: null });
    expect(forgetOtherLinksLease(dhcp4Schema, view({}), iface("eth0", "02:00:00:00:00:01"))).toEqual({ keys: {}, was: null });
  });

  for (const [what, now] of [
    ["another MAC on the same name (a re-created or swapped NIC)", iface("eth0", "02:00:00:00:00:02")],
    ["another interface", iface("eth1", "02:00:00:00:00:01")],
  ] as const) {
    it(`forgets every calf-written key and the ACKed address for ${what}, and nothing the priv configured`, () => {
      const r = forgetOtherLinksLease(dhcp4Schema, view(lease), now);
      expect(r.was).toBe("eth0 (02:00:00:00:00:01)");
      expect(Object.keys(r.keys).sort()).toEqual(["/gateway", "/ip", "/lease/acked", "/lease/expires", "/nameserver/001", "/route/001", "/state/lease"]);
      expect(Object.values(r.keys).every((v) => v === null)).toBe(true);
    });
  }
});
