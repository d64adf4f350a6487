// The priv's own note of the DHCP replies it delivers: an ACK's address for this client (what
// egress then allows as a source), a NAK, or nothing. A bounded scan, never a throw.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeDhcpFrame, MessageType, type DhcpMessage, type DhcpOption } from "@paddock/dhcp4";
import { observeDhcpReply } from "../src/observe.ts";

const MAC = Uint8Array.of(2, 0, 0x5e, 0x10, 0x20, 0x30);
const OTHER = Uint8Array.of(2, 0, 0x5e, 0x10, 0x20, 0x31);

function reply(type: MessageType, o: { chaddr?: Uint8Array; yiaddr?: string; pad?: number; op?: 1 | 2; ports?: [number, number] } = {}): Uint8Array {
  const options: DhcpOption[] = [
    ...Array.from({ length: o.pad ?? 0 }, (_, i) => ({ kind: "unknown", code: 224 + i, data: new Uint8Array(10) }) as DhcpOption),
    { kind: "messageType", code: 53, type },
    { kind: "serverId", code: 54, address: "10.0.0.1" },
  ];
  const msg: DhcpMessage = {
    op: o.op ?? 2, htype: 1, hlen: 6, hops: 0, xid: 7, secs: 0, flags: 0,
    ciaddr: "0.0.0.0", yiaddr: o.yiaddr ?? "10.0.0.5", siaddr: "0.0.0.0", giaddr: "0.0.0.0",
    chaddr: o.chaddr ?? MAC, sname: "", file: "", options,
  };
  const [srcPort, dstPort] = o.ports ?? [67, 68];
  const r = encodeDhcpFrame(msg, { srcMac: OTHER, dstMac: MAC, srcIp: "10.0.0.1", dstIp: "10.0.0.5", srcPort, dstPort });
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

describe("observeDhcpReply", () => {
  it("notes an ACK's address for this client, and a NAK", () => {
    expect(observeDhcpReply(reply(MessageType.ACK), MAC)).toEqual({ kind: "ack", yiaddr: "10.0.0.5" });
    expect(observeDhcpReply(reply(MessageType.NAK, { yiaddr: "0.0.0.0" }), MAC)).toEqual({ kind: "nak" });
  });

  it.each([
    ["an OFFER", reply(MessageType.OFFER)],
    ["an ACK for another client", reply(MessageType.ACK, { chaddr: OTHER })],
    ["a BOOTREQUEST", reply(MessageType.ACK, { op: 1 })],
    ["other ports", reply(MessageType.ACK, { ports: [68, 67] })],
    ["an ACK of a non-unicast address", reply(MessageType.ACK, { yiaddr: "224.0.0.1" })],
    ["an ACK of 0.0.0.0", reply(MessageType.ACK, { yiaddr: "0.0.0.0" })],
    ["a message type beyond the scanned bytes", reply(MessageType.ACK, { pad: 30 })],
  ])("ignores %s", (_what, frame) => {
    expect(observeDhcpReply(frame, MAC)).toBeNull();
  });

  it("never throws, and notes an ACK only from a frame that really is one for this client", () => {
    const ack = reply(MessageType.ACK);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 700 }), fc.tuple(fc.nat(ack.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const f = ack.slice();
        f[i] = v;
        return f;
      })), (frame) => {
        const r = observeDhcpReply(frame, MAC);
        if (r?.kind === "ack") {
          // chaddr at 14 + 20 + 8 + 28 (no IP options in these frames when it matches).
          expect(frame.length).toBeGreaterThanOrEqual(14 + 20 + 8 + 240);
        }
      }),
    );
  });
});
