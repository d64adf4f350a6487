import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ARP_FRAME_BYTES, ArpOp, decodeArpFrame, DhcpErrorCode, encodeArpFrame, isArpForAnotherAddress } from "../src/index.ts";

const mac = Uint8Array.of(2, 0, 0, 0, 0, 1);

function probe(): Uint8Array {
  const r = encodeArpFrame({ senderMac: mac, senderIp: "0.0.0.0", targetIp: "10.0.0.5" });
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

describe("ARP codec (RFC 826, Ethernet/IPv4)", () => {
  it("encodes a broadcast request with a zero target hardware address, and decodes it back", () => {
    const f = probe();
    expect(f.length).toBe(ARP_FRAME_BYTES);
    expect(Array.from(f.subarray(0, 14))).toEqual([255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 8, 6]);
    expect(Array.from(f.subarray(14, 22))).toEqual([0, 1, 8, 0, 6, 4, 0, 1]);
    const d = decodeArpFrame(f);
    expect(d.ok && d.value).toEqual({ op: ArpOp.REQUEST, ethernetSource: mac, senderMac: mac, senderIp: "0.0.0.0", targetMac: new Uint8Array(6), targetIp: "10.0.0.5" });
    // Padding to the 60-byte Ethernet minimum is ignored.
    const padded = new Uint8Array(60);
    padded.set(f);
    expect(decodeArpFrame(padded).ok).toBe(true);
  });

  it("refuses what is not Ethernet/IPv4 request or reply, with a typed error", () => {
    const f = probe();
    expect(decodeArpFrame(f.subarray(0, 41))).toMatchObject({ ok: false, error: { code: DhcpErrorCode.TRUNCATED } });
    expect(decodeArpFrame(f.subarray(0, 13))).toMatchObject({ ok: false, error: { code: DhcpErrorCode.TRUNCATED } });
    const ipv4 = f.slice();
    ipv4[13] = 0;
    expect(decodeArpFrame(ipv4)).toMatchObject({ ok: false, error: { code: DhcpErrorCode.NOT_ARP } });
    for (const [at, v] of [[15, 6], [16, 0x86], [18, 8], [19, 16], [21, 3], [20, 1]] as const) {
      const bad = f.slice();
      bad[at] = v;
      expect(decodeArpFrame(bad)).toMatchObject({ ok: false, error: { code: DhcpErrorCode.BAD_ARP } });
    }
    expect(encodeArpFrame({ senderMac: mac, senderIp: "10.0.0.256", targetIp: "10.0.0.5" }).ok).toBe(false);
    expect(encodeArpFrame({ senderMac: mac.subarray(0, 5), senderIp: "0.0.0.0", targetIp: "10.0.0.5" }).ok).toBe(false);
  });

  it("property: any bytes, or a mutated ARP frame, decode to a packet or a typed error, never throw", () => {
    const good = probe();
    const codes = new Set<string>(Object.values(DhcpErrorCode));
    let decoded = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
            const f = good.slice();
            for (const [at, v] of flips) f[at % f.length] = v;
            return f;
          }),
          fc.integer({ min: 0, max: ARP_FRAME_BYTES + 4 }).map((n) => { const f = new Uint8Array(n); f.set(good.subarray(0, n)); return f; }),
        ),
        (f) => {
          const r = decodeArpFrame(f);
          if (!r.ok) {
            expect(codes.has(r.error.code)).toBe(true);
            return;
          }
          decoded++;
          expect([ArpOp.REQUEST, ArpOp.REPLY]).toContain(r.value.op);
          expect(r.value.senderMac.length).toBe(6);
          expect(r.value.senderIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
          // The packet owns its bytes: changing the frame changes nothing decoded.
          const before = Array.from(r.value.senderMac);
          f[22] = (f[22]! + 1) & 0xff;
          expect(Array.from(r.value.senderMac)).toEqual(before);
        },
      ),
      { numRuns: 3000 },
    );
    expect(decoded).toBeGreaterThan(100);
  });

  it("isArpForAnotherAddress: true only for a whole ARP frame naming the address neither as sender nor as target", () => {
    expect(isArpForAnotherAddress(probe(), "10.0.0.5")).toBe(false); // target
    expect(isArpForAnotherAddress(probe(), "10.0.0.6")).toBe(true);
    const announcement = encodeArpFrame({ senderMac: mac, senderIp: "10.0.0.7", targetIp: "10.0.0.1" });
    expect(announcement.ok && isArpForAnotherAddress(announcement.value, "10.0.0.7")).toBe(false); // sender
    expect(isArpForAnotherAddress(probe().subarray(0, 41), "10.0.0.6")).toBe(false); // too short to tell
    // Never true for a frame whose decoded packet names the address.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 42, maxLength: 60 }), fc.constantFrom("10.0.0.5", "0.0.0.0", "255.255.255.255"), (f, address) => {
        f.set(Uint8Array.of(8, 6, 0, 1, 8, 0, 6, 4, 0, 1), 12);
        const d = decodeArpFrame(f);
        if (d.ok && (d.value.senderIp === address || d.value.targetIp === address)) expect(isArpForAnotherAddress(f, address)).toBe(false);
        if (d.ok && d.value.senderIp !== address && d.value.targetIp !== address) expect(isArpForAnotherAddress(f, address)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
