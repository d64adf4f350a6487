/**
 * The DHCPv6 calf's pure parts: the mode it runs (configured, or from the RA's M/O flags), and
 * every lease it can publish passing the dhcp6 schema's parsers (lifetimes' ends turned into Unix
 * times, lists cut at the schema's bounds).
 */
import { describe, expect, it } from "vitest";
import { parseWith } from "@paddock/kv";
import type { Dhcp6Lease } from "@paddock/dhcp6";
import { dhcp6Schema } from "@paddock/service-dhcp6";
import { effectiveMode, leaseChanges } from "../src/main.ts";

describe("effectiveMode", () => {
  it.each([
    ["stateful", undefined, undefined, "stateful"],
    ["stateless", "true", undefined, "stateless"],
    ["auto", undefined, undefined, "stateful"],
    ["auto", "true", "false", "stateful"],
    ["auto", "false", "true", "stateless"],
    ["auto", "false", "false", null],
  ] as const)("mode %s with M=%s O=%s runs %s", (mode, managed, other, want) => {
    expect(effectiveMode(mode, managed, other)).toBe(want);
  });
});

describe("leaseChanges", () => {
  const entry = (path: string) => dhcp6Schema.entries.find((e) => new RegExp(`^${e.pattern.replaceAll("*", "[0-9]{3}")}$`).test(path));
  const lease: Dhcp6Lease = {
    mode: "stateful",
    serverDuid: { type: "ll", hardwareType: 1, linkLayer: Uint8Array.from([2, 0, 0, 0, 0, 9]) },
    serverAddress: "fe80::9",
    obtainedAt: 1000,
    t1: 60,
    t2: 90,
    renewAt: 61_000,
    rebindAt: 91_000,
    addresses: Array.from({ length: 12 }, (_, i) => ({ iaid: 1, address: `2001:db8:6::${(0x100 + i).toString(16)}`, preferred: 90, valid: 120, preferredUntil: 91_000, validUntil: 121_000 })),
    prefixes: [{ iaid: 1, prefix: "2001:db8:100::", prefixLength: 56, preferred: 0xffffffff, valid: 0xffffffff, preferredUntil: null, validUntil: null, exclude: { prefix: "2001:db8:100::", prefixLength: 64 } }],
    dnsServers: ["2001:db8:6::53"],
    domains: ["paddock.test."],
    refreshAt: null,
  };

  it("writes only keys the schema accepts, at most its bounds, with Unix times", () => {
    const keys = leaseChanges(lease, (mono) => 1_800_000_000_000 + mono);
    for (const [path, value] of keys) {
      const e = entry(path);
      expect(e, path).toBeDefined();
      expect(parseWith(e!.validate, value).ok, `${path} = ${value}`).toBe(true);
    }
    expect([...keys.keys()].filter((k) => k.endsWith("/ip"))).toHaveLength(8);
    expect(keys.get("/address/000/valid-until")).toBe("1800000121");
    expect(keys.get("/prefix/000/valid-until")).toBe("infinite");
    expect(keys.get("/domain/000")).toBe("paddock.test");
  });
});
