import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MessageType } from "../src/message.ts";
import type { DhcpOption } from "../src/message.ts";
import {
  DHCP_CLIENT_KV_PATHS,
  MAX_NAMESERVERS,
  MAX_SEARCH_DOMAINS,
  leaseFromAck,
  leaseGateway,
  leaseKeys,
  maskToPrefix,
  normaliseDomainName,
  parsePersistedLease,
  serializePersistedLease,
} from "../src/client/index.ts";
import type { PersistedLease } from "../src/client/index.ts";
import { SERVER, T0, reply } from "./client-fixtures.ts";

function lease(options: DhcpOption[], yiaddr = "10.0.0.5"): PersistedLease {
  const r = leaseFromAck(reply(MessageType.ACK, 1, yiaddr, [{ kind: "leaseTime", code: 51, seconds: 3600 }, ...options]), {
    mac: "02:00:5e:10:20:30",
    serverId: SERVER,
    serverMac: "02:00:00:00:00:01",
    acquiredAt: T0,
    fallbackLeaseSeconds: undefined,
  });
  if (!r.ok) throw new Error(r.reason);
  return r.value.lease;
}

function keys(options: DhcpOption[]): Record<string, string> {
  const k = Object.fromEntries(leaseKeys(lease(options)));
  delete k["/state/lease"];
  delete k["/lease/expires"];
  return k;
}

describe("lease → KV keys", () => {
  it("publishes /ip from the mask, /32 without one or with a non-contiguous one", () => {
    expect(keys([{ kind: "subnetMask", code: 1, mask: "255.255.255.0" }])["/ip"]).toBe("10.0.0.5/24");
    expect(keys([{ kind: "subnetMask", code: 1, mask: "255.255.255.252" }])["/ip"]).toBe("10.0.0.5/30");
    // A /0 would put everything on-link, and the store refuses it (issue 13 C1): /32 instead.
    expect(keys([{ kind: "subnetMask", code: 1, mask: "0.0.0.0" }])["/ip"]).toBe("10.0.0.5/32");
    expect(keys([])["/ip"]).toBe("10.0.0.5/32");
    expect(keys([{ kind: "subnetMask", code: 1, mask: "255.0.255.0" }])["/ip"]).toBe("10.0.0.5/32");
    expect(maskToPrefix("255.255.255.255")).toBe(32);
    expect(maskToPrefix("255.255.128.0")).toBe(17);
    expect(maskToPrefix("255.255.127.0")).toBeUndefined();
  });

  it("takes the first usable router as /gateway", () => {
    expect(keys([{ kind: "routers", code: 3, addresses: ["0.0.0.0", "10.0.0.1", "10.0.0.2"] }])["/gateway"]).toBe("10.0.0.1");
    expect(keys([{ kind: "routers", code: 3, addresses: [] }])["/gateway"]).toBeUndefined();
  });

  it("with option 121 ignores option 3: gateway from 0.0.0.0/0, other routes as /route/NNN (RFC 3442)", () => {
    const k = keys([
      { kind: "routers", code: 3, addresses: ["10.0.0.254"] },
      {
        kind: "classlessRoutes",
        code: 121,
        routes: [
          { destination: "192.168.0.0/16", router: "10.0.0.2" },
          { destination: "0.0.0.0/0", router: "10.0.0.1" },
          { destination: "10.0.0.0/24", router: "0.0.0.0" },
        ],
      },
    ]);
    expect(k["/gateway"]).toBe("10.0.0.1");
    expect(k["/route/001"]).toBe("192.168.0.0/16 10.0.0.2");
    expect(k["/route/002"]).toBe("10.0.0.0/24 0.0.0.0");
    expect(k["/route/003"]).toBeUndefined();
    const noDefault = keys([
      { kind: "routers", code: 3, addresses: ["10.0.0.254"] },
      { kind: "classlessRoutes", code: 121, routes: [{ destination: "192.168.0.0/16", router: "10.0.0.2" }] },
    ]);
    expect(noDefault["/gateway"]).toBeUndefined();
    expect(noDefault["/route/001"]).toBe("192.168.0.0/16 10.0.0.2");
    const empty = keys([{ kind: "routers", code: 3, addresses: ["10.0.0.254"] }, { kind: "classlessRoutes", code: 121, routes: [] }]);
    expect(empty["/gateway"]).toBeUndefined();
  });

  it("publishes /mtu only for 68 ≤ mtu ≤ 65535", () => {
    expect(keys([{ kind: "mtu", code: 26, mtu: 67 }])["/mtu"]).toBeUndefined();
    expect(keys([{ kind: "mtu", code: 26, mtu: 68 }])["/mtu"]).toBe("68");
    expect(keys([{ kind: "mtu", code: 26, mtu: 1400 }])["/mtu"]).toBe("1400");
    expect(keys([{ kind: "mtu", code: 26, mtu: 65535 }])["/mtu"]).toBe("65535");
  });

  it("publishes domain, search, nameservers and NTP servers with 3-digit indexes and limits", () => {
    const dns = Array.from({ length: 12 }, (_, i) => `10.0.1.${i + 1}`);
    const k = keys([
      { kind: "domainName", code: 15, name: "example.test." },
      { kind: "domainSearch", code: 119, names: ["a.test", "b.test", "bad name", "a.test", "c.test", "d.test", "e.test", "f.test", "g.test"] },
      { kind: "dnsServers", code: 6, addresses: ["255.255.255.255", ...dns] },
      { kind: "ntpServers", code: 42, addresses: ["10.0.2.1", "127.0.0.1", "10.0.2.2"] },
    ]);
    expect(k["/domain"]).toBe("example.test");
    expect(k["/search"]).toBe("a.test b.test c.test d.test e.test f.test");
    expect(k["/search"]?.split(" ")).toHaveLength(MAX_SEARCH_DOMAINS);
    expect(k["/nameserver/001"]).toBe("10.0.1.1");
    expect(k[`/nameserver/${String(MAX_NAMESERVERS).padStart(3, "0")}`]).toBe(`10.0.1.${MAX_NAMESERVERS}`);
    expect(k[`/nameserver/${String(MAX_NAMESERVERS + 1).padStart(3, "0")}`]).toBeUndefined();
    expect(k["/ntp/001"]).toBe("10.0.2.1");
    expect(k["/ntp/002"]).toBe("10.0.2.2");
  });

  it("drops a domain name that could inject into resolv.conf", () => {
    for (const bad of ["a b", "x\nnameserver 1.2.3.4", "-a.test", "a..b", "", "a\u2028b", "ä.test"]) {
      expect(normaliseDomainName(bad)).toBeUndefined();
      expect(keys([{ kind: "domainName", code: 15, name: bad }])["/domain"]).toBeUndefined();
    }
  });

  it("publishes /lease/expires in Unix seconds", () => {
    expect(leaseKeys(lease([])).get("/lease/expires")).toBe(String(T0 / 1000 + 3600));
  });

  it("every key it writes matches a documented path pattern", () => {
    const patterns = DHCP_CLIENT_KV_PATHS.map((p) => new RegExp(`^${p.pattern.replace("NNN", "[0-9]{3}")}$`));
    const l = lease([
      { kind: "subnetMask", code: 1, mask: "255.255.255.0" },
      { kind: "mtu", code: 26, mtu: 1400 },
      { kind: "domainName", code: 15, name: "example.test" },
      { kind: "domainSearch", code: 119, names: ["example.test"] },
      { kind: "dnsServers", code: 6, addresses: ["10.0.0.53"] },
      { kind: "ntpServers", code: 42, addresses: ["10.0.0.123"] },
      { kind: "classlessRoutes", code: 121, routes: [{ destination: "0.0.0.0/0", router: "10.0.0.1" }, { destination: "10.1.0.0/16", router: "10.0.0.2" }] },
    ]);
    const written = [...leaseKeys(l).keys()];
    expect(written).toHaveLength(14);
    for (const path of written) expect(patterns.some((p) => p.test(path))).toBe(true);
    expect(leaseGateway(l)).toBe("10.0.0.1");
  });
});

describe("persisted lease", () => {
  const full = lease([
    { kind: "subnetMask", code: 1, mask: "255.255.255.0" },
    { kind: "mtu", code: 26, mtu: 1400 },
    { kind: "domainName", code: 15, name: "example.test" },
    { kind: "domainSearch", code: 119, names: ["example.test"] },
    { kind: "dnsServers", code: 6, addresses: ["10.0.0.53"] },
    { kind: "classlessRoutes", code: 121, routes: [{ destination: "0.0.0.0/0", router: "10.0.0.1" }] },
  ]);

  it("round-trips through canonical text", () => {
    const text = serializePersistedLease(full);
    const parsed = parsePersistedLease(text);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.lease).toEqual(full);
      expect(serializePersistedLease(parsed.lease)).toBe(text);
    }
    // Key order is fixed whatever the object's own order.
    const shuffled = Object.fromEntries(Object.entries(full).reverse()) as unknown as PersistedLease;
    expect(serializePersistedLease(shuffled)).toBe(text);
  });

  it("refuses each kind of corruption with a typed error", () => {
    const bad: Record<string, unknown>[] = [
      { v: 2 },
      { mac: "02:00:5E:10:20:30" },
      { address: "10.0.0.256" },
      { address: "127.0.0.1" },
      { prefix: 33 },
      { serverId: "x" },
      { serverMac: "nope" },
      { acquiredAt: -1 },
      { acquiredAt: 1.5 },
      { leaseSeconds: 10 },
      { renewMs: 4_000_000 },
      { rebindMs: 1 },
      { routers: ["10.0.0.1", 5] },
      { classlessRoutes: [{ destination: "10.0.0.1/8", router: "10.0.0.1" }] },
      { classlessRoutes: [{ destination: "10.0.0.0/8", router: "10.0.0.1", x: 1 }] },
      { dns: "10.0.0.53" },
      { domain: "a b" },
      { search: ["ok.test", "bad name"] },
      { mtu: 67 },
      { ntp: [null] },
      { extra: true },
    ];
    for (const change of bad) {
      const r = parsePersistedLease(JSON.stringify({ ...full, ...change }));
      expect(r.ok, JSON.stringify(change)).toBe(false);
      if (!r.ok) expect(r.error.code).toBe("PADDOCK_E_DHCP4_PERSISTED_LEASE");
    }
    const missing = { ...full } as Partial<PersistedLease>;
    delete missing.dns;
    expect(parsePersistedLease(JSON.stringify(missing)).ok).toBe(false);
  });

  it("never throws on arbitrary text or arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ ...full, routers: v }))), (text) => {
        const r = parsePersistedLease(text);
        expect(typeof r.ok).toBe("boolean");
      }),
      { numRuns: 500 },
    );
  });
});
