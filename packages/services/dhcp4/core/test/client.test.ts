import { describe, expect, it } from "vitest";
import { MessageType } from "../src/message.ts";
import type { DhcpOption } from "../src/message.ts";
import {
  DECLINE_HOLDOFF_MS,
  DEFAULT_PARAMETER_REQUEST_LIST,
  MIN_RENEW_RETRANSMIT_MS,
  backoffMs,
  createClient,
  leaseKeys,
  serializePersistedLease,
  step,
} from "../src/client/index.ts";
import type { ClientAction, PersistedLease } from "../src/client/index.ts";
import {
  Harness,
  MAC,
  SERVER,
  SERVER2,
  SERVER_MAC,
  T0,
  config,
  kvOps,
  opt,
  packetInfo,
  persisted,
  reply,
  seeded,
  standardOptions,
  typeOf,
} from "./client-fixtures.ts";

const S = 1000;

function logs(actions: ClientAction[]): string[] {
  return actions.flatMap((a) => (a.kind === "log" ? [`${a.level}: ${a.message}`] : []));
}

describe("start and DISCOVER", () => {
  it("broadcasts a DISCOVER with the RFC 4361 client id, PRL, max size and rapid commit", () => {
    const h = new Harness();
    expect(h.state.name).toBe("SELECTING");
    const [send] = h.sent();
    expect(send?.to).toBe("broadcast");
    const m = h.only();
    expect(m.op).toBe(1);
    expect(typeOf(m)).toBe(MessageType.DISCOVER);
    expect(m.xid).toBe(h.state.xid);
    expect(m.ciaddr).toBe("0.0.0.0");
    expect(m.flags).toBe(0);
    expect([...m.chaddr]).toEqual([...MAC]);
    // type 255, IAID = last 4 MAC bytes, DUID-LL (type 3, hardware type 1, MAC)
    expect([...(opt(m, "clientId")?.data ?? [])]).toEqual([255, 0x5e, 0x10, 0x20, 0x30, 0, 3, 0, 1, ...MAC]);
    expect(opt(m, "parameterRequestList")?.codes).toEqual([1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121]);
    expect(DEFAULT_PARAMETER_REQUEST_LIST).toEqual([1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121]);
    expect(opt(m, "maxMessageSize")?.size).toBe(1500);
    expect(opt(m, "rapidCommit")).toBeDefined();
    expect(opt(m, "requestedAddress")).toBeUndefined();
    expect(opt(m, "serverId")).toBeUndefined();
    expect(opt(m, "hostname")).toBeUndefined();
    const retransmit = h.timers.get("retransmit") ?? 0;
    expect(retransmit - T0).toBeGreaterThanOrEqual(3 * S);
    expect(retransmit - T0).toBeLessThanOrEqual(5 * S);
    expect(logs(h.last)).toContain(`info: INIT → SELECTING: DISCOVER xid 0x${h.state.xid.toString(16).padStart(8, "0")}`);
  });

  it("builds the configured client identifier, hostname, FQDN, PRL and max size", () => {
    const mac = new Harness(config({ clientId: { kind: "mac" }, hostname: "box1", maxMessageSize: 576, parameterRequestList: [1, 3, 3, 6] })).only();
    expect([...(opt(mac, "clientId")?.data ?? [])]).toEqual([1, ...MAC]);
    expect(opt(mac, "hostname")?.name).toBe("box1");
    expect(opt(mac, "maxMessageSize")?.size).toBe(576);
    expect(opt(mac, "parameterRequestList")?.codes).toEqual([1, 3, 6]);
    const raw = new Harness(config({ clientId: { kind: "raw", data: Uint8Array.of(0, 1, 2) } })).only();
    expect([...(opt(raw, "clientId")?.data ?? [])]).toEqual([0, 1, 2]);
    const none = new Harness(config({ clientId: { kind: "none" } })).only();
    expect(opt(none, "clientId")).toBeUndefined();
    const iaid = new Harness(config({ clientId: { kind: "duid", iaid: 7 } })).only();
    expect([...(opt(iaid, "clientId")?.data ?? []).slice(0, 5)]).toEqual([255, 0, 0, 0, 7]);
    const fqdn = new Harness(config({ hostname: "box1", fqdn: { name: "box1.example.test." } })).only();
    expect(opt(fqdn, "hostname")).toBeUndefined();
    expect(opt(fqdn, "clientFqdn")).toEqual({ kind: "clientFqdn", code: 81, flags: 0x05, rcode1: 0, rcode2: 0, name: "box1.example.test" });
    const noUpdate = new Harness(config({ fqdn: { name: "box1.example.test", serverUpdate: false } })).only();
    expect(opt(noUpdate, "clientFqdn")?.flags).toBe(0x0c);
    const noRapid = new Harness(config({ rapidCommit: false })).only();
    expect(opt(noRapid, "rapidCommit")).toBeUndefined();
    const requested = new Harness(config({ requestedAddress: "10.0.0.9" })).only();
    expect(opt(requested, "requestedAddress")?.address).toBe("10.0.0.9");
  });

  it("sets the BROADCAST flag before an address is configured when asked, never after", () => {
    const h = new Harness(config({ broadcastFlag: true }));
    expect(h.only().flags).toBe(0x8000);
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    expect(h.only().flags).toBe(0x8000);
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"));
    h.fire("t1");
    expect(h.only().flags).toBe(0);
    h.fire("t2");
    expect(h.only().flags).toBe(0);
    h.event({ kind: "linkDown" });
    h.event({ kind: "linkUp" });
    expect(h.state.name).toBe("REBOOTING");
    expect(h.only().flags).toBe(0x8000);
  });

  it("refuses bad configurations with a typed error", () => {
    const bad = [
      config({ mac: Uint8Array.of(1, 2, 3) }),
      config({ hostname: "bad host" }),
      config({ fqdn: { name: "a\nb" } }),
      config({ parameterRequestList: [0] }),
      config({ maxMessageSize: 575 }),
      config({ initialDelayMs: -1 }),
      config({ offerWindowMs: 1e9 }),
      config({ requestedAddress: "224.0.0.1" }),
      config({ clientId: { kind: "raw", data: Uint8Array.of(1) } }),
      config({ clientId: { kind: "duid", iaid: 2 ** 32 } }),
      config({ minLeaseSeconds: 0 }),
      config({ minLeaseSeconds: 61 }),
      config({ minLeaseSeconds: 1.5 }),
    ];
    for (const c of bad) {
      const r = createClient(c, T0);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe("PADDOCK_E_DHCP4_CLIENT_CONFIG");
    }
  });

  it("waits a random initial delay when configured, then discovers", () => {
    const h = new Harness(config({ initialDelayMs: 10 * S }));
    expect(h.state.name).toBe("INIT");
    expect(h.sent()).toHaveLength(0);
    const at = h.timers.get("start") ?? -1;
    expect(at).toBeGreaterThanOrEqual(T0);
    expect(at).toBeLessThanOrEqual(T0 + 10 * S);
    h.fire("start");
    expect(h.state.name).toBe("SELECTING");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
  });

  it("retransmits DISCOVER forever with 4, 8, 16, 32, 64, 64 s (±1 s) and a growing secs field", () => {
    const h = new Harness(config({ random: seeded(7) }));
    const xid = h.state.xid;
    const bases = [4, 8, 16, 32, 64, 64, 64];
    let sentAt = h.now;
    for (const base of bases) {
      const at = h.timers.get("retransmit") ?? 0;
      expect(at - sentAt).toBeGreaterThanOrEqual((base - 1) * S);
      expect(at - sentAt).toBeLessThanOrEqual((base + 1) * S);
      h.fire("retransmit");
      sentAt = h.now;
      const m = h.only();
      expect(typeOf(m)).toBe(MessageType.DISCOVER);
      expect(m.xid).toBe(xid);
      expect(m.secs).toBe(Math.floor((h.now - T0) / S));
    }
    expect(h.state.name).toBe("SELECTING");
  });

  it("backoffMs stays within ±1 s of 4·2^k capped at 64 s, for any random value", () => {
    for (let k = 0; k < 10; k++) {
      const base = Math.min(4 * 2 ** k, 64) * S;
      expect(backoffMs(k, () => 0)).toBe(base - S);
      expect(backoffMs(k, () => 0.999999)).toBeLessThanOrEqual(base + S);
      expect(backoffMs(k, () => 0.999999)).toBeGreaterThan(base + S - 2);
      expect(backoffMs(k, () => 0.5)).toBe(base);
      expect(backoffMs(k, () => Number.NaN)).toBe(base);
      expect(backoffMs(k, () => 7)).toBe(base + S);
    }
  });
});

describe("SELECTING → REQUESTING → BOUND", () => {
  it("requests the offer with the same xid, server id and requested address, then binds and publishes", () => {
    const h = new Harness();
    const xid = h.state.xid;
    h.event({ kind: "received", message: reply(MessageType.OFFER, xid, "10.0.0.5"), info: packetInfo(), rxTime: T0 + 100 }, T0 + 100);
    expect(h.state.name).toBe("REQUESTING");
    const req = h.only();
    expect(h.sent()[0]?.to).toBe("broadcast");
    expect(typeOf(req)).toBe(MessageType.REQUEST);
    expect(req.xid).toBe(xid);
    expect(req.ciaddr).toBe("0.0.0.0");
    expect(opt(req, "requestedAddress")?.address).toBe("10.0.0.5");
    expect(opt(req, "serverId")?.address).toBe(SERVER);
    expect(opt(req, "parameterRequestList")).toBeDefined();
    expect(opt(req, "clientId")).toBeDefined();

    h.event({ kind: "received", message: reply(MessageType.ACK, xid, "10.0.0.5"), info: packetInfo(), rxTime: T0 + 150 }, T0 + 150);
    expect(h.state.name).toBe("BOUND");
    expect(h.sent()).toHaveLength(0);
    const lease = h.state.lease;
    expect(lease?.acquiredAt).toBe(T0 + 100); // §4.4.1: from when the REQUEST was sent
    expect(Object.fromEntries(h.kv)).toEqual({
      "/ip": "10.0.0.5/24",
      "/gateway": "10.0.0.1",
      "/domain": "example.test",
      "/nameserver/001": "10.0.0.53",
      "/nameserver/002": "10.0.0.54",
      "/lease/expires": String(Math.floor((T0 + 100) / S) + 3600),
      "/lease/server": SERVER,
      "/lease/obtained": String(Math.floor((T0 + 100) / S)),
      "/lease/renew": String(Math.floor((T0 + 100) / S) + 1800),
      "/lease/rebind": String(Math.floor((T0 + 100) / S) + 3150),
      "/state/lease": serializePersistedLease(lease as PersistedLease),
    });
    // All of one lease together: the KV actions are one contiguous run.
    const kinds = h.last.map((a) => a.kind);
    const first = kinds.findIndex((k) => k === "kvWrite");
    const count = kinds.filter((k) => k === "kvWrite").length;
    expect(kinds.slice(first, first + count).every((k) => k === "kvWrite")).toBe(true);
    expect(h.timers.get("t1")).toBe(T0 + 100 + 1800 * S);
    expect(h.timers.get("t2")).toBe(T0 + 100 + 3150 * S);
    expect(h.timers.get("expiry")).toBe(T0 + 100 + 3600 * S);
    expect(h.timers.has("retransmit")).toBe(false);
    expect(lease?.serverMac).toBe("02:00:00:00:00:01");
    expect(logs(h.last).some((l) => l.startsWith("info: REQUESTING → BOUND: ACK: 10.0.0.5/24 from 10.0.0.1"))).toBe(true);
  });

  it("ignores a reply with the wrong xid, the wrong chaddr, a foreign client id, or op BOOTREQUEST", () => {
    const h = new Harness();
    const xid = h.state.xid;
    const before = h.state;
    const bad = [
      reply(MessageType.OFFER, (xid + 1) >>> 0, "10.0.0.5"),
      reply(MessageType.OFFER, xid, "10.0.0.5", standardOptions(), { chaddr: Uint8Array.of(2, 0, 0x5e, 0x10, 0x20, 0x31) }),
      reply(MessageType.OFFER, xid, "10.0.0.5", standardOptions(), { chaddr: MAC.slice(0, 5) }),
      reply(MessageType.OFFER, xid, "10.0.0.5", standardOptions(), { hlen: 16 }),
      reply(MessageType.OFFER, xid, "10.0.0.5", [...standardOptions(), { kind: "clientId", code: 61, data: Uint8Array.of(1, 2, 3) }]),
      reply(MessageType.OFFER, xid, "10.0.0.5", standardOptions(), { op: 1 }),
      reply(MessageType.OFFER, xid, "0.0.0.0"),
      reply(MessageType.OFFER, xid, "10.0.0.5", standardOptions().filter((o) => o.kind !== "serverId")),
      reply(MessageType.ACK, xid, "10.0.0.5"), // ACK without rapid commit
      reply(MessageType.NAK, xid, "0.0.0.0"),
    ];
    for (const m of bad) {
      const actions = h.receive(m);
      expect(h.state.name).toBe("SELECTING");
      expect(actions.every((a) => a.kind === "log" && a.level === "debug")).toBe(true);
    }
    expect(h.state.offers).toEqual(before.offers);
    // The echoed client id that is ours is accepted.
    const ours = opt(h.state.config.clientId === undefined ? reply(1, 0, "0.0.0.0") : reply(1, 0, "0.0.0.0", [{ kind: "clientId", code: 61, data: h.state.config.clientId }]), "clientId");
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.5", [...standardOptions(), ours as DhcpOption]));
    expect(h.state.name).toBe("REQUESTING");
  });

  it("ignores OFFERs while REQUESTING, and an ACK or NAK naming another server", () => {
    const h = new Harness();
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    expect(h.state.name).toBe("REQUESTING");
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.6", standardOptions(SERVER2)), packetInfo(SERVER2));
    expect(h.state.name).toBe("REQUESTING");
    expect(h.sent()).toHaveLength(0);
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.6", standardOptions(SERVER2)), packetInfo(SERVER2));
    h.receive(reply(MessageType.NAK, h.state.xid, "0.0.0.0", [{ kind: "serverId", code: 54, address: SERVER2 }]), packetInfo(SERVER2));
    expect(h.state.name).toBe("REQUESTING");
    expect(h.state.selected?.serverId).toBe(SERVER);
  });

  it("with two servers and no preferred address, takes the first offer", () => {
    const h = new Harness();
    const xid = h.state.xid;
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.6", standardOptions(SERVER2)), packetInfo(SERVER2));
    expect(h.state.name).toBe("REQUESTING");
    expect(opt(h.only(), "serverId")?.address).toBe(SERVER2);
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.5"));
    expect(h.state.selected?.serverId).toBe(SERVER2);
    h.receive(reply(MessageType.ACK, xid, "10.0.0.6", standardOptions(SERVER2)), packetInfo(SERVER2));
    expect(h.state.name).toBe("BOUND");
    expect(h.state.lease?.serverId).toBe(SERVER2);
  });

  it("with a preferred address, waits for its offer and takes it over an earlier one", () => {
    const h = new Harness(config({ requestedAddress: "10.0.0.5" }));
    const xid = h.state.xid;
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.6", standardOptions(SERVER2)), packetInfo(SERVER2), T0 + 10);
    expect(h.state.name).toBe("SELECTING");
    expect(h.timers.get("offerWindow")).toBe(T0 + 10 + 1000);
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.5"), packetInfo(), T0 + 300);
    expect(h.state.name).toBe("REQUESTING");
    expect(h.timers.has("offerWindow")).toBe(false);
    const req = h.only();
    expect(opt(req, "requestedAddress")?.address).toBe("10.0.0.5");
    expect(opt(req, "serverId")?.address).toBe(SERVER);
  });

  it("takes the first offer when the preferred address is not offered within the window", () => {
    const h = new Harness(config({ requestedAddress: "10.0.0.5" }));
    const xid = h.state.xid;
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.6", standardOptions(SERVER2)), packetInfo(SERVER2), T0 + 10);
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.7"), packetInfo(), T0 + 20);
    h.receive(reply(MessageType.OFFER, xid, "10.0.0.8"), packetInfo(), T0 + 30); // same server twice: ignored
    expect(h.state.offers.map((o) => o.address)).toEqual(["10.0.0.6", "10.0.0.7"]);
    h.fire("offerWindow");
    expect(h.state.name).toBe("REQUESTING");
    expect(opt(h.only(), "serverId")?.address).toBe(SERVER2);
  });

  it("gives up REQUESTING after 4 REQUESTs (about 60 s) and discovers again", () => {
    const h = new Harness(config({ random: seeded(3) }));
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    let sentAt = h.now;
    for (const base of [4, 8, 16]) {
      const at = h.timers.get("retransmit") ?? 0;
      expect(Math.abs(at - sentAt - base * S)).toBeLessThanOrEqual(S);
      h.fire("retransmit");
      sentAt = h.now;
      expect(typeOf(h.only())).toBe(MessageType.REQUEST);
      expect(h.state.name).toBe("REQUESTING");
    }
    h.fire("retransmit");
    expect(h.state.name).toBe("SELECTING");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
    expect(h.now - T0).toBeGreaterThan(56 * S);
    expect(h.now - T0).toBeLessThan(64 * S);
  });

  it("accepts a rapid-commit ACK in SELECTING", () => {
    const h = new Harness();
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", [...standardOptions(), { kind: "rapidCommit", code: 80 }]), packetInfo(), T0 + 20);
    expect(h.state.name).toBe("BOUND");
    expect(h.state.lease?.acquiredAt).toBe(T0); // the DISCOVER's time
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
  });

  it("ignores a rapid-commit ACK when rapid commit is off", () => {
    const h = new Harness(config({ rapidCommit: false }));
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", [...standardOptions(), { kind: "rapidCommit", code: 80 }]));
    expect(h.state.name).toBe("SELECTING");
    expect(h.kv.size).toBe(0);
  });

  it("ignores an ACK with an unusable yiaddr and waits on", () => {
    const h = new Harness();
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    h.receive(reply(MessageType.ACK, h.state.xid, "0.0.0.0"));
    expect(h.state.name).toBe("REQUESTING");
    expect(logs(h.last)).toEqual(["warn: ACK from 10.0.0.1 ignored: unusable yiaddr 0.0.0.0"]);
  });
});

describe("lease times", () => {
  it("uses the server's T1/T2 when 0 < T1 < T2 < lease", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5", [...standardOptions(SERVER, 1000), { kind: "renewalTime", code: 58, seconds: 100 }, { kind: "rebindingTime", code: 59, seconds: 200 }]);
    expect((h.timers.get("t1") ?? 0) - T0).toBe(100 * S);
    expect((h.timers.get("t2") ?? 0) - T0).toBe(200 * S);
    expect((h.timers.get("expiry") ?? 0) - T0).toBe(1000 * S);
  });

  it("falls back to 0.5 and 0.875 × lease when the server sends T1 ≥ T2", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5", [...standardOptions(SERVER, 1000), { kind: "renewalTime", code: 58, seconds: 700 }, { kind: "rebindingTime", code: 59, seconds: 600 }]);
    expect((h.timers.get("t1") ?? 0) - T0).toBe(500 * S);
    expect((h.timers.get("t2") ?? 0) - T0).toBe(875 * S);
    expect(logs(h.last).some((l) => l.startsWith("warn: ACK from 10.0.0.1: server T1/T2 (700/600 s)"))).toBe(true);
  });

  it("falls back to defaults when T2 ≥ lease, and fills a missing T2 with the default", () => {
    const a = new Harness();
    a.bindTo("10.0.0.5", [...standardOptions(SERVER, 1000), { kind: "rebindingTime", code: 59, seconds: 1000 }]);
    expect((a.timers.get("t2") ?? 0) - T0).toBe(875 * S);
    const b = new Harness();
    b.bindTo("10.0.0.5", [...standardOptions(SERVER, 1000), { kind: "renewalTime", code: 58, seconds: 300 }]);
    expect((b.timers.get("t1") ?? 0) - T0).toBe(300 * S);
    expect((b.timers.get("t2") ?? 0) - T0).toBe(875 * S);
  });

  it("stretches a lease of 0 s to 60 s", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5", standardOptions(SERVER, 0), standardOptions(SERVER, 0));
    expect(h.state.lease?.leaseSeconds).toBe(60);
    expect((h.timers.get("t1") ?? 0) - T0).toBe(30 * S);
    expect((h.timers.get("t2") ?? 0) - T0).toBe(52.5 * S);
    expect((h.timers.get("expiry") ?? 0) - T0).toBe(60 * S);
    expect(logs(h.last)).toContain("warn: ACK from 10.0.0.1: lease of 0 s stretched to 60 s");
  });

  it("a test configuration stretches short leases to less than 60 s, and the lease persists and restores", () => {
    const h = new Harness(config({ minLeaseSeconds: 4 }));
    h.bindTo("10.0.0.5", standardOptions(SERVER, 2), standardOptions(SERVER, 2));
    expect(h.state.lease?.leaseSeconds).toBe(4);
    expect((h.timers.get("t1") ?? 0) - T0).toBe(2 * S);
    expect((h.timers.get("expiry") ?? 0) - T0).toBe(4 * S);
    expect(logs(h.last)).toContain("warn: ACK from 10.0.0.1: lease of 2 s stretched to 4 s");
    const restored = createClient(config({ minLeaseSeconds: 4 }), T0 + S, { persistedLease: h.kv.get("/state/lease") });
    expect(restored.ok && restored.state.lease?.leaseSeconds).toBe(4);
  });

  it("arms no renewal timers for an infinite lease and publishes it as infinite", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5", [...standardOptions(SERVER, 0xffffffff), { kind: "renewalTime", code: 58, seconds: 0xffffffff }]);
    expect(h.timers.size).toBe(0);
    expect(h.kv.get("/lease/expires")).toBe("0");
    // Much later, still bound; a stray timer event changes nothing.
    h.event({ kind: "timer", name: "t1" }, T0 + 10 * 365 * 86400 * S);
    expect(h.state.name).toBe("BOUND");
  });

  it("uses the offer's lease time when the ACK has none", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5", standardOptions().filter((o) => o.kind !== "leaseTime"), standardOptions(SERVER, 600));
    expect(h.state.lease?.leaseSeconds).toBe(600);
  });
});

describe("renewal", () => {
  it("renews unicast to the server at T1 (ciaddr set, no server id, no requested address) and publishes the whole lease again", () => {
    const h = new Harness();
    h.bindTo();
    const before = new Map(h.kv);
    h.fire("t1");
    expect(h.state.name).toBe("RENEWING");
    const [send] = h.sent();
    expect(send?.to).toBe(SERVER);
    expect([...(send?.nextHopMac ?? [])]).toEqual([...SERVER_MAC]);
    const m = h.only();
    expect(typeOf(m)).toBe(MessageType.REQUEST);
    expect(m.ciaddr).toBe("10.0.0.5");
    expect(opt(m, "serverId")).toBeUndefined();
    expect(opt(m, "requestedAddress")).toBeUndefined();
    expect(m.xid).toBe(h.state.xid);
    const renewSentAt = h.now;
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"), packetInfo(), h.now + 5);
    expect(h.state.name).toBe("BOUND");
    expect(h.state.lease?.acquiredAt).toBe(renewSentAt);
    // The whole lease, in one run of writes (one commit): a key an operator deleted comes back.
    // Only the lease's times and the persisted lease have new values.
    expect(kvOps(h.last).every((a) => a.kind === "kvWrite")).toBe(true);
    expect(kvOps(h.last).map((a) => a.kind === "kvWrite" && a.path).sort()).toEqual([...before.keys()].sort());
    const times = ["/lease/expires", "/lease/obtained", "/lease/renew", "/lease/rebind", "/state/lease"];
    for (const [k, v] of before) if (!times.includes(k)) expect(h.kv.get(k)).toBe(v);
    expect(h.kv.get("/lease/expires")).not.toBe(before.get("/lease/expires"));
    expect(h.timers.get("t1")).toBe(renewSentAt + 1800 * S);
    expect(logs(h.last).some((l) => l.startsWith("info: RENEWING → BOUND"))).toBe(true);
  });

  it("on a changed lease deletes the keys that vanished and writes the new ones", () => {
    const h = new Harness();
    h.bindTo();
    h.fire("t1");
    const changed: DhcpOption[] = [
      { kind: "serverId", code: 54, address: SERVER },
      { kind: "leaseTime", code: 51, seconds: 3600 },
      { kind: "subnetMask", code: 1, mask: "255.255.0.0" },
      { kind: "routers", code: 3, addresses: ["10.0.0.1"] },
      { kind: "dnsServers", code: 6, addresses: ["10.0.0.53"] },
      { kind: "mtu", code: 26, mtu: 1400 },
    ];
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", changed));
    const ops = kvOps(h.last).map((a) => (a.kind === "kvWrite" ? `write ${a.path}=${a.value.slice(0, 20)}` : a.kind === "kvDelete" ? `delete ${a.path}` : ""));
    expect(ops.slice(0, 2).sort()).toEqual(["delete /domain", "delete /nameserver/002"]);
    expect(ops).toContain("write /ip=10.0.0.5/16");
    expect(ops).toContain("write /mtu=1400");
    // The rest of the lease is written again with it (one commit), unchanged.
    expect(ops).toContain("write /gateway=10.0.0.1");
    expect(ops).toContain("write /nameserver/001=10.0.0.53");
  });

  it("server unreachable: RENEWING retransmits at half the time to T2 (≥ 60 s), REBINDING broadcasts at half the time to expiry, expiry withdraws everything", () => {
    const h = new Harness();
    h.bindTo();
    const lease = h.state.lease as PersistedLease;
    const t2At = lease.acquiredAt + lease.rebindMs;
    const expiresAt = lease.acquiredAt + lease.leaseSeconds * S;
    h.fire("t1");
    expect(h.state.name).toBe("RENEWING");
    let renewSends = 1;
    while (h.timers.has("retransmit")) {
      const at = h.timers.get("retransmit") ?? 0;
      const prev = h.now;
      expect(at - prev).toBe(Math.max(MIN_RENEW_RETRANSMIT_MS, (t2At - prev) / 2));
      expect(at).toBeLessThan(t2At);
      h.fire("retransmit");
      renewSends++;
      expect(h.sent()[0]?.to).toBe(SERVER);
      expect(h.only().ciaddr).toBe("10.0.0.5");
    }
    expect(renewSends).toBe(6); // at 1800, 2475, 2812.5, 2981.25, 3065.6, 3125.6 s
    h.fire("t2");
    expect(h.state.name).toBe("REBINDING");
    expect(h.now).toBe(t2At);
    const rebind = h.only();
    expect(h.sent()[0]?.to).toBe("broadcast");
    expect(rebind.ciaddr).toBe("10.0.0.5");
    expect(opt(rebind, "serverId")).toBeUndefined();
    expect(opt(rebind, "requestedAddress")).toBeUndefined();
    let rebindSends = 1;
    while (h.timers.has("retransmit")) {
      const at = h.timers.get("retransmit") ?? 0;
      expect(at - h.now).toBe(Math.max(MIN_RENEW_RETRANSMIT_MS, (expiresAt - h.now) / 2));
      expect(at).toBeLessThan(expiresAt);
      h.fire("retransmit");
      rebindSends++;
      expect(h.sent()[0]?.to).toBe("broadcast");
    }
    expect(rebindSends).toBe(4); // at 3150, 3375, 3487.5, 3547.5 s
    expect(h.kv.size).toBeGreaterThan(0);
    h.fire("expiry");
    expect(h.now).toBe(expiresAt);
    const deletes = kvOps(h.last);
    expect(deletes.every((a) => a.kind === "kvDelete")).toBe(true);
    expect(deletes.map((a) => (a.kind === "kvDelete" ? a.path : "")).sort()).toEqual(
      ["/ip", "/gateway", "/domain", "/nameserver/001", "/nameserver/002", "/lease/expires", "/lease/server", "/lease/obtained", "/lease/renew", "/lease/rebind", "/state/lease"].sort(),
    );
    expect(h.kv.size).toBe(0);
    expect(h.state.name).toBe("SELECTING");
    expect(h.state.lease).toBeUndefined();
    const discover = h.only();
    expect(typeOf(discover)).toBe(MessageType.DISCOVER);
    expect(opt(discover, "requestedAddress")?.address).toBe("10.0.0.5");
    expect(logs(h.last)).toContain("info: REBINDING → INIT: lease 10.0.0.5 expired");
  });

  it("rebinds to another server, which then becomes the lease's server", () => {
    const h = new Harness();
    h.bindTo();
    h.fire("t1");
    h.fire("t2");
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", standardOptions(SERVER2)), packetInfo(SERVER2));
    expect(h.state.name).toBe("BOUND");
    expect(h.state.lease?.serverId).toBe(SERVER2);
  });

  it("in RENEWING ignores an ACK naming another server", () => {
    const h = new Harness();
    h.bindTo();
    h.fire("t1");
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", standardOptions(SERVER2)), packetInfo(SERVER2));
    expect(h.state.name).toBe("RENEWING");
  });

  it("ignores ACK, NAK and OFFER while BOUND", () => {
    const h = new Harness();
    h.bindTo();
    for (const t of [MessageType.ACK, MessageType.NAK, MessageType.OFFER]) {
      h.receive(reply(t, h.state.xid, "10.0.0.5"));
      expect(h.state.name).toBe("BOUND");
      expect(kvOps(h.last)).toHaveLength(0);
    }
  });
});

describe("NAK", () => {
  const nak = (xid: number) => reply(MessageType.NAK, xid, "0.0.0.0", [{ kind: "serverId", code: 54, address: SERVER }, { kind: "message", code: 56, text: "wrong\nnetwork" }]);

  it("in REQUESTING → INIT and a new DISCOVER without the NAKed address", () => {
    const h = new Harness(config({ requestedAddress: "10.0.0.5" }));
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    const xid = h.state.xid;
    h.receive(nak(xid));
    expect(h.state.name).toBe("SELECTING");
    expect(h.state.xid).not.toBe(xid);
    expect(logs(h.last)).toContain('info: REQUESTING → INIT: NAK from 10.0.0.1 ("wrong?network") in REQUESTING');
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
  });

  it.each(["RENEWING", "REBINDING"] as const)("in %s → INIT, withdrawing the lease", (state) => {
    const h = new Harness();
    h.bindTo();
    h.fire("t1");
    if (state === "REBINDING") h.fire("t2");
    expect(h.state.name).toBe(state);
    h.receive(nak(h.state.xid));
    expect(h.kv.size).toBe(0);
    expect(kvOps(h.last).length).toBe(11);
    expect(h.state.lease).toBeUndefined();
    expect(h.state.name).toBe("SELECTING");
    expect(opt(h.only(), "requestedAddress")).toBeUndefined();
    expect(h.timers.has("t1") || h.timers.has("t2") || h.timers.has("expiry")).toBe(false);
  });

  it("in REBOOTING → INIT, withdrawing the persisted lease", () => {
    const lease = persisted();
    const h = new Harness(config(), { persistedLease: serializePersistedLease(lease) }, T0, new Map(leaseKeys(lease)));
    expect(h.state.name).toBe("REBOOTING");
    h.receive(nak(h.state.xid));
    expect(h.kv.size).toBe(0);
    expect(h.state.name).toBe("SELECTING");
  });

  it("backs off when NAKs repeat before a lease is bound", () => {
    const h = new Harness(config({ random: seeded(9) }));
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    h.receive(nak(h.state.xid));
    expect(h.state.name).toBe("SELECTING"); // first NAK: at once
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    h.receive(nak(h.state.xid));
    expect(h.state.name).toBe("INIT");
    expect(h.sent()).toHaveLength(0);
    const wait = (h.timers.get("start") ?? 0) - h.now;
    expect(wait).toBeGreaterThanOrEqual(3 * S);
    expect(wait).toBeLessThanOrEqual(5 * S);
    h.fire("start");
    expect(h.state.name).toBe("SELECTING");
    h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
    h.receive(nak(h.state.xid));
    const wait2 = (h.timers.get("start") ?? 0) - h.now;
    expect(wait2).toBeGreaterThanOrEqual(7 * S);
    expect(wait2).toBeLessThanOrEqual(9 * S);
  });
});

describe("INIT-REBOOT", () => {
  it("on the same network: REQUEST without server id, ACK → BOUND with the lease published whole (new times)", () => {
    const lease = persisted();
    const h = new Harness(config(), { persistedLease: serializePersistedLease(lease) }, T0, new Map(leaseKeys(lease)));
    expect(h.state.name).toBe("REBOOTING");
    expect(logs(h.last)[0]).toBe("info: INIT → INIT-REBOOT: persisted lease 10.0.0.5/24 from 10.0.0.1");
    expect(kvOps(h.last)).toHaveLength(0);
    const m = h.only();
    expect(h.sent()[0]?.to).toBe("broadcast");
    expect(typeOf(m)).toBe(MessageType.REQUEST);
    expect(m.ciaddr).toBe("0.0.0.0");
    expect(opt(m, "requestedAddress")?.address).toBe("10.0.0.5");
    expect(opt(m, "serverId")).toBeUndefined();
    expect(h.timers.get("expiry")).toBe(lease.acquiredAt + 3600 * S);
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"), packetInfo(), T0 + 50);
    expect(h.state.name).toBe("BOUND");
    expect(kvOps(h.last).map((a) => a.kind === "kvWrite" && a.path).sort()).toEqual([...leaseKeys(lease).keys()].sort());
    expect(h.state.lease?.acquiredAt).toBe(T0);
  });

  it("on a different network with no server: two REQUESTs, then INIT withdrawing the lease", () => {
    const lease = persisted();
    const h = new Harness(config({ random: seeded(5) }), { persistedLease: serializePersistedLease(lease) }, T0, new Map(leaseKeys(lease)));
    const first = (h.timers.get("retransmit") ?? 0) - T0;
    expect(Math.abs(first - 4 * S)).toBeLessThanOrEqual(S);
    h.fire("retransmit");
    expect(h.state.name).toBe("REBOOTING");
    expect(typeOf(h.only())).toBe(MessageType.REQUEST);
    const second = (h.timers.get("retransmit") ?? 0) - h.now;
    expect(Math.abs(second - 8 * S)).toBeLessThanOrEqual(S);
    h.fire("retransmit");
    expect(h.kv.size).toBe(0);
    expect(h.state.name).toBe("SELECTING");
    expect(opt(h.only(), "requestedAddress")?.address).toBe("10.0.0.5");
    expect(logs(h.last)[0]).toBe("info: REBOOTING → INIT: no answer to 2 REQUESTs");
  });

  it("with onRebootTimeout keepLease, keeps the unexpired lease and resumes by the clock", () => {
    const lease = persisted({ acquiredAt: T0 - 1790 * S });
    const h = new Harness(config({ onRebootTimeout: "keepLease" }), { persistedLease: serializePersistedLease(lease) }, T0, new Map(leaseKeys(lease)));
    h.fire("retransmit");
    h.fire("retransmit");
    // ~12 s later T1 (1800 s after acquisition) has passed: straight on to RENEWING.
    expect(h.state.name).toBe("RENEWING");
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
    expect(h.sent()[0]?.to).toBe(SERVER);
    expect(h.timers.has("t2")).toBe(true);
  });

  it("ignores a corrupted persisted lease, deletes what it may have published and discovers", () => {
    for (const text of ["{", "null", "[]", JSON.stringify({ ...persisted(), address: "10.0.0.256" }), JSON.stringify({ ...persisted(), extra: 1 }), "x".repeat(10000)]) {
      const r = createClient(config(), T0, { persistedLease: text });
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.state.name).toBe("SELECTING");
      expect(r.state.lease).toBeUndefined();
      expect(logs(r.actions)[0]?.startsWith("warn: persisted lease ignored")).toBe(true);
      const deleted = r.actions.flatMap((a) => (a.kind === "kvDelete" ? [a.path] : []));
      expect(deleted).toContain("/ip");
      expect(deleted).toContain("/state/lease");
      expect(deleted).toContain("/nameserver/001");
    }
  });

  it("withdraws an expired persisted lease and asks for its address again", () => {
    const lease = persisted({ acquiredAt: T0 - 3600 * S });
    const h = new Harness(config(), { persistedLease: serializePersistedLease(lease) }, T0, new Map(leaseKeys(lease)));
    expect(h.kv.size).toBe(0);
    expect(h.state.name).toBe("SELECTING");
    expect(opt(h.only(), "requestedAddress")?.address).toBe("10.0.0.5");
  });

  it("ignores a persisted lease of another MAC", () => {
    const lease = persisted({ mac: "02:00:00:00:00:99" });
    const h = new Harness(config(), { persistedLease: serializePersistedLease(lease) }, T0, new Map(leaseKeys(lease)));
    expect(h.state.name).toBe("SELECTING");
    expect(h.kv.size).toBe(0);
  });
});

describe("DECLINE", () => {
  it("declines an address in use, withdraws it, and discovers again after 10 s", () => {
    const h = new Harness();
    h.bindTo();
    h.event({ kind: "addressInUse", address: "10.0.0.9" });
    expect(h.state.name).toBe("BOUND");
    h.event({ kind: "addressInUse", address: "10.0.0.5" }, h.now + 500);
    const [send] = h.sent();
    expect(send?.to).toBe("broadcast");
    const m = h.only();
    expect(typeOf(m)).toBe(MessageType.DECLINE);
    expect(m.ciaddr).toBe("0.0.0.0");
    expect(opt(m, "requestedAddress")?.address).toBe("10.0.0.5");
    expect(opt(m, "serverId")?.address).toBe(SERVER);
    expect(opt(m, "parameterRequestList")).toBeUndefined();
    expect(h.kv.size).toBe(0);
    expect(h.state.name).toBe("INIT");
    expect((h.timers.get("start") ?? 0) - h.now).toBe(DECLINE_HOLDOFF_MS);
    expect(h.timers.has("expiry")).toBe(false);
    h.fire("start");
    expect(h.state.name).toBe("SELECTING");
    expect(opt(h.only(), "requestedAddress")).toBeUndefined();
  });
});

describe("stop", () => {
  it("sends RELEASE unicast to the server and withdraws the lease when configured", () => {
    const h = new Harness(config({ releaseOnStop: true }));
    h.bindTo();
    h.event({ kind: "stop" });
    const [send] = h.sent();
    expect(send?.to).toBe(SERVER);
    const m = h.only();
    expect(typeOf(m)).toBe(MessageType.RELEASE);
    expect(m.ciaddr).toBe("10.0.0.5");
    expect(opt(m, "serverId")?.address).toBe(SERVER);
    expect(opt(m, "requestedAddress")).toBeUndefined();
    expect(opt(m, "clientId")).toBeDefined();
    expect(h.kv.size).toBe(0);
    expect(h.timers.size).toBe(0);
    expect(h.state.name).toBe("STOPPED");
    const after = h.event({ kind: "linkUp" });
    expect(after.every((a) => a.kind === "log")).toBe(true);
    expect(h.state.name).toBe("STOPPED");
  });

  it("without release keeps the lease published and persisted", () => {
    const h = new Harness(config({ releaseOnStop: true }));
    h.bindTo();
    const kv = new Map(h.kv);
    h.event({ kind: "stop", release: false });
    expect(h.sent()).toHaveLength(0);
    expect(h.kv).toEqual(kv);
    expect(h.timers.size).toBe(0);
    expect(h.state.name).toBe("STOPPED");
  });
});

describe("link events", () => {
  it("link down while BOUND keeps the lease, keeps only the expiry timer; link up → REBOOTING", () => {
    const h = new Harness();
    h.bindTo();
    h.event({ kind: "linkDown" }, T0 + 100 * S);
    expect(h.state.name).toBe("INIT-REBOOT");
    expect([...h.timers.keys()]).toEqual(["expiry"]);
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
    h.event({ kind: "linkUp" }, T0 + 200 * S);
    expect(h.state.name).toBe("REBOOTING");
    expect(opt(h.only(), "requestedAddress")?.address).toBe("10.0.0.5");
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"));
    expect(h.state.name).toBe("BOUND");
  });

  it("the lease expires while the link is down: withdrawn, INIT waits for the link", () => {
    const h = new Harness();
    h.bindTo();
    h.event({ kind: "linkDown" });
    h.fire("expiry");
    expect(h.state.name).toBe("INIT");
    expect(h.kv.size).toBe(0);
    expect(h.sent()).toHaveLength(0);
    h.event({ kind: "linkUp" }, h.now + S);
    expect(h.state.name).toBe("SELECTING");
  });

  it("link down while SELECTING → INIT with no timers; link up discovers with a new xid", () => {
    const h = new Harness();
    const xid = h.state.xid;
    h.event({ kind: "linkDown" });
    expect(h.state.name).toBe("INIT");
    expect(h.timers.size).toBe(0);
    h.event({ kind: "linkUp" }); // a duplicate link up is harmless
    expect(h.state.name).toBe("SELECTING");
    expect(h.state.xid).not.toBe(xid);
    h.event({ kind: "linkUp" });
    expect(h.sent()).toHaveLength(0);
  });

  it("starts with the link down: waits in INIT-REBOOT with a persisted lease", () => {
    const lease = persisted();
    const h = new Harness(config(), { persistedLease: serializePersistedLease(lease), linkUp: false }, T0, new Map(leaseKeys(lease)));
    expect(h.state.name).toBe("INIT-REBOOT");
    expect(h.sent()).toHaveLength(0);
    h.event({ kind: "linkUp" });
    expect(h.state.name).toBe("REBOOTING");
  });
});

describe("timer events", () => {
  it("ignores a timer that is not armed and re-arms one that fires early", () => {
    const h = new Harness();
    const before = h.state;
    const stale = h.event({ kind: "timer", name: "t1" });
    expect(stale).toEqual([{ kind: "log", level: "debug", message: "timer t1 ignored: not armed" }]);
    expect(h.state.name).toBe(before.name);
    const at = h.timers.get("retransmit") ?? 0;
    const early = h.event({ kind: "timer", name: "retransmit" }, at - 10);
    expect(early).toEqual([{ kind: "setTimer", name: "retransmit", at }]);
    h.fire("retransmit");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
  });

  it("step does not change the state it is given", () => {
    const h = new Harness();
    const snapshot = JSON.stringify({ ...h.state, config: undefined });
    step(h.state, { kind: "received", message: reply(MessageType.OFFER, h.state.xid, "10.0.0.5"), info: packetInfo(), rxTime: T0 }, T0);
    step(h.state, { kind: "linkDown" }, T0);
    expect(JSON.stringify({ ...h.state, config: undefined })).toBe(snapshot);
  });
});
