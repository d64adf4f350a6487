/**
 * The calf runtime's cheap pre-filter (issue 13 C7): replies of other clients' exchanges (another
 * xid or chaddr) are dropped from fixed offsets, before the frame is decoded or the core stepped.
 * And ARP (issue 13 A6): the core's sendArp actions leave as ARP frames, ARP frames reach the core
 * as arp events only when it probes.
 */
import type { CalfContext } from "@paddock/calf";
import { BOOTREPLY, MessageType, createClient, decodeArpFrame, decodeDhcpFrame, encodeArpFrame, encodeDhcpFrame, type DhcpMessage } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import { DhcpCalfRuntime } from "../src/runtime.ts";

const MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);
const OTHER_MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x99, 0x99, 0x99);
const SERVER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 1);
const T0 = 1_700_000_000_000;

function fakeContext() {
  let onFrame: ((frame: Uint8Array, rxTimeNs: bigint, info: { checksumPending: boolean }) => void) | undefined;
  const logs: string[] = [];
  const log = (level: string) => (_fields: unknown, message: string) => logs.push(`${level}: ${message}`);
  const ctx = {
    now: () => T0,
    data: {
      onFrame: (cb: typeof onFrame) => (onFrame = cb),
      onLink: () => {},
      sendFrame: () => {},
      flush: async () => {},
    },
    kv: { commit: async () => {} },
    timers: { set: () => {}, cancel: () => {} },
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  } as unknown as CalfContext;
  return { ctx, logs, deliver: (frame: Uint8Array) => onFrame?.(frame, BigInt(T0) * 1_000_000n, { checksumPending: false }) };
}

function offerFrame(xid: number, chaddr: Uint8Array): Uint8Array {
  const m: DhcpMessage = {
    op: BOOTREPLY, htype: 1, hlen: 6, hops: 0, xid, secs: 0, flags: 0,
    ciaddr: "0.0.0.0", yiaddr: "10.0.0.5", siaddr: "0.0.0.0", giaddr: "0.0.0.0",
    chaddr: chaddr.slice(), sname: "", file: "",
    options: [
      { kind: "messageType", code: 53, type: MessageType.OFFER },
      { kind: "serverId", code: 54, address: "10.0.0.1" },
      { kind: "leaseTime", code: 51, seconds: 3600 },
    ],
  };
  const f = encodeDhcpFrame(m, { srcMac: SERVER_MAC, dstMac: new Uint8Array(6).fill(0xff), srcIp: "10.0.0.1", dstIp: "255.255.255.255", srcPort: 67, dstPort: 68 });
  if (!f.ok) throw new Error(f.error.detail);
  return f.value;
}

describe("DhcpCalfRuntime pre-filter", () => {
  it("drops another exchange's replies unparsed and passes ours to the core", async () => {
    const { ctx, logs, deliver } = fakeContext();
    const created = createClient({ mac: MAC, random: () => 0.25, offerWindowMs: 0 }, T0);
    if (!created.ok) throw new Error(created.error.detail);
    const runtime = new DhcpCalfRuntime(ctx, created.state, { mac: MAC });
    runtime.start(created.actions);
    const xid = runtime.current.xid;

    deliver(offerFrame((xid + 1) >>> 0, MAC)); // another exchange's xid
    deliver(offerFrame(xid, OTHER_MAC)); // another client's chaddr
    await runtime.stop(false);
    expect(runtime.foreignRepliesDropped).toBe(2);
    expect(logs.filter((l) => l.includes("ignored"))).toEqual([]);
    expect(runtime.current.name).toBe("STOPPED");
  });

  it("an offer for our exchange still reaches the core", async () => {
    const { ctx, deliver } = fakeContext();
    const created = createClient({ mac: MAC, random: () => 0.25, offerWindowMs: 0 }, T0);
    if (!created.ok) throw new Error(created.error.detail);
    const runtime = new DhcpCalfRuntime(ctx, created.state, { mac: MAC });
    runtime.start(created.actions);
    deliver(offerFrame(runtime.current.xid, MAC));
    expect(runtime.foreignRepliesDropped).toBe(0);
    expect(runtime.current.name).toBe("REQUESTING");
    await runtime.stop(false);
  });
});

describe("DhcpCalfRuntime and ARP (RFC 5227)", () => {
  /** The ACK twin of offerFrame: option 53 is the first option, its checksum cleared (RFC 768: none). */
  function ackFrame(xid: number): Uint8Array {
    const f = offerFrame(xid, MAC);
    f[14 + 20 + 8 + 240 + 2] = MessageType.ACK;
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    return f;
  }

  function arpFrom(mac: Uint8Array, senderIp: string, targetIp: string, op: number): Uint8Array {
    const r = encodeArpFrame({ senderMac: mac, senderIp, targetIp });
    if (!r.ok) throw new Error(r.error.detail);
    r.value[21] = op;
    return r.value;
  }

  /** A runtime that has received OFFER and ACK of 10.0.0.5; its sent frames and armed timers. */
  function acked(arpProbe: boolean) {
    const fake = fakeContext();
    const sent: Uint8Array[] = [];
    const timers = new Map<string, () => void>();
    const clock = { now: T0 };
    const ctx = {
      ...fake.ctx,
      now: () => clock.now,
      data: { ...fake.ctx.data, sendFrame: (f: Uint8Array) => sent.push(f.slice()) },
      timers: { set: (name: string, _at: number, cb: () => void) => timers.set(name, cb), cancel: (name: string) => timers.delete(name) },
    } as unknown as CalfContext;
    const created = createClient({ mac: MAC, random: () => 0.25, offerWindowMs: 0, arpProbe }, T0);
    if (!created.ok) throw new Error(created.error.detail);
    const runtime = new DhcpCalfRuntime(ctx, created.state, { mac: MAC });
    runtime.start(created.actions);
    fake.deliver(offerFrame(runtime.current.xid, MAC));
    fake.deliver(ackFrame(runtime.current.xid));
    // Actions run on the runtime's promise chain.
    const settle = () => new Promise<void>((done) => setImmediate(done));
    return { runtime, sent, timers, clock, deliver: fake.deliver, settle };
  }

  it("sends the core's probes as ARP frames, and another host's ARP for the address makes it DECLINE", async () => {
    const { runtime, sent, timers, clock, deliver, settle } = acked(true);
    expect(runtime.current.probe?.lease.address).toBe("10.0.0.5");
    await settle();
    clock.now += 1_000; // PROBE_WAIT has passed
    timers.get("arp")!();
    await settle();
    const probe = decodeArpFrame(sent[sent.length - 1]!);
    expect(probe.ok && [probe.value.op, Array.from(probe.value.senderMac), probe.value.senderIp, probe.value.targetIp]).toEqual([1, Array.from(MAC), "0.0.0.0", "10.0.0.5"]);
    // Other hosts' ARP about other addresses is dropped before it is decoded.
    deliver(arpFrom(OTHER_MAC, "10.0.0.9", "10.0.0.1", 1));
    expect(runtime.otherArpDropped).toBe(1);
    deliver(arpFrom(OTHER_MAC, "10.0.0.5", "10.0.0.1", 2));
    await settle();
    expect(runtime.otherArpDropped).toBe(1);
    expect(runtime.current.name).toBe("INIT");
    const decline = decodeDhcpFrame(sent[sent.length - 1]!);
    expect(decline.ok && decline.value.message.options.find((o) => o.kind === "messageType")).toMatchObject({ type: MessageType.DECLINE });
    await runtime.stop(false);
  });

  it("without arp-probe, binds at the ACK and leaves ARP frames undecoded", async () => {
    const { runtime, sent, deliver, settle } = acked(false);
    expect(runtime.current.name).toBe("BOUND");
    const before = runtime.current;
    deliver(arpFrom(OTHER_MAC, "10.0.0.5", "10.0.0.1", 2));
    await settle();
    expect(runtime.current).toBe(before);
    expect(sent.some((f) => f[12] === 0x08 && f[13] === 0x06)).toBe(false);
    await runtime.stop(false);
  });
});
