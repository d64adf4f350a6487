// Several services' egress policies on one interface, end to end in throwaway namespaces: each
// service's marked frames are policed by its own rules only, other frames are passed on
// (TC_ACT_UNSPEC) to the next program, and detaching one leaves the others working.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  ACCEPT_ALL_FILTER,
  DROP_ALL_FILTER,
  EGRESS_PROGRAM_NAME,
  EgressPolicy,
  ETH_P_ALL,
  NativeError,
  PacketPatternError,
  addonForTests,
  openPacketSocket,
  openUdpSocket,
  removeEgressFilter,
  type EgressRule,
  type PacketSocket,
  type UdpSocket,
} from "./native-under-test.ts";
import { frameKit, mac } from "./frames.ts";
import { canRunAsRoot, createVethPair, inNetns, removeAllNetns, skipReason, waitFor, type VethPair } from "./netns.ts";

const NS_PREFIX = "pdk-nat-";

const sockets: (PacketSocket | UdpSocket)[] = [];
const policies: EgressPolicy[] = [];
function track<T extends PacketSocket | UdpSocket>(s: T): T {
  sockets.push(s);
  return s;
}
function keep(p: EgressPolicy): EgressPolicy {
  policies.push(p);
  return p;
}

afterAll(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const p of policies.splice(0)) {
    try {
      p.detach();
    } catch {
      // Best effort: deleting the namespaces next removes whatever is left.
    }
  }
  removeAllNetns();
});

const DHCP_RULES: readonly EgressRule[] = [{ family: "ipv4", protocol: "udp", srcPort: 68, dstPort: 67, firstPayloadByte: 1 }];
const NTP_RULES: readonly EgressRule[] = [{ family: "ipv4", protocol: "udp", dstPort: 123 }];

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe.skipIf(!canRunAsRoot)(`egress policies of several services on one interface (${skipReason})`, () => {
  let pair: VethPair;
  let target: { ifname: string; netnsPath: string };
  const tcEgress = (): string => inNetns(pair.a, "tc", ["filter", "show", "dev", pair.ifA, "egress"]);
  const qdiscs = (): string => inNetns(pair.a, "tc", ["qdisc", "show", "dev", pair.ifA]);

  beforeAll(() => {
    pair = createVethPair({ nsPrefix: NS_PREFIX });
    target = { ifname: pair.ifA, netnsPath: pair.pathA };
  });

  it("two services' programs chain: each polices its own mark only; detaching one leaves the other", async () => {
    const dhcp = keep(EgressPolicy.attach({ ...target, mark: 0xa1, rules: DHCP_RULES, handle: 0xa1, priority: 10 }));
    const ntp = keep(EgressPolicy.attach({ ...target, mark: 0xb2, rules: NTP_RULES, handle: 0xb2, priority: 20 }));
    expect(tcEgress()).toMatch(/pref 10 bpf chain 0 handle 0xa1 paddock_egress/);
    expect(tcEgress()).toMatch(/pref 20 bpf chain 0 handle 0xb2 paddock_egress/);
    expect([dhcp.slot, ntp.slot]).toEqual([
      { handle: 0xa1, priority: 10 },
      { handle: 0xb2, priority: 20 },
    ]);

    const kit = frameKit(mac(pair.macA));
    const open = (mark?: number) =>
      track(openPacketSocket({ ...target, protocol: ETH_P_ALL, filter: DROP_ALL_FILTER.bytes, ...(mark === undefined ? {} : { mark }) }));
    const asDhcp = open(0xa1);
    const asNtp = open(0xb2);
    const host = open();
    const peer = track(openPacketSocket({ ifname: pair.ifB, netnsPath: pair.pathB, protocol: ETH_P_ALL, filter: ACCEPT_ALL_FILTER.bytes }));
    const seen: string[] = [];
    peer.onFrame((f) => {
      if (f.readUInt16BE(12) !== 0x0800 || f[23] !== 17) return;
      const at = 14 + (f[14]! & 0x0f) * 4;
      seen.push(`${f.readUInt16BE(at)}>${f.readUInt16BE(at + 2)}`);
    });
    const dropped = (s: PacketSocket, f: Uint8Array) =>
      expect(() => s.send(f)).toThrow(expect.objectContaining({ errno: "ENOBUFS", syscall: "send" }));

    asDhcp.send(kit.dhcpRequest(1)); // DHCP's rule: sent
    dropped(asDhcp, kit.udp(5000, 123)); // NTP's rule, not DHCP's: DHCP's program drops it first
    asNtp.send(kit.udp(5001, 123)); // passes DHCP's program (not its mark), NTP's allows it
    dropped(asNtp, kit.dhcpRequest(2)); // passes DHCP's program, NTP's drops it
    host.send(kit.udp(5002, 6002)); // unmarked: both pass it on
    host.send(kit.udp(7, 7)); // marker: veth delivers in order
    await waitFor(() => seen.includes("7>7"), 10_000, "marker frame");
    expect(seen).toEqual(["68>67", "5001>123", "5002>6002", "7>7"]);
    expect(dhcp.counters()).toMatchObject({ allowed: 1n, dropped: 1n });
    expect(ntp.counters()).toMatchObject({ allowed: 1n, dropped: 1n });
    // DHCP's program saw NTP's two frames and the host's two as not its own.
    expect(dhcp.counters().unmarked).toBeGreaterThanOrEqual(4n);

    // DHCP detaches (it created the clsact qdisc, but NTP's filter is still on it: it stays).
    dhcp.detach();
    expect(tcEgress()).not.toMatch(/handle 0xa1 /);
    expect(tcEgress()).toMatch(/pref 20 bpf chain 0 handle 0xb2 paddock_egress/);
    expect(qdiscs()).toContain("clsact");
    seen.length = 0;
    asDhcp.send(kit.udp(5003, 123)); // no program for this mark any more
    asNtp.send(kit.udp(5004, 123));
    dropped(asNtp, kit.dhcpRequest(3));
    host.send(kit.udp(7, 7));
    await waitFor(() => seen.includes("7>7"), 10_000, "marker frame after detach");
    expect(seen).toEqual(["5003>123", "5004>123", "7>7"]);
    expect(ntp.counters()).toMatchObject({ allowed: 2n, dropped: 2n });

    ntp.detach();
    expect(tcEgress()).toBe("");
    // Neither detach removed the qdisc: the one that created it saw another filter on it, and
    // the other did not create it. An empty clsact qdisc is harmless.
    expect(qdiscs()).toContain("clsact");
    ntp.detach(); // idempotent
  });

  it("a marked UDP socket's datagrams are policed by its service's program", async () => {
    inNetns(pair.a, "ip", ["addr", "add", "10.78.0.1/30", "dev", pair.ifA]);
    inNetns(pair.b, "ip", ["addr", "add", "10.78.0.2/30", "dev", pair.ifB]);
    // A static neighbour entry: no ARP exchange is needed, so the counters below are exact.
    inNetns(pair.a, "ip", ["neigh", "replace", "10.78.0.2", "lladdr", pair.macB, "dev", pair.ifA, "nud", "permanent"]);
    const mark = 0x123;
    const ntp = keep(EgressPolicy.attach({ ...target, mark, rules: NTP_RULES, handle: 0x123, priority: 40 }));
    const server = track(openUdpSocket({ address: "10.78.0.2", port: 123, netnsPath: pair.pathB }));
    const other = track(openUdpSocket({ address: "10.78.0.2", port: 4000, netnsPath: pair.pathB }));
    const atServer: string[] = [];
    const atOther: string[] = [];
    server.onMessage((d) => atServer.push(d.toString()));
    other.onMessage((d) => atOther.push(d.toString()));
    const client = track(openUdpSocket({ address: "10.78.0.1", port: 0, netnsPath: pair.pathA, mark }));
    const unmarked = track(openUdpSocket({ address: "10.78.0.1", port: 0, netnsPath: pair.pathA }));

    // A UDP socket does not see the drop (without IP_RECVERR the kernel hides ENOBUFS), so the
    // program's counters and the receiver tell. tc egress runs inside sendto: counters are exact.
    client.sendTo(Buffer.from("not allowed"), "10.78.0.2", 4000);
    expect(ntp.counters()).toMatchObject({ allowed: 0n, dropped: 1n });
    client.sendTo(Buffer.from("ntp request"), "10.78.0.2", 123);
    expect(ntp.counters()).toMatchObject({ allowed: 1n, dropped: 1n });
    unmarked.sendTo(Buffer.from("marker"), "10.78.0.2", 4000);
    await waitFor(() => atServer.length === 1 && atOther.includes("marker"), 10_000, "datagrams");
    // Same socket, same path, in order: had the first datagram been sent, it would be here first.
    expect(atOther).toEqual(["marker"]);
    expect(atServer).toEqual(["ntp request"]);
    ntp.detach();
  });

  it("refuses invalid rules, marks and slots, and an occupied slot, attaching nothing", () => {
    const bad = thrown(() => EgressPolicy.attach({ ...target, mark: 1, rules: [{ family: "ipv4", protocol: "udp", dstPort: 0 }], handle: 5, priority: 5 }));
    expect(bad).toBeInstanceOf(PacketPatternError);
    expect((bad as PacketPatternError).code).toBe("PADDOCK_E_NATIVE_PATTERN_BAD_PORT");
    const tooMany = Array.from({ length: 9 }, () => ({ family: "arp" }) as const);
    expect((thrown(() => EgressPolicy.attach({ ...target, mark: 1, rules: tooMany, handle: 5, priority: 5 })) as PacketPatternError).code).toBe(
      "PADDOCK_E_NATIVE_PATTERN_TOO_MANY_RULES",
    );
    const typo = [{ family: "ipv4", protocol: "udp", dstport: 123 }] as unknown as EgressRule[];
    expect((thrown(() => EgressPolicy.attach({ ...target, mark: 1, rules: typo, handle: 5, priority: 5 })) as PacketPatternError).field).toBe("dstport");
    for (const [mark, handle, priority, what] of [
      [0, 5, 5, "mark"],
      [1, 0, 5, "handle"],
      [1, 5, 0, "priority"],
      [1, 5, 65536, "priority"],
      [1, 2 ** 32, 5, "handle"],
    ] as const) {
      const e = thrown(() => EgressPolicy.attach({ ...target, mark, rules: NTP_RULES, handle, priority }));
      expect(e).toBeInstanceOf(NativeError);
      expect({ errno: (e as NativeError).errno, mentions: (e as NativeError).message.includes(what) }).toEqual({ errno: "EINVAL", mentions: true });
    }
    expect(tcEgress()).toBe("");

    const first = keep(EgressPolicy.attach({ ...target, mark: 7, rules: NTP_RULES, handle: 0x77, priority: 7 }));
    const clash = thrown(() => EgressPolicy.attach({ ...target, mark: 8, rules: DHCP_RULES, handle: 0x77, priority: 7 }));
    expect((clash as NativeError).errno).toBe("EEXIST");
    expect(tcEgress().match(/ handle 0x/g)).toHaveLength(1);
    first.detach();
    expect(tcEgress()).toBe("");
  });

  it("removeEgressFilter removes a dead owner's program; the old owner's detach then leaves the new one alone", () => {
    const slot = { handle: 0xc3, priority: 30 };
    const old = keep(EgressPolicy.attach({ ...target, mark: 0xc3, rules: NTP_RULES, ...slot }));
    // The caller has decided (from the owner's pid lock) that the owner is dead.
    expect(removeEgressFilter(target, slot.handle, slot.priority)).toBe(true);
    expect(removeEgressFilter(target, slot.handle, slot.priority)).toBe(false);
    expect(addonForTests().tcQueryEgress({ ...target, ...slot })).toBeNull();
    const successor = keep(EgressPolicy.attach({ ...target, mark: 0xc4, rules: DHCP_RULES, ...slot }));
    old.detach();
    expect(tcEgress()).toMatch(new RegExp(`pref 30 bpf chain 0 handle 0xc3 ${EGRESS_PROGRAM_NAME}`));
    expect(successor.counters().allowed).toBe(0n);
    successor.detach();
    expect(tcEgress()).toBe("");
    expect(() => removeEgressFilter(target, 0, 1)).toThrow(/EINVAL/);
  });
});
