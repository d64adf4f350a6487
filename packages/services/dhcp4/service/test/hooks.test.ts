// The DHCP service's hook events (issue 13 A4): which reason each change of the applied lease
// gives, and the variables (PADDOCK_*, PADDOCK_OLD_* where they differ) and JSON it carries.
// Pure: states are built from store texts parsed by the schema, as the store does.

import { describe, expect, it } from "vitest";
import { parseServiceOptions, type AppliedState } from "@paddock/runtime";
import { desiredLease, dhcp4Service, type LeaseDesired } from "../src/index.ts";
import { dhcp4Hooks, leaseHookEvent } from "../src/hooks.ts";
import { parsedStore } from "./parsed-store.ts";

const NOW = 1_700_000_000_000;
const EXPIRES = NOW / 1000 + 3600;

/** The lease handler's applied state for these store texts at `at`. */
function applied(o: Record<string, string>, at = NOW): AppliedState<LeaseDesired> {
  const store = parsedStore(o);
  return { desired: desiredLease(store.parsed, at), store, at };
}

const LEASE = {
  "/ip": "10.0.0.5/24",
  "/gateway": "10.0.0.1",
  "/nameserver/001": "10.0.0.53",
  "/nameserver/002": "10.0.0.54",
  "/domain": "lab.test",
  "/search": "lab.test corp.test",
  "/mtu": "1400",
  "/ntp/001": "10.0.0.123",
  "/lease/expires": String(EXPIRES),
  "/lease/server": "10.0.0.1",
};

const LEASE_ENV = {
  PADDOCK_IP: "10.0.0.5",
  PADDOCK_PREFIX_LENGTH: "24",
  PADDOCK_GATEWAY: "10.0.0.1",
  PADDOCK_DNS: "10.0.0.53 10.0.0.54",
  PADDOCK_DOMAIN: "lab.test",
  PADDOCK_SEARCH: "lab.test corp.test",
  PADDOCK_MTU: "1400",
  PADDOCK_LEASE_EXPIRES: String(EXPIRES),
  PADDOCK_NTP: "10.0.0.123",
  PADDOCK_SERVER: "10.0.0.1",
};

describe("DHCP hook events", () => {
  it("BOUND for the first lease, with every value and the lease as JSON", () => {
    const e = leaseHookEvent(undefined, applied(LEASE), "running");
    expect(e?.reason).toBe("BOUND");
    expect(e?.env).toEqual(LEASE_ENV);
    expect(e?.json).toEqual({
      lease: { ip: "10.0.0.5", prefixLength: 24, gateway: "10.0.0.1", dns: ["10.0.0.53", "10.0.0.54"], domain: "lab.test", search: ["lab.test", "corp.test"], mtu: 1400, leaseExpires: EXPIRES, ntp: ["10.0.0.123"], server: "10.0.0.1" },
      old: null,
    });
  });

  it("RENEW for the same address with new times or options, with the old values that differ", () => {
    const later = { ...LEASE, "/lease/expires": String(EXPIRES + 1800), "/nameserver/002": "10.0.0.55" };
    const e = leaseHookEvent(applied(LEASE), applied(later), "running");
    expect(e?.reason).toBe("RENEW");
    expect(e?.env).toEqual({
      ...LEASE_ENV,
      PADDOCK_DNS: "10.0.0.53 10.0.0.55",
      PADDOCK_LEASE_EXPIRES: String(EXPIRES + 1800),
      PADDOCK_OLD_DNS: "10.0.0.53 10.0.0.54",
      PADDOCK_OLD_LEASE_EXPIRES: String(EXPIRES),
    });
  });

  it("nothing when the applied lease did not change (a resync, a key the hooks do not show)", () => {
    expect(leaseHookEvent(applied(LEASE), applied(LEASE, NOW + 60_000), "running")).toBeNull();
    expect(leaseHookEvent(applied(LEASE), applied({ ...LEASE, "/state/lease": "x" }), "running")).toBeNull();
    expect(leaseHookEvent(applied({}), applied({}), "running")).toBeNull();
  });

  it("BOUND for a new address, with the old address and what else differs; an option gone shows only as old", () => {
    const moved = { ...LEASE, "/ip": "10.0.1.7/23" } as Record<string, string>;
    delete moved["/domain"];
    const e = leaseHookEvent(applied(LEASE), applied(moved), "running");
    expect(e?.reason).toBe("BOUND");
    const { PADDOCK_DOMAIN: _gone, ...rest } = LEASE_ENV;
    expect(e?.env).toEqual({ ...rest, PADDOCK_IP: "10.0.1.7", PADDOCK_PREFIX_LENGTH: "23", PADDOCK_OLD_IP: "10.0.0.5", PADDOCK_OLD_PREFIX_LENGTH: "24", PADDOCK_OLD_DOMAIN: "lab.test" });
  });

  it("EXPIRE when the lease runs out or the client withdraws it while running, RELEASE when withdrawn while stopping", () => {
    const oldEnv = Object.fromEntries(Object.entries(LEASE_ENV).map(([k, v]) => [k.replace("PADDOCK_", "PADDOCK_OLD_"), v]));
    const expired = leaseHookEvent(applied(LEASE), applied(LEASE, EXPIRES * 1000), "running");
    expect(expired).toMatchObject({ reason: "EXPIRE", env: oldEnv });
    expect(leaseHookEvent(applied(LEASE), applied({}), "running")?.reason).toBe("EXPIRE");
    expect(leaseHookEvent(applied(LEASE), applied({}), "stopping")).toMatchObject({ reason: "RELEASE", env: oldEnv, json: { lease: null } });
    // Expiry noticed while stopping is still an expiry.
    expect(leaseHookEvent(applied(LEASE), applied({}, EXPIRES * 1000), "stopping")?.reason).toBe("EXPIRE");
  });

  it("STOP when the priv stops with the lease still configured; nothing without one", () => {
    const last = applied(LEASE);
    expect(leaseHookEvent(last, last, "stopped")).toMatchObject({ reason: "STOP", env: LEASE_ENV });
    const none = applied({});
    expect(leaseHookEvent(none, none, "stopped")).toBeNull();
  });

  it("an infinite lease expires at 0, and a lease without options sets only what it has", () => {
    const e = leaseHookEvent(undefined, applied({ "/ip": "192.0.2.9/32" }), "running");
    expect(e?.env).toEqual({ PADDOCK_IP: "192.0.2.9", PADDOCK_PREFIX_LENGTH: "32", PADDOCK_LEASE_EXPIRES: "0" });
  });

  it("options: hooks in /etc/paddock/hooks.d for 10 s by default, off when empty, a relative directory or a bad timeout refused in one sentence", () => {
    const o = parseServiceOptions(dhcp4Service, {});
    expect(dhcp4Hooks(o["hooks-dir"], o["hook-timeout-seconds"])).toMatchObject({ dir: "/etc/paddock/hooks.d", timeoutMs: 10_000, after: "lease" });
    const off = parseServiceOptions(dhcp4Service, { "hooks-dir": "" });
    expect(dhcp4Hooks(off["hooks-dir"], off["hook-timeout-seconds"])).toBeUndefined();
    expect(() => parseServiceOptions(dhcp4Service, { "hooks-dir": "hooks.d" })).toThrow(/hooks-dir.*must be an absolute path \(or empty: no hooks\), not "hooks\.d"/);
    expect(() => parseServiceOptions(dhcp4Service, { "hook-timeout-seconds": "0" })).toThrow(/hook-timeout-seconds.*must be a whole number 1–3600, not 0/);
    expect(() => dhcp4Hooks("/h", 1.5)).toThrow("option hook-timeout-seconds of dhcp4 must be a whole number 1–3600, not 1.5");
  });
});
