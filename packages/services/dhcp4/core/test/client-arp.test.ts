/**
 * RFC 5227 in the client core (departure 8 of machine.ts): the probe schedule on an injected clock
 * and random source, a conflict while probing (DECLINE, hold-off, rate limit), the announcements,
 * and the defence of a bound address.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ArpOp, type ArpPacket } from "../src/arp.ts";
import {
  ANNOUNCE_INTERVAL_MS,
  ANNOUNCE_WAIT_MS,
  DECLINE_HOLDOFF_MS,
  MAX_CONFLICTS,
  PROBE_MAX_MS,
  PROBE_MIN_MS,
  PROBE_WAIT_MS,
  RATE_LIMIT_INTERVAL_MS,
  type ClientAction,
} from "../src/client/index.ts";
import { MessageType } from "../src/message.ts";
import { config, Harness, MAC, opt, reply, seeded, SERVER, typeOf } from "./client-fixtures.ts";

const OTHER = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x77);
const ADDRESS = "10.0.0.5";

function arp(op: number, senderIp: string, targetIp: string, senderMac = OTHER): ArpPacket {
  return { op: op as ArpPacket["op"], ethernetSource: senderMac, senderMac, senderIp, targetMac: new Uint8Array(6), targetIp };
}

function arpSends(actions: ClientAction[]): string[] {
  return actions.flatMap((a) => (a.kind === "sendArp" ? [`${a.senderIp} → ${a.targetIp}`] : []));
}

/** A client with ARP probing, SELECTING. */
function probingClient(seed = 42): Harness {
  return new Harness(config({ arpProbe: true, random: seeded(seed) }));
}

/** OFFER and ACK of `address`: the client is left probing it, in REQUESTING. */
function ackTo(h: Harness, address = ADDRESS): void {
  h.receive(reply(MessageType.OFFER, h.state.xid, address));
  h.receive(reply(MessageType.ACK, h.state.xid, address));
  expect(h.state.name).toBe("REQUESTING");
  expect(h.state.probe?.lease.address).toBe(address);
}

/** Fires the `arp` timer until the lease is taken; returns the step times and what each sent. */
function probeToBound(h: Harness): Array<{ at: number; arp: string[] }> {
  const steps: Array<{ at: number; arp: string[] }> = [];
  while (h.state.name !== "BOUND") {
    const actions = h.fire("arp");
    steps.push({ at: h.now, arp: arpSends(actions) });
    if (steps.length > 5) throw new Error("probing does not end");
  }
  return steps;
}

describe("RFC 5227 probing of an ACKed address (§2.1)", () => {
  it("probes before publishing: 3 probes, then the lease, then 2 announcements 2 s apart", () => {
    const h = probingClient();
    ackTo(h);
    const ackAt = h.now;
    expect(h.kv.has("/ip")).toBe(false);
    expect(arpSends(h.last)).toEqual([]);
    const steps = probeToBound(h);
    expect(steps.map((s) => s.arp)).toEqual([
      [`0.0.0.0 → ${ADDRESS}`],
      [`0.0.0.0 → ${ADDRESS}`],
      [`0.0.0.0 → ${ADDRESS}`],
      [`${ADDRESS} → ${ADDRESS}`],
    ]);
    expect(h.kv.get("/ip")).toBe(`${ADDRESS}/24`);
    const announcedAt = h.now;
    expect(arpSends(h.fire("arp"))).toEqual([`${ADDRESS} → ${ADDRESS}`]);
    expect(h.now - announcedAt).toBe(ANNOUNCE_INTERVAL_MS);
    expect(h.timers.has("arp")).toBe(false);
    expect(h.timers.has("t1")).toBe(true);
    // The address is taken 4–7 s after the ACK.
    expect(announcedAt - ackAt).toBeGreaterThanOrEqual(PROBE_MIN_MS * 2 + ANNOUNCE_WAIT_MS);
    expect(announcedAt - ackAt).toBeLessThanOrEqual(PROBE_WAIT_MS + PROBE_MAX_MS * 2 + ANNOUNCE_WAIT_MS);
  });

  it("property: for any random source the schedule keeps PROBE_WAIT, PROBE_MIN..MAX and ANNOUNCE_WAIT", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const h = probingClient(seed);
        ackTo(h);
        const ackAt = h.now;
        const at = probeToBound(h).map((s) => s.at);
        expect(at).toHaveLength(4);
        expect(at[0]! - ackAt).toBeLessThanOrEqual(PROBE_WAIT_MS);
        for (const gap of [at[1]! - at[0]!, at[2]! - at[1]!]) {
          expect(gap).toBeGreaterThanOrEqual(PROBE_MIN_MS);
          expect(gap).toBeLessThanOrEqual(PROBE_MAX_MS);
        }
        expect(at[3]! - at[2]!).toBe(ANNOUNCE_WAIT_MS);
      }),
      { numRuns: 100 },
    );
  });

  it("ignores further replies while probing (a repeated ACK does not restart the probe)", () => {
    const h = probingClient();
    ackTo(h);
    h.fire("arp");
    const probe = h.state.probe;
    h.receive(reply(MessageType.ACK, h.state.xid, ADDRESS));
    expect(h.state.probe).toEqual(probe);
    expect(h.last.filter((a) => a.kind === "send" || a.kind === "setTimer")).toEqual([]);
  });

  it.each([
    ["an ARP reply from another host claiming the address", arp(ArpOp.REPLY, ADDRESS, "10.0.0.9")],
    ["an ARP request from another host sent from the address", arp(ArpOp.REQUEST, ADDRESS, "10.0.0.1")],
    ["another host's probe for the same address (§2.1.1)", arp(ArpOp.REQUEST, "0.0.0.0", ADDRESS)],
  ])("a conflict while probing — %s — DECLINEs (50, 54) and restarts INIT after 10 s", (_what, packet) => {
    const h = probingClient();
    ackTo(h);
    h.fire("arp");
    h.event({ kind: "arp", packet });
    const m = h.only();
    expect(typeOf(m)).toBe(MessageType.DECLINE);
    expect(m.ciaddr).toBe("0.0.0.0");
    expect(opt(m, "requestedAddress")?.address).toBe(ADDRESS);
    expect(opt(m, "serverId")?.address).toBe(SERVER);
    expect(h.state.name).toBe("INIT");
    expect(h.kv.size).toBe(0);
    expect(h.timers.get("start")).toBe(h.now + DECLINE_HOLDOFF_MS);
    h.fire("start");
    expect(h.state.name).toBe("SELECTING");
    expect(opt(h.only(), "requestedAddress")).toBeUndefined(); // the declined address is not asked for again
  });

  it.each([
    ["our own probe, looped back", arp(ArpOp.REQUEST, "0.0.0.0", ADDRESS, MAC)],
    ["another host asking who has the address", arp(ArpOp.REQUEST, "10.0.0.9", ADDRESS)],
    ["a reply about another address", arp(ArpOp.REPLY, "10.0.0.9", "10.0.0.1")],
    ["another host's probe for another address", arp(ArpOp.REQUEST, "0.0.0.0", "10.0.0.6")],
  ])("no conflict — %s — probing goes on", (_what, packet) => {
    const h = probingClient();
    ackTo(h);
    h.fire("arp");
    const before = h.state;
    h.event({ kind: "arp", packet });
    expect(h.state).toEqual(before);
    expect(h.last).toEqual([]);
  });

  it(`after ${MAX_CONFLICTS} conflicts, tries a new address at most once a minute (RATE_LIMIT_INTERVAL)`, () => {
    const h = probingClient();
    const holdoffs: number[] = [];
    for (let i = 0; i < MAX_CONFLICTS + 1; i++) {
      ackTo(h, `10.0.0.${10 + i}`);
      h.fire("arp");
      h.event({ kind: "arp", packet: arp(ArpOp.REPLY, `10.0.0.${10 + i}`, "10.0.0.1") });
      holdoffs.push(h.timers.get("start")! - h.now);
      h.fire("start");
    }
    expect(holdoffs.slice(0, MAX_CONFLICTS - 1)).toEqual(Array(MAX_CONFLICTS - 1).fill(DECLINE_HOLDOFF_MS));
    expect(holdoffs.slice(MAX_CONFLICTS - 1)).toEqual([RATE_LIMIT_INTERVAL_MS, RATE_LIMIT_INTERVAL_MS]);
    // A successful probe resets the count.
    ackTo(h, "10.0.0.99");
    probeToBound(h);
    expect(h.state.conflicts).toBe(0);
  });

  it("a renewal of the same address is not probed; one answered with another address is", () => {
    const h = probingClient();
    ackTo(h);
    probeToBound(h);
    h.fire("t1");
    expect(h.state.name).toBe("RENEWING");
    h.receive(reply(MessageType.ACK, h.state.xid, ADDRESS));
    expect(h.state.name).toBe("BOUND");
    expect(h.timers.has("arp")).toBe(false);
    h.fire("t1");
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.6"));
    expect(h.state.name).toBe("RENEWING");
    expect(h.state.probe?.lease.address).toBe("10.0.0.6");
    expect(h.kv.get("/ip")).toBe(`${ADDRESS}/24`); // the old lease stays until the new one is checked
    probeToBound(h);
    expect(h.kv.get("/ip")).toBe("10.0.0.6/24");
  });

  it("INIT-REBOOT confirming the held address is not probed", () => {
    const h = probingClient();
    ackTo(h);
    probeToBound(h);
    h.event({ kind: "linkDown" }, h.now + 1000);
    h.event({ kind: "linkUp" }, h.now + 1000);
    expect(h.state.name).toBe("REBOOTING");
    h.receive(reply(MessageType.ACK, h.state.xid, ADDRESS));
    expect(h.state.name).toBe("BOUND");
  });

  it("link down while probing abandons the probe; nothing is published", () => {
    const h = probingClient();
    ackTo(h);
    h.fire("arp");
    h.event({ kind: "linkDown" });
    expect(h.state.name).toBe("INIT");
    expect(h.state.probe).toBeUndefined();
    expect(h.timers.has("arp")).toBe(false);
    expect(h.kv.size).toBe(0);
    h.event({ kind: "linkUp" });
    expect(h.state.name).toBe("SELECTING");
  });

  it("without arpProbe an ACK binds at once and ARP is ignored", () => {
    const h = new Harness(config());
    h.bindTo(ADDRESS);
    const before = h.state;
    h.event({ kind: "arp", packet: arp(ArpOp.REPLY, ADDRESS, "10.0.0.1") });
    expect(h.state).toEqual(before);
    expect(h.last).toEqual([]);
  });
});

describe("RFC 5227 defence of a bound address (§2.4)", () => {
  function bound(): Harness {
    const h = probingClient();
    ackTo(h);
    probeToBound(h);
    h.fire("arp"); // the second announcement
    return h;
  }

  it("answers a conflicting ARP with one announcement and keeps the address", () => {
    const h = bound();
    h.event({ kind: "arp", packet: arp(ArpOp.REPLY, ADDRESS, "10.0.0.1") }, h.now + 30_000);
    expect(arpSends(h.last)).toEqual([`${ADDRESS} → ${ADDRESS}`]);
    expect(h.state.name).toBe("BOUND");
    expect(h.kv.get("/ip")).toBe(`${ADDRESS}/24`);
    // One more, DEFEND_INTERVAL later, is defended again.
    h.event({ kind: "arp", packet: arp(ArpOp.REQUEST, ADDRESS, "10.0.0.1") }, h.now + 10_000);
    expect(arpSends(h.last)).toEqual([`${ADDRESS} → ${ADDRESS}`]);
    expect(h.state.name).toBe("BOUND");
  });

  it("a second conflict within DEFEND_INTERVAL gives the address up: withdrawn, INIT at once, no DECLINE", () => {
    const h = bound();
    h.event({ kind: "arp", packet: arp(ArpOp.REPLY, ADDRESS, "10.0.0.1") }, h.now + 30_000);
    h.event({ kind: "arp", packet: arp(ArpOp.REPLY, ADDRESS, "10.0.0.1") }, h.now + 9_999);
    expect(h.kv.size).toBe(0);
    expect(h.state.lease).toBeUndefined();
    expect(h.state.name).toBe("SELECTING");
    const m = h.only();
    expect(typeOf(m)).toBe(MessageType.DISCOVER);
    expect(opt(m, "requestedAddress")).toBeUndefined();
  });

  it("ignores ARP that is no conflict: our own MAC, another address, a probe for ours (the kernel answers it)", () => {
    const h = bound();
    for (const packet of [arp(ArpOp.REPLY, ADDRESS, "10.0.0.1", MAC), arp(ArpOp.REPLY, "10.0.0.9", ADDRESS), arp(ArpOp.REQUEST, "0.0.0.0", ADDRESS)]) {
      const before = h.state;
      h.event({ kind: "arp", packet }, h.now + 1);
      expect(h.state).toEqual(before);
      expect(h.last).toEqual([]);
    }
  });
});
