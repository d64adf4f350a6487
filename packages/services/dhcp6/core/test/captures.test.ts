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
import { decodeDhcp6Message, DUID_TIME_EPOCH_UNIX_MS, encodeDhcp6Message, encodeDuid, optionCode, type Dhcp6Option, type Duid } from "../src/index.ts";
import { udpOf } from "../../../ntp/core/test/udp-payload.ts";

const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public");
const CAPTURES = ["dhcpv6-freebsd-ntpservers", "dhcpv6-freebsd-rapid-commit", "dhcpv6-freebsd-vendorclass"];

interface OraclePacket {
  frame: number;
  proto: string;
  layer: Record<string, unknown>;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const colonHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
/** tshark lists one value as a string and several as an array. */
const one = <T>(values: T[]): T | T[] => (values.length === 1 ? (values[0] as T) : values);

/** A DUID-LLT time as tshark 4.0 prints it ("Nov 28, 2024 17:56:02.000000000 UTC"). */
function tsharkDuidTime(seconds: number): string {
  const d = new Date(DUID_TIME_EPOCH_UNIX_MS + seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())}, ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.000000000 UTC`;
}

function duidFields(duid: Duid): Record<string, unknown> {
  const bytes = encodeDuid(duid);
  const out: Record<string, unknown> = { "dhcpv6.duid.bytes": bytes.ok ? colonHex(bytes.value) : "?" };
  if (duid.type === "llt") {
    Object.assign(out, { "dhcpv6.duid.type": "1", "dhcpv6.duidllt.hwtype": String(duid.hardwareType), "dhcpv6.duidllt.time": tsharkDuidTime(duid.time), "dhcpv6.duidllt.link_layer_addr": colonHex(duid.linkLayer) });
  } else if (duid.type === "ll") {
    Object.assign(out, { "dhcpv6.duid.type": "3", "dhcpv6.duidll.hwtype": String(duid.hardwareType), "dhcpv6.duidll.link_layer_addr": colonHex(duid.linkLayer) });
  }
  return out;
}

/** Our options in tshark's field names and nesting. */
function nested(options: readonly Dhcp6Option[]): Record<string, unknown> {
  if (options.length === 0) return {};
  const trees = options.map(asTshark);
  return { "dhcpv6.option.type_str": one(trees.map(() => "?")), "dhcpv6.option.type_str_tree": one(trees) };
}

function asTshark(o: Dhcp6Option): Record<string, unknown> {
  const head = { "dhcpv6.option.type": String(optionCode(o)), "dhcpv6.option.length": "?" };
  switch (o.kind) {
    case "clientId":
    case "serverId":
      return { ...head, ...duidFields(o.duid) };
    case "iaNa":
      return { ...head, "dhcpv6.iaid": o.iaid.toString(16).padStart(8, "0"), "dhcpv6.iaid.t1": String(o.t1), "dhcpv6.iaid.t2": String(o.t2), ...nested(o.options) };
    case "iaAddr":
      return { ...head, "dhcpv6.iaaddr.ip": o.address, "dhcpv6.iaaddr.pref_lifetime": String(o.preferred), "dhcpv6.iaaddr.valid_lifetime": String(o.valid), ...nested(o.options) };
    case "oro":
      return { ...head, "dhcpv6.requested_option_code": one(o.codes.map(String)) };
    case "elapsedTime":
      return { ...head, "dhcpv6.elapsed_time": String(o.hundredths) };
    case "rapidCommit":
      return head;
    case "statusCode":
      return { ...head, "dhcpv6.status_code": String(o.status), "dhcpv6.status_msg": o.message };
    case "preference":
      return { ...head, "dhcpv6.option_preference": String(o.value) };
    case "dnsServers":
      return { ...head, "dhcpv6.dns_server": one(o.servers) };
    default:
      return head;
  }
}

/**
 * tshark's tree with its labels and lengths blanked as ours are (lengths are checked against the
 * wire here); for options we keep as `unknown`, only the code is kept.
 */
function normalise(theirs: Record<string, unknown>, wire: Uint8Array | undefined, known: (code: string) => boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const code = String(theirs["dhcpv6.option.type"]);
  for (const [k, v] of Object.entries(theirs)) {
    if (k === "dhcpv6.option.length") {
      out[k] = "?";
      if (wire !== undefined) expect(v, `option ${code} length`).toBe(String(wire.length));
    } else if (!known(code) && k !== "dhcpv6.option.type") continue;
    else if (k === "dhcpv6.option.type_str") out[k] = Array.isArray(v) ? v.map(() => "?") : "?";
    else if (k === "dhcpv6.option.type_str_tree") {
      out[k] = Array.isArray(v) ? v.map((t) => normalise(t as Record<string, unknown>, undefined, known)) : normalise(v as Record<string, unknown>, undefined, known);
    } else out[k] = v;
  }
  return out;
}

/** Every option's value bytes at the top level of a message (for tshark's option.length). */
function topLevelValues(raw: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 4; pos + 4 <= raw.length; ) {
    const length = (raw[pos + 2]! << 8) | raw[pos + 3]!;
    out.push(raw.subarray(pos + 4, pos + 4 + length));
    pos += 4 + length;
  }
  return out;
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
        expect(String(m.type), `frame ${o.frame} type`).toBe(o.layer["dhcpv6.msgtype"]);
        expect(`0x${m.transactionId.toString(16).padStart(6, "0")}`, `frame ${o.frame} xid`).toBe(o.layer["dhcpv6.xid"]);
        const theirs = o.layer["dhcpv6.option.type_str_tree"] as Record<string, unknown>[];
        const values = topLevelValues(raw);
        expect(m.options.length, `frame ${o.frame} options`).toBe(theirs.length);
        m.options.forEach((option, i) => {
          expect(asTshark(option), `frame ${o.frame} option ${i}`).toEqual(normalise(theirs[i]!, values[i], (code) => !UNTYPED.has(Number(code))));
        });
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
