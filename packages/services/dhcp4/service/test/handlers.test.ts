// Unit tests of the DHCP service's handlers: the pure lease → desired-state mapping (routes,
// RFC 3442, resolv.conf rendering, re-validation), its ownership records and the hostname handler
// on temp files. No root needed.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { HandlerRunner, OwnershipFile, type ApplyReport, type Handler, type HandlerLogger, type KvSource } from "@paddock/runtime";
import {
  HostnameHandler,
  RESOLV_CONF_HEADER,
  describeLease,
  desiredLease,
  emptyLeaseOwnership,
  leaseLifetime,
  leaseRoutes,
  parseLeaseOwnership,
  renderResolvConf,
  sameSubnet,
} from "../src/index.ts";

const NOW = 1_700_000_000_000;
const map = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

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

/** An in-memory KvSource: set() changes a value and notifies watchers on the next macrotask, like a store commit. */
class FakeSource implements KvSource {
  readonly values = new Map<string, string>();
  private readonly watchers = new Set<(e: unknown) => void>();
  set(k: string, v: string | null): void {
    if (v === null) this.values.delete(k);
    else this.values.set(k, v);
    setImmediate(() => {
      for (const w of this.watchers) w({ path: k, value: v });
    });
  }
  watch(_prefix: string, cb: (e: unknown) => void): () => void {
    this.watchers.add(cb);
    return () => this.watchers.delete(cb);
  }
}

async function waitFor(pred: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
    const d = desiredLease(map(lease), NOW);
    expect(d.rejected).toEqual([]);
    expect(d.lease).toEqual({
      address: "10.0.0.5/24",
      expiresAt: NOW / 1000 + 3600,
      mtu: 1400,
      routes: [{ destination: "default", gateway: "10.0.0.1" }],
      nameservers: ["10.0.0.53", "10.0.0.54", "10.0.0.55"],
      search: ["a.test", "b.test"],
      domain: "example.test",
      hostname: "calf-1",
    });
  });

  it("has no lease without /ip, with an invalid /ip, or once expired; 0 and \"infinite\" never expire", () => {
    expect(desiredLease(map({ "/gateway": "10.0.0.1" }), NOW).lease).toBeNull();
    const bad = desiredLease(map({ "/ip": "10.0.0.5" }), NOW);
    expect(bad.lease).toBeNull();
    expect(bad.rejected.map((r) => r.path)).toEqual(["/ip"]);
    const expired = desiredLease(map({ "/ip": "10.0.0.5/24", "/lease/expires": String(NOW / 1000) }), NOW);
    expect(expired.lease).toBeNull();
    expect(expired.absentReason).toMatch(/expired/);
    expect(desiredLease(map({ "/ip": "10.0.0.5/24", "/lease/expires": "0" }), NOW).lease?.expiresAt).toBe("never");
    expect(desiredLease(map({ "/ip": "10.0.0.5/24", "/lease/expires": "infinite" }), NOW).lease?.expiresAt).toBe("never");
    expect(desiredLease(map({ "/ip": "10.0.0.5/24", "/lease/expires": "soon" }), NOW).lease).toBeNull();
  });

  it("re-validates every value: injected lines are dropped and reported, never passed on", () => {
    const d = desiredLease(
      map({
        "/ip": "10.0.0.5/24",
        "/nameserver/001": "10.0.0.53\nnameserver 6.6.6.6",
        "/nameserver/002": "10.0.0.54",
        "/domain": "evil.test\nsearch attacker.test",
        "/search": "ok.test\u2028nameserver 6.6.6.6",
        "/mtu": "9999999",
        "/route/001": "0.0.0.0/0 10.0.0.1; rm -rf /",
        "/hostname": "a b",
      }),
      NOW,
    );
    expect(d.rejected.map((r) => r.path).sort()).toEqual(["/domain", "/hostname", "/mtu", "/nameserver/001", "/route/001", "/search"]);
    expect(d.lease).toMatchObject({ nameservers: ["10.0.0.54"], search: [], domain: undefined, mtu: undefined, routes: [], hostname: undefined });
  });

  it("RFC 3442: a classless default route wins over /gateway; /gateway is the default otherwise", () => {
    const withDefault = desiredLease(map({ "/ip": "10.0.0.5/24", "/gateway": "10.0.0.1", "/route/001": "192.168.0.0/16 10.0.0.2", "/route/002": "0.0.0.0/0 10.0.0.3" }), NOW);
    expect(withDefault.lease?.routes).toEqual([
      { destination: "192.168.0.0/16", gateway: "10.0.0.2" },
      { destination: "default", gateway: "10.0.0.3" },
    ]);
    // The DHCP calf writes 121's default router as /gateway and leaves it out of /route/.
    const calfStyle = desiredLease(map({ "/ip": "10.0.0.5/24", "/gateway": "10.0.0.3", "/route/001": "192.168.0.0/16 10.0.0.2" }), NOW);
    expect(calfStyle.lease?.routes).toEqual([
      { destination: "192.168.0.0/16", gateway: "10.0.0.2" },
      { destination: "default", gateway: "10.0.0.3" },
    ]);
  });

  it("orders on-link routes first, keeps the first of duplicate destinations, adds host routes to off-link gateways", () => {
    expect(
      leaseRoutes("10.0.0.5/24", "10.0.0.1", [
        { network: "172.16.0.0/12", router: "10.0.0.2" },
        { network: "10.99.0.0/16", router: "0.0.0.0" },
        { network: "172.16.0.0/12", router: "10.0.0.9" },
        { network: "192.168.5.0/24", router: "10.99.3.4" },
        { network: "192.168.6.0/24", router: "198.51.100.1" },
      ]),
    ).toEqual([
      { destination: "198.51.100.1/32", gateway: undefined },
      { destination: "10.99.0.0/16", gateway: undefined },
      { destination: "172.16.0.0/12", gateway: "10.0.0.2" },
      { destination: "192.168.5.0/24", gateway: "10.99.3.4" },
      { destination: "192.168.6.0/24", gateway: "198.51.100.1" },
      { destination: "default", gateway: "10.0.0.1" },
    ]);
    // A /32 lease (cloud style): the gateway is reachable only through a host route.
    expect(leaseRoutes("10.0.0.5/32", "10.0.0.1", [])).toEqual([
      { destination: "10.0.0.1/32", gateway: undefined },
      { destination: "default", gateway: "10.0.0.1" },
    ]);
  });

  it("takes the largest /lease/expires the schema allows without failing (far past what a Date holds)", () => {
    const d = desiredLease(map({ "/ip": "10.0.0.5/24", "/lease/expires": String(2 ** 53 - 1) }), NOW);
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

  it("compares subnets", () => {
    expect(sameSubnet("10.0.0.5/24", "10.0.0.99/24")).toBe(true);
    expect(sameSubnet("10.0.0.5/24", "10.0.1.5/24")).toBe(false);
    expect(sameSubnet("10.0.0.5/16", "10.0.1.5/24")).toBe(true);
  });
});

describe("renderResolvConf", () => {
  it("writes the header, domain before search, at most three nameservers", () => {
    const text = renderResolvConf({ nameservers: ["10.0.0.53", "10.0.0.54", "10.0.0.55", "10.0.0.56"], search: ["a.test", "b.test"], domain: "example.test" }, "eth0");
    expect(text).toBe(
      [
        RESOLV_CONF_HEADER,
        "# (lease on eth0; the previous file is restored when the lease ends)",
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
    expect(renderResolvConf({ nameservers: [], search: [], domain: undefined }, "eth0")).toBeNull();
  });

  it("property: whatever the store holds, every line is the header, a comment, or one well-formed directive", () => {
    const nasty = fc.oneof(
      fc.string(),
      fc.constantFrom("10.0.0.53", "a.test", "x.test\nnameserver 6.6.6.6", "ok.test\u2028x", "a.test b.test", "1.2.3.4 ", "\u0085", "search\tx"),
    );
    fc.assert(
      fc.property(nasty, nasty, nasty, fc.array(nasty, { maxLength: 6 }), (domain, search, hostname, servers) => {
        const values = new Map<string, string>([["/ip", "10.0.0.5/24"], ["/domain", domain], ["/search", search], ["/hostname", hostname]]);
        servers.forEach((s, i) => values.set(`/nameserver/${String(i + 1).padStart(3, "0")}`, s));
        const d = desiredLease(values, NOW);
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
      }),
      { numRuns: 500 },
    );
  });
});

describe("HostnameHandler on a temp file", () => {
  const withLease = (h: string) => map({ "/ip": "10.0.0.5/24", "/hostname": h });

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
    await h2.apply(h2.desired(map({}), NOW));
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
    const r = await on.apply(on.desired(map({}), NOW));
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

