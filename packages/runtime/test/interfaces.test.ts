// Several interfaces in one priv (issue 13 A2), without root: the merged metrics carry each host's
// interface, and what the coordinator refuses it refuses before any host starts. The hosts
// themselves, in namespaces, are test/multi-iface.test.ts.

import pino from "pino";
import { describe, expect, it } from "vitest";
import { IFACE_LABEL, InterfaceHosts, mergeInterfaceMetrics } from "../src/interfaces.ts";
import { Metrics } from "../src/metrics.ts";

const quiet = pino({ level: "silent" });

function hostMetrics(kv: number, bound: number): Metrics {
  const m = new Metrics();
  m.add({ name: "paddock_kv_requests_total", help: "KV requests", type: "counter", labelNames: ["service", "result"], read: () => [{ labels: { service: "dhcp4", result: "ok" }, value: kv }] });
  m.add({ name: "paddock_lease_bound", help: "bound", type: "gauge", labelNames: [], read: () => [{ labels: {}, value: bound }] });
  return m;
}

describe("InterfaceHosts", () => {
  it("serves every host's metrics as one set, each sample labelled with its interface", async () => {
    const merged = new Metrics();
    for (const s of mergeInterfaceMetrics([{ iface: "eth0", metrics: hostMetrics(3, 1) }, { iface: "eth1", metrics: hostMetrics(5, 0) }])) merged.add(s);
    const text = await merged.text();
    expect(text).toContain(`paddock_kv_requests_total{service="dhcp4",result="ok",${IFACE_LABEL}="eth0"} 3`);
    expect(text).toContain(`paddock_kv_requests_total{service="dhcp4",result="ok",${IFACE_LABEL}="eth1"} 5`);
    expect(text).toContain(`paddock_lease_bound{${IFACE_LABEL}="eth0"} 1`);
    expect(text).toContain(`paddock_lease_bound{${IFACE_LABEL}="eth1"} 0`);
    // One HELP/TYPE per metric, not one per host.
    expect(text.match(/# TYPE paddock_kv_requests_total counter/g)).toHaveLength(1);
  });

  it("refuses an interface named twice, and a bad metrics address, before any host starts", async () => {
    const host = { iface: "eth0", runtimeDir: "/nonexistent/run", services: [] };
    await expect(InterfaceHosts.start({ hosts: [host, host], log: quiet })).rejects.toMatchObject({ code: "PADDOCK_E_HOST_DUPLICATE_IFACE", message: "the interface eth0 is named twice" });
    await expect(InterfaceHosts.start({ hosts: [host, { ...host, iface: "eth1" }], metrics: "0.0.0.0:9100", log: quiet })).rejects.toMatchObject({ code: "PADDOCK_E_HOST_METRICS" });
    await expect(InterfaceHosts.start({ hosts: [], log: quiet })).rejects.toMatchObject({ code: "PADDOCK_E_HOST_NO_IFACE" });
  });
});
