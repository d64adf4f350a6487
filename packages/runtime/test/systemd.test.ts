// The systemd bridge's decisions (issue 13 A7), with a recording sender: READY=1 waits for every
// service's readiness (or its calf's first request), once; STATUS= only when the line changes;
// READY=1 anyway after the timeout, saying who is not ready; WATCHDOG_USEC/WATCHDOG_PID parsing.
// The real datagrams to a NOTIFY_SOCKET are tested against a running shim in test/operator.test.ts.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { SdNotifier, type NotifySender } from "../src/sd-notify.ts";
import { calvesHealthy, SystemdBridge, watchdogIntervalMs, type ReadinessSource, type ServiceReadiness } from "../src/systemd.ts";

function harness(readyTimeoutMs = 60_000) {
  const sent: string[] = [];
  const send: NotifySender = async (_p, m) => void sent.push(m);
  const bridge = new SystemdBridge({ notifier: new SdNotifier("/run/test.sock", [send]), log: pino({ level: "silent" }), readyTimeoutMs, env: {}, healthy: () => true });
  return { sent, bridge };
}

function source(service: string, report: () => ServiceReadiness | undefined, iface = "eth0"): ReadinessSource {
  return { name: `${service}-${iface}`, service, iface, evaluate: report, settled: async () => {}, watch: () => () => {} };
}

describe("SystemdBridge", () => {
  it("sends READY=1 once, when every service is ready, after a STATUS= line that says so", async () => {
    const { sent, bridge } = harness();
    let dhcp: ServiceReadiness = { ready: false, status: "selecting, no lease yet" };
    bridge.add([source("dhcp4", () => dhcp), source("echo", () => undefined)]);
    bridge.start();
    bridge.update();
    dhcp = { ready: true, status: "bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min" };
    bridge.update();
    expect(sent.includes("READY=1")).toBe(false); // echo's calf has not spoken
    bridge.calfSpoke("echo-eth0");
    bridge.update();
    await bridge.flushed();
    bridge.stop();
    expect(sent).toEqual([
      "STATUS=dhcp4: selecting, no lease yet; echo: starting",
      "STATUS=dhcp4: bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min; echo: starting",
      "STATUS=dhcp4: bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min; echo: running",
      "READY=1",
    ]);
  });

  it("sends nothing before start, even when a calf speaks", async () => {
    const { sent, bridge } = harness();
    bridge.add([source("dhcp4", () => undefined)]);
    bridge.calfSpoke("dhcp4-eth0");
    await bridge.flushed();
    expect(sent).toEqual([]);
    bridge.stop();
  });

  it("sends READY=1 anyway after the timeout, with a STATUS= line naming who is not ready", async () => {
    const { sent, bridge } = harness(50);
    bridge.add([source("dhcp4", () => ({ ready: false, status: "selecting, no lease yet" }))]);
    bridge.start();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => sent.includes("READY=1") && (clearInterval(t), resolve()), 10);
    });
    await bridge.flushed();
    bridge.stop();
    expect(sent.slice(-2)).toEqual(["STATUS=dhcp4: selecting, no lease yet (not ready after 0 s: dhcp4; ready anyway)", "READY=1"]);
    expect(bridge.ready).toBe(true);
  });

  it("names the interface when a service runs on several, and waits for all of them", async () => {
    const { sent, bridge } = harness();
    const ready = new Map([["eth0", false], ["eth1", false]]);
    const report = (i: string) => () => ({ ready: ready.get(i)!, status: ready.get(i) ? "bound" : "selecting" });
    bridge.add([source("dhcp4", report("eth0"), "eth0")]);
    bridge.add([source("dhcp4", report("eth1"), "eth1")]);
    bridge.start();
    ready.set("eth0", true);
    bridge.update();
    expect(sent.includes("READY=1")).toBe(false);
    ready.set("eth1", true);
    bridge.update();
    await bridge.flushed();
    bridge.stop();
    expect(sent.slice(-2)).toEqual(["STATUS=dhcp4 on eth0: bound; dhcp4 on eth1: bound", "READY=1"]);
  });

  it("counts announced services that are not added yet: waiting for their interface, not ready", async () => {
    const { sent, bridge } = harness(50);
    bridge.expect([{ service: "dhcp4", iface: "eth0" }]);
    bridge.start();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => sent.includes("READY=1") && (clearInterval(t), resolve()), 10);
    });
    await bridge.flushed();
    bridge.stop();
    expect(sent).toEqual(["STATUS=dhcp4: waiting for eth0", "STATUS=dhcp4: waiting for eth0 (not ready after 0 s: dhcp4; ready anyway)", "READY=1"]);
  });

  it("sends READY=1 only once every announced service was added and is ready", async () => {
    const { sent, bridge } = harness();
    bridge.expect([{ service: "dhcp4", iface: "eth0" }, { service: "dhcp4", iface: "eth1" }]);
    bridge.start();
    bridge.add([source("dhcp4", () => ({ ready: true, status: "bound" }), "eth0")]);
    expect(sent.includes("READY=1")).toBe(false);
    bridge.add([source("dhcp4", () => ({ ready: true, status: "bound" }), "eth1")]);
    await bridge.flushed();
    bridge.stop();
    expect(sent).toEqual([
      "STATUS=dhcp4 on eth0: waiting for eth0; dhcp4 on eth1: waiting for eth1",
      "STATUS=dhcp4 on eth0: bound; dhcp4 on eth1: waiting for eth1",
      "STATUS=dhcp4 on eth0: bound; dhcp4 on eth1: bound",
      "READY=1",
    ]);
  });

  it("reads WatchdogSec from WATCHDOG_USEC (half of it), only for this process", () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "43" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "x" }, 42)).toBeUndefined();
  });

  it("calls a calf crash-looping at the longest restart delay unhealthy", () => {
    const base = { name: "dhcp4-eth0", containerId: "x", restarts: 9, logDroppedBytes: 0 } as const;
    const exit = (restartInMs: number) => ({ code: 1, signal: null, uptimeMs: 10, restarts: 9, restartInMs });
    expect(calvesHealthy([{ ...base, state: "running", lastExit: exit(30_000) } as never], 30_000)).toBe(true);
    expect(calvesHealthy([{ ...base, state: "backoff", lastExit: exit(800) } as never], 30_000)).toBe(true);
    expect(calvesHealthy([{ ...base, state: "backoff", lastExit: exit(30_000) } as never], 30_000)).toBe(false);
  });
});
