/**
 * The DHCPv6 service's pure parts: the schema's parsers, the option parsers, the DUID kept in the
 * state directory, the /64 carved from a delegated prefix, and the lease handler's desired state
 * from a store (lifetimes ended leave it, an excluded /64 is refused).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseWith } from "@paddock/kv";
import { desiredDhcp6, dhcp6Schema, duidHex, ipv6Prefix, ipv6Unicast, keptDuid, lifetimeEnd, parsePrefixDelegation, subnetOf, DUID_FILE } from "../src/index.ts";

describe("schema parsers", () => {
  it("take IPv6 addresses only in canonical text", () => {
    expect(ipv6Unicast("2001:db8::5").ok).toBe(true);
    for (const bad of ["2001:DB8::5", "2001:db8:0:0:0:0:0:5", "ff02::1:2", "::", "::1", "fe80::1%eth0", "10.0.0.1", ""]) expect(ipv6Unicast(bad).ok).toBe(false);
  });

  it("take prefixes with nothing set past their length", () => {
    expect(ipv6Prefix("2001:db8:100::/56")).toEqual({ ok: true, value: { address: "2001:db8:100::", length: 56 } });
    expect(ipv6Prefix("2001:db8:100:1::/56").ok).toBe(false);
    expect(ipv6Prefix("2001:db8:100::/129").ok).toBe(false);
    expect(ipv6Prefix("2001:db8:100::/0").ok).toBe(false);
  });

  it("read lifetimes' ends as ms, infinite as null", () => {
    expect(lifetimeEnd("1700000000")).toEqual({ ok: true, value: 1_700_000_000_000 });
    expect(lifetimeEnd("infinite")).toEqual({ ok: true, value: null });
    expect(lifetimeEnd("-1").ok).toBe(false);
  });

  it("take a DUID of 3–130 bytes in lower-case hex", () => {
    expect(duidHex("00:03:00:01:02:00:00:00:00:01").ok).toBe(true);
    expect(duidHex("00:03").ok).toBe(false);
    expect(duidHex("00:03:00:01:02:00:00:00:00:0A").ok).toBe(false);
  });

  it("has no key a calf writes that the priv acts on without a parser", () => {
    for (const e of dhcp6Schema.entries) expect(typeof e.validate).toBe("function");
    expect(parseWith(dhcp6Schema.entries.find((e) => e.pattern === "/domain/*")!.validate, "paddock.test").ok).toBe(true);
  });
});

describe("prefix-delegation", () => {
  it("maps interfaces to sub-prefix ids", () => {
    expect(parsePrefixDelegation("lan0=1, lan1=0x2")).toEqual({ ok: true, value: [{ iface: "lan0", subnetId: 1 }, { iface: "lan1", subnetId: 2 }] });
    expect(parsePrefixDelegation("")).toEqual({ ok: true, value: [] });
  });

  it.each([
    ["lan0", /IFACE=SUBNET-ID/],
    ["lan0=1,lan0=2", /named twice/],
    ["lan0=1,lan1=1", /two interfaces/],
    ["a/b=1", /IFACE=SUBNET-ID/],
  ])("refuses %s", (text, why) => {
    const r = parsePrefixDelegation(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(why);
  });
});

describe("subnetOf", () => {
  const p56 = { address: "2001:db8:100::", length: 56 };
  it("puts the sub-prefix id in the bits between the prefix and /64", () => {
    expect(subnetOf(p56, 1, null)).toEqual({ ok: true, prefix: "2001:db8:100:1::/64" });
    expect(subnetOf(p56, 255, null)).toEqual({ ok: true, prefix: "2001:db8:100:ff::/64" });
    expect(subnetOf({ address: "2001:db8::", length: 48 }, 0xabcd, null)).toEqual({ ok: true, prefix: "2001:db8:0:abcd::/64" });
  });
  it("refuses an id that does not fit, a prefix longer than /64, and the excluded prefix", () => {
    expect(subnetOf(p56, 256, null).ok).toBe(false);
    expect(subnetOf({ address: "2001:db8:100:1::", length: 80 }, 0, null).ok).toBe(false);
    const r = subnetOf(p56, 0, { address: "2001:db8:100::", length: 64 });
    expect(r.ok).toBe(false);
    // An exclude of a longer prefix inside the /64 still overlaps it.
    expect(subnetOf(p56, 2, { address: "2001:db8:100:2:8000::", length: 65 }).ok).toBe(false);
    expect(subnetOf(p56, 3, { address: "2001:db8:100:2::", length: 64 }).ok).toBe(true);
  });
});

describe("desiredDhcp6", () => {
  const now = 1_800_000_000_000;
  const store = (entries: Record<string, string>) => {
    const parsed = new Map<string, unknown>();
    for (const [k, v] of Object.entries(entries)) {
      const entry = dhcp6Schema.entries.find((e) => new RegExp(`^${e.pattern.replaceAll("*", "[0-9]{3}")}$`).test(k))!;
      const r = parseWith(entry.validate, v);
      if (!r.ok) throw new Error(`${k}: ${r.reason}`);
      parsed.set(k, r.value);
    }
    return { parsed, values: new Map(Object.entries(entries)) };
  };
  const s = (ms: number) => String(Math.floor(ms / 1000));

  it("holds each live address as a /128 without prefix route, and /64s downstream from the first live prefix", () => {
    const d = desiredDhcp6(
      store({
        "/lease/mode": "stateful",
        "/address/000/ip": "2001:db8:6::105", "/address/000/valid-until": s(now + 600_000), "/address/000/preferred-until": s(now + 300_000),
        "/address/001/ip": "2001:db8:6::106", "/address/001/valid-until": s(now - 1000), "/address/001/preferred-until": s(now - 1000),
        "/prefix/000/prefix": "2001:db8:100::/56", "/prefix/000/valid-until": "infinite", "/prefix/000/preferred-until": "infinite", "/prefix/000/exclude": "2001:db8:100::/64",
        "/dns/000": "2001:db8:6::53", "/domain/000": "paddock.test",
      }),
      now, "up0", [{ iface: "lan0", subnetId: 1 }, { iface: "lan1", subnetId: 0 }],
    );
    expect(d.addresses).toEqual([
      { iface: "up0", cidr: "2001:db8:6::105/128", validUntil: Number(s(now + 600_000)) * 1000, preferredUntil: Number(s(now + 300_000)) * 1000, noPrefixRoute: true },
      { iface: "lan0", cidr: "2001:db8:100:1::1/64", validUntil: "forever", preferredUntil: "forever", noPrefixRoute: false },
    ]);
    expect(d.refused).toEqual([expect.stringMatching(/^lan1: .*excluded/)]);
    expect(d.resolv).toEqual({ rank: 2, nameservers: ["2001:db8:6::53"], search: ["paddock.test"] });
  });

  it("holds nothing without a lease", () => {
    expect(desiredDhcp6(store({}), now, "up0", [{ iface: "lan0", subnetId: 1 }])).toEqual({ addresses: [], refused: [], resolv: null });
  });
});

describe("keptDuid", () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));
  const mac = Uint8Array.from([2, 0, 0, 0, 0, 1]);

  it("makes DUID-LLT once and keeps its time across starts; a new option makes a new one", () => {
    dir = mkdtempSync(path.join(tmpdir(), "d6s-duid-"));
    const first = keptDuid(dir, "llt", { mac, nowMs: Date.UTC(2026, 0, 1) });
    const again = keptDuid(dir, "llt", { mac, nowMs: Date.UTC(2027, 0, 1) });
    expect(again).toEqual(first);
    expect([...first.slice(0, 4)]).toEqual([0, 1, 0, 1]);
    expect(readFileSync(path.join(dir, DUID_FILE), "utf8")).toMatch(/^llt 00:01:00:01:/);
    expect([...keptDuid(dir, "ll", { mac, nowMs: 0 })]).toEqual([0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
    expect([...keptDuid(dir, "uuid", { mac, nowMs: 0, machineId: () => "0123456789abcdef0123456789abcdef\n" }).slice(0, 2)]).toEqual([0, 4]);
  });

  it("refuses ll without a MAC in one sentence", () => {
    dir = mkdtempSync(path.join(tmpdir(), "d6s-duid-"));
    expect(() => keptDuid(dir!, "ll", { mac: undefined, nowMs: 0 })).toThrow(/has none; use duid uuid/);
  });
});
