/** The service's setup: the priv keys it writes, its peers, and the option errors it reports in one sentence. */
import { describe, expect, it } from "vitest";
import { ServiceOptionError, silentLogger } from "@paddock/runtime";
import { ntpService } from "../src/index.ts";

function setupWith(options: Record<string, unknown>, stored: Record<string, unknown> = {}) {
  const parsed = new Map(Object.entries(stored));
  return ntpService.setup!({
    iface: { name: "eth0", index: 2, mtu: 1500 },
    options: { clock: "observe", "step-threshold-seconds": 1, "panic-seconds": 1000, "step-cap-seconds": 3600, ...options },
    stateDir: "/nonexistent",
    log: silentLogger,
    store: { get: (p: string) => (parsed.has(p) ? String(parsed.get(p)) : undefined), parsed },
    commit: async () => {},
  } as never) as Awaited<ReturnType<NonNullable<typeof ntpService.setup>>>;
}

describe("ntp setup", () => {
  it("writes the servers in order (and clears the other slots), the clock, and drops the previous run's source status", () => {
    const s = setupWith({ server: "192.0.2.1, 192.0.2.2" }, { "/source/003/address": "192.0.2.9", "/source/003/state": "selected", "/adjustment/id": "0123456789abcdef-4" });
    expect(s.privKeys).toMatchObject({ "/config/server/000": "192.0.2.1", "/config/server/001": "192.0.2.2", "/config/server/002": null, "/config/server/015": null, "/config/clock": "observe", "/source/003/address": null, "/source/003/state": null });
    expect(s.privKeys).not.toHaveProperty("/adjustment/id");
    expect(s.udpPeers!()).toEqual(["192.0.2.1", "192.0.2.2"]);
    expect(s.handlers!.map((h) => h.name)).toEqual(["clock"]);
  });

  it("observing, the core starts from 0 ppm; disciplining, from the kernel's frequency, read with modes 0", async () => {
    expect(setupWith({ server: "192.0.2.1" }).privKeys!["/config/initial-frequency"]).toBe("0.000");
    const { clockAdjtime, CLOCK_REALTIME } = await import("@paddock/native");
    const kernel = clockAdjtime(CLOCK_REALTIME, {}).frequencyPpm;
    // Setting up the system target only reads the clock (changing it takes an adjustment).
    expect(setupWith({ server: "192.0.2.1", clock: "system" }).privKeys!["/config/initial-frequency"]).toBe(kernel.toFixed(3).replace(/^-(0\.0+)$/, "$1"));
  });

  it("adds the DHCP lease's servers to the peers egress allows", () => {
    const s = setupWith({ server: "192.0.2.1" }, { "/input/dhcp4/ntp/001": "198.51.100.7" });
    expect(s.udpPeers!()).toEqual(["192.0.2.1", "198.51.100.7"]);
  });

  it("refuses a name in one sentence, as a ServiceOptionError", () => {
    expect(() => setupWith({ server: "192.0.2.1 time.example.com" })).toThrow(ServiceOptionError);
    expect(() => setupWith({ server: "192.0.2.1 time.example.com" })).toThrow('ntp: --set server: "time.example.com" is a name; give NTP servers as IPv4 addresses (names are not resolved)');
  });
});
