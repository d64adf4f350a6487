import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeArpFrame } from "@paddock/dhcp4";
import { dhcpClientEgress } from "../src/egress.ts";

const mac = new Uint8Array([0x02, 0x77, 0xf4, 0xa9, 0x18, 0xe3]);
const other = new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x09]);
let acked: string | undefined = "10.77.0.161";
const policy = dhcpClientEgress({ mac, leasedAddress: () => acked });

function arp(senderIp: string, targetIp: string, senderMac = mac): Uint8Array {
  const r = encodeArpFrame({ senderMac, senderIp, targetIp });
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

const code = (f: Uint8Array): string => policy(f)?.code ?? "ok";

describe("the DHCP client's ARP egress (RFC 5227 probes and announcements only)", () => {
  it.each([
    ["a probe for the ACKed address", () => arp("0.0.0.0", "10.77.0.161"), "ok"],
    ["an announcement of the ACKed address", () => arp("10.77.0.161", "10.77.0.161"), "ok"],
    ["a probe padded to 60 bytes with zeroes", () => { const f = new Uint8Array(60); f.set(arp("0.0.0.0", "10.77.0.161")); return f; }, "ok"],
    ["a gratuitous ARP for another address", () => arp("10.77.0.1", "10.77.0.1"), "PADDOCK_E_EGRESS_ARP_ADDRESS"],
    ["a probe for another address", () => arp("0.0.0.0", "10.77.0.1"), "PADDOCK_E_EGRESS_ARP_ADDRESS"],
    ["a request from the ACKed address for another host (cache poisoning)", () => arp("10.77.0.161", "10.77.0.1"), "PADDOCK_E_EGRESS_ARP_ADDRESS"],
    ["a request claiming another address", () => arp("10.77.0.1", "10.77.0.161"), "PADDOCK_E_EGRESS_ARP_ADDRESS"],
    ["an ARP reply", () => { const f = arp("10.77.0.161", "10.77.0.161"); f[21] = 2; return f; }, "PADDOCK_E_EGRESS_ARP"],
    ["a forged sender hardware address", () => { const f = arp("10.77.0.161", "10.77.0.161"); f.set(other, 22); return f; }, "PADDOCK_E_EGRESS_ARP_SENDER_MAC"],
    ["a forged Ethernet source", () => { const f = arp("10.77.0.161", "10.77.0.161"); f.set(other, 6); return f; }, "PADDOCK_E_EGRESS_SOURCE_MAC"],
    ["a unicast ARP", () => { const f = arp("10.77.0.161", "10.77.0.161"); f.set(other, 0); return f; }, "PADDOCK_E_EGRESS_ARP"],
    ["a target hardware address", () => { const f = arp("0.0.0.0", "10.77.0.161"); f.set(other, 32); return f; }, "PADDOCK_E_EGRESS_ARP"],
    ["IPv6 over ARP", () => { const f = arp("0.0.0.0", "10.77.0.161"); f[16] = 0x86; f[17] = 0xdd; return f; }, "PADDOCK_E_EGRESS_ARP"],
    ["data in the padding", () => { const f = new Uint8Array(60); f.set(arp("0.0.0.0", "10.77.0.161")); f[59] = 1; return f; }, "PADDOCK_E_EGRESS_ARP"],
    ["a truncated ARP frame", () => arp("0.0.0.0", "10.77.0.161").subarray(0, 41), "PADDOCK_E_EGRESS_TOO_SHORT"],
    ["an ARP frame over 60 bytes", () => { const f = new Uint8Array(61); f.set(arp("0.0.0.0", "10.77.0.161")); return f; }, "PADDOCK_E_EGRESS_TOO_LONG"],
  ])("%s → %s", (_name, make, want) => {
    expect(code(make())).toBe(want);
  });

  it("refuses every ARP while no address has been ACKed", () => {
    acked = undefined;
    expect(code(arp("0.0.0.0", "10.77.0.161"))).toBe("PADDOCK_E_EGRESS_ARP_ADDRESS");
    acked = "10.77.0.161";
  });

  it("property: a frame it passes is exactly a probe or announcement of the ACKed address from the interface", () => {
    const probe = arp("0.0.0.0", "10.77.0.161");
    const announcement = arp("10.77.0.161", "10.77.0.161");
    let passed = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          // 1 to 3 bytes of a frame that passes set to any value: almost all of them refused.
          fc.tuple(fc.constantFrom(probe, announcement), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([good, flips]) => {
            const f = good.slice();
            for (const [at, v] of flips) f[at % f.length] = v;
            return f;
          }),
          // The frames that pass, unchanged: so that every run checks the passing side too (the
          // mutations alone leave a frame intact about once in 256, and some runs had none).
          fc.constantFrom(probe, announcement).map((f) => f.slice()),
        ),
        (f) => {
          const r = policy(f);
          if (r !== null) {
            expect(r.code).toMatch(/^PADDOCK_E_EGRESS_[A-Z0-9_]+$/);
            return;
          }
          passed++;
          const want = arp("0.0.0.0", "10.77.0.161");
          const sender = Array.from(f.subarray(28, 32)).join(".");
          expect(["0.0.0.0", "10.77.0.161"]).toContain(sender);
          want.set(f.subarray(28, 32), 28);
          expect(Array.from(f)).toEqual(Array.from(want));
        },
      ),
      { numRuns: 3000 },
    );
    expect(passed).toBeGreaterThan(0);
  });
});
