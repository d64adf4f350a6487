/**
 * Compares `paddock dhcp decode` JSON with tshark's decode of the same packet, field by field.
 * Used by the capture tests (against ../shared/pcaps/public/oracle/*.json) and by the interop
 * test (against tshark run on captures of real servers and clients).
 *
 * Every option tshark lists is checked twice where possible: its raw bytes (tshark's
 * `dhcp.option.value`, instances of one code concatenated per RFC 3396) against the bytes our JSON
 * value stands for, and its typed field (`dhcp.option.router`, …) against our typed value.
 */

import { execFileSync } from "node:child_process";

/** One packet as the oracle files hold it (tshark 4.0 JSON, condensed). */
export interface OraclePacket {
  frame: number;
  eth_src?: string;
  ip_src?: string;
  ip_dst?: string;
  udp_srcport?: string;
  udp_dstport?: string;
  proto: string;
  layer: Record<string, unknown>;
}

/**
 * Runs `tshark -r FILE -T json --no-duplicate-keys ARGS` and returns each packet's layers by
 * name (also used by the ND captures test, with `-O icmpv6`).
 */
export function tsharkLayers(file: string, args: readonly string[]): Record<string, Record<string, unknown>>[] {
  const out = execFileSync("tshark", ["-r", file, "-T", "json", "--no-duplicate-keys", ...args], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: 60_000,
    stdio: ["ignore", "pipe", "ignore"],
  });
  return (JSON.parse(out) as { _source: { layers: Record<string, Record<string, unknown>> } }[]).map((p) => p._source.layers);
}

/**
 * Runs tshark on a capture and returns its DHCP packets in the oracle form (the same condensed
 * shape as ../shared/pcaps/public/oracle/*.json).
 */
export function tsharkOracle(file: string): OraclePacket[] {
  return tsharkLayers(file, ["-O", "dhcp", "-Y", "udp.port == 67 || udp.port == 68"]).map((l) => {
    const pick = (layer: string, field: string) => {
      const v = l[layer]?.[field];
      return typeof v === "string" ? v : undefined;
    };
    return {
      frame: Number(pick("frame", "frame.number")),
      eth_src: pick("eth", "eth.src"),
      ip_src: pick("ip", "ip.src"),
      ip_dst: pick("ip", "ip.dst"),
      udp_srcport: pick("udp", "udp.srcport"),
      udp_dstport: pick("udp", "udp.dstport"),
      proto: l.dhcp ? "dhcp" : "udp",
      layer: (l.dhcp ?? {}) as Record<string, unknown>,
    };
  });
}

const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? (v as string[]) : [v as string]);

function hexToBytes(hex: string): number[] {
  const clean = hex.replaceAll(":", "");
  const out: number[] = [];
  for (let i = 0; i + 1 < clean.length; i += 2) out.push(parseInt(clean.slice(i, i + 2), 16));
  return out;
}

const ipBytes = (s: unknown): number[] => String(s).split(".").map(Number);
const be = (n: number, width: number): number[] => Array.from({ length: width }, (_, i) => Math.floor(n / 256 ** (width - 1 - i)) & 0xff);

/**
 * The wire bytes a JSON option value stands for, or null for the codes whose bytes are not
 * determined by the JSON (119: compression is the sender's choice; 81: wire or ASCII form).
 */
function jsonToBytes(code: number, v: unknown): number[] | null {
  switch (code) {
    case 1: case 28: case 50: case 54:
      return ipBytes(v);
    case 3: case 6: case 42:
      return (v as string[]).flatMap(ipBytes);
    case 26: case 57:
      return be(v as number, 2);
    case 51: case 58: case 59: case 108:
      return be(v as number, 4);
    case 52: case 53:
      return [v as number];
    case 55:
      return v as number[];
    case 80:
      return v === true ? [] : [-1];
    case 12: case 15: case 56: case 114:
      return Array.from(new TextEncoder().encode(v as string));
    case 121:
      return (v as { destination: string; router: string }[]).flatMap((r) => {
        const [dest, width] = r.destination.split("/");
        const w = Number(width);
        return [w, ...ipBytes(dest).slice(0, Math.ceil(w / 8)), ...ipBytes(r.router)];
      });
    case 81: case 119:
      return null;
    default:
      return typeof v === "string" ? hexToBytes(v) : [-1];
  }
}

/** tshark's typed field for each code, compared as text (lists element by element). */
const TYPED_FIELD: Record<number, string> = {
  1: "dhcp.option.subnet_mask",
  3: "dhcp.option.router",
  6: "dhcp.option.domain_name_server",
  12: "dhcp.option.hostname",
  15: "dhcp.option.domain_name",
  26: "dhcp.option.interface_mtu",
  28: "dhcp.option.broadcast_address",
  42: "dhcp.option.ntp_server",
  50: "dhcp.option.requested_ip_address",
  51: "dhcp.option.ip_address_lease_time",
  52: "dhcp.option.option_overload",
  53: "dhcp.option.dhcp",
  54: "dhcp.option.dhcp_server_id",
  55: "dhcp.option.request_list_item",
  56: "dhcp.option.message",
  57: "dhcp.option.dhcp_max_message_size",
  58: "dhcp.option.renewal_time_value",
  59: "dhcp.option.rebinding_time_value",
  60: "dhcp.option.vendor_class_id",
  114: "dhcp.option.captive_portal",
  119: "dhcp.option.dhcp_dns_domain_search_list_fqdn",
};

/** Our JSON for one option as the list of strings tshark would show in its typed field. */
function typedText(code: number, v: unknown): string[] {
  if (code === 60) return [new TextDecoder().decode(Uint8Array.from(hexToBytes(v as string)))];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

/**
 * Differences between our JSON line for a packet and tshark's decode of it; empty when they
 * agree. A packet tshark decodes without a DHCP magic cookie must be our BAD_COOKIE error.
 */
export function compareWithTshark(mine: Record<string, unknown>, oracle: OraclePacket): string[] {
  const diffs: string[] = [];
  const at = `frame ${oracle.frame}`;
  const l = oracle.layer;
  if (l["dhcp.cookie"] !== "99.130.83.99") {
    if (mine.error !== "PADDOCK_E_DHCP_BAD_COOKIE") diffs.push(`${at}: tshark sees no DHCP cookie, we gave ${JSON.stringify(mine)}`);
    return diffs;
  }
  if ("error" in mine) return [`${at}: we gave error ${JSON.stringify(mine)}, tshark decodes it`];
  const eq = (what: string, ours: unknown, theirs: unknown) => {
    if (String(ours) !== String(theirs)) diffs.push(`${at}: ${what} ours ${JSON.stringify(ours)} tshark ${JSON.stringify(theirs)}`);
  };
  eq("op", mine.op, Number(l["dhcp.type"]));
  eq("xid", mine.xid, Number(l["dhcp.id"]));
  eq("secs", mine.secs, Number(l["dhcp.secs"]));
  eq("flags", mine.flags, Number(l["dhcp.flags"]));
  eq("ciaddr", mine.ciaddr, l["dhcp.ip.client"]);
  eq("yiaddr", mine.yiaddr, l["dhcp.ip.your"]);
  eq("siaddr", mine.siaddr, l["dhcp.ip.server"]);
  eq("giaddr", mine.giaddr, l["dhcp.ip.relay"]);
  if (typeof l["dhcp.hw.mac_addr"] === "string") eq("chaddr", mine.chaddr, l["dhcp.hw.mac_addr"]);

  // tshark lists option types with a parallel tree; end (and pad) entries carry no value.
  const types = asList(l["dhcp.option.type"]);
  const trees = (Array.isArray(l["dhcp.option.type_tree"]) ? l["dhcp.option.type_tree"] : [l["dhcp.option.type_tree"]]) as (
    | Record<string, unknown>
    | undefined
  )[];
  const raw = new Map<number, number[]>();
  const instances = new Map<number, Record<string, unknown>[]>();
  types.forEach((t, i) => {
    const tree = trees[i];
    if (tree === undefined || !("dhcp.option.value" in tree)) return;
    const code = Number(t);
    raw.set(code, [...(raw.get(code) ?? []), ...hexToBytes(tree["dhcp.option.value"] as string)]);
    instances.set(code, [...(instances.get(code) ?? []), tree]);
  });
  const options = mine.options as Record<string, unknown>;
  eq("option codes", Object.keys(options).map(Number).sort((a, b) => a - b).join(","), [...raw.keys()].sort((a, b) => a - b).join(","));
  eq("messageType", mine.messageType, raw.has(53) ? raw.get(53)?.[0] : null);
  for (const [code, bytes] of raw) {
    const v = options[String(code)];
    if (v === undefined) continue;
    const ours = jsonToBytes(code, v);
    if (ours !== null) eq(`option ${code} bytes`, ours.join(","), bytes.join(","));
    const trees = instances.get(code) ?? [];
    const field = TYPED_FIELD[code];
    const only = trees.length === 1 ? trees[0] : undefined;
    if (field !== undefined && only !== undefined && only[field] !== undefined) {
      eq(`option ${code} ${field}`, typedText(code, v).join("|"), asList(only[field]).join("|"));
    }
    if (code === 81 && only !== undefined) {
      const f = v as { flags: number; rcode1: number; rcode2: number; name: string };
      eq("option 81 flags", f.flags, Number(only["dhcp.fqdn.flags"]));
      eq("option 81 rcode1", f.rcode1, Number(only["dhcp.fqdn.rcode1"]));
      eq("option 81 rcode2", f.rcode2, Number(only["dhcp.fqdn.rcode2"]));
      const name = (only["dhcp.fqdn.name"] ?? only["dhcp.fqdn.asciiname"] ?? "") as string;
      eq("option 81 name", f.name, name.replace(/\.$/, ""));
    }
    if (code === 121 && only !== undefined) {
      const routes = asList(only["dhcp.option.classless_static_route"]).map((h) => {
        const b = hexToBytes(h);
        const w = b[0] as number;
        const n = Math.ceil(w / 8);
        const d = [0, 0, 0, 0].map((_, i) => (i < n ? (b[1 + i] as number) : 0));
        return `${d.join(".")}/${w}>${b.slice(1 + n, 5 + n).join(".")}`;
      });
      const oursR = (v as { destination: string; router: string }[]).map((r) => `${r.destination}>${r.router}`);
      eq("option 121 routes", oursR.join(","), routes.join(","));
    }
  }
  return diffs;
}
