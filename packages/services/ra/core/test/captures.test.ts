/**
 * ND packets compared field by field with tshark, an independent decoder:
 * - the public captures (../shared/pcaps/public/zeek/icmp6-*.pcap: Router Advertisements with
 *   link-layer, MTU and prefix options, Router Solicitations, and NS/NA/MLD frames our decoder
 *   must refuse) against tshark's decode in ../shared/pcaps/public/oracle/, and re-encoded byte
 *   for byte;
 * - frames our encoder made with every option kind (route information, RDNSS, DNSSL, PREF64, an
 *   unknown type, none of which the public captures hold) and our Router Solicitation, written to
 *   a pcap and decoded by tshark here.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writePcap } from "../../../dhcp4/core/test/fixtures.ts";
import { RaErrorCode, decodeNdPacket, encodeNdPacket, encodeRouterSolicitationFrame, formatMac } from "../src/index.ts";
import { HOST_LL, HOST_MAC, PUBLIC, captureFrames, frameOf, richRa } from "./fixtures.ts";
import { asTshark, tsharkIcmpv6, withoutExpertInfo, type OraclePacket } from "./tshark.ts";

const CAPTURES = ["icmp6-router-advert", "icmp6-router-solicit", "icmp6-nd-options"];

/** Compares every frame of a capture with tshark's decode of it. */
function compareCapture(frames: Uint8Array[], oracle: OraclePacket[]): { decoded: number; refused: string[] } {
  expect(oracle.map((o) => o.frame)).toEqual(frames.map((_, i) => i + 1));
  let decoded = 0;
  const refused: string[] = [];
  for (const o of oracle) {
    const frame = frames[o.frame - 1]!;
    const r = decodeNdPacket(frame, "ethernet");
    const type = Number(o.layer["icmpv6.type"]);
    if (type !== 133 && type !== 134) {
      // Not ours: NS/NA are the wrong type; MLD comes behind a hop-by-hop header.
      expect(r.ok, `frame ${o.frame}`).toBe(false);
      if (!r.ok) refused.push(r.error.code);
      continue;
    }
    if (!r.ok) throw new Error(`frame ${o.frame}: ${r.error.detail}`);
    decoded++;
    expect(r.value.source, `frame ${o.frame}`).toBe(o.ip_src);
    expect(r.value.destination, `frame ${o.frame}`).toBe(o.ip_dst);
    expect(formatMac(r.value.sourceMac!), `frame ${o.frame}`).toBe(o.eth_src);
    const icmp = frame.subarray(54, 54 + ((frame[18]! << 8) | frame[19]!));
    expect(asTshark(r.value, icmp), `frame ${o.frame}`).toEqual(withoutExpertInfo(o.layer));
    // Re-encoded with the same addressing, the packet comes back byte for byte from the payload
    // length on (our encoder writes traffic class and flow label 0; one capture's router did not).
    const again = encodeNdPacket(r.value.message, {
      sourceMac: r.value.sourceMac!,
      destinationMac: r.value.destinationMac!,
      source: r.value.source,
      destination: r.value.destination,
      hopLimit: r.value.hopLimit,
    });
    if (!again.ok) throw new Error(`frame ${o.frame}: ${again.error.detail}`);
    expect(again.value.subarray(18), `frame ${o.frame} re-encoded`).toEqual(frame.subarray(18, 14 + 40 + icmp.length));
  }
  return { decoded, refused };
}

describe("public ICMPv6 captures agree with tshark", () => {
  it.each(CAPTURES)("%s", (file) => {
    const oracle = JSON.parse(readFileSync(join(PUBLIC, "oracle", `${file}.json`), "utf8")) as OraclePacket[];
    const { decoded } = compareCapture(captureFrames(file), oracle);
    expect(decoded).toBeGreaterThan(0);
  });

  it("the mixed capture's other ND and MLD frames are refused with their reasons", () => {
    const oracle = JSON.parse(readFileSync(join(PUBLIC, "oracle", "icmp6-nd-options.json"), "utf8")) as OraclePacket[];
    const { decoded, refused } = compareCapture(captureFrames("icmp6-nd-options"), oracle);
    expect(decoded).toBe(5);
    expect(new Set(refused)).toEqual(new Set([RaErrorCode.WRONG_TYPE, RaErrorCode.NOT_ICMPV6]));
  });
});

describe("frames our encoder makes agree with tshark", () => {
  const dir = mkdtempSync(join(tmpdir(), "paddock-ra-tshark-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("every option kind, both solicitation forms, one-element lists", () => {
    const rs = encodeRouterSolicitationFrame(HOST_MAC, HOST_LL);
    const rsUnspecified = encodeRouterSolicitationFrame(HOST_MAC, undefined);
    if (!rs.ok || !rsUnspecified.ok) throw new Error("RS encoder");
    const frames = [
      frameOf(richRa()),
      frameOf(richRa({ managed: true, homeAgent: true, proxy: true, preference: "low", routerLifetime: 0 })),
      frameOf(
        richRa({
          options: [
            { kind: "rdnss", lifetime: 0xffffffff, servers: [HOST_LL] },
            { kind: "dnssl", lifetime: 0, names: ["a-b_c.example"] },
            { kind: "route", prefixLength: 0, preference: "medium", lifetime: 0, prefix: "::" as never },
            { kind: "route", prefixLength: 128, preference: "high", lifetime: 0xffffffff, prefix: "2001:db8::1" as never },
            { kind: "pref64", lifetime: 65_528, prefixLength: 32, prefix: "2001:db8::" as never },
            { kind: "prefix", prefixLength: 48, onLink: false, autonomous: false, routerAddress: true, validLifetime: 0xffffffff, preferredLifetime: 0, prefix: "2001:db8:5::1" as never },
          ],
        }),
      ),
      rs.value,
      rsUnspecified.value,
    ];
    const file = join(dir, "ours.pcap");
    writeFileSync(file, writePcap(frames));
    const { decoded } = compareCapture(frames, tsharkIcmpv6(file));
    expect(decoded).toBe(frames.length);
  });
});
