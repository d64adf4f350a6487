/**
 * Property test: random runs of events (server replies built from the message types, some with
 * our xid and chaddr and some not, timer expiries, link events, stops, conflicts) against a model
 * runtime that fires due timers in order. Nothing throws and the invariants hold after every step.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeDhcpMessage, encodeDhcpMessage } from "../src/index.ts";
import type { DhcpMessage, DhcpOption, Ipv4 } from "../src/message.ts";
import { INFINITE_LEASE, IPV6_ONLY_UNTIL_KEY, createClient, leaseKeys, parsePersistedLease, serializePersistedLease, step } from "../src/client/index.ts";
import type { ClientAction, ClientConfig, ClientEvent, ClientState, PersistedLease, TimerName } from "../src/client/index.ts";
import { MAC, T0, packetInfo, reply, seeded } from "./client-fixtures.ts";

const ADDRS = ["10.0.0.5", "10.0.0.6", "10.0.0.1", "10.0.0.2", "0.0.0.0", "255.255.255.255", "127.0.0.1", "192.168.1.9"];
const addr = fc.constantFrom(...ADDRS);
const seconds = fc.oneof(fc.constantFrom(0, 1, 59, 60, 61, 100, 3600, INFINITE_LEASE - 1, INFINITE_LEASE), fc.nat({ max: 0xffffffff }));

const option: fc.Arbitrary<DhcpOption> = fc.oneof(
  addr.map((address) => ({ kind: "serverId", code: 54, address }) as const),
  seconds.map((s) => ({ kind: "leaseTime", code: 51, seconds: s }) as const),
  seconds.map((s) => ({ kind: "renewalTime", code: 58, seconds: s }) as const),
  seconds.map((s) => ({ kind: "rebindingTime", code: 59, seconds: s }) as const),
  fc.constantFrom("255.255.255.0", "255.255.0.0", "255.0.255.0", "0.0.0.0", "255.255.255.255").map((mask) => ({ kind: "subnetMask", code: 1, mask }) as const),
  fc.array(addr, { maxLength: 4 }).map((addresses) => ({ kind: "routers", code: 3, addresses }) as const),
  fc.array(addr, { maxLength: 12 }).map((addresses) => ({ kind: "dnsServers", code: 6, addresses }) as const),
  fc.array(addr, { maxLength: 12 }).map((addresses) => ({ kind: "ntpServers", code: 42, addresses }) as const),
  fc.constantFrom("example.test", "a b", "x\ny", "").map((name) => ({ kind: "domainName", code: 15, name }) as const),
  fc.array(fc.constantFrom("a.test", "b.test", "bad name"), { maxLength: 8 }).map((names) => ({ kind: "domainSearch", code: 119, names }) as const),
  fc.integer({ min: 0, max: 65535 }).map((mtu) => ({ kind: "mtu", code: 26, mtu }) as const),
  fc
    .array(
      fc.record({ destination: fc.constantFrom("0.0.0.0/0", "10.1.0.0/16", "192.168.0.0/24", "10.0.0.1/8"), router: addr }),
      { maxLength: 4 },
    )
    .map((routes) => ({ kind: "classlessRoutes", code: 121, routes }) as const),
  fc.constant({ kind: "rapidCommit", code: 80 } as const),
  fc.string({ maxLength: 20 }).map((text) => ({ kind: "message", code: 56, text }) as const),
  fc.uint8Array({ maxLength: 4 }).map((data) => ({ kind: "clientId", code: 61, data }) as const),
  // RFC 8925: acted on only with ipv6OnlyPreferred.
  seconds.map((s) => ({ kind: "ipv6OnlyPreferred", code: 108, seconds: s }) as const),
);

interface ReplySpec {
  type: number;
  ourXid: boolean;
  xid: number;
  ourChaddr: boolean;
  yiaddr: Ipv4;
  standardServer: Ipv4 | null;
  lease: number | null;
  options: DhcpOption[];
  op: number;
  srcIp: Ipv4;
}

type Command =
  | { kind: "reply"; spec: ReplySpec; delay: number }
  | { kind: "advance"; ms: number }
  | { kind: "timer"; name: TimerName; early: boolean }
  | { kind: "linkUp" }
  | { kind: "linkDown" }
  | { kind: "stop"; release: boolean | undefined }
  | { kind: "inUse"; ours: boolean }
  | { kind: "arp"; op: number; ourMac: boolean; sender: "zero" | "ours" | "other"; target: "ours" | "other" };

const replySpec: fc.Arbitrary<ReplySpec> = fc.record({
  type: fc.oneof(fc.constantFrom(2, 5, 6), fc.integer({ min: 0, max: 255 })),
  ourXid: fc.constantFrom(true, true, false),
  xid: fc.nat({ max: 0xffffffff }),
  ourChaddr: fc.constantFrom(true, true, true, false),
  yiaddr: addr,
  standardServer: fc.constantFrom<Ipv4 | null>("10.0.0.1", "10.0.0.2", null),
  lease: fc.constantFrom<number | null>(3600, 600, 0, INFINITE_LEASE, null),
  options: fc.array(option, { maxLength: 5 }),
  op: fc.constantFrom(2, 2, 2, 1),
  srcIp: addr,
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ kind: fc.constant("reply" as const), spec: replySpec, delay: fc.nat({ max: 3000 }) }) },
  { weight: 15, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.oneof(fc.nat({ max: 70_000 }), fc.nat({ max: 4_000_000 })) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("timer" as const),
      name: fc.constantFrom<TimerName>("start", "retransmit", "offerWindow", "t1", "t2", "expiry", "arp", "ipv6Only"),
      early: fc.boolean(),
    }),
  },
  { weight: 5, arbitrary: fc.constant({ kind: "linkUp" as const }) },
  { weight: 5, arbitrary: fc.constant({ kind: "linkDown" as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("inUse" as const), ours: fc.boolean() }) },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("arp" as const),
      op: fc.constantFrom(1, 2),
      ourMac: fc.constantFrom(false, false, true),
      sender: fc.constantFrom("zero" as const, "ours" as const, "other" as const),
      target: fc.constantFrom("ours" as const, "other" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("stop" as const), release: fc.option(fc.boolean(), { nil: undefined }) }) },
);

function buildReply(spec: ReplySpec, state: ClientState): DhcpMessage {
  const options: DhcpOption[] = [];
  const seen = new Set<number>();
  const add = (o: DhcpOption): void => {
    if (!seen.has(o.code)) {
      seen.add(o.code);
      options.push(o);
    }
  };
  if (spec.standardServer !== null) add({ kind: "serverId", code: 54, address: spec.standardServer });
  if (spec.lease !== null) add({ kind: "leaseTime", code: 51, seconds: spec.lease });
  for (const o of spec.options) add(o);
  const m = reply(spec.type as 2, spec.ourXid ? state.xid : spec.xid, spec.yiaddr, options, { op: spec.op });
  // `reply` puts the message type first; option 53 from `spec.options` cannot appear.
  if (!spec.ourChaddr) m.chaddr = Uint8Array.of(2, 0, 0, 0, 0, 9);
  return m;
}

const persisted: PersistedLease = {
  v: 1,
  mac: "02:00:5e:10:20:30",
  address: "10.0.0.5",
  prefix: 24,
  serverId: "10.0.0.1",
  serverMac: "02:00:00:00:00:01",
  acquiredAt: T0 - 1000_000,
  leaseSeconds: 3600,
  renewMs: 1800_000,
  rebindMs: 3150_000,
  routers: ["10.0.0.1"],
  classlessRoutes: null,
  dns: ["10.0.0.53"],
  domain: "",
  search: [],
  mtu: 0,
  ntp: [],
};

const setup = fc.record({
  seed: fc.integer(),
  persistedLease: fc.constantFrom<string | undefined>(
    undefined,
    serializePersistedLease(persisted),
    serializePersistedLease({ ...persisted, leaseSeconds: INFINITE_LEASE, renewMs: 0, rebindMs: 0 }),
    serializePersistedLease({ ...persisted, acquiredAt: T0 - 4000_000 }),
    "{corrupt",
  ),
  linkUp: fc.boolean(),
  initialDelayMs: fc.constantFrom(0, 0, 5000),
  offerWindowMs: fc.constantFrom(0, 1000),
  rapidCommit: fc.boolean(),
  onRebootTimeout: fc.constantFrom<"init" | "keepLease">("init", "keepLease"),
  requestedAddress: fc.constantFrom<Ipv4 | undefined>(undefined, "10.0.0.6"),
  arpProbe: fc.boolean(),
  ipv6OnlyPreferred: fc.boolean(),
});

const LEASE_STATES = ["BOUND", "RENEWING", "REBINDING", "INIT-REBOOT", "REBOOTING"];

class World {
  state: ClientState;
  now = T0;
  link: boolean;
  readonly kv = new Map<string, string>();
  readonly timers = new Map<TimerName, number>();
  steps = 0;
  /** Every state this world has been in after some step. */
  readonly visited = new Set<string>();

  constructor(cfg: ClientConfig, persistedLease: string | undefined, linkUp: boolean) {
    // The store still holds what the run that persisted the lease published.
    const earlier = persistedLease === undefined ? undefined : parsePersistedLease(persistedLease);
    if (earlier?.ok) for (const [k, v] of leaseKeys(earlier.lease)) this.kv.set(k, v);
    const r = createClient(cfg, T0, { persistedLease, linkUp });
    if (!r.ok) throw new Error(r.error.detail);
    this.state = r.state;
    this.link = linkUp;
    this.check(r.actions, "INIT");
  }

  run(event: ClientEvent, at: number): void {
    this.now = at;
    if (event.kind === "timer") this.timers.delete(event.name);
    const before = this.state.name;
    const r = step(this.state, event, at);
    this.state = r.state;
    this.steps++;
    this.visited.add(r.state.name);
    this.check(r.actions, before);
  }

  /** Fires every armed timer due by `until`, earliest first, as the runtime would. */
  advanceTo(until: number): void {
    for (let guard = 0; guard < 1000; guard++) {
      let next: [TimerName, number] | undefined;
      for (const [name, at] of this.timers) if (at <= until && (next === undefined || at < next[1])) next = [name, at];
      if (next === undefined) break;
      this.run({ kind: "timer", name: next[0] }, Math.max(next[1], this.now));
    }
    this.now = Math.max(this.now, until);
  }

  private check(actions: ClientAction[], before: ClientState["name"]): void {
    const s = this.state;
    let infoLogs = 0;
    for (const a of actions) {
      switch (a.kind) {
        case "setTimer":
          expect(Number.isFinite(a.at)).toBe(true);
          expect(a.at).toBeGreaterThanOrEqual(this.now);
          this.timers.set(a.name, a.at);
          break;
        case "cancelTimer":
          this.timers.delete(a.name);
          break;
        case "kvWrite":
          this.kv.set(a.path, a.value);
          break;
        case "kvDelete":
          this.kv.delete(a.path);
          break;
        case "send": {
          expect(this.link).toBe(true);
          const m = a.message;
          expect(m.op).toBe(1);
          expect([...m.chaddr]).toEqual([...MAC]);
          expect(Number.isInteger(m.xid) && m.xid >= 0 && m.xid <= 0xffffffff).toBe(true);
          const encoded = encodeDhcpMessage(m);
          expect(encoded.ok).toBe(true);
          if (encoded.ok) {
            const back = decodeDhcpMessage(encoded.value);
            expect(back.ok).toBe(true);
            if (back.ok) expect(back.value.options.map((o) => o.code)).toEqual(m.options.map((o) => o.code));
          }
          if (a.to !== "broadcast") expect(m.ciaddr).not.toBe("0.0.0.0");
          break;
        }
        case "sendArp":
          expect(this.link).toBe(true);
          // A probe or an announcement, of the address being probed or held.
          expect([this.state.probe?.lease.address, s.lease?.address]).toContain(a.targetIp);
          expect(["0.0.0.0", a.targetIp]).toContain(a.senderIp);
          break;
        case "log":
          expect(a.message).not.toMatch(/[\n\r]/);
          if (a.level === "info" && a.message.includes(" → ")) infoLogs++;
          break;
      }
    }
    // The model runtime agrees with the client about timers and the store.
    expect(Object.fromEntries(this.timers)).toEqual(s.timers);
    expect(Object.fromEntries(this.kv)).toEqual(s.published);
    // Armed timers are now or later.
    for (const at of Object.values(s.timers)) expect(at).toBeGreaterThanOrEqual(this.now);
    // IPV6-ONLY (RFC 8925) publishes only when its wait ends, and nothing else; no other state has the key.
    const leaseKv = new Map(this.kv);
    if (s.name === "IPV6-ONLY") {
      expect(s.config.ipv6OnlyPreferred).toBe(true);
      expect(s.timers.ipv6Only).toBeDefined();
      expect(leaseKv.get(IPV6_ONLY_UNTIL_KEY)).toBe(String(Math.ceil((s.timers.ipv6Only ?? 0) / 1000)));
      leaseKv.delete(IPV6_ONLY_UNTIL_KEY);
    } else {
      expect(this.kv.has(IPV6_ONLY_UNTIL_KEY)).toBe(false);
      expect(s.timers.ipv6Only).toBeUndefined();
    }
    // What is published is exactly the held lease: a published /ip always has a matching lease.
    if (s.lease === undefined) expect(leaseKv.size).toBe(0);
    else expect(Object.fromEntries(leaseKv)).toEqual(Object.fromEntries(leaseKeys(s.lease)));
    if (this.kv.has("/ip")) expect(this.kv.get("/ip")).toBe(`${s.lease?.address}/${s.lease?.prefix}`);
    // INIT, SELECTING, REQUESTING publish nothing; the lease states hold a lease.
    if (["INIT", "SELECTING", "REQUESTING", "IPV6-ONLY"].includes(s.name)) {
      expect(s.lease).toBeUndefined();
      expect(leaseKv.size).toBe(0);
    }
    if (LEASE_STATES.includes(s.name)) {
      expect(s.lease).toBeDefined();
      if (s.lease !== undefined && s.lease.leaseSeconds !== INFINITE_LEASE) expect(s.timers.expiry).toBeDefined();
    }
    // An infinite lease arms no lease timers (announcements may still be due).
    if (s.name === "BOUND" && s.lease?.leaseSeconds === INFINITE_LEASE) expect(Object.keys(s.timers).filter((n) => n !== "arp")).toEqual([]);
    // Waiting states have something to wake them up (or wait for the link).
    if (s.link && (s.name === "SELECTING" || s.name === "REQUESTING" || s.name === "REBOOTING")) expect(s.timers.retransmit ?? s.timers.arp).toBeDefined();
    // A probe lives exactly as long as its timer, and nothing is probed without arpProbe.
    expect(s.probe !== undefined).toBe(s.probe !== undefined && s.timers.arp !== undefined);
    if (!s.config.arpProbe) expect(s.timers.arp).toBeUndefined();
    if (s.link && (s.name === "INIT" || s.name === "INIT-REBOOT")) expect(s.timers.start).toBeDefined();
    if (s.name === "STOPPED") expect(s.timers).toEqual({});
    expect(s.link).toBe(this.link);
    // Each change of state logs its line.
    if (s.name !== before) expect(infoLogs).toBeGreaterThan(0);
  }
}

/**
 * Plays random event sequences against the client (the World checks the invariants after every
 * step) and returns the states they visited and the steps they took. `seed` fixes fast-check's
 * generator; without it every run explores new sequences.
 */
function play(seed?: number): { visited: Set<string>; steps: number } {
  const visited = new Set<string>();
  let steps = 0;
  fc.assert(
    fc.property(setup, fc.array(command, { maxLength: 80, size: "max" }), (cfg, commands) => {
      const world = new World(
        {
          mac: MAC,
          random: seeded(cfg.seed),
          initialDelayMs: cfg.initialDelayMs,
          offerWindowMs: cfg.offerWindowMs,
          rapidCommit: cfg.rapidCommit,
          onRebootTimeout: cfg.onRebootTimeout,
          requestedAddress: cfg.requestedAddress,
          arpProbe: cfg.arpProbe,
          ipv6OnlyPreferred: cfg.ipv6OnlyPreferred,
        },
        cfg.persistedLease,
        cfg.linkUp,
      );
      for (const c of commands) {
        switch (c.kind) {
          case "reply": {
            world.advanceTo(world.now + c.delay);
            const message = buildReply(c.spec, world.state);
            world.run({ kind: "received", message, info: packetInfo(c.spec.srcIp), rxTime: world.now }, world.now);
            break;
          }
          case "advance":
            world.advanceTo(world.now + c.ms);
            break;
          case "timer": {
            const at = world.timers.get(c.name);
            // Early: before it is due (re-armed); otherwise a stale event for an unarmed timer.
            if (c.early && at !== undefined && at > world.now) world.run({ kind: "timer", name: c.name }, world.now);
            else if (at === undefined) world.run({ kind: "timer", name: c.name }, world.now);
            break;
          }
          case "linkUp":
            world.link = world.state.name === "STOPPED" ? world.link : true;
            world.run({ kind: "linkUp" }, world.now);
            break;
          case "linkDown":
            world.link = world.state.name === "STOPPED" ? world.link : false;
            world.run({ kind: "linkDown" }, world.now);
            break;
          case "stop":
            world.run({ kind: "stop", release: c.release }, world.now);
            break;
          case "arp": {
            // The address in play: the one being probed, else the held one.
            const ours = world.state.probe?.lease.address ?? world.state.lease?.address ?? "10.0.0.5";
            const ip = (w: "zero" | "ours" | "other") => (w === "zero" ? "0.0.0.0" : w === "ours" ? ours : "10.0.0.77");
            const senderMac = c.ourMac ? MAC : Uint8Array.of(2, 0, 0, 0, 0, 0x77);
            const packet = { op: c.op as 1 | 2, ethernetSource: senderMac, senderMac, senderIp: ip(c.sender), targetMac: new Uint8Array(6), targetIp: ip(c.target) };
            world.run({ kind: "arp", packet }, world.now);
            break;
          }
          case "inUse":
            world.run({ kind: "addressInUse", address: c.ours ? (world.state.lease?.address ?? "10.0.0.5") : "10.0.0.77" }, world.now);
            break;
        }
      }
      for (const v of world.visited) visited.add(v);
      steps += world.steps;
    }),
    { numRuns: 250, ...(seed === undefined ? {} : { seed }) },
  );
  return { visited, steps };
}

/** Bounds a hang only: 250 sequences take ~10 s alone, over 30 s beside the namespace tests under load. */
const PROPERTY_TIMEOUT_MS = 180_000;

describe("client property", () => {
  it("random event sequences never throw and keep the invariants", () => {
    expect(play().steps).toBeGreaterThan(0);
  }, PROPERTY_TIMEOUT_MS);

  it("the generator is not vacuous: a fixed seed's sequences visit every state of figure 5", () => {
    // A fixed seed: whether 250 random sequences reach every state is itself random (CI once
    // missed one), so the coverage claim is checked on one reproducible set of sequences.
    const { visited, steps } = play(20261201);
    expect([...visited].sort()).toEqual(["BOUND", "INIT", "INIT-REBOOT", "IPV6-ONLY", "REBINDING", "REBOOTING", "RENEWING", "REQUESTING", "SELECTING", "STOPPED"]);
    expect(steps).toBeGreaterThan(10_000);
  }, PROPERTY_TIMEOUT_MS);
});
