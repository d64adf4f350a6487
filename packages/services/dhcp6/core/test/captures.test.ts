/**
 * The public DHCPv6 captures (../shared/pcaps/public/zeek/dhcpv6-*.pcap, dhcpcd on FreeBSD against
 * a DHCPv6 server) decoded by our codec and compared, field by field, with tshark's decode of the
 * same packets (../shared/pcaps/public/oracle/), and re-encoded byte for byte.
 *
 * Options this core keeps as `unknown` (vendor class, client FQDN) are compared by code and
 * length only: their content is tshark's business, not a DHCPv6 client's.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCapture } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import { decodeDhcp6Message, encodeDhcp6Message } from "../src/index.ts";
import { udpOf } from "../../../ntp/core/test/udp-payload.ts";
import { expectSameAsTshark } from "./tshark-dhcp6.ts";

const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public");
const CAPTURES = ["dhcpv6-freebsd-ntpservers", "dhcpv6-freebsd-rapid-commit", "dhcpv6-freebsd-vendorclass"];

interface OraclePacket {
  frame: number;
  proto: string;
  layer: Record<string, unknown>;
}

/** Codes in these captures that this core keeps as `unknown`: vendor class (16), client FQDN (39), NTP server (56). */
const UNTYPED = new Set([16, 39, 56]);

/** Every UDP datagram to or from port 547 in a capture, by frame number (1-based). */
function dhcp6Datagrams(file: string): Map<number, Uint8Array> {
  const capture = readCapture(new Uint8Array(readFileSync(join(PUBLIC, "zeek", `${file}.pcap`))));
  if (!capture.ok) throw new Error(capture.error.detail);
  const out = new Map<number, Uint8Array>();
  capture.value.packets.forEach((p, i) => {
    const udp = udpOf(p.linkType, p.data);
    if (udp !== undefined && (udp.srcPort === 547 || udp.dstPort === 547)) out.set(i + 1, udp.payload);
  });
  return out;
}

describe("public DHCPv6 captures agree with tshark", () => {
  for (const file of CAPTURES) {
    it(file, () => {
      const oracle = (JSON.parse(readFileSync(join(PUBLIC, "oracle", `${file}.json`), "utf8")) as OraclePacket[]).filter((o) => o.proto === "dhcpv6");
      const datagrams = dhcp6Datagrams(file);
      expect([...datagrams.keys()]).toEqual(oracle.map((o) => o.frame));
      for (const o of oracle) {
        const raw = datagrams.get(o.frame)!;
        const decoded = decodeDhcp6Message(raw);
        if (!decoded.ok) throw new Error(`frame ${o.frame}: ${decoded.error.detail}`);
        const m = decoded.value;
        expectSameAsTshark(m, raw, o.layer, `frame ${o.frame}`, UNTYPED);
        const again = encodeDhcp6Message(m);
        if (!again.ok) throw new Error(`frame ${o.frame}: ${again.error.detail}`);
        expect(again.value, `frame ${o.frame} re-encoded`).toEqual(raw);
      }
    });
  }

  it("covers SOLICIT, ADVERTISE, REQUEST, REPLY and RELEASE, rapid commit included", () => {
    const types = new Set<number>();
    let rapid = false;
    for (const file of CAPTURES) {
      for (const raw of dhcp6Datagrams(file).values()) {
        const d = decodeDhcp6Message(raw);
        if (!d.ok) continue;
        types.add(d.value.type);
        rapid ||= d.value.type === 7 && d.value.options.some((o) => o.kind === "rapidCommit");
      }
    }
    expect([...types].sort((a, b) => a - b)).toEqual([1, 2, 3, 7, 8]);
    expect(rapid).toBe(true);
  });
});
