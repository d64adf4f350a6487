/**
 * Property tests: every decoder here is total on arbitrary bytes and on real packets with
 * random mutations (byte flips, truncations, insertions); encode → decode is the identity on
 * arbitrary valid messages.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DhcpErrorCode,
  decodeCapture,
  decodeDhcpFrame,
  decodeDhcpMessage,
  encodeDhcpFrame,
  encodeDhcpMessage,
  readCapture,
  type DhcpMessage,
  type DhcpOption,
  type DhcpResult,
} from "../src/index.ts";

const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public");
const FILES = [
  "charrua/dhcp.pcap",
  "charrua/dhcp2.pcap",
  "zeek/dhcp.pcap",
  "zeek/dhcp-unique-xid-join-data-growth.pcapng",
  "zeek/dhcp_ack_subscriber_id_and_agent_remote_id.pcap",
  "zeek/dhcp_bad_cookie_option_retention.pcap",
  "zeek/dhcp_discover_param_req_and_client_id.pcap",
  "zeek/dhcp_inform.pcap",
  "zeek/dhcp_time_and_nameserver.pcap",
  "zeek/hw-type0.pcap",
];
const fileBytes = FILES.map((f) => new Uint8Array(readFileSync(join(PUBLIC, f))));
const realFrames = fileBytes.flatMap((b) => {
  const c = readCapture(b);
  return c.ok ? c.value.packets.map((p) => p.data.slice()) : [];
});

const CODES = new Set<string>(Object.values(DhcpErrorCode));

/** A result is well-formed: a value, or an error with a known code and a detail sentence. */
function wellFormed(r: DhcpResult<unknown>): boolean {
  if (r.ok) return true;
  return CODES.has(r.error.code) && typeof r.error.detail === "string" && r.error.detail.length > 0;
}

type Mutation = { kind: "flip"; at: number; xor: number } | { kind: "cut"; at: number } | { kind: "insert"; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function mutate(input: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = input.slice();
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === "flip") b[at] = (b[at] as number) ^ m.xor;
    else if (m.kind === "cut") b = b.slice(0, at);
    else {
      const n = new Uint8Array(b.length + m.bytes.length);
      n.set(b.subarray(0, at));
      n.set(m.bytes, at);
      n.set(b.subarray(at), at + m.bytes.length);
      b = n;
    }
  }
  return b;
}

describe("decoders are total", () => {
  it("arbitrary bytes: message, frame, capture", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        expect(wellFormed(decodeDhcpMessage(bytes))).toBe(true);
        expect(wellFormed(decodeDhcpFrame(bytes))).toBe(true);
        expect(wellFormed(readCapture(bytes))).toBe(true);
        expect(wellFormed(decodeCapture(bytes))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it("arbitrary bytes after a valid BOOTP header and cookie (the options field)", () => {
    const head = new Uint8Array(240);
    head.set([99, 130, 83, 99], 236);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 3 }), (opts, overload) => {
        const b = new Uint8Array(240 + 3 + opts.length);
        b.set(head);
        b.set([52, 1, overload], 240);
        b.set(opts, 243);
        // also fill file and sname with the same garbage, read when overloaded
        b.set(opts.subarray(0, 192), 44);
        expect(wellFormed(decodeDhcpMessage(b))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it("real packets with random mutations", () => {
    expect(realFrames.length).toBeGreaterThan(60);
    fc.assert(
      fc.property(fc.nat(realFrames.length - 1), fc.array(mutation, { minLength: 1, maxLength: 6 }), (i, ms) => {
        const f = mutate(realFrames[i] as Uint8Array, ms);
        expect(wellFormed(decodeDhcpFrame(f))).toBe(true);
        expect(wellFormed(decodeDhcpFrame(f, { verifyChecksums: false }))).toBe(true);
        // the BOOTP payload alone, mutated in place of the frame's
        expect(wellFormed(decodeDhcpMessage(f.subarray(42)))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("real capture files with random mutations", () => {
    fc.assert(
      fc.property(fc.nat(fileBytes.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
        expect(wellFormed(decodeCapture(mutate(fileBytes[i] as Uint8Array, ms)))).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join("."));
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?$/);
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const text = fc.string({ maxLength: 300 });
const bytes = fc.uint8Array({ maxLength: 600 });
const route = fc.tuple(fc.integer({ min: 0, max: 32 }), fc.nat(0xffffffff), ipv4).map(([w, d, router]) => {
  const masked = w === 0 ? 0 : (d & (0xffffffff << (32 - w))) >>> 0;
  const dest = [24, 16, 8, 0].map((s) => (masked >>> s) & 0xff).join(".");
  return { destination: `${dest}/${w}`, router };
});
const KNOWN = new Set([1, 3, 6, 12, 15, 26, 28, 42, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 80, 81, 108, 114, 119, 121, 145]);

const option: fc.Arbitrary<DhcpOption> = fc.oneof(
  ipv4.map((mask) => ({ kind: "subnetMask", code: 1, mask }) as const),
  fc.array(ipv4, { maxLength: 70 }).map((addresses) => ({ kind: "routers", code: 3, addresses }) as const),
  fc.array(ipv4, { maxLength: 8 }).map((addresses) => ({ kind: "dnsServers", code: 6, addresses }) as const),
  text.map((n) => ({ kind: "hostname", code: 12, name: n }) as const),
  text.map((n) => ({ kind: "domainName", code: 15, name: n }) as const),
  u16.map((mtu) => ({ kind: "mtu", code: 26, mtu }) as const),
  ipv4.map((address) => ({ kind: "broadcast", code: 28, address }) as const),
  fc.array(ipv4, { maxLength: 4 }).map((addresses) => ({ kind: "ntpServers", code: 42, addresses }) as const),
  ipv4.map((address) => ({ kind: "requestedAddress", code: 50, address }) as const),
  u32.map((seconds) => ({ kind: "leaseTime", code: 51, seconds }) as const),
  fc.nat(255).map((type) => ({ kind: "messageType", code: 53, type }) as const),
  ipv4.map((address) => ({ kind: "serverId", code: 54, address }) as const),
  fc.array(fc.nat(255), { maxLength: 300 }).map((codes) => ({ kind: "parameterRequestList", code: 55, codes }) as const),
  text.map((t) => ({ kind: "message", code: 56, text: t }) as const),
  u16.map((size) => ({ kind: "maxMessageSize", code: 57, size }) as const),
  u32.map((seconds) => ({ kind: "renewalTime", code: 58, seconds }) as const),
  u32.map((seconds) => ({ kind: "rebindingTime", code: 59, seconds }) as const),
  bytes.map((data) => ({ kind: "vendorClass", code: 60, data }) as const),
  bytes.map((data) => ({ kind: "clientId", code: 61, data }) as const),
  fc.constant({ kind: "rapidCommit", code: 80 } as const),
  fc.record({ flags: fc.nat(255).map((f) => f | 0x04), rcode1: fc.nat(255), rcode2: fc.nat(255), name: fc.oneof(name, fc.constant("")) }).map((r) => ({ kind: "clientFqdn", code: 81, ...r }) as const),
  fc.record({ flags: fc.nat(255).map((f) => f & ~0x04), rcode1: fc.nat(255), rcode2: fc.nat(255), name }).map((r) => ({ kind: "clientFqdn", code: 81, ...r }) as const),
  u32.map((seconds) => ({ kind: "ipv6OnlyPreferred", code: 108, seconds }) as const),
  text.map((uri) => ({ kind: "captivePortal", code: 114, uri }) as const),
  fc.array(name, { minLength: 0, maxLength: 30 }).map((names) => ({ kind: "domainSearch", code: 119, names }) as const),
  fc.array(route, { maxLength: 40 }).map((routes) => ({ kind: "classlessRoutes", code: 121, routes }) as const),
  bytes.map((data) => ({ kind: "forcerenewNonce", code: 145, data }) as const),
  fc.tuple(fc.integer({ min: 1, max: 254 }).filter((c) => !KNOWN.has(c)), bytes).map(([code, data]) => ({ kind: "unknown", code, data }) as const),
);

const fieldText = (max: number) => fc.string({ maxLength: max }).filter((s) => !s.includes("\0") && new TextEncoder().encode(s).length < max);

const message: fc.Arbitrary<DhcpMessage> = fc
  .record({
    op: fc.nat(255),
    htype: fc.nat(255),
    hops: fc.nat(255),
    xid: u32,
    secs: u16,
    flags: u16,
    ciaddr: ipv4,
    yiaddr: ipv4,
    siaddr: ipv4,
    giaddr: ipv4,
    chaddr: fc.uint8Array({ maxLength: 16 }),
    sname: fieldText(64),
    file: fieldText(128),
    options: fc.uniqueArray(option, { selector: (o) => o.code, maxLength: 12 }),
  })
  .map((m) => ({ ...m, hlen: m.chaddr.length }));

describe("encode → decode is the identity", () => {
  it("on arbitrary messages", () => {
    fc.assert(
      fc.property(message, (m) => {
        const b = encodeDhcpMessage(m);
        if (!b.ok) throw new Error(b.error.detail);
        expect(decodeDhcpMessage(b.value)).toEqual({ ok: true, value: m });
      }),
      { numRuns: 1500 },
    );
  });

  it("on arbitrary messages in frames", () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ minLength: 6, maxLength: 6 }), ipv4, ipv4, (m, mac, src, dst) => {
        const to = { srcMac: mac, dstMac: Uint8Array.of(255, 255, 255, 255, 255, 255), srcIp: src, dstIp: dst, srcPort: 68, dstPort: 67 };
        const f = encodeDhcpFrame(m, to);
        if (!f.ok) throw new Error(f.error.detail);
        expect(decodeDhcpFrame(f.value)).toEqual({ ok: true, value: { message: m, info: to } });
      }),
      { numRuns: 500 },
    );
  });
});
