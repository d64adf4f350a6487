/**
 * The public NTP captures (../shared/pcaps/public/zeek/ntp-*.pcap) decoded by our codec and
 * compared, field by field, with tshark's decode of the same packets (the oracle files in
 * ../shared/pcaps/public/oracle/), and re-encoded byte for byte.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCapture } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import {
  RFC4330_PIVOT,
  decodeNtpPacket,
  encodeNtpPacket,
  instantFromTimestamp,
  isZeroTimestamp,
  unixFromInstant,
  type NtpPacket,
  type NtpTimestamp,
} from "../src/index.ts";
import { udpOf } from "./udp-payload.ts";

const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public");
const CAPTURES = ["ntp-NTP-digest", "ntp-NTP_sync", "ntp-misordered-ntp", "ntp-ntp-no-extensions-mac", "ntp-ntp", "ntp-ntp2", "ntp-ntpmode67"];

interface OraclePacket {
  frame: number;
  udp_srcport?: string;
  udp_dstport?: string;
  proto: string;
  layer: Record<string, unknown>;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A timestamp as tshark 4.0 prints it ("May 30, 2019 20:02:36.073681418 UTC", "NULL" for 0). */
function tsharkTime(t: NtpTimestamp): string {
  if (isZeroTimestamp(t)) return "NULL";
  const i = instantFromTimestamp(t, RFC4330_PIVOT);
  const d = new Date(Math.floor(unixFromInstant({ seconds: i.seconds, fraction: 0 })) * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  // tshark truncates the fraction to nanoseconds.
  const nanos = Math.floor((t.fraction * 1e9) / 2 ** 32);
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")}, ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(nanos, 9)} UTC`;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
const hex2 = (v: number, digits = 2) => `0x${v.toString(16).padStart(digits, "0")}`;

/** Our decode in tshark's field names and notation. */
function asTshark(p: NtpPacket, raw: Uint8Array): Record<string, unknown> {
  if (p.kind === "control") {
    return {
      "ntp.flags": hex2(raw[0]!),
      "ntp.flags_tree": { "ntp.flags.li": String(p.leap), "ntp.flags.vn": String(p.version), "ntp.flags.mode": String(p.mode) },
      "ntp.ctrl.flags2": hex2(raw[1]!),
      "ntp.ctrl.flags2_tree": {
        "ntp.ctrl.flags2.r": p.response ? "1" : "0",
        "ntp.ctrl.flags2.error": p.error ? "1" : "0",
        "ntp.ctrl.flags2.more": p.more ? "1" : "0",
        "ntp.ctrl.flags2.opcode": String(p.opcode),
      },
      "ntp.ctrl.sequence": String(p.sequence),
      "ntp.ctrl.status": hex2(p.status, 4),
      "ntp.ctrl.associd": String(p.associationId),
      "ntp.ctrl.offset": String(p.offset),
      "ntp.ctrl.count": String(p.count),
    };
  }
  if (p.kind === "private") {
    return {
      "ntp.flags": hex2(raw[0]!),
      "ntp.flags_tree": { "ntp.priv.flags.r": p.response ? "1" : "0", "ntp.priv.flags.more": p.more ? "1" : "0", "ntp.flags.vn": String(p.version), "ntp.flags.mode": String(p.mode) },
      "ntp.priv.auth_seq": String(raw[1]!),
      "ntp.priv.auth_seq_tree": { "ntp.priv.auth": p.authenticated ? "1" : "0", "ntp.priv.seq": String(p.sequence) },
      "ntp.priv.impl": String(p.implementation),
      "ntp.priv.reqcode": String(p.requestCode),
      "ntp.priv.err": hex2(p.error),
      "ntp.priv.numitems": String(p.itemCount),
      "ntp.priv.reserved": hex2(p.mbz),
      "ntp.priv.itemsize": String(p.itemSize),
    };
  }
  return {
    "ntp.flags": hex2(raw[0]!),
    "ntp.flags_tree": { "ntp.flags.li": String(p.leap), "ntp.flags.vn": String(p.version), "ntp.flags.mode": String(p.mode) },
    "ntp.stratum": String(p.stratum),
    "ntp.ppoll": String(p.poll & 0xff),
    "ntp.precision": String(p.precision & 0xff),
    "ntp.rootdelay": String(p.rootDelay * 65536),
    "ntp.rootdispersion": String(p.rootDispersion * 65536),
    "ntp.refid": hex(p.referenceId),
    "ntp.reftime": tsharkTime(p.referenceTime),
    "ntp.org": tsharkTime(p.originTime),
    "ntp.rec": tsharkTime(p.receiveTime),
    "ntp.xmt": tsharkTime(p.transmitTime),
    ...(p.mac === undefined ? {} : { "ntp.keyid": hex(raw.subarray(raw.length - p.mac.digest.length - 4, raw.length - p.mac.digest.length)), "ntp.mac": hex(p.mac.digest) }),
  };
}

/** Every UDP datagram to or from port 123 in a capture, by frame number (1-based). */
function ntpDatagrams(file: string): Map<number, Uint8Array> {
  const capture = readCapture(new Uint8Array(readFileSync(join(PUBLIC, "zeek", `${file}.pcap`))));
  if (!capture.ok) throw new Error(capture.error.detail);
  const out = new Map<number, Uint8Array>();
  capture.value.packets.forEach((p, i) => {
    const udp = udpOf(p.linkType, p.data);
    if (udp !== undefined && (udp.srcPort === 123 || udp.dstPort === 123)) out.set(i + 1, udp.payload);
  });
  return out;
}

describe("public NTP captures agree with tshark", () => {
  for (const file of CAPTURES) {
    it(file, () => {
      const oracle = JSON.parse(readFileSync(join(PUBLIC, "oracle", `${file}.json`), "utf8")) as OraclePacket[];
      const datagrams = ntpDatagrams(file);
      expect([...datagrams.keys()]).toEqual(oracle.map((o) => o.frame));
      for (const o of oracle) {
        const raw = datagrams.get(o.frame)!;
        const decoded = decodeNtpPacket(raw);
        if (!decoded.ok) throw new Error(`frame ${o.frame}: ${decoded.error.detail}`);
        expect(asTshark(decoded.value, raw), `frame ${o.frame}`).toEqual(o.layer);
        const again = encodeNtpPacket(decoded.value);
        if (!again.ok) throw new Error(`frame ${o.frame}: ${again.error.detail}`);
        expect(again.value, `frame ${o.frame} re-encoded`).toEqual(raw);
      }
    });
  }

  it("covers every mode the captures hold: symmetric active and passive, client, server, control and private", () => {
    const modes = new Set<number>();
    for (const file of CAPTURES) {
      for (const raw of ntpDatagrams(file).values()) {
        const d = decodeNtpPacket(raw);
        if (d.ok) modes.add(d.value.mode);
      }
    }
    expect([...modes].sort()).toEqual([1, 2, 3, 4, 6, 7]);
  });
});
