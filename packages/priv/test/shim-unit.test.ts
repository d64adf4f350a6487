import { describe, expect, it } from "vitest";
import { calfNameFor } from "../src/shim.ts";
import { parseCalfName } from "../src/sandbox/bundle.ts";

describe("calfNameFor", () => {
  it("gives each interface its own valid calf name", () => {
    const names = ["eth0", "enp0s31f6", "eth0.100", "br_lan", "ETH0", "wlan-guest", "a".repeat(15)].map(calfNameFor);
    expect(names[0]).toBe("dhcp4-eth0");
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(parseCalfName(n).ok, n).toBe(true);
  });
});
