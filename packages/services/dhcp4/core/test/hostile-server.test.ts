/**
 * A hostile or broken DHCP server against the client core (issue 13 part C): replies built as raw
 * bytes (lying lengths, RFC 3396 splits, option overload, malformed and out-of-range values),
 * decoded by the codec and stepped through the state machine in every state that takes an ACK.
 *
 * Two contracts are joined here. What the core publishes must parse with the DHCP service's own
 * schema (`dhcp4Schema`: the parser, the size limit and the key count the store enforces), so a
 * lease is never half-refused by the store. And what a server says can never make the client
 * hold a non-unicast server, an address that is not a host of its subnet, or a route to loopback
 * or multicast; one malformed optional option loses only itself.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { matchEntry } from "@paddock/kv";
import { dhcp4Schema } from "../../service/src/schema.ts";
import { decodeDhcpMessage, encodeDhcpFrame, encodeDhcpMessage, encodeDnsNameList, isFrameForAnotherExchange } from "../src/index.ts";
import { MessageType } from "../src/message.ts";
import type { DhcpMessage, DhcpPacketInfo, Ipv4 } from "../src/message.ts";
import { isUnicastHost } from "../src/client/addr.ts";
import {
  INFINITE_LEASE,
  MAX_OFFERS,
  isNetworkOrBroadcast,
  leaseKeys,
  serializePersistedLease,
} from "../src/client/index.ts";
import type { ClientAction, PersistedLease } from "../src/client/index.ts";
import { Harness, MAC, SERVER, SERVER_MAC, T0, config, packetInfo, reply, standardOptions } from "./client-fixtures.ts";

// ---------------------------------------------------------------------------------------------
// Raw replies

/** Option bytes: code, length, data; data longer than 255 bytes is split (RFC 3396 §4). */
function opt(code: number, data: ArrayLike<number>): number[] {
  const bytes = Array.from(data);
  if (bytes.length === 0) return [code, 0];
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 255) {
    const chunk = bytes.slice(i, i + 255);
    out.push(code, chunk.length, ...chunk);
  }
  return out;
}
const ip = (a: string) => a.split(".").map(Number);
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

interface RawReply {
  type: number;
  xid: number;
  yiaddr: Ipv4;
  /** Option bytes after option 53, without the end option. */
  options: number[];
  /** Option bytes put in file / sname (needs option 52 in `options`). */
  file?: number[];
  sname?: number[];
  chaddr?: Uint8Array;
}

/** A BOOTREPLY as bytes, header from the encoder, options exactly as given. */
function rawReply(r: RawReply): Uint8Array {
  const head = encodeDhcpMessage(reply(r.type as MessageType, r.xid, r.yiaddr, [], r.chaddr ? { chaddr: r.chaddr } : {}));
  if (!head.ok) throw new Error(head.error.detail);
  const bytes = Array.from(head.value.subarray(0, 240));
  if (r.file) bytes.splice(108, r.file.length, ...r.file.slice(0, 128));
  if (r.sname) bytes.splice(44, r.sname.length, ...r.sname.slice(0, 64));
  return Uint8Array.from([...bytes.slice(0, 236 + 4), 53, 1, r.type, ...r.options, 255]);
}

function decoded(bytes: Uint8Array): DhcpMessage | undefined {
  const d = decodeDhcpMessage(bytes);
  return d.ok ? d.value : undefined;
}

function mustDecode(bytes: Uint8Array): DhcpMessage {
  const d = decodeDhcpMessage(bytes);
  if (!d.ok) throw new Error(`${d.error.code}: ${d.error.detail}`);
  return d.value;
}

/** The options of a sound ACK: server id, lease time, a /24 mask, router, DNS. */
function soundOptions(server: Ipv4 = SERVER, lease = 3600): number[] {
  return [...opt(54, ip(server)), ...opt(51, u32(lease)), ...opt(1, [255, 255, 255, 0]), ...opt(3, ip("10.0.0.1")), ...opt(6, ip("10.0.0.53"))];
}

// ---------------------------------------------------------------------------------------------
// The schema join

/** Every kvWrite must be a calf-written key of the schema whose value the store's parser accepts. */
function schemaProblems(actions: readonly ClientAction[], published: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  for (const a of actions) {
    if (a.kind !== "kvWrite") continue;
    const entry = matchEntry(dhcp4Schema, a.path.split("/").filter((s) => s.length > 0));
    if (entry === undefined) {
      problems.push(`${a.path}: not in the schema`);
      continue;
    }
    if (entry.writer !== "calf") problems.push(`${a.path}: not calf-written`);
    const size = new TextEncoder().encode(a.value).length;
    if (size > entry.maxBytes) problems.push(`${a.path}: ${size} bytes > ${entry.maxBytes}`);
    const parsed = entry.validate(a.value);
    if (!parsed.ok) problems.push(`${a.path} = ${JSON.stringify(a.value)}: ${parsed.reason}`);
  }
  // Wildcard keys are bounded in number too (maxKeys), over everything published at once.
  for (const entry of dhcp4Schema.entries) {
    if (entry.maxKeys === undefined) continue;
    const n = Object.keys(published).filter((p) => entry === matchEntry(dhcp4Schema, p.split("/").filter((s) => s.length > 0))).length;
    if (n > entry.maxKeys) problems.push(`${entry.pattern}: ${n} keys > ${entry.maxKeys}`);
  }
  return problems;
}

/** What a lease may never hold, whatever the server said. */
function leaseProblems(h: Harness): string[] {
  const lease = h.state.lease;
  if (lease === undefined) return [];
  const problems: string[] = [];
  if (!isUnicastHost(lease.serverId)) problems.push(`server id ${lease.serverId}`);
  if (lease.address === lease.serverId) problems.push("address is the server's");
  if (isNetworkOrBroadcast(lease.address, lease.prefix)) problems.push(`${lease.address}/${lease.prefix} is not a host`);
  if (lease.routers.includes(lease.address)) problems.push("router is the leased address");
  for (const r of lease.classlessRoutes ?? []) {
    const first = Number(r.destination.split(".")[0]);
    if (r.destination !== "0.0.0.0/0" && (first === 0 || first === 127 || first >= 224)) problems.push(`route to ${r.destination}`);
    if (r.router === lease.address) problems.push(`route via the leased address`);
  }
  return problems;
}

/** Unicast sends go to unicast hosts only (a renewal to 0.0.0.0 or a broadcast address is a bug). */
function sendProblems(actions: readonly ClientAction[]): string[] {
  return actions.flatMap((a) => (a.kind === "send" && a.to !== "broadcast" && !isUnicastHost(a.to) ? [`unicast to ${a.to}`] : []));
}

function checkAll(h: Harness): void {
  expect(schemaProblems(h.last, h.state.published)).toEqual([]);
  expect(leaseProblems(h)).toEqual([]);
  expect(sendProblems(h.last)).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries: options a hostile server sends

const HOSTILE_ADDRS = [
  "10.0.0.5", "10.0.0.1", "10.0.0.2", "10.0.0.0", "10.0.0.255", "0.0.0.0", "255.255.255.255", "255.0.0.0",
  "127.0.0.1", "224.0.0.1", "239.255.255.250", "240.0.0.1", "0.1.2.3", "192.168.1.9",
];
const hostileAddr = fc.constantFrom(...HOSTILE_ADDRS);
const MASKS = ["255.255.255.0", "255.255.255.254", "255.255.255.255", "0.0.0.0", "128.0.0.0", "255.0.255.0", "255.255.255.252"];
const label = fc.stringMatching(/^[a-z0-9]{1,63}$/);
const dnsName = fc.array(label, { minLength: 1, maxLength: 5 }).map((ls) => ls.join(".")).filter((n) => n.length <= 253);
const textBytes = fc.oneof(
  fc.constantFrom("example.test", "a b", "x\ny", "", "host", "évil", "a\u2028b", "x".repeat(70), `${"a".repeat(63)}.${"b".repeat(63)}`),
  dnsName,
).map((t) => Array.from(new TextEncoder().encode(t)));
const CODES = [1, 3, 6, 12, 15, 26, 42, 51, 52, 53, 54, 58, 59, 61, 80, 81, 119, 121];

/** One option as wire bytes, possibly split into several instances (RFC 3396). */
const optionBytes: fc.Arbitrary<number[]> = fc.oneof(
  fc.constantFrom(...MASKS).map((m) => opt(1, ip(m))),
  fc.array(hostileAddr, { maxLength: 12 }).map((as) => opt(3, as.flatMap(ip))),
  fc.array(hostileAddr, { maxLength: 12 }).map((as) => opt(6, as.flatMap(ip))),
  fc.array(hostileAddr, { maxLength: 12 }).map((as) => opt(42, as.flatMap(ip))),
  textBytes.map((t) => opt(12, t)),
  textBytes.map((t) => opt(15, t)),
  fc.oneof(fc.constantFrom(0, 67, 68, 575, 576, 1500, 9000, 65535), fc.nat({ max: 65535 })).map((m) => opt(26, [m >> 8, m & 255])),
  fc.constantFrom(0, 1, 59, 60, 3600, INFINITE_LEASE - 1, INFINITE_LEASE).map((s) => opt(51, u32(s))),
  fc.nat().map((s) => opt(58, u32(s))),
  fc.nat().map((s) => opt(59, u32(s))),
  fc.array(dnsName, { maxLength: 10 }).map((names) => {
    const e = encodeDnsNameList(names);
    return e.ok ? opt(119, e.value) : [];
  }),
  fc
    .array(
      fc.record({
        width: fc.oneof(fc.constantFrom(0, 1, 4, 8, 16, 24, 32), fc.nat({ max: 33 })),
        dest: hostileAddr,
        router: hostileAddr,
      }),
      { maxLength: 8 },
    )
    .map((rs) => opt(121, rs.flatMap((r) => [r.width, ...ip(r.dest).slice(0, Math.ceil(Math.min(r.width, 32) / 8)), ...ip(r.router)]))),
  // Anything at all under a code the client reads: wrong lengths, bad pointers, truncated routes.
  fc.tuple(fc.constantFrom(...CODES), fc.uint8Array({ maxLength: 40 })).map(([code, data]) => opt(code, data)),
  // An instance split in two where the halves are not adjacent (RFC 3396 §7 concatenates them).
  fc.tuple(fc.constantFrom(...CODES), fc.uint8Array({ minLength: 2, maxLength: 20 }), fc.nat({ max: 19 })).map(([code, data, cut]) => {
    const at = 1 + (cut % (data.length - 1));
    return [...opt(code, data.subarray(0, at)), 0, 0, ...opt(code, data.subarray(at))];
  }),
);

interface AckSpec {
  yiaddr: Ipv4;
  serverId: Ipv4 | null;
  lease: number | null;
  extra: number[][];
  srcIp: Ipv4;
}
const ackSpec: fc.Arbitrary<AckSpec> = fc.record({
  yiaddr: fc.oneof({ weight: 3, arbitrary: fc.constant("10.0.0.5") }, { weight: 1, arbitrary: hostileAddr }),
  serverId: fc.oneof({ weight: 3, arbitrary: fc.constant<Ipv4 | null>(SERVER) }, { weight: 2, arbitrary: hostileAddr }, { weight: 1, arbitrary: fc.constant(null) }),
  lease: fc.constantFrom<number | null>(3600, 0, INFINITE_LEASE, null),
  extra: fc.array(optionBytes, { maxLength: 8 }),
  srcIp: fc.constantFrom(SERVER, "0.0.0.0", "10.0.0.2"),
});

function ackBytes(spec: AckSpec, xid: number, rapid = false): Uint8Array {
  const options = [
    ...(spec.serverId === null ? [] : opt(54, ip(spec.serverId))),
    ...(spec.lease === null ? [] : opt(51, u32(spec.lease))),
    ...spec.extra.flat(),
    ...(rapid ? [80, 0] : []),
  ];
  return rawReply({ type: MessageType.ACK, xid, yiaddr: spec.yiaddr, options });
}

type Path = "requesting" | "rapid" | "rebooting" | "renewing" | "rebinding";

/** A client bound on 10.0.0.5/24 from 10.0.0.1 (lease 3600 s). */
function bound(): Harness {
  const h = new Harness(config({ offerWindowMs: 0 }));
  h.bindTo("10.0.0.5");
  return h;
}

/** A client that holds a clean lease and is waiting for an ACK on `path`. */
function waitingForAck(path: Path): Harness {
  switch (path) {
    case "requesting": {
      const h = new Harness(config({ offerWindowMs: 0 }));
      h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
      return h;
    }
    case "rapid":
      return new Harness(config({ offerWindowMs: 0 }));
    case "rebooting": {
      const lease = bound().state.lease as PersistedLease;
      return new Harness(config(), { persistedLease: serializePersistedLease(lease) }, T0 + 1000, new Map(leaseKeys(lease)));
    }
    case "renewing": {
      const h = bound();
      h.fire("t1");
      return h;
    }
    case "rebinding": {
      const h = bound();
      h.fire("t1");
      h.fire("t2");
      return h;
    }
  }
}

const PATHS: readonly Path[] = ["requesting", "rapid", "rebooting", "renewing", "rebinding"];
const info = (srcIp: Ipv4): DhcpPacketInfo => packetInfo(srcIp, SERVER_MAC);

// ---------------------------------------------------------------------------------------------

describe("core output always parses with the store's schema (property)", () => {
  it("arbitrary ACKs in every state that takes one, then renewal and expiry", () => {
    const states = new Set<string>();
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), ackSpec, fc.array(ackSpec, { maxLength: 2 }), (path, spec, later) => {
        const h = waitingForAck(path);
        checkAll(h);
        const m = decoded(ackBytes(spec, h.state.xid, path === "rapid"));
        if (m !== undefined) h.receive(m, info(spec.srcIp));
        checkAll(h);
        states.add(h.state.name);
        // The bound lease then renews (unicast at T1 only to a unicast server) and takes more ACKs.
        for (const next of later) {
          const timer = h.state.timers.t1 !== undefined ? "t1" : h.state.timers.t2 !== undefined ? "t2" : undefined;
          if (timer === undefined) break;
          h.fire(timer);
          checkAll(h);
          const n = decoded(ackBytes(next, h.state.xid));
          if (n !== undefined) h.receive(n, info(next.srcIp));
          checkAll(h);
        }
      }),
      { numRuns: 400 },
    );
    expect(states).toContain("BOUND");
  });

  it("a rich, sound ACK with random bytes overwritten, inserted or cut still never yields a value the store refuses", () => {
    const names = encodeDnsNameList(["a.test", "b.a.test", "c.b.a.test"]);
    if (!names.ok) throw new Error(names.error.detail);
    const rich = [
      ...soundOptions(), ...opt(15, Array.from(new TextEncoder().encode("example.test"))), ...opt(119, names.value),
      ...opt(121, [24, 192, 168, 5, ...ip("10.0.0.1"), 0, ...ip("10.0.0.1")]), ...opt(26, [5, 220]), ...opt(42, ip("10.0.0.123")),
      ...opt(12, Array.from(new TextEncoder().encode("host1"))),
    ];
    const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), how: fc.constantFrom("set", "insert", "delete") });
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), fc.array(edit, { minLength: 1, maxLength: 6 }), (path, edits) => {
        const h = waitingForAck(path);
        const options = [...rich, ...(path === "rapid" ? [80, 0] : [])];
        for (const e of edits) {
          const at = e.at % (options.length + 1);
          if (e.how === "set" && at < options.length) options[at] = e.byte;
          else if (e.how === "insert") options.splice(at, 0, e.byte);
          else if (e.how === "delete" && at < options.length) options.splice(at, 1);
        }
        const m = decoded(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options }));
        if (m !== undefined) h.receive(m, info(SERVER));
        checkAll(h);
      }),
      { numRuns: 400 },
    );
  });

  it("arbitrary option lists in OFFERs never make the client request something it cannot publish", () => {
    fc.assert(
      fc.property(ackSpec, ackSpec, (offer, ack) => {
        const h = new Harness(config({ offerWindowMs: 0 }));
        const o = decoded(rawReply({ type: MessageType.OFFER, xid: h.state.xid, yiaddr: offer.yiaddr, options: [...(offer.serverId ? opt(54, ip(offer.serverId)) : []), ...offer.extra.flat()] }));
        if (o !== undefined) h.receive(o, info(offer.srcIp));
        checkAll(h);
        const a = decoded(ackBytes(ack, h.state.xid));
        if (a !== undefined) h.receive(a, info(ack.srcIp));
        checkAll(h);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("C1: values the store would refuse are never published", () => {
  it("a subnet mask of 0.0.0.0 publishes /32, not /0", () => {
    const h = waitingForAck("requesting");
    h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...opt(54, ip(SERVER)), ...opt(51, u32(3600)), ...opt(1, [0, 0, 0, 0])] })));
    expect(h.state.name).toBe("BOUND");
    expect(h.kv.get("/ip")).toBe("10.0.0.5/32");
    checkAll(h);
  });

  it("option 119 cannot make /search longer than 256 bytes: names are dropped from the end", () => {
    const long = (c: string) => `${c.repeat(63)}.${c.repeat(63)}`; // 127 bytes each
    const names = ["a", "b", "c", "d"].map(long);
    const e = encodeDnsNameList(names);
    if (!e.ok) throw new Error(e.error.detail);
    const h = waitingForAck("requesting");
    h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...soundOptions(), ...opt(119, e.value)] })));
    expect(h.state.name).toBe("BOUND");
    expect(h.kv.get("/search")).toBe(`${names[0]} ${names[1]}`);
    expect(h.last).toContainEqual(expect.objectContaining({ kind: "log", message: expect.stringContaining(`search domain ${names[2]} dropped`) }));
    checkAll(h);
  });
});

describe("C2: a bound lease never holds a non-unicast server identifier", () => {
  const BAD_SERVERS = ["0.0.0.0", "255.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"];
  for (const path of ["rebinding", "rebooting", "rapid"] as const) {
    for (const server of BAD_SERVERS) {
      it(`an ACK in ${path} with option 54 = ${server} is not bound`, () => {
        const h = waitingForAck(path);
        const before = h.state.name;
        const leaseBefore = h.kv.get("/state/lease");
        h.receive(mustDecode(ackBytes({ yiaddr: "10.0.0.6", serverId: server, lease: 3600, extra: [], srcIp: SERVER }, h.state.xid, path === "rapid")));
        expect(h.state.name).toBe(before);
        expect(h.kv.get("/state/lease")).toBe(leaseBefore);
        expect(h.last).toContainEqual(expect.objectContaining({ kind: "log", level: "warn", message: expect.stringContaining(`server identifier ${server} is not a unicast address`) }));
        checkAll(h);
      });
    }
  }

  it("a rapid-commit ACK without option 54 from source 0.0.0.0 is not bound", () => {
    const h = waitingForAck("rapid");
    h.receive(mustDecode(ackBytes({ yiaddr: "10.0.0.6", serverId: null, lease: 3600, extra: [], srcIp: "0.0.0.0" }, h.state.xid, true)), info("0.0.0.0"));
    expect(h.state.name).toBe("SELECTING");
    expect(h.state.lease).toBeUndefined();
  });

  it("T1 after a REBINDING ACK is unicast only to the real server", () => {
    const h = waitingForAck("rebinding");
    h.receive(mustDecode(ackBytes({ yiaddr: "10.0.0.5", serverId: "0.0.0.0", lease: 3600, extra: [], srcIp: SERVER }, h.state.xid)));
    h.receive(mustDecode(ackBytes({ yiaddr: "10.0.0.5", serverId: "10.0.0.2", lease: 3600, extra: [], srcIp: "10.0.0.2" }, h.state.xid)), info("10.0.0.2"));
    expect(h.state.name).toBe("BOUND");
    h.fire("t1");
    expect(h.sent().map((s) => s.to)).toEqual(["10.0.0.2"]);
  });

  it("a persisted lease naming a non-unicast server is not resumed", () => {
    const lease = { ...(bound().state.lease as PersistedLease), serverId: "0.0.0.0" };
    const h = new Harness(config(), { persistedLease: serializePersistedLease(lease) }, T0 + 1000);
    expect(h.state.lease).toBeUndefined();
    expect(h.last).toContainEqual(expect.objectContaining({ kind: "log", message: "persisted lease ignored: serverId" }));
  });
});

describe("C5: a rogue server's unsound lease is refused, naming the server", () => {
  const refused: [string, Ipv4, number[]][] = [
    ["the subnet's network address", "10.0.0.0", opt(1, [255, 255, 255, 0])],
    ["the subnet's broadcast address", "10.0.0.255", opt(1, [255, 255, 255, 0])],
    ["the broadcast address of a /30", "10.0.0.7", opt(1, [255, 255, 255, 252])],
    ["the server's own address", SERVER, opt(1, [255, 255, 255, 0])],
  ];
  for (const [what, yiaddr, mask] of refused) {
    it(`yiaddr = ${what}`, () => {
      for (const path of PATHS) {
        const h = waitingForAck(path);
        const before = h.state.name;
        h.receive(mustDecode(ackBytes({ yiaddr, serverId: SERVER, lease: 3600, extra: [mask], srcIp: SERVER }, h.state.xid, path === "rapid")));
        expect(h.state.name).toBe(before);
        expect(h.state.lease?.address).not.toBe(yiaddr);
        expect(h.last).toContainEqual(expect.objectContaining({ kind: "log", level: "warn", message: expect.stringMatching(new RegExp(`^ACK from ${SERVER} ignored: yiaddr ${yiaddr.replace(/\./g, "\\.")}`)) }));
      }
    });
  }

  it("a /31 has no network or broadcast address (RFC 3021): both addresses are bound", () => {
    for (const yiaddr of ["10.0.0.4", "10.0.0.5"]) {
      const h = waitingForAck("requesting");
      h.receive(mustDecode(ackBytes({ yiaddr, serverId: SERVER, lease: 3600, extra: [opt(1, [255, 255, 255, 254])], srcIp: SERVER }, h.state.xid)));
      expect(h.kv.get("/ip")).toBe(`${yiaddr}/31`);
    }
  });

  it("a router equal to the leased address is dropped, the other routers kept", () => {
    const h = waitingForAck("requesting");
    h.receive(mustDecode(ackBytes({ yiaddr: "10.0.0.5", serverId: SERVER, lease: 3600, extra: [opt(3, [...ip("10.0.0.5"), ...ip("10.0.0.1")])], srcIp: SERVER }, h.state.xid)));
    expect(h.state.name).toBe("BOUND");
    expect(h.kv.get("/gateway")).toBe("10.0.0.1");
    expect(h.state.lease?.routers).toEqual(["10.0.0.1"]);
    expect(h.last).toContainEqual({ kind: "log", level: "warn", message: `ACK from ${SERVER}: router 10.0.0.5 dropped: it is the leased address` });
  });

  it("classless routes to 127/8, 224/4 and 240/4, or via the leased address, are dropped; the lease and the rest stay", () => {
    const routes = [
      [8, 127, ...ip("10.0.0.1")],
      [4, 224, ...ip("10.0.0.1")],
      [32, 239, 255, 255, 250, ...ip("10.0.0.1")],
      [4, 240, ...ip("10.0.0.1")],
      [16, 192, 168, ...ip("10.0.0.5")],
      [8, 172, ...ip("10.0.0.1")],
      [0, ...ip("10.0.0.1")],
    ].flat();
    const h = waitingForAck("requesting");
    h.receive(mustDecode(ackBytes({ yiaddr: "10.0.0.5", serverId: SERVER, lease: 3600, extra: [opt(121, routes)], srcIp: SERVER }, h.state.xid)));
    expect(h.state.name).toBe("BOUND");
    expect(h.state.lease?.classlessRoutes).toEqual([
      { destination: "172.0.0.0/8", router: "10.0.0.1" },
      { destination: "0.0.0.0/0", router: "10.0.0.1" },
    ]);
    const warns = h.last.filter((a) => a.kind === "log" && a.level === "warn").map((a) => (a as { message: string }).message);
    expect(warns).toEqual([
      `ACK from ${SERVER}: route to 127.0.0.0/8 via 10.0.0.1 dropped: not a destination a server may route`,
      `ACK from ${SERVER}: route to 224.0.0.0/4 via 10.0.0.1 dropped: not a destination a server may route`,
      `ACK from ${SERVER}: route to 239.255.255.250/32 via 10.0.0.1 dropped: not a destination a server may route`,
      `ACK from ${SERVER}: route to 240.0.0.0/4 via 10.0.0.1 dropped: not a destination a server may route`,
      `ACK from ${SERVER}: route to 192.168.0.0/16 dropped: its router is the leased address`,
    ]);
    checkAll(h);
  });
});

describe("C6: one malformed optional option loses only itself", () => {
  const broken: [string, number[]][] = [
    ["a search list with a looping compression pointer", opt(119, [1, 0x61, 0xc0, 0])],
    ["a search list with a pointer past the end", opt(119, [1, 0x61, 0xc0, 0x40])],
    ["a search list with a pointer to itself", opt(119, [0xc0, 0])],
    ["option 121 with a width of 33", opt(121, [33, 10, 0, 0, 0, ...ip("10.0.0.1")])],
    ["option 121 cut short", opt(121, [24, 10, 1, 2, 10, 0])],
    ["option 6 of 5 bytes", opt(6, [10, 0, 0, 53, 1])],
    ["option 26 of 3 bytes", opt(26, [5, 220, 0])],
    ["option 1 of 3 bytes", opt(1, [255, 255, 255])],
    ["option 3 of 7 bytes", opt(3, [10, 0, 0, 1, 10, 0, 0])],
    ["option 42 of 2 bytes", opt(42, [10, 0])],
    ["option 58 of 2 bytes", opt(58, [0, 1])],
    ["option 81 of 2 bytes", opt(81, [0, 0])],
    ["option 80 with a value", opt(80, [1])],
  ];
  for (const [what, bytes] of broken) {
    it(`${what}: the lease binds, the option is dropped and logged`, () => {
      for (const path of PATHS) {
        const h = waitingForAck(path);
        const code = bytes[0] as number;
        // The sound options minus the broken one's code, then the broken one.
        const sound = [
          ...opt(54, ip(SERVER)), ...opt(51, u32(3600)),
          ...(code === 1 ? [] : opt(1, [255, 255, 255, 0])),
          ...(code === 3 ? [] : opt(3, ip("10.0.0.1"))),
        ];
        h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...sound, ...bytes, ...(path === "rapid" ? [80, 0] : [])] })));
        if (path === "rapid" && code === 80) {
          // A malformed rapid-commit option is no rapid commit: the ACK is not taken in SELECTING.
          expect(h.state.name).toBe("SELECTING");
          continue;
        }
        expect(h.state.name).toBe("BOUND");
        expect(h.last).toContainEqual(expect.objectContaining({ kind: "log", level: "warn", message: expect.stringContaining(`malformed option ${code} ignored`) }));
        expect(h.kv.get("/ip")).toBe(code === 1 ? "10.0.0.5/32" : "10.0.0.5/24");
        checkAll(h);
      }
    });
  }

  it("a malformed lease time refuses the ACK (the lease cannot do without it)", () => {
    const h = waitingForAck("requesting");
    h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...opt(54, ip(SERVER)), ...opt(51, [0, 0, 14])] })));
    expect(h.state.name).toBe("REQUESTING");
    expect(h.last).toContainEqual(expect.objectContaining({ kind: "log", level: "warn", message: expect.stringContaining("malformed option 51") }));
  });

  it("a malformed message type or server id, a lying length or a bad overload value make the message undecodable", () => {
    const xid = 1;
    const cases: RawReply[] = [
      { type: MessageType.ACK, xid, yiaddr: "10.0.0.5", options: [...opt(54, [10, 0, 0])] },
      { type: MessageType.ACK, xid, yiaddr: "10.0.0.5", options: [...opt(53, [5])] }, // 53 twice → 2 bytes (RFC 3396)
      { type: MessageType.ACK, xid, yiaddr: "10.0.0.5", options: [...soundOptions(), 6, 200, 10, 0, 0, 53] },
      { type: MessageType.ACK, xid, yiaddr: "10.0.0.5", options: [...soundOptions(), 52, 1, 4] },
      { type: MessageType.ACK, xid, yiaddr: "10.0.0.5", options: [...soundOptions(), 3] },
    ];
    for (const c of cases) expect(decodeDhcpMessage(rawReply(c)).ok).toBe(false);
  });
});

describe("overload, splits and storms", () => {
  it("options carried in file and sname (option 52) are read, and split ones concatenated", () => {
    const h = waitingForAck("requesting");
    const file = [...opt(6, ip("10.0.0.53")), ...opt(3, ip("10.0.0.1")), 255];
    const sname = [...opt(6, ip("10.0.0.54")), 255];
    h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...opt(52, [3]), ...opt(54, ip(SERVER)), ...opt(51, u32(3600)), ...opt(1, [255, 255, 255, 0])], file, sname })));
    expect(h.state.name).toBe("BOUND");
    expect(h.state.lease?.dns).toEqual(["10.0.0.53", "10.0.0.54"]);
    expect(h.kv.get("/gateway")).toBe("10.0.0.1");
  });

  it("a server id split into two 2-byte instances is one address (RFC 3396)", () => {
    const h = waitingForAck("requesting");
    h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [54, 2, 10, 0, ...opt(51, u32(3600)), 54, 2, 0, 1] })));
    expect(h.state.lease?.serverId).toBe(SERVER);
  });

  it("an OFFER storm from many servers keeps at most MAX_OFFERS, and other exchanges' ACKs change nothing", () => {
    const h = new Harness(config({ requestedAddress: "10.0.0.99", offerWindowMs: 4000 }));
    for (let i = 0; i < 1000; i++) {
      const server = `10.1.${i >> 8}.${(i & 255) + 1 > 254 ? 254 : (i & 255) + 1}`;
      h.receive(mustDecode(rawReply({ type: MessageType.OFFER, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...opt(54, ip(server)), ...opt(51, u32(3600))] })), info(server));
    }
    expect(h.state.offers.length).toBeLessThanOrEqual(MAX_OFFERS);
    const before = h.state;
    for (let i = 0; i < 1000; i++) {
      h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: (h.state.xid + 1 + i) >>> 0, yiaddr: "10.0.0.5", options: soundOptions() })));
      h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: soundOptions(), chaddr: Uint8Array.of(2, 0, 0, 0, 0, 9) })));
    }
    expect(h.state.name).toBe(before.name);
    expect(h.state.published).toEqual(before.published);
    expect(MAC).toHaveLength(6);
  });
});

describe("the runtime's pre-filter (isFrameForAnotherExchange)", () => {
  const frameOf = (m: DhcpMessage) => {
    const f = encodeDhcpFrame(m, { srcMac: SERVER_MAC, dstMac: new Uint8Array(6).fill(255), srcIp: SERVER, dstIp: "255.255.255.255", srcPort: 67, dstPort: 68 });
    if (!f.ok) throw new Error(f.error.detail);
    return f.value;
  };
  const ours = frameOf(reply(MessageType.OFFER, 0x12345678, "10.0.0.5"));

  it("tells another xid or chaddr from fixed offsets, and keeps ours", () => {
    expect(isFrameForAnotherExchange(ours, 0x12345678, MAC)).toBe(false);
    expect(isFrameForAnotherExchange(ours, 0x12345679, MAC)).toBe(true);
    expect(isFrameForAnotherExchange(frameOf(reply(MessageType.OFFER, 0x12345678, "10.0.0.5", [], { chaddr: Uint8Array.of(2, 0, 0, 0, 0, 9) })), 0x12345678, MAC)).toBe(true);
  });

  it("reads past VLAN tags and IPv4 options", () => {
    const tagged = Uint8Array.from([...ours.subarray(0, 12), 0x81, 0x00, 0x00, 0x05, ...ours.subarray(12)]);
    expect(isFrameForAnotherExchange(tagged, 0x12345678, MAC)).toBe(false);
    expect(isFrameForAnotherExchange(tagged, 1, MAC)).toBe(true);
    // IHL 6: four bytes of IPv4 options move the UDP header.
    const withOptions = Uint8Array.from([...ours.subarray(0, 14), 0x46, ...ours.subarray(15, 34), 1, 1, 1, 1, ...ours.subarray(34)]);
    expect(isFrameForAnotherExchange(withOptions, 0x12345678, MAC)).toBe(false);
    expect(isFrameForAnotherExchange(withOptions, 1, MAC)).toBe(true);
  });

  it("leaves what it cannot judge to the decoder (short, not IPv4, bad IHL)", () => {
    expect(isFrameForAnotherExchange(ours.subarray(0, 60), 1, MAC)).toBe(false);
    expect(isFrameForAnotherExchange(new Uint8Array(0), 1, MAC)).toBe(false);
    const ipv6 = ours.slice();
    ipv6[12] = 0x86;
    ipv6[13] = 0xdd;
    expect(isFrameForAnotherExchange(ipv6, 1, MAC)).toBe(false);
    const badIhl = ours.slice();
    badIhl[14] = 0x41;
    expect(isFrameForAnotherExchange(badIhl, 1, MAC)).toBe(false);
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), (bytes, xid) => typeof isFrameForAnotherExchange(bytes, xid, MAC) === "boolean"));
  });
});

describe("invalid values in a sound lease", () => {
  /** Binds a sound ACK whose options of the codes in `extra` are replaced by `extra` (a second instance would be concatenated, RFC 3396). */
  function bindWith(extra: number[][]): Harness {
    const h = waitingForAck("requesting");
    const replaced = new Set(extra.map((o) => o[0]));
    const sound = [opt(54, ip(SERVER)), opt(51, u32(3600)), opt(1, [255, 255, 255, 0]), opt(3, ip("10.0.0.1")), opt(6, ip("10.0.0.53"))].filter((o) => !replaced.has(o[0]));
    h.receive(mustDecode(rawReply({ type: MessageType.ACK, xid: h.state.xid, yiaddr: "10.0.0.5", options: [...sound.flat(), ...extra.flat()] })));
    expect(h.state.name).toBe("BOUND");
    checkAll(h);
    return h;
  }

  it("MTUs outside 68–65535 are not published", () => {
    for (const [mtu, want] of [[0, undefined], [67, undefined], [68, "68"], [576, "576"], [65535, "65535"]] as const) {
      expect(bindWith([opt(26, [mtu >> 8, mtu & 255])]).kv.get("/mtu")).toBe(want);
    }
  });

  it("lease times: 0 is stretched, infinite never expires, T1 ≥ T2 falls back", () => {
    const zero = bindWith([opt(51, u32(0))]);
    expect(zero.state.lease?.leaseSeconds).toBe(60);
    const infinite = bindWith([opt(51, u32(INFINITE_LEASE))]);
    expect(infinite.kv.get("/lease/expires")).toBe("0");
    const inverted = bindWith([opt(58, u32(3000)), opt(59, u32(100))]);
    expect(inverted.state.lease?.renewMs).toBe(1_800_000);
  });

  it("names with spaces, line breaks, non-ASCII or beyond the limits are not published", () => {
    const enc = (t: string) => Array.from(new TextEncoder().encode(t));
    for (const bad of ["a b", "x\ny", "évil.test", "a\u2028b", "x".repeat(65), "-x.test", "a..b"]) {
      const h = bindWith([opt(12, enc(bad)), opt(15, enc(bad))]);
      expect(h.kv.get("/hostname")).toBeUndefined();
      expect(h.kv.get("/domain")).toBeUndefined();
    }
  });

  it("DNS and NTP servers that are not unicast hosts are dropped, and at most 8 kept", () => {
    const addrs = ["0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.1", "240.0.0.1", ...Array.from({ length: 12 }, (_, i) => `10.0.1.${i + 1}`)];
    const h = bindWith([opt(6, addrs.flatMap(ip)), opt(42, addrs.flatMap(ip))]);
    const ns = [...h.kv.keys()].filter((k) => k.startsWith("/nameserver/"));
    expect(ns).toHaveLength(8);
    expect(h.kv.get("/nameserver/001")).toBe("10.0.1.1");
    expect([...h.kv.keys()].filter((k) => k.startsWith("/ntp/"))).toHaveLength(8);
  });

  it("routers that are not unicast hosts are dropped", () => {
    const h = bindWith([opt(3, ["0.0.0.0", "255.255.255.255", "224.0.0.1", "10.0.0.1"].flatMap(ip))]);
    expect(h.state.lease?.routers).toEqual(["10.0.0.1"]);
  });

  it("a standard ACK still binds (control)", () => {
    const h = waitingForAck("requesting");
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", standardOptions()));
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
    checkAll(h);
  });
});
