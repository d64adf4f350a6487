// The RA service's egress in the kernel (issue 11 item 2): the service's declarative egress rules
// compiled into its tc program and attached to a veth in a throwaway namespace (lab prefix ra6), a
// socket carrying the service's mark sends what a hostile calf could hand the priv: the router
// solicitation goes out; a neighbor solicitation, an RA and a UDP datagram are dropped in the
// kernel (ENOBUFS), whatever the priv's check would have said. Then the same frames through the
// priv's whole check (the runtime's packetEgress with the service's rules and RS check), which
// also refuses a solicitation from a forged MAC or another source address. Needs root.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, LAB_SKIP_REASON, type Lab } from "@paddock/testkit";
import { packetEgress } from "@paddock/runtime";
import { encodeNdPacket, encodeRouterSolicitationFrame } from "@paddock/ra";
import { DROP_ALL_FILTER, ETH_P_ALL, EgressPolicy, openPacketSocket, type PacketSocket } from "../../../../../native/lib/index.ts";
import { raService } from "../src/index.ts";
import { routerSolicitationEgress } from "../src/egress.ts";

const MARK = 0x6a;

describe.skipIf(!canCreateLabs)(`the RA service's egress in the kernel and in the priv (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let policy: EgressPolicy | undefined;
  let sock: PacketSocket | undefined;
  let mac: Uint8Array;
  const packet = raService.channels.packet!;

  beforeAll(() => {
    lab = createLab({ prefix: "ra6" });
    const ns = lab.namespace("e");
    const { a } = lab.veth(ns, ns);
    mac = Uint8Array.from(a.mac.split(":").map((h) => parseInt(h, 16)));
    policy = EgressPolicy.attach({ ifname: a.name, netnsPath: ns.path, mark: MARK, rules: packet.egress, handle: MARK, priority: 30 });
    sock = openPacketSocket({ ifname: a.name, netnsPath: ns.path, protocol: ETH_P_ALL, filter: DROP_ALL_FILTER.bytes, mark: MARK });
  });

  afterAll(async () => {
    sock?.close();
    policy?.detach();
    await lab?.destroy();
  });

  const frames = () => {
    const rs = encodeRouterSolicitationFrame(mac, "fe80::11");
    const addressing = { sourceMac: mac, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 2), source: "fe80::11", destination: "ff02::2" };
    const ra = encodeNdPacket({ kind: "ra", curHopLimit: 64, managed: false, other: false, homeAgent: false, preference: "medium", proxy: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0, options: [] }, addressing);
    if (!rs.ok || !ra.ok) throw new Error("encode");
    const ns = rs.value.slice();
    ns[14 + 40] = 135; // a neighbor solicitation's type in the RS's shape
    const udp = rs.value.slice();
    udp[14 + 6] = 17; // next header UDP
    const forgedMac = encodeRouterSolicitationFrame(Uint8Array.of(2, 0, 0, 0, 0, 0x66), "fe80::11");
    const otherSource = encodeRouterSolicitationFrame(mac, "fe80::99");
    if (!forgedMac.ok || !otherSource.ok) throw new Error("encode");
    return { rs: rs.value, ra: ra.value, ns, udp, forgedMac: forgedMac.value, otherSource: otherSource.value };
  };

  it("the tc program lets the solicitation out and drops a neighbor solicitation, an RA and UDP", () => {
    const f = frames();
    sock!.send(f.rs);
    for (const bad of [f.ns, f.ra, f.udp]) expect(() => sock!.send(bad)).toThrow(expect.objectContaining({ errno: "ENOBUFS" }));
    expect(policy!.counters()).toMatchObject({ allowed: 1n, dropped: 3n });
  });

  it("the priv's check (rules, source MAC, RS check) refuses all of those and a forged MAC or source", () => {
    const f = frames();
    const check = packetEgress({ mac, rules: packet.egress, maxFrameBytes: packet.maxFrameBytes, check: routerSolicitationEgress({ mac, ifindex: 1, linkLocals: () => new Set(["fe800000000000000000000000000011"]) }) });
    expect(check(f.rs)).toBeNull();
    expect(check(f.ns)?.code).toBe("PADDOCK_E_EGRESS_NO_RULE");
    expect(check(f.ra)?.code).toBe("PADDOCK_E_EGRESS_NO_RULE");
    expect(check(f.udp)?.code).toBe("PADDOCK_E_EGRESS_NO_RULE");
    expect(check(f.forgedMac)?.code).toBe("PADDOCK_E_EGRESS_SOURCE_MAC");
    expect(check(f.otherSource)?.code).toBe("PADDOCK_E_EGRESS_RS_SOURCE");
  });
});
