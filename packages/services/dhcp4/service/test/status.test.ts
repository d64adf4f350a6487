// What the DHCP service reports to systemd and `paddock status` (issue 13 A3, A7), from store values.
import { describe, expect, it } from "vitest";
import type { HandlerStatus } from "@paddock/runtime";
import { dhcp4Readiness, dhcp4Status, humanDuration } from "../src/status.ts";

const T = 1_700_000_000;
const lease = new Map([
  ["/client/state", "BOUND"],
  ["/ip", "10.0.0.5/24"],
  ["/lease/server", "10.0.0.1"],
  ["/lease/obtained", String(T)],
  ["/lease/renew", String(T + 1800)],
  ["/lease/rebind", String(T + 3150)],
  ["/lease/expires", String(T + 3600)],
  ["/gateway", "10.0.0.1"],
  ["/route/001", "10.99.0.0/16 10.0.0.1"],
  ["/route/000", "10.98.0.0/16 0.0.0.0"],
  ["/nameserver/002", "10.0.0.54"],
  ["/nameserver/001", "10.0.0.53"],
  ["/mtu", "1400"],
  ["/search", "a.test b.test"],
]);

function handler(state: HandlerStatus["state"]): HandlerStatus {
  return { name: "lease", state, desired: "x", reconciles: 1, failures: 0, consecutiveFailures: 0, lastSuccessAt: undefined, lastError: undefined, lastDurationMs: undefined, nextRetryAt: undefined, conflicts: [] };
}
const view = (values: Map<string, string>, h: HandlerStatus["state"], now = T * 1000) => ({ store: { get: (p: string) => values.get(p), parsed: new Map() }, handlers: [handler(h)], now });

describe("dhcp4 readiness", () => {
  it("is ready once the lease handler has applied the published address", () => {
    expect(dhcp4Readiness(view(lease, "converged"))).toEqual({ ready: true, status: "bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min" });
    expect(dhcp4Readiness(view(lease, "pending"))).toEqual({ ready: false, status: "bound 10.0.0.5/24 from 10.0.0.1, applying" });
    expect(dhcp4Readiness(view(new Map([["/client/state", "SELECTING"]]), "converged"))).toEqual({ ready: false, status: "selecting, no lease yet" });
    expect(dhcp4Readiness(view(new Map([["/client/state", "RELEASED"]]), "converged"))).toEqual({ ready: false, status: "released; idle until paddock renew" });
    expect(dhcp4Readiness(view(lease, "converged", (T + 2000) * 1000)).status).toBe("bound 10.0.0.5/24 from 10.0.0.1, expires in 26 min");
  });
});

describe("dhcp4 status", () => {
  it("gives the lease's fields in order, and readable lines", () => {
    const r = dhcp4Status(lease, (T + 60) * 1000);
    expect(r.fields).toEqual({
      state: "BOUND", address: "10.0.0.5/24", server: "10.0.0.1", obtained: T, expires: T + 3600, renew: T + 1800, rebind: T + 3150, gateway: "10.0.0.1",
      routes: [{ destination: "10.98.0.0/16", router: "0.0.0.0" }, { destination: "10.99.0.0/16", router: "10.0.0.1" }],
      dns: ["10.0.0.53", "10.0.0.54"], domain: null, search: ["a.test", "b.test"], mtu: 1400, ntp: [], hostname: null, ipv6OnlyUntil: null,
    });
    expect(r.lines).toContain("address: 10.0.0.5/24 from 10.0.0.1");
    expect(r.lines).toContain("obtained: 2023-11-14T22:13:20Z (60 s ago)");
    expect(r.lines).toContain("renews (T1): 2023-11-14T22:43:20Z (in 29 min)");
    expect(r.lines).toContain("route: 10.98.0.0/16 via on-link");
  });

  it("says there is no lease when there is none", () => {
    const r = dhcp4Status(new Map([["/client/state", "SELECTING"]]), T * 1000);
    expect(r.fields).toMatchObject({ state: "SELECTING", address: null, server: null, renew: null, dns: [] });
    expect(r.lines).toEqual(["state: SELECTING", "address: none (no lease)"]);
  });

  it("RFC 8925: says the network prefers IPv6-only and when DHCPv4 tries again; READY=1, as there is nothing to wait for", () => {
    const v6 = new Map([["/client/state", "IPV6-ONLY"], ["/client/ipv6-only-until", String(T + 1800)]]);
    const r = dhcp4Status(v6, T * 1000);
    expect(r.fields).toMatchObject({ state: "IPV6-ONLY", address: null, ipv6OnlyUntil: T + 1800 });
    expect(r.lines).toEqual(["state: IPV6-ONLY", "address: none (the network prefers IPv6-only, RFC 8925)", "DHCPv4 again: 2023-11-14T22:43:20Z (in 30 min)"]);
    expect(dhcp4Readiness(view(v6, "converged"))).toEqual({ ready: true, status: "IPv6-only (RFC 8925): no IPv4 address; DHCPv4 again in 30 min" });
    // A key left over from an earlier wait is not shown in another state.
    expect(dhcp4Status(new Map([["/client/state", "SELECTING"], ["/client/ipv6-only-until", String(T)]]), T * 1000).lines).toEqual(["state: SELECTING", "address: none (no lease)"]);
  });

  it("writes durations for one line", () => {
    expect([42, 90, 1800, 5 * 3600 + 20 * 60, 3 * 86400 + 4 * 3600].map(humanDuration)).toEqual(["42 s", "1 min", "30 min", "5 h 20 min", "3 d 4 h"]);
  });
});
