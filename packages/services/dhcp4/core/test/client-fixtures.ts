/**
 * Test helpers for the client core: a seeded random source, server replies built from the
 * message types, and a harness that drives `step` with a fake clock while checking that the
 * actions keep a model of the runtime (timers, KV store) consistent with the client's state.
 */

import { expect } from "vitest";
import { BOOTREPLY, MessageType } from "../src/message.ts";
import type { DhcpMessage, DhcpOption, DhcpPacketInfo, Ipv4 } from "../src/message.ts";
import { createClient, step } from "../src/client/index.ts";
import type { ClientAction, ClientConfig, ClientEvent, ClientState, CreateClientOptions, PersistedLease, TimerName } from "../src/client/index.ts";

/** Our interface. */
export const MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);
export const SERVER_MAC = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x01);
export const SERVER = "10.0.0.1";
export const SERVER2 = "10.0.0.2";
/** A fixed wall-clock origin (2023-11-14). */
export const T0 = 1_700_000_000_000;

/** mulberry32: a small deterministic PRNG, uniform in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A lease as an earlier run persisted it: 10.0.0.5/24 from SERVER, obtained 600 s before T0, 3600 s long. */
export function persisted(overrides: Partial<PersistedLease> = {}): PersistedLease {
  return {
    v: 1,
    mac: "02:00:5e:10:20:30",
    address: "10.0.0.5",
    prefix: 24,
    serverId: SERVER,
    serverMac: "02:00:00:00:00:01",
    acquiredAt: T0 - 600_000,
    leaseSeconds: 3600,
    renewMs: 1800_000,
    rebindMs: 3150_000,
    routers: ["10.0.0.1"],
    classlessRoutes: null,
    dns: ["10.0.0.53", "10.0.0.54"],
    domain: "example.test",
    search: [],
    mtu: 0,
    ntp: [],
    ...overrides,
  };
}

export function config(overrides: Partial<ClientConfig> = {}): ClientConfig {
  return { mac: MAC, random: seeded(42), ...overrides };
}

export function packetInfo(srcIp: Ipv4 = SERVER, srcMac: Uint8Array = SERVER_MAC): DhcpPacketInfo {
  return { srcMac, dstMac: MAC, srcIp, dstIp: "255.255.255.255", srcPort: 67, dstPort: 68 };
}

/** The usual options of a reply: mask, router, DNS, domain, lease time, server id. */
export function standardOptions(serverId: Ipv4 = SERVER, leaseSeconds = 3600): DhcpOption[] {
  return [
    { kind: "serverId", code: 54, address: serverId },
    { kind: "leaseTime", code: 51, seconds: leaseSeconds },
    { kind: "subnetMask", code: 1, mask: "255.255.255.0" },
    { kind: "routers", code: 3, addresses: ["10.0.0.1"] },
    { kind: "dnsServers", code: 6, addresses: ["10.0.0.53", "10.0.0.54"] },
    { kind: "domainName", code: 15, name: "example.test" },
  ];
}

/** A BOOTREPLY of the given type for our MAC. */
export function reply(
  type: MessageType,
  xid: number,
  yiaddr: Ipv4,
  options: DhcpOption[] = standardOptions(),
  fields: Partial<DhcpMessage> = {},
): DhcpMessage {
  return {
    op: BOOTREPLY,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: "0.0.0.0",
    yiaddr,
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: MAC.slice(),
    sname: "",
    file: "",
    options: [{ kind: "messageType", code: 53, type }, ...options],
    ...fields,
  };
}

export function typeOf(m: DhcpMessage): number | undefined {
  const o = m.options.find((x) => x.kind === "messageType");
  return o?.kind === "messageType" ? o.type : undefined;
}

export function opt<K extends DhcpOption["kind"]>(m: DhcpMessage, kind: K): Extract<DhcpOption, { kind: K }> | undefined {
  return m.options.find((o) => o.kind === kind) as Extract<DhcpOption, { kind: K }> | undefined;
}

export function sends(actions: ClientAction[]): Extract<ClientAction, { kind: "send" }>[] {
  return actions.filter((a): a is Extract<ClientAction, { kind: "send" }> => a.kind === "send");
}

export function kvOps(actions: ClientAction[]): ClientAction[] {
  return actions.filter((a) => a.kind === "kvWrite" || a.kind === "kvDelete");
}

/**
 * Drives a client with a fake clock. After each step it applies the actions to a model of the
 * runtime (armed timers, the KV store) and checks that model against the client's own state.
 */
export class Harness {
  state: ClientState;
  now: number;
  last: ClientAction[];
  readonly kv = new Map<string, string>();
  readonly timers = new Map<TimerName, number>();
  readonly history: ClientAction[] = [];

  constructor(cfg: ClientConfig = config(), opts: CreateClientOptions = {}, now = T0, kv?: Map<string, string>) {
    if (kv !== undefined) for (const [k, v] of kv) this.kv.set(k, v);
    const r = createClient(cfg, now, opts);
    if (!r.ok) throw new Error(r.error.detail);
    this.state = r.state;
    this.now = now;
    this.last = r.actions;
    this.apply(r.actions);
  }

  private apply(actions: ClientAction[]): void {
    this.history.push(...actions);
    for (const a of actions) {
      switch (a.kind) {
        case "setTimer":
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
        default:
      }
    }
    expect(Object.fromEntries(this.timers)).toEqual(this.state.timers);
    expect(Object.fromEntries(this.kv)).toEqual(this.state.published);
  }

  /** Runs one event at `at` (default: now), returning its actions. */
  event(event: ClientEvent, at = this.now): ClientAction[] {
    expect(at).toBeGreaterThanOrEqual(this.now);
    this.now = at;
    if (event.kind === "timer") this.timers.delete(event.name);
    const r = step(this.state, event, at);
    this.state = r.state;
    this.last = r.actions;
    this.apply(r.actions);
    return r.actions;
  }

  /** Fires an armed timer at its time. */
  fire(name: TimerName): ClientAction[] {
    const at = this.timers.get(name);
    if (at === undefined) throw new Error(`timer ${name} is not armed`);
    return this.event({ kind: "timer", name }, at);
  }

  receive(message: DhcpMessage, info: DhcpPacketInfo = packetInfo(), at = this.now): ClientAction[] {
    return this.event({ kind: "received", message, info, rxTime: at }, at);
  }

  /** The messages the last step sent. */
  sent(): Extract<ClientAction, { kind: "send" }>[] {
    return sends(this.last);
  }

  /** The one message the last step sent. */
  only(): DhcpMessage {
    const s = this.sent();
    expect(s).toHaveLength(1);
    return (s[0] as Extract<ClientAction, { kind: "send" }>).message;
  }

  /** DISCOVER → OFFER → REQUEST → ACK, ending BOUND on `address`. */
  bindTo(address: Ipv4 = "10.0.0.5", ackOptions: DhcpOption[] = standardOptions(), offerOptions = standardOptions()): void {
    expect(this.state.name).toBe("SELECTING");
    this.receive(reply(MessageType.OFFER, this.state.xid, address, offerOptions));
    expect(this.state.name).toBe("REQUESTING");
    this.receive(reply(MessageType.ACK, this.state.xid, address, ackOptions));
    expect(this.state.name).toBe("BOUND");
  }
}
