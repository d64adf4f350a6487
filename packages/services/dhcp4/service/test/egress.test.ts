import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeDhcpFrame, MessageType, type DhcpMessage } from "@paddock/dhcp4";
import { dhcpClientEgress, MAX_DHCP_CLIENT_FRAME_BYTES } from "../src/egress.ts";

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

  it("refuses IPv6, ARP, TCP and fragments", () => {
    const f = frame();
    const arp = f.slice(); arp[12] = 0x08; arp[13] = 0x06;
    expect(code(arp)).toBe("PADDOCK_E_EGRESS_NOT_IPV4");
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
