/**
 * What the client sends, decoded by tshark: every message type of a stateful run with an address
 * and a prefix (SOLICIT, REQUEST, RENEW, REBIND, CONFIRM, RELEASE), a stateless one
 * (INFORMATION-REQUEST), a DECLINE and a message carrying every typed option, written to a pcap
 * as raw IPv6/UDP (native/test/frames.ts builds the headers) and compared with tshark's decode field by field. tshark is an independent
 * encoder check: it must find nothing malformed and read every field as we meant it.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MessageType, type Dhcp6Message } from "../src/index.ts";
import { writePcap } from "../../../dhcp4/core/test/fixtures.ts";
import { client, decodeSent, Driver, encoded, iaNa, iaPd, IAID, CLIENT_DUID, SERVER_DUID } from "./fixtures.ts";
import { expectSameAsTshark, tsharkDhcp6 } from "./tshark-dhcp6.ts";
import { ipv6Header, udp } from "../../../../../native/test/frames.ts";

/** Bounds a hang only: tshark takes ~4 s to start here, several times that on busy shared cores. */
const TSHARK_TIMEOUT_MS = 120_000;

const dir = mkdtempSync(join(tmpdir(), "paddock-dhcp6-tshark-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every message a client sends over a stateful run and a stateless one. */
function clientMessages(): Uint8Array[] {
  const d = new Driver(client({ rapidCommit: false, prefix: { length: 56 } }));
  d.run({ kind: "start", now: 0 });
  const solicit = d.nextSend()!.message;
  d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), iaPd(), { kind: "preference", value: 255 }]);
  const request = d.nextSend()!.message;
  d.reply(MessageType.REPLY, request.transactionId, [iaNa(), iaPd(undefined, 56, 3600, 7200, 1800, 2880, [{ kind: "pdExclude", prefixLength: 64, subnetId: Uint8Array.of(1) }])]);
  let s = d.nextSend()!.message;
  while (s.type === MessageType.RENEW) s = d.nextSend()!.message; // then REBIND
  d.run({ kind: "link", up: false, now: d.now + 1 });
  d.run({ kind: "release", now: d.now + 1 });
  // CONFIRM: an address-only lease, the link back.
  const c = new Driver(client({ rapidCommit: true }));
  c.run({ kind: "start", now: 0 });
  const sol = c.nextSend()!.message;
  c.reply(MessageType.REPLY, sol.transactionId, [{ kind: "rapidCommit" }, iaNa()]);
  c.run({ kind: "link", up: false, now: c.now + 1 });
  c.run({ kind: "link", up: true, now: c.now + 1 });
  c.nextSend();
  c.run({ kind: "release", now: c.now + 1 });
  c.nextSend();
  const i = new Driver(client({ mode: "stateless" }));
  i.run({ kind: "start", now: 0 });
  i.nextSend();
  return [d, c, i].flatMap((x) => x.log.flatMap((l) => (l.action.kind === "send" ? [l.action.bytes] : [])));
}

/** A DECLINE and a REPLY with one of every typed option (the encoder's reach beyond the client's own messages). */
function otherMessages(): Dhcp6Message[] {
  return [
    { type: MessageType.DECLINE, transactionId: 0xabcdef, options: [{ kind: "clientId", duid: CLIENT_DUID }, { kind: "serverId", duid: SERVER_DUID }, iaNa("2001:db8::bad", 0, 0, 0, 0), { kind: "elapsedTime", hundredths: 0 }] },
    {
      type: MessageType.REPLY,
      transactionId: 0x000001,
      options: [
        { kind: "clientId", duid: { type: "uuid", uuid: Uint8Array.from({ length: 16 }, (_, k) => k) } },
        { kind: "serverId", duid: { type: "en", enterprise: 2495, identifier: Uint8Array.of(1, 2, 3) } },
        { kind: "iaNa", iaid: IAID, t1: 10, t2: 20, options: [{ kind: "iaAddr", address: "2001:db8::1", preferred: 30, valid: 40, options: [{ kind: "statusCode", status: 0, message: "ok" }] }] },
        iaPd("2001:db8:100::", 56, 30, 40, 10, 20, [{ kind: "pdExclude", prefixLength: 64, subnetId: Uint8Array.of(0x01) }, { kind: "statusCode", status: 0, message: "fine" }]),
        { kind: "preference", value: 7 },
        { kind: "statusCode", status: 0, message: "all good" },
        { kind: "rapidCommit" },
        { kind: "reconfAccept" },
        { kind: "reconfMsg", messageType: 5 },
        { kind: "auth", protocol: 3, algorithm: 1, rdm: 0, replayDetection: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), info: Uint8Array.of(9, 9) },
        { kind: "dnsServers", servers: ["2001:db8::53", "2001:db8::54"] },
        { kind: "domainList", domains: ["example.com", "lab.example.org"] },
        { kind: "informationRefreshTime", seconds: 600 },
        { kind: "solMaxRt", seconds: 60 },
        { kind: "infMaxRt", seconds: 70 },
        { kind: "unknown", code: 999, data: Uint8Array.of(1, 2, 3) },
      ],
    },
  ];
}

describe("tshark reads what we encode as we meant it", () => {
  it("every message the client sends, a DECLINE and every typed option", () => {
    const sent = clientMessages();
    const types = new Set(sent.map((b) => b[0]));
    expect([...types].sort((a, b) => a! - b!)).toEqual([1, 3, 4, 5, 6, 8, 11]);
    const all = [...sent, ...otherMessages().map(encoded)];
    const file = join(dir, "sent.pcap");
    writeFileSync(file, writePcap(all.map((b) => ipv6Header(17, udp(546, 547, b))), 101));
    const theirs = tsharkDhcp6(file);
    expect(theirs).toHaveLength(all.length);
    all.forEach((bytes, k) => {
      expect(theirs[k]!.malformed, `packet ${k + 1} malformed`).toBe(false);
      expectSameAsTshark(decodeSent(bytes), bytes, theirs[k]!.layer, `packet ${k + 1}`, new Set([999]));
    });
  }, TSHARK_TIMEOUT_MS);
});
