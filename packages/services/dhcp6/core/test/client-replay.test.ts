/**
 * Real servers' messages through the client: the ADVERTISEs and REPLYs of the public DHCPv6
 * captures (a DHCPv6 server answering FreeBSD's dhcpcd), given to our client configured with
 * dhcpcd's DUID and IAID, with the transaction id set to the one our client drew. The client must
 * bind what the server gave, as tshark read it.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCapture } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import { MessageType, decodeDhcp6Message, optionOf, type Duid } from "../src/index.ts";
import { udpOf } from "../../../ntp/core/test/udp-payload.ts";
import { client, Driver, fixedRandom } from "./fixtures.ts";

const ZEEK = join(import.meta.dirname, "../../../../../../shared/pcaps/public/zeek");
/** dhcpcd's DUID-LLT and IAID in the captures. */
const DHCPCD_DUID: Duid = { type: "llt", hardwareType: 1, time: 0x2edb6b32, linkLayer: Uint8Array.of(0x52, 0x54, 0x00, 0x8a, 0x3e, 0x1c) };
const DHCPCD_IAID = 0x008a3e1c;
const SERVER = "fe80::5054:ff:fe21:6722";

/** The server's messages (UDP from port 547) of a capture, in order. */
function serverMessages(file: string): Uint8Array[] {
  const c = readCapture(new Uint8Array(readFileSync(join(ZEEK, `${file}.pcap`))));
  if (!c.ok) throw new Error(c.error.detail);
  return c.value.packets.flatMap((p) => {
    const u = udpOf(p.linkType, p.data);
    return u !== undefined && u.srcPort === 547 ? [u.payload.slice()] : [];
  });
}

/** `bytes` with its transaction id replaced. */
function withXid(bytes: Uint8Array, xid: number): Uint8Array {
  const out = bytes.slice();
  out[1] = xid >> 16;
  out[2] = (xid >> 8) & 0xff;
  out[3] = xid & 0xff;
  return out;
}

function dhcpcdClient(rapidCommit: boolean): Driver {
  return new Driver(client({ iaid: DHCPCD_IAID, duid: { kind: "duid", duid: DHCPCD_DUID }, rapidCommit, random: fixedRandom([0.25, 0.5, 0.75]) }));
}

describe("captured server messages bind our client", () => {
  it("SOLICIT → ADVERTISE → REQUEST → REPLY (dhcpv6-freebsd-ntpservers)", () => {
    const [advertise, reply] = serverMessages("dhcpv6-freebsd-ntpservers");
    expect(decodeDhcp6Message(advertise!)).toMatchObject({ ok: true, value: { type: MessageType.ADVERTISE } });
    const d = dhcpcdClient(false);
    d.run({ kind: "start", now: 0 });
    const solicit = d.nextSend()!;
    d.run({ kind: "datagram", bytes: withXid(advertise!, solicit.message.transactionId), from: SERVER, rxTimeMs: solicit.at + 1 });
    const request = d.nextSend()!;
    expect(request.message.type).toBe(MessageType.REQUEST);
    expect(optionOf(request.message.options, "iaNa")?.options).toEqual([{ kind: "iaAddr", address: "2001:db8::13c", preferred: 0, valid: 0, options: [] }]);
    d.run({ kind: "datagram", bytes: withXid(reply!, request.message.transactionId), from: SERVER, rxTimeMs: request.at + 1 });
    expect(d.state.name).toBe("bound");
    expect(d.published().at(-1)).toMatchObject({
      addresses: [{ address: "2001:db8::13c", preferred: 86400, valid: 86400 }],
      t1: 43200,
      t2: 75600,
      dnsServers: ["2001:db8::1"],
      serverAddress: SERVER,
      serverDuid: { type: "llt", time: 0x2eddfa9f },
    });
  });

  it("rapid commit: SOLICIT → REPLY (dhcpv6-freebsd-rapid-commit)", () => {
    const [reply] = serverMessages("dhcpv6-freebsd-rapid-commit");
    const d = dhcpcdClient(true);
    d.run({ kind: "start", now: 0 });
    const solicit = d.nextSend()!;
    d.run({ kind: "datagram", bytes: withXid(reply!, solicit.message.transactionId), from: SERVER, rxTimeMs: solicit.at + 1 });
    expect(d.published().at(-1)).toMatchObject({ addresses: [{ address: "2001:db8::13c" }], t1: 43200, t2: 75600 });
  });

  it("the same REPLY with its transaction id left as captured is not ours", () => {
    const [reply] = serverMessages("dhcpv6-freebsd-rapid-commit");
    const d = dhcpcdClient(true);
    d.run({ kind: "start", now: 0 });
    const solicit = d.nextSend()!;
    expect(solicit.message.transactionId).not.toBe(0x3bbb85);
    d.run({ kind: "datagram", bytes: reply!, from: SERVER, rxTimeMs: solicit.at + 1 });
    expect(d.published()).toEqual([]);
  });
});
