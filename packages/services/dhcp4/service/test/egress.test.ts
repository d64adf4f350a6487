import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeDhcpFrame, MessageType, type DhcpMessage, type DhcpOption } from "@paddock/dhcp4";
import { dhcpClientEgress, MAX_DHCP_CLIENT_FRAME_BYTES } from "../src/egress.ts";
import { defaultClientId } from "../src/index.ts";

const mac = new Uint8Array([0x02, 0x77, 0xf4, 0xa9, 0x18, 0xe3]);
let leased: string | undefined = "10.77.0.161";
const policy = dhcpClientEgress({ mac, leasedAddress: () => leased });

function request(overrides: Partial<DhcpMessage> = {}): DhcpMessage {
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x1234, secs: 0, flags: 0,
    ciaddr: "0.0.0.0", yiaddr: "0.0.0.0", siaddr: "0.0.0.0", giaddr: "0.0.0.0",
    chaddr: mac, sname: "", file: "",
    options: [{ kind: "messageType", code: 53, type: MessageType.DISCOVER }],
    ...overrides,
  };
}

function frame(msg = request(), addr: Partial<{ srcMac: Uint8Array; srcIp: string; dstIp: string; srcPort: number; dstPort: number }> = {}): Uint8Array {
  const r = encodeDhcpFrame(msg, {
    srcMac: addr.srcMac ?? mac, dstMac: new Uint8Array(6).fill(0xff),
    srcIp: addr.srcIp ?? "0.0.0.0", dstIp: addr.dstIp ?? "255.255.255.255",
    srcPort: addr.srcPort ?? 68, dstPort: addr.dstPort ?? 67,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

const code = (f: Uint8Array) => policy(f)?.code ?? "ok";

describe("what only a relay, or another client, would send (issue 13 B4)", () => {
  const clientId = defaultClientId(mac);
  const withId = dhcpClientEgress({ mac, leasedAddress: () => "10.77.0.161", clientId });
  const idOption = (data: Uint8Array = clientId): DhcpOption => ({ kind: "clientId", code: 61, data });
  const base = (extra: DhcpOption[] = [], over: Partial<DhcpMessage> = {}) =>
    request({ options: [{ kind: "messageType", code: 53, type: MessageType.DISCOVER }, ...extra], ...over });
  const codeOf = (f: Uint8Array) => withId(f)?.code ?? "ok";

  it.each([
    ["the fixed client identifier", () => frame(base([idOption()])), "ok"],
    ["a renewal with ciaddr = the leased address", () => frame(base([idOption()], { ciaddr: "10.77.0.161" }), { srcIp: "10.77.0.161", dstIp: "10.77.0.1" }), "ok"],
    ["no client identifier", () => frame(base()), "PADDOCK_E_EGRESS_CLIENT_ID"],
    ["another client's identifier (to release its lease)", () => frame(base([idOption(Uint8Array.of(1, 2, 0, 0, 0, 0, 9))])), "PADDOCK_E_EGRESS_CLIENT_ID"],
    ["a longer identifier that starts like ours", () => frame(base([idOption(Uint8Array.of(...clientId, 1))])), "PADDOCK_E_EGRESS_CLIENT_ID"],
    ["hops ≠ 0", () => frame(base([idOption()], { hops: 1 })), "PADDOCK_E_EGRESS_RELAY_FIELDS"],
    ["giaddr ≠ 0", () => frame(base([idOption()], { giaddr: "10.77.0.1" })), "PADDOCK_E_EGRESS_RELAY_FIELDS"],
    ["option 82", () => frame(base([idOption(), { kind: "unknown", code: 82, data: Uint8Array.of(1, 1, 0) } as DhcpOption])), "PADDOCK_E_EGRESS_RELAY_FIELDS"],
    ["a foreign ciaddr", () => frame(base([idOption()], { ciaddr: "10.77.0.99" })), "PADDOCK_E_EGRESS_CIADDR"],
  ])("%s → %s", (_name, make, want) => {
    expect(codeOf(make())).toBe(want);
  });

  it("refuses IP options, option overload and options that run past the message", () => {
    const ok = frame(base([idOption()]));
    const ihl = new Uint8Array(ok.length + 4);
    ihl.set(ok.subarray(0, 34));
    ihl.set(ok.subarray(34), 38);
    ihl[14] = 0x46;
    const total = ((ok[16]! << 8) | ok[17]!) + 4;
    ihl[16] = total >> 8;
    ihl[17] = total & 0xff;
    fixIpChecksum(ihl);
    expect(codeOf(ihl)).toBe("PADDOCK_E_EGRESS_BAD_IPV4");
    // Option 52 (overload), which the encoder will not write: an option 224 whose code is then patched.
    const overload = frame(base([idOption(), { kind: "unknown", code: 224, data: Uint8Array.of(1) } as DhcpOption]));
    overload[overload.indexOf(224, 14 + 20 + 8 + 240)] = 52;
    expect(codeOf(overload)).toBe("PADDOCK_E_EGRESS_BAD_OPTIONS");
    // The end option replaced by an option whose length runs past the message.
    const cut = ok.slice();
    const end = cut.lastIndexOf(255);
    cut[end] = 12;
    expect(codeOf(cut)).toBe("PADDOCK_E_EGRESS_BAD_OPTIONS");
  });

  it("never throws on mutated frames, and passes none that carries another identifier", () => {
    const ok = frame(base([idOption()]));
    fc.assert(
      fc.property(fc.nat(ok.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const f = ok.slice();
        f[i] = v;
        withId(f);
      }),
    );
  });
});

describe("the DHCP client egress policy", () => {
  it.each([
    ["a DISCOVER from 0.0.0.0", () => frame(), "ok"],
    ["a unicast renewal from the leased address", () => frame(request({ ciaddr: "10.77.0.161" }), { srcIp: "10.77.0.161", dstIp: "10.77.0.1" }), "ok"],
    ["a forged source MAC", () => frame(request(), { srcMac: new Uint8Array([2, 0, 0, 0, 0, 9]) }), "PADDOCK_E_EGRESS_SOURCE_MAC"],
    ["a forged chaddr", () => frame(request({ chaddr: new Uint8Array([2, 0, 0, 0, 0, 9]) })), "PADDOCK_E_EGRESS_CHADDR"],
    ["a BOOTREPLY (a rogue server)", () => frame(request({ op: 2 })), "PADDOCK_E_EGRESS_NOT_BOOTREQUEST"],
    ["UDP 67 → 68", () => frame(request(), { srcPort: 67, dstPort: 68 }), "PADDOCK_E_EGRESS_PORTS"],
    ["DNS to port 53", () => frame(request(), { dstPort: 53 }), "PADDOCK_E_EGRESS_PORTS"],
    ["a spoofed source address", () => frame(request(), { srcIp: "10.77.0.99" }), "PADDOCK_E_EGRESS_SOURCE_IP"],
    ["a short frame", () => frame().subarray(0, 100), "PADDOCK_E_EGRESS_TOO_SHORT"],
    ["a jumbo frame", () => { const f = new Uint8Array(MAX_DHCP_CLIENT_FRAME_BYTES + 1); f.set(frame().subarray(0, 14)); return f; }, "PADDOCK_E_EGRESS_TOO_LONG"],
    ["a runt", () => new Uint8Array(10), "PADDOCK_E_EGRESS_TOO_SHORT"],
  ])("%s → %s", (_name, make, want) => {
    expect(code(make())).toBe(want);
  });

  it("refuses IPv6, TCP and fragments, and leaves ARP to the ARP check", () => {
    const f = frame();
    const arp = f.slice(); arp[12] = 0x08; arp[13] = 0x06;
    expect(code(arp)).toBe("PADDOCK_E_EGRESS_TOO_LONG"); // a DHCP frame relabelled ARP: far longer than one
    const v6 = f.slice(); v6[12] = 0x86; v6[13] = 0xdd;
    expect(code(v6)).toBe("PADDOCK_E_EGRESS_NOT_IPV4");
    const tcp = f.slice(); tcp[14 + 9] = 6; fixIpChecksum(tcp);
    expect(code(tcp)).toBe("PADDOCK_E_EGRESS_NOT_UDP");
    const frag = f.slice(); frag[14 + 6] = 0x20; fixIpChecksum(frag);
    expect(code(frag)).toBe("PADDOCK_E_EGRESS_FRAGMENT");
    const badSum = f.slice(); badSum[14 + 10]! ^= 0xff;
    expect(code(badSum)).toBe("PADDOCK_E_EGRESS_BAD_IPV4");
  });

  it("allows only 0.0.0.0 when nothing is leased", () => {
    leased = undefined;
    expect(code(frame(request(), { srcIp: "10.77.0.161" }))).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    leased = "10.77.0.161";
  });

  it("never throws and passes nothing but well-formed client frames, whatever the bytes", () => {
    const good = frame();
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 700 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
      const f = good.slice();
      for (const [at, v] of flips) f[at % f.length] = v;
      return f;
    })), (f) => {
      const r = policy(f);
      if (r === null) {
        expect(Array.from(f.subarray(6, 12))).toEqual(Array.from(mac));
        expect((f[14 + 20]! << 8) | f[14 + 21]!).toBe(68);
        expect((f[14 + 22]! << 8) | f[14 + 23]!).toBe(67);
      } else {
        expect(r.code).toMatch(/^PADDOCK_E_EGRESS_[A-Z0-9_]+$/);
      }
    }), { numRuns: 3000 });
  });
});

function fixIpChecksum(f: Uint8Array): void {
  f[24] = 0; f[25] = 0;
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  f[24] = c >> 8; f[25] = c & 0xff;
}
