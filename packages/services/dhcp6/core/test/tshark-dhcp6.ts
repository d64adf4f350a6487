/**
 * Compares our decode of DHCPv6 messages with tshark's, field by field: used by the capture test
 * (against ../shared/pcaps/public/oracle/*.json) and by the encoder test (tshark run on what the
 * client sends). Field names are tshark 4.0's.
 */

import { execFileSync } from "node:child_process";
import { expect } from "vitest";
import { DUID_TIME_EPOCH_UNIX_MS, encodeDuid, optionCode, type Dhcp6Message, type Dhcp6Option, type Duid } from "../src/index.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const colonHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
const plainHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
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
  const head = { "dhcpv6.duid.bytes": bytes.ok ? colonHex(bytes.value) : "?" };
  switch (duid.type) {
    case "llt":
      return { ...head, "dhcpv6.duid.type": "1", "dhcpv6.duidllt.hwtype": String(duid.hardwareType), "dhcpv6.duidllt.time": tsharkDuidTime(duid.time), "dhcpv6.duidllt.link_layer_addr": colonHex(duid.linkLayer) };
    case "en":
      return { ...head, "dhcpv6.duid.type": "2", "dhcpv6.duiden.enterprise": String(duid.enterprise), "dhcpv6.duiden.identifier": colonHex(duid.identifier) };
    case "ll":
      return { ...head, "dhcpv6.duid.type": "3", "dhcpv6.duidll.hwtype": String(duid.hardwareType), "dhcpv6.duidll.link_layer_addr": colonHex(duid.linkLayer) };
    case "uuid":
      return { ...head, "dhcpv6.duid.type": "4", "dhcpv6.duiduuid.bytes": colonHex(duid.uuid) };
    case "unknown":
      return { ...head, "dhcpv6.duid.type": String(duid.duidType) };
  }
}

/** Options inside an IA, IAADDR or IAPREFIX, nested as tshark nests them (labels blanked). */
function nested(options: readonly Dhcp6Option[]): Record<string, unknown> {
  if (options.length === 0) return {};
  const trees = options.map(asTshark);
  return { "dhcpv6.option.type_str": one(trees.map(() => "?")), "dhcpv6.option.type_str_tree": one(trees) };
}

/** One option in tshark's field names (its length blanked as "?": the wire is checked separately). */
export function asTshark(o: Dhcp6Option): Record<string, unknown> {
  const head = { "dhcpv6.option.type": String(optionCode(o)), "dhcpv6.option.length": "?" };
  const ia = (x: { iaid: number; t1: number; t2: number }) => ({ "dhcpv6.iaid": x.iaid.toString(16).padStart(8, "0"), "dhcpv6.iaid.t1": String(x.t1), "dhcpv6.iaid.t2": String(x.t2) });
  switch (o.kind) {
    case "clientId":
    case "serverId":
      return { ...head, ...duidFields(o.duid) };
    case "iaNa":
    case "iaPd":
      return { ...head, ...ia(o), ...nested(o.options) };
    case "iaAddr":
      return { ...head, "dhcpv6.iaaddr.ip": o.address, "dhcpv6.iaaddr.pref_lifetime": String(o.preferred), "dhcpv6.iaaddr.valid_lifetime": String(o.valid), ...nested(o.options) };
    case "iaPrefix":
      return { ...head, "dhcpv6.iaprefix.pref_lifetime": String(o.preferred), "dhcpv6.iaprefix.valid_lifetime": String(o.valid), "dhcpv6.iaprefix.pref_len": String(o.prefixLength), "dhcpv6.iaprefix.pref_addr": o.prefix, ...nested(o.options) };
    case "pdExclude":
      return { ...head, "dhcpv6.pd_exclude.pref_len": String(o.prefixLength), "dhcpv6.pd_exclude.subnet_id": plainHex(o.subnetId) };
    case "oro":
      return { ...head, "dhcpv6.requested_option_code": one(o.codes.map(String)) };
    case "elapsedTime":
      // tshark 4.0 shows the elapsed time in milliseconds (the wire counts hundredths of a second).
      return { ...head, "dhcpv6.elapsed_time": String(o.hundredths * 10) };
    case "statusCode":
      return { ...head, "dhcpv6.status_code": String(o.status), "dhcpv6.status_msg": o.message };
    case "preference":
      return { ...head, "dhcpv6.option_preference": String(o.value) };
    case "dnsServers":
      return { ...head, "dhcpv6.dns_server": one(o.servers) };
    case "domainList":
      return { ...head, "Domain name suffix search list": { "dhcpv6.search_list_entry": one(o.domains.map((d) => `${d}.`)) } };
    case "reconfMsg":
      return { ...head, "dhcpv6.reconf_msg": String(o.messageType) };
    case "auth":
      return { ...head, "dhcpv6.auth.protocol": String(o.protocol), "dhcpv6.auth.algorithm": String(o.algorithm), "dhcpv6.auth.rdm": String(o.rdm), "dhcpv6.auth.replay_detection": colonHex(o.replayDetection), "dhcpv6.auth.info": colonHex(o.info) };
    case "informationRefreshTime":
      return { ...head, "dhcpv6.lifetime": String(o.seconds) };
    // tshark 4.0 shows no field for these three (SOL_MAX_RT and INF_MAX_RT) or none at all.
    case "solMaxRt":
    case "infMaxRt":
    case "rapidCommit":
    case "reconfAccept":
    case "unknown":
      return head;
  }
}

/**
 * tshark's tree for one option with its labels and lengths blanked as ours are (each length is
 * checked against the wire here); for codes we keep as `unknown`, only the code is kept.
 */
function normalise(theirs: Record<string, unknown>, wire: Uint8Array | undefined, untyped: ReadonlySet<number>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const code = Number(theirs["dhcpv6.option.type"]);
  for (const [k, v] of Object.entries(theirs)) {
    if (k === "dhcpv6.option.length") {
      out[k] = "?";
      if (wire !== undefined) expect(v, `option ${code} length`).toBe(String(wire.length));
    } else if (untyped.has(code) && k !== "dhcpv6.option.type") continue;
    else if (k === "dhcpv6.option.type_str") out[k] = Array.isArray(v) ? v.map(() => "?") : "?";
    else if (k === "dhcpv6.option.type_str_tree") {
      out[k] = Array.isArray(v) ? v.map((t) => normalise(t as Record<string, unknown>, undefined, untyped)) : normalise(v as Record<string, unknown>, undefined, untyped);
    } else out[k] = v;
  }
  return out;
}

/** Every top-level option's value bytes in a message's wire form (for tshark's option.length). */
function topLevelValues(raw: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 4; pos + 4 <= raw.length; ) {
    const length = (raw[pos + 2]! << 8) | raw[pos + 3]!;
    out.push(raw.subarray(pos + 4, pos + 4 + length));
    pos += 4 + length;
  }
  return out;
}

/**
 * Expects our decode `m` of `raw` to say what tshark's `layer` says, field by field. Codes in
 * `untyped` (options this core keeps as `unknown`) are compared by code and length only.
 */
export function expectSameAsTshark(m: Dhcp6Message, raw: Uint8Array, layer: Record<string, unknown>, label: string, untyped: ReadonlySet<number> = new Set()): void {
  expect(String(m.type), `${label} type`).toBe(layer["dhcpv6.msgtype"]);
  expect(`0x${m.transactionId.toString(16).padStart(6, "0")}`, `${label} xid`).toBe(layer["dhcpv6.xid"]);
  const raw2 = layer["dhcpv6.option.type_str_tree"];
  const theirs = (raw2 === undefined ? [] : Array.isArray(raw2) ? raw2 : [raw2]) as Record<string, unknown>[];
  const values = topLevelValues(raw);
  expect(m.options.length, `${label} options`).toBe(theirs.length);
  m.options.forEach((option, i) => {
    expect(asTshark(option), `${label} option ${i}`).toEqual(normalise(theirs[i]!, values[i], untyped));
  });
}

/** tshark's DHCPv6 layer of every packet in a capture file, and whether tshark found it malformed. */
export function tsharkDhcp6(file: string): { layer: Record<string, unknown>; malformed: boolean }[] {
  const out = execFileSync("tshark", ["-r", file, "-T", "json", "--no-duplicate-keys", "-O", "dhcpv6"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 60_000, stdio: ["ignore", "pipe", "ignore"] });
  const packets = JSON.parse(out) as { _source: { layers: Record<string, unknown> } }[];
  return packets.map((p) => ({ layer: (p._source.layers.dhcpv6 ?? {}) as Record<string, unknown>, malformed: JSON.stringify(p._source.layers).includes("_ws.malformed") }));
}
