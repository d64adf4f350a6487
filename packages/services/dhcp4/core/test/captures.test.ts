/**
 * Every public DHCP capture decoded and compared, field by field, with tshark's decode of the
 * same packets (../shared/pcaps/public/oracle/*.json, and tshark run here where no oracle file
 * exists), plus the packet addressing and checksum verdicts.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  decodeCapture,
  decodeDhcpFrame,
  decodeDhcpMessage,
  encodeDhcpFrame,
  encodeDhcpMessage,
  readCapture,
  toColonHex,
} from "../src/index.ts";
import { everyOptionMessage, writePcap } from "./fixtures.ts";
import { compareWithTshark, tsharkOracle, type OraclePacket } from "./tshark-oracle.ts";

const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public");

/** Capture → oracle file (charrua/dhcp.pcap has none: its name collides with zeek's). */
const CAPTURES: [string, string | null][] = [
  ["charrua/dhcp.pcap", null],
  ["charrua/dhcp2.pcap", "dhcp2.json"],
  ["zeek/dhcp.pcap", "dhcp.json"],
  ["zeek/dhcp-unique-xid-join-data-growth.pcapng", "dhcp-unique-xid-join-data-growth.json"],
  ["zeek/dhcp_ack_subscriber_id_and_agent_remote_id.pcap", "dhcp_ack_subscriber_id_and_agent_remote_id.json"],
  ["zeek/dhcp_bad_cookie_option_retention.pcap", "dhcp_bad_cookie_option_retention.json"],
  ["zeek/dhcp_discover_param_req_and_client_id.pcap", "dhcp_discover_param_req_and_client_id.json"],
  ["zeek/dhcp_flood.pcap", "dhcp_flood.json"],
  ["zeek/dhcp_inform.pcap", "dhcp_inform.json"],
  ["zeek/dhcp_time_and_nameserver.pcap", "dhcp_time_and_nameserver.json"],
  ["zeek/hw-type0.pcap", "hw-type0.json"],
];

function oracleFor(capture: string, oracle: string | null): OraclePacket[] {
  if (oracle === null) return tsharkOracle(join(PUBLIC, capture));
  return JSON.parse(readFileSync(join(PUBLIC, "oracle", oracle), "utf8")) as OraclePacket[];
}

describe("public captures agree with tshark", () => {
  for (const [capture, oracleFile] of CAPTURES) {
    it(capture, () => {
      const decoded = decodeCapture(readFileSync(join(PUBLIC, capture)));
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) return;
      expect(decoded.value.truncated).toBeUndefined();
      const oracle = oracleFor(capture, oracleFile);
      expect(oracle.length).toBeGreaterThan(0);
      expect(decoded.value.lines.length).toBe(oracle.length);
      const diffs = oracle.flatMap((o, i) => compareWithTshark(decoded.value.lines[i] as unknown as Record<string, unknown>, o));
      expect(diffs).toEqual([]);
    });
  }

  it("the packet addressing matches tshark's Ethernet, IPv4 and UDP fields", () => {
    let compared = 0;
    for (const [capture, oracleFile] of CAPTURES) {
      const c = readCapture(readFileSync(join(PUBLIC, capture)));
      if (!c.ok) throw new Error(c.error.detail);
      const oracle = oracleFor(capture, oracleFile);
      c.value.packets.forEach((p, i) => {
        const o = oracle[i] as OraclePacket;
        const f = decodeDhcpFrame(p.data, { verifyChecksums: false });
        if (!f.ok) {
          expect(f.error.code).toBe("PADDOCK_E_DHCP_BAD_COOKIE");
          return;
        }
        expect([toColonHex(f.value.info.srcMac), f.value.info.srcIp, f.value.info.dstIp, String(f.value.info.srcPort), String(f.value.info.dstPort)]).toEqual([
          o.eth_src,
          o.ip_src,
          o.ip_dst,
          o.udp_srcport,
          o.udp_dstport,
        ]);
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(550);
  });

  it("checksum verdicts match tshark's with checksum validation on", () => {
    for (const [capture] of CAPTURES) {
      const file = join(PUBLIC, capture);
      const tshark = execFileSync(
        "tshark",
        ["-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
        { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 },
      )
        .trim()
        .split("\n")
        .map((line) => line.split("\t"));
      const c = readCapture(readFileSync(file));
      if (!c.ok) throw new Error(c.error.detail);
      c.value.packets.forEach((p, i) => {
        const [ipStatus, udpStatus] = tshark[i] as string[];
        const f = decodeDhcpFrame(p.data);
        const code = f.ok ? "ok" : f.error.code;
        // tshark: 0 = bad, 1 = good, 2 = unverified (a zero UDP checksum).
        if (ipStatus === "0") expect(code, `${capture} #${i + 1}`).toBe("PADDOCK_E_DHCP_BAD_IP_CHECKSUM");
        else if (udpStatus === "0") expect(code, `${capture} #${i + 1}`).toBe("PADDOCK_E_DHCP_BAD_UDP_CHECKSUM");
        else expect(["ok", "PADDOCK_E_DHCP_BAD_COOKIE"], `${capture} #${i + 1}`).toContain(code);
      });
    }
  });

  it("real messages survive decode → encode → decode unchanged", () => {
    let n = 0;
    for (const [capture] of CAPTURES) {
      const c = readCapture(readFileSync(join(PUBLIC, capture)));
      if (!c.ok) throw new Error(c.error.detail);
      for (const p of c.value.packets) {
        const f = decodeDhcpFrame(p.data, { verifyChecksums: false });
        if (!f.ok) continue;
        const bytes = encodeDhcpMessage(f.value.message);
        expect(bytes.ok).toBe(true);
        if (!bytes.ok) continue;
        expect(decodeDhcpMessage(bytes.value)).toEqual({ ok: true, value: f.value.message });
        n++;
      }
    }
    expect(n).toBeGreaterThan(550);
  });
});

describe("our encoder agrees with tshark", () => {
  it("a message with every option type, framed and checksummed, decodes the same in tshark", () => {
    const frame = encodeDhcpFrame(everyOptionMessage(), {
      srcMac: Uint8Array.of(2, 0, 0, 0, 0, 1),
      dstMac: Uint8Array.of(2, 0x77, 0xf4, 0xa9, 0x18, 0xe3),
      srcIp: "10.77.0.1",
      dstIp: "10.77.0.161",
      srcPort: 67,
      dstPort: 68,
    });
    if (!frame.ok) throw new Error(frame.error.detail);
    const dir = mkdtempSync(join(tmpdir(), "paddock-dhcp-"));
    try {
      const file = join(dir, "every.pcap");
      writeFileSync(file, writePcap([frame.value]));
      const oracle = tsharkOracle(file);
      expect(oracle.length).toBe(1);
      const decoded = decodeCapture(readFileSync(file), { verifyChecksums: true });
      if (!decoded.ok) throw new Error(decoded.error.detail);
      const line = decoded.value.lines[0] as unknown as Record<string, unknown>;
      expect(Object.keys(line.options as object).length).toBe(27);
      expect(compareWithTshark(line, oracle[0] as OraclePacket)).toEqual([]);
      const status = execFileSync(
        "tshark",
        ["-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
        { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
      );
      expect(status.trim()).toBe("1\t1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the tshark comparison can fail", () => {
  it("reports a changed header field and a changed option value", () => {
    const oracle = JSON.parse(readFileSync(join(PUBLIC, "oracle", "dhcp2.json"), "utf8")) as OraclePacket[];
    const decoded = decodeCapture(readFileSync(join(PUBLIC, "charrua/dhcp2.pcap")));
    if (!decoded.ok) throw new Error(decoded.error.detail);
    const line = structuredClone(decoded.value.lines[1]) as unknown as { xid: number; options: Record<string, unknown> };
    expect(compareWithTshark(line as unknown as Record<string, unknown>, oracle[1] as OraclePacket)).toEqual([]);
    line.xid += 1;
    line.options["1"] = "255.255.0.0";
    const diffs = compareWithTshark(line as unknown as Record<string, unknown>, oracle[1] as OraclePacket);
    expect(diffs.some((d) => d.includes("xid"))).toBe(true);
    expect(diffs.some((d) => d.includes("option 1 bytes"))).toBe(true);
    expect(diffs.some((d) => d.includes("subnet_mask"))).toBe(true);
  });
});
