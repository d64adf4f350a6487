// Unit tests of the DHCP service's handlers: the pure lease → desired-state mapping (routes,
// RFC 3442, resolv.conf rendering) over parsed store values, its ownership records and the
// hostname handler on temp files. No root needed.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  KvStore,
  STORE_FILE,
  domainName,
  ipv4Cidr,
  ipv4Route,
  ipv4Unicast,
  searchList,
  type Parser,
} from "@paddock/kv";
import { OwnershipFile, RESOLV_CONF_HEADER, composeResolvConf, contributionProblem, type HandlerLogger } from "@paddock/runtime";
import {
  HostnameHandler,
  defaultRouteMetric,
  describeLease,
  desiredLease,
  dhcp4Schema,
  emptyLeaseOwnership,
  leaseLifetime,
  leaseResolvSettings,
  leaseRoutes,
  parseLeaseOwnership,
  sameSubnet,
  type DesiredLease,
} from "../src/index.ts";
import { parsedStore } from "./parsed-store.ts";

const NOW = 1_700_000_000_000;

/** A parsed value for a test fixture. */
function p<T>(parse: Parser<T>, text: string): T {
  const r = parse(text);
  if (!r.ok) throw new Error(`test fixture ${JSON.stringify(text)}: ${r.reason}`);
  return r.value;
}

/** A desired lease with its address as text, for comparisons. */
const plain = (l: DesiredLease | null) => (l === null ? null : { ...l, address: l.address.text });

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-handlers-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A logger that keeps every line. */
function recordingLogger(): HandlerLogger & { lines: { level: string; obj: object; msg: string | undefined }[] } {
  const lines: { level: string; obj: object; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

describe("routes no lease may install (issue 13 B6)", () => {
  it("refuses routes to loopback, multicast, reserved and 0.0.0.0/8, and routers equal to the leased address", () => {
    const d = desiredLease(parsedStore({
      "/ip": "10.0.0.5/24",
      "/gateway": "10.0.0.5",
      "/route/001": "127.0.0.0/8 10.0.0.1",
      "/route/002": "224.0.0.0/4 10.0.0.1",
      "/route/003": "255.255.255.255/32 10.0.0.1",
      "/route/004": "0.0.0.0/8 10.0.0.1",
      "/route/005": "64.0.0.0/2 10.0.0.1",
      "/route/006": "192.168.9.0/24 10.0.0.5",
      "/route/007": "192.168.10.0/24 10.0.0.1",
    }).parsed, 0);
    expect(d.lease?.routes).toEqual([{ destination: "192.168.10.0/24", gateway: "10.0.0.1" }]);
    expect(d.refused).toEqual([
      "default route via 10.0.0.5, the leased address itself: refused",
      "route to 127.0.0.0/8: loopback, refused",
      "route to 224.0.0.0/4: multicast, refused",
      "route to 255.255.255.255/32: reserved or broadcast, refused",
      'route to 0.0.0.0/8: "this network" (0.0.0.0/8), refused',
      "route to 64.0.0.0/2: loopback (127/8 inside it), refused",
      "route to 192.168.9.0/24 via 10.0.0.5, the leased address itself: refused",
    ]);
  });

  it("keeps a classless default route and ordinary routes", () => {
    const d = desiredLease(parsedStore({ "/ip": "10.0.0.5/24", "/route/001": "0.0.0.0/0 10.0.0.1", "/route/002": "10.9.0.0/16 10.0.0.2" }).parsed, 0);
    expect(d.refused).toEqual([]);
    expect(d.lease?.routes.map((r) => r.destination).sort()).toEqual(["10.9.0.0/16", "default"]);
  });
});

describe("desiredLease", () => {
  const lease = {
    "/ip": "10.0.0.5/24",
    "/gateway": "10.0.0.1",
    "/mtu": "1400",
    "/domain": "example.test",
    "/search": "a.test b.test",
    "/nameserver/002": "10.0.0.54",
    "/nameserver/001": "10.0.0.53",
    "/nameserver/003": "10.0.0.55",
    "/nameserver/004": "10.0.0.56",
    "/hostname": "calf-1",
    "/lease/expires": String(NOW / 1000 + 3600),
  };

  it("maps a whole lease: address, expiry, MTU, default route, three nameservers in index order", () => {
    const d = desiredLease(parsedStore(lease).parsed, NOW);
    expect(plain(d.lease)).toEqual({
      address: "10.0.0.5/24",
      expiresAt: NOW / 1000 + 3600,
      mtu: 1400,
      routes: [{ destination: "default", gateway: "10.0.0.1" }],
      nameservers: ["10.0.0.53", "10.0.0.54", "10.0.0.55"],
      search: ["a.test", "b.test"],
      domain: "example.test",
      hostname: "calf-1",
    });
    expect(d.lease?.address.prefixLength).toBe(24);
  });

  it("has no lease without /ip, or once expired; 0 or no /lease/expires never expire", () => {
    expect(desiredLease(parsedStore({ "/gateway": "10.0.0.1" }).parsed, NOW)).toEqual({ lease: null, absentReason: "no /ip in the store" });
    const expired = desiredLease(parsedStore({ "/ip": "10.0.0.5/24", "/lease/expires": String(NOW / 1000) }).parsed, NOW);
    expect(expired.lease).toBeNull();
    expect(expired.absentReason).toMatch(/expired/);
    expect(desiredLease(parsedStore({ "/ip": "10.0.0.5/24", "/lease/expires": "0" }).parsed, NOW).lease?.expiresAt).toBe("never");
    expect(desiredLease(parsedStore({ "/ip": "10.0.0.5/24" }).parsed, NOW).lease?.expiresAt).toBe("never");
  });

  it("never sees a value that fails the schema: the store refuses it on write and drops it on load", async () => {
    const injected = {
      "/nameserver/001": "10.0.0.53\nnameserver 6.6.6.6",
      "/domain": "evil.test\nsearch attacker.test",
      "/search": "ok.test\u2028nameserver 6.6.6.6",
      "/mtu": "9999999",
      "/route/001": "0.0.0.0/0 10.0.0.1; rm -rf /",
      "/hostname": "a b",
      "/lease/expires": "soon",
    };
    const dir = tmp();
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const te = new TextEncoder();
    const commit = (o: Record<string, string>) =>
      store.commit({ role: "calf", name: "calf:test" }, Object.entries(o).map(([k, v]) => ({ path: k.split("/").filter(Boolean), value: te.encode(v) })));
    for (const [key, text] of Object.entries(injected)) {
      const r = await commit({ "/ip": "10.0.0.5/24", "/nameserver/002": "10.0.0.54", [key]: text });
      expect(r.ok || [r.error.code, r.error.path]).toEqual([expect.stringMatching(/^PADDOCK_E_KV_(INVALID_VALUE|TOO_LARGE)$/), key]);
    }
    expect(store.parsed.size).toBe(0);
    await store.close();
    // A store file edited by hand: the invalid values are dropped when it is loaded.
    writeFileSync(path.join(dir, STORE_FILE), JSON.stringify({ format: "paddock-kv/1", schema: "dhcp4", seq: "1", entries: { "/ip": "10.0.0.5/24", "/nameserver/002": "10.0.0.54", ...injected } }));
    const loaded = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const d = desiredLease(loaded.parsed, NOW);
    expect(plain(d.lease)).toEqual({ address: "10.0.0.5/24", expiresAt: "never", mtu: undefined, routes: [], nameservers: ["10.0.0.54"], search: undefined, domain: undefined, hostname: undefined });
    await loaded.close();
  });

  it("RFC 3442: a classless default route wins over /gateway; /gateway is the default otherwise", () => {
    const withDefault = desiredLease(parsedStore({ "/ip": "10.0.0.5/24", "/gateway": "10.0.0.1", "/route/001": "192.168.0.0/16 10.0.0.2", "/route/002": "0.0.0.0/0 10.0.0.3" }).parsed, NOW);
    expect(withDefault.lease?.routes).toEqual([
      { destination: "192.168.0.0/16", gateway: "10.0.0.2" },
      { destination: "default", gateway: "10.0.0.3" },
    ]);
    // The DHCP calf writes 121's default router as /gateway and leaves it out of /route/.
    const calfStyle = desiredLease(parsedStore({ "/ip": "10.0.0.5/24", "/gateway": "10.0.0.3", "/route/001": "192.168.0.0/16 10.0.0.2" }).parsed, NOW);
    expect(calfStyle.lease?.routes).toEqual([
      { destination: "192.168.0.0/16", gateway: "10.0.0.2" },
      { destination: "default", gateway: "10.0.0.3" },
    ]);
  });

  it("orders on-link routes first, keeps the first of duplicate destinations, adds host routes to off-link gateways", () => {
    const routes = ["172.16.0.0/12 10.0.0.2", "10.99.0.0/16 0.0.0.0", "172.16.0.0/12 10.0.0.9", "192.168.5.0/24 10.99.3.4", "192.168.6.0/24 198.51.100.1"].map((r) => p(ipv4Route, r));
    expect(leaseRoutes(p(ipv4Cidr, "10.0.0.5/24"), p(ipv4Unicast, "10.0.0.1"), routes)).toEqual([
      { destination: "198.51.100.1/32", gateway: undefined },
      { destination: "10.99.0.0/16", gateway: undefined },
      { destination: "172.16.0.0/12", gateway: "10.0.0.2" },
      { destination: "192.168.5.0/24", gateway: "10.99.3.4" },
      { destination: "192.168.6.0/24", gateway: "198.51.100.1" },
      { destination: "default", gateway: "10.0.0.1" },
    ]);
    // A /32 lease (cloud style): the gateway is reachable only through a host route.
    expect(leaseRoutes(p(ipv4Cidr, "10.0.0.5/32"), p(ipv4Unicast, "10.0.0.1"), [])).toEqual([
      { destination: "10.0.0.1/32", gateway: undefined },
      { destination: "default", gateway: "10.0.0.1" },
    ]);
    // An on-link classless default route (router 0.0.0.0) makes every gateway reachable.
    expect(leaseRoutes(p(ipv4Cidr, "10.0.0.5/32"), undefined, [p(ipv4Route, "0.0.0.0/0 0.0.0.0"), p(ipv4Route, "10.9.0.0/16 192.0.2.1")])).toEqual([
      { destination: "default", gateway: undefined },
      { destination: "10.9.0.0/16", gateway: "192.0.2.1" },
    ]);
  });

  it("takes the largest /lease/expires the schema allows without failing (far past what a Date holds)", () => {
    const d = desiredLease(parsedStore({ "/ip": "10.0.0.5/24", "/lease/expires": String(2 ** 53 - 1) }).parsed, NOW);
    expect(describeLease(d)).toContain("9007199254740991");
    expect(leaseLifetime(d.lease!.expiresAt, NOW)).toBe(0xfffffffe);
  });

  it("computes lifetimes from /lease/expires, at least 1 s, forever for infinite", () => {
    expect(leaseLifetime(NOW / 1000 + 3600, NOW)).toBe(3600);
    expect(leaseLifetime(NOW / 1000 + 3600, NOW + 999)).toBe(3600);
    expect(leaseLifetime(NOW / 1000 + 3600, NOW + 1000)).toBe(3599);
    expect(leaseLifetime(NOW / 1000, NOW)).toBe(1);
    expect(leaseLifetime("never", NOW)).toBe("forever");
  });

  it("compares the kernel's subnets", () => {
    expect(sameSubnet("10.0.0.5/24", "10.0.0.99/24")).toBe(true);
    expect(sameSubnet("10.0.0.5/24", "10.0.1.5/24")).toBe(false);
    expect(sameSubnet("10.0.0.5/16", "10.0.1.5/24")).toBe(true);
    expect(sameSubnet("127.0.0.1/8", "127.1.0.1/8")).toBe(true);
    expect(sameSubnet("10.0.0.5", "10.0.0.5/24")).toBe(false);
  });
});

/** A lease's resolv.conf alone: its contribution, composed (the composer's own tests cover merging). */
const renderResolvConf = (lease: Pick<DesiredLease, "nameservers" | "search" | "domain">, iface: string): string | null => {
  const settings = leaseResolvSettings(lease, 1002);
  return settings === null ? null : composeResolvConf([{ source: "dhcp4", iface, ...settings }]).text;
};

describe("a lease's resolv.conf contribution", () => {
  it("writes the header, domain before search, at most three nameservers, at the link's route metric", () => {
    const nameservers = ["10.0.0.53", "10.0.0.54", "10.0.0.55", "10.0.0.56"].map((n) => p(ipv4Unicast, n));
    const text = renderResolvConf({ nameservers, search: p(searchList, "a.test b.test"), domain: p(domainName, "example.test") }, "eth0");
    expect(text).toBe(
      [
        RESOLV_CONF_HEADER,
        "# from dhcp4 on eth0 (priority 1002); the previous file is restored when the last of them ends",
        "domain example.test",
        "search a.test b.test",
        "nameserver 10.0.0.53",
        "nameserver 10.0.0.54",
        "nameserver 10.0.0.55",
        "",
      ].join("\n"),
    );
  });

  it("is null without resolver settings", () => {
    expect(renderResolvConf({ nameservers: [], search: undefined, domain: undefined }, "eth0")).toBeNull();
  });

  it("the default route metric is distinct per link: 1000 + ifindex (decision 0008)", () => {
    expect([1, 2, 24].map(defaultRouteMetric)).toEqual([1001, 1002, 1024]);
  });

  it("property: whatever a calf writes, what the store keeps renders as the header, a comment, or one well-formed directive per line", () => {
    const nasty = fc.oneof(
      fc.string(),
      fc.constantFrom("10.0.0.53", "a.test", "x.test\nnameserver 6.6.6.6", "ok.test\u2028x", "a.test b.test", "1.2.3.4 ", "\u0085", "search\tx"),
    );
    fc.assert(
      fc.property(nasty, nasty, nasty, fc.array(nasty, { maxLength: 6 }), (domain, search, hostname, servers) => {
        const o: Record<string, string> = { "/ip": "10.0.0.5/24", "/domain": domain, "/search": search, "/hostname": hostname };
        servers.forEach((s, i) => (o[`/nameserver/${String(i + 1).padStart(3, "0")}`] = s));
        const d = desiredLease(parsedStore(o, false).parsed, NOW);
        const text = d.lease === null ? null : renderResolvConf(d.lease, "eth0");
        if (text === null) return;
        const lines = text.split("\n");
        expect(lines.pop()).toBe("");
        for (const line of lines) {
          expect(line).toMatch(/^(# .*|domain [A-Za-z0-9_.-]+|search [A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*|nameserver (\d{1,3}\.){3}\d{1,3})$/);
          expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
        }
        expect(lines.filter((l) => l.startsWith("nameserver")).length).toBeLessThanOrEqual(3);
        expect(lines.filter((l) => l.startsWith("#"))).toHaveLength(2);
        // What the store keeps, the composer takes: it never refuses a lease's contribution.
        expect(contributionProblem({ source: "dhcp4", iface: "eth0", ...leaseResolvSettings(d.lease!, 1002)! })).toBeNull();
      }),
      { numRuns: 500 },
    );
  });
});

describe("HostnameHandler on a temp file", () => {
  const withLease = (h: string) => parsedStore({ "/ip": "10.0.0.5/24", "/hostname": h });
  const noLease = parsedStore({});

  it("sets the lease's name when enabled, restores the original when the lease goes away", async () => {
    const dir = tmp();
    const file = path.join(dir, "hostname");
    writeFileSync(file, "original-host\n");
    const h = new HostnameHandler({ enabled: true, stateDir: dir, hostnamePath: file });
    expect((await h.apply(h.desired(withLease("calf-1"), NOW))).changes).toHaveLength(1);
    expect(readFileSync(file, "utf8")).toBe("calf-1");
    expect((await h.apply(h.desired(withLease("calf-1"), NOW))).changes).toEqual([]);
    // A restarted handler (new instance, same state dir) still knows the original.
    const h2 = new HostnameHandler({ enabled: true, stateDir: dir, hostnamePath: file });
    await h2.apply(h2.desired(noLease, NOW));
    expect(readFileSync(file, "utf8")).toBe("original-host");
    expect(JSON.parse(readFileSync(path.join(dir, "handler-hostname.json"), "utf8")).hostname).toBeNull();
  });

  it("does nothing when disabled, and does not restore a name someone else set since", async () => {
    const dir = tmp();
    const file = path.join(dir, "hostname");
    writeFileSync(file, "original-host\n");
    const off = new HostnameHandler({ enabled: false, stateDir: dir, hostnamePath: file });
    expect((await off.apply(off.desired(withLease("calf-1"), NOW))).changes).toEqual([]);
    expect(readFileSync(file, "utf8")).toBe("original-host\n");
    expect(existsSync(path.join(dir, "handler-hostname.json"))).toBe(false);
    const on = new HostnameHandler({ enabled: true, stateDir: dir, hostnamePath: file });
    await on.apply(on.desired(withLease("calf-1"), NOW));
    writeFileSync(file, "admin-choice");
    const r = await on.apply(on.desired(noLease, NOW));
    expect(readFileSync(file, "utf8")).toBe("admin-choice");
    expect(r.conflicts?.[0]).toMatch(/changed .* by someone else/);
  });
});

describe("OwnershipFile", () => {
  it("round-trips a record atomically (no temp files left) and moves an unreadable one aside", async () => {
    const dir = tmp();
    const file = path.join(dir, "owned.json");
    const log = recordingLogger();
    const a = new OwnershipFile(file, emptyLeaseOwnership, parseLeaseOwnership, log);
    expect(a.get()).toEqual(emptyLeaseOwnership());
    const rec = { ...emptyLeaseOwnership(), addresses: [{ index: 3, cidr: "10.0.0.5/24" }], mtu: { index: 3, original: 1500, applied: 1400 } };
    await a.set(rec);
    expect(readdirSync(dir)).toEqual(["owned.json"]);
    expect(new OwnershipFile(file, emptyLeaseOwnership, parseLeaseOwnership, log).get()).toEqual(rec);
    writeFileSync(file, JSON.stringify({ ...rec, addresses: [{ index: -1, cidr: 5 }] }));
    const c = new OwnershipFile(file, emptyLeaseOwnership, parseLeaseOwnership, log);
    expect(c.get()).toEqual(emptyLeaseOwnership());
    expect(readdirSync(dir).some((f) => f.startsWith("owned.json.corrupt-"))).toBe(true);
    expect(log.lines.some((l) => l.level === "error")).toBe(true);
  });
});

