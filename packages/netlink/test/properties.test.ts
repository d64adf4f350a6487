// Property tests on the decoder of kernel input: arbitrary bytes never throw and always give a
// value or a typed error; encode → decode round-trips for every message type; valid messages
// mutated (bytes overwritten, truncated, extended) still give a value or a typed error.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AF_INET,

  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_CACHEINFO,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFLA_ADDRESS,
  IFLA_BROADCAST,
  IFLA_CARRIER,
  IFLA_IFNAME,
  IFLA_MTU,
  IFLA_OPERSTATE,
  NLMSG_DONE,
  NLMSG_ERROR,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  decodeAddressMessage,
  decodeDatagram,
  decodeLinkMessage,
  decodeRouteMessage,
  encodeMessage,
  parseAttributeTree,
  splitMessages,
} from "../src/index.ts";
import type { AddressMessage, IfName, Ipv4Address, LinkLayerAddress, LinkMessage, NetlinkMessage, RawAttribute, RouteMessage } from "../src/index.ts";

const CODES = new Set([
  "PADDOCK_E_NETLINK_TRUNCATED",
  "PADDOCK_E_NETLINK_BAD_LENGTH",
  "PADDOCK_E_NETLINK_TRAILING_BYTES",
  "PADDOCK_E_NETLINK_BAD_ATTRIBUTE",
  "PADDOCK_E_NETLINK_TOO_DEEP",
]);

/** Runs a decoder and checks the result is a value or a typed error with a known code. */
function total(run: () => { ok: boolean; error?: { code: string; offset: number } }): boolean {
  const r = run(); // an exception here fails the property
  if (r.ok) return true;
  return r.error !== undefined && CODES.has(r.error.code) && Number.isInteger(r.error.offset);
}

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const s32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const ipv4 = fc.tuple(u8, u8, u8, u8).map((b) => b.join(".") as Ipv4Address);
const ifName = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/).map((s) => s as IfName);
const mac = fc.uint8Array({ minLength: 0, maxLength: 32 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":") as LinkLayerAddress);
const header = (type: number) => fc.record({ length: fc.constant(0), type: fc.constant(type), flags: u16, seq: u32, pid: u32 });

/** Unknown attributes with types outside `known` (so they must come back as unknown). */
const unknownAttrs = (known: readonly number[]) =>
  fc.array(
    fc.record({
      type: fc.integer({ min: 0, max: 0x3fff }).filter((t) => !known.includes(t)),
      nested: fc.boolean(),
      netByteOrder: fc.boolean(),
      data: fc.uint8Array({ maxLength: 40 }),
    }) as fc.Arbitrary<RawAttribute>,
    { maxLength: 4 },
  );

const linkMessage: fc.Arbitrary<LinkMessage> = fc
  .record(
    {
      family: u8, ifType: u16, index: s32, flags: u32, change: u32,
      name: ifName, mtu: u32, address: mac, broadcast: mac, operstate: u8, carrier: fc.boolean(),
      unknown: unknownAttrs([IFLA_IFNAME, IFLA_MTU, IFLA_ADDRESS, IFLA_BROADCAST, IFLA_OPERSTATE, IFLA_CARRIER]),
    },
    { requiredKeys: ["family", "ifType", "index", "flags", "change", "unknown"] },
  );

const addressMessage: fc.Arbitrary<AddressMessage> = fc.record(
  {
    family: fc.constant(AF_INET), prefixLength: u8, flags: u8, scope: u8, index: u32,
    address: ipv4, local: ipv4, broadcast: ipv4, label: ifName,
    cacheInfo: fc.record({ preferred: u32, valid: u32, created: u32, updated: u32 }),
    extFlags: u32,
    unknown: unknownAttrs([IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_LABEL, IFA_CACHEINFO, IFA_FLAGS]),
  },
  { requiredKeys: ["family", "prefixLength", "flags", "scope", "index", "unknown"] },
);

const routeMessage: fc.Arbitrary<RouteMessage> = fc.record(
  {
    family: fc.constant(AF_INET), dstLength: u8, srcLength: u8, tos: u8, table: u8, protocol: u8, scope: u8, type: u8, flags: u32,
    destination: ipv4, gateway: ipv4, prefSrc: ipv4, oif: u32, priority: u32, tableId: u32,
    unknown: unknownAttrs([RTA_DST, RTA_GATEWAY, RTA_PREFSRC, RTA_OIF, RTA_PRIORITY, RTA_TABLE]),
  },
  { requiredKeys: ["family", "dstLength", "srcLength", "tos", "table", "protocol", "scope", "type", "flags", "unknown"] },
);

const extack = fc.record(
  {
    message: fc.string({ maxLength: 60 }).filter((s) => !s.includes("\0")),
    offset: u32,
    cookie: fc.uint8Array({ maxLength: 20 }),
    missingType: u32,
    missingNest: u32,
    unknown: unknownAttrs([1, 2, 3, 5, 6]),
  },
  { requiredKeys: ["unknown"] },
);

const message: fc.Arbitrary<NetlinkMessage> = fc.oneof(
  fc.record({ kind: fc.constant("link" as const), header: fc.oneof(header(RTM_NEWLINK), header(RTM_DELLINK)), link: linkMessage }),
  fc.record({ kind: fc.constant("address" as const), header: fc.oneof(header(RTM_NEWADDR), header(RTM_DELADDR)), address: addressMessage }),
  fc.record({ kind: fc.constant("route" as const), header: fc.oneof(header(RTM_NEWROUTE), header(RTM_DELROUTE)), route: routeMessage }),
  fc.record({
    kind: fc.constant("error" as const),
    header: header(NLMSG_ERROR).map((h) => ({ ...h, flags: h.flags & ~0x300 })),
    error: fc.integer({ min: -4095, max: 0 }),
    request: fc.record({ length: fc.integer({ min: 16, max: 0xffff }), type: u16, flags: u16, seq: u32, pid: u32 }),
    extack,
  }),
  fc.record({ kind: fc.constant("done" as const), header: header(NLMSG_DONE).map((h) => ({ ...h, flags: h.flags & ~0x200 })), error: fc.integer({ min: -4095, max: 0 }), extack }),
  fc.record({ kind: fc.constant("other" as const), header: fc.integer({ min: 0x40, max: 0xffff }).chain(header), payload: fc.uint8Array({ maxLength: 64 }) }),
);

/** Drops header fields the encoder computes (length) or sets from content (CAPPED, ACK_TLVS). */
function normalise(m: NetlinkMessage): unknown {
  const h = { ...m.header, length: 0, flags: m.kind === "error" || m.kind === "done" ? m.header.flags & ~0x300 : m.header.flags };
  return { ...m, header: h };
}

describe("decoder totality", () => {
  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        return total(() => splitMessages(b)) && total(() => decodeDatagram(b)) && total(() => decodeLinkMessage(b)) &&
          total(() => decodeAddressMessage(b)) && total(() => decodeRouteMessage(b)) && total(() => parseAttributeTree(b, () => true));
      }),
      { numRuns: 3000 },
    );
  });

  it("never throws on arbitrary bytes behind a plausible header", () => {
    const types = fc.constantFrom(NLMSG_ERROR, NLMSG_DONE, 1, 4, RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE, 0x99);
    fc.assert(
      fc.property(types, u16, fc.uint8Array({ maxLength: 200 }), fc.integer({ min: -8, max: 8 }), (type, flags, payload, slack) => {
        const b = new Uint8Array(16 + payload.length);
        const v = new DataView(b.buffer);
        v.setUint32(0, Math.max(0, 16 + payload.length + slack), true);
        v.setUint16(4, type, true);
        v.setUint16(6, flags, true);
        b.set(payload, 16);
        return total(() => decodeDatagram(b));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("encode → decode round trips", () => {
  it("holds for link, address, route, error, done and other messages", () => {
    fc.assert(
      fc.property(message, (m) => {
        const d = decodeDatagram(encodeMessage(m));
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        expect(d.value).toHaveLength(1);
        expect(normalise(d.value[0]!)).toEqual(normalise(m));
      }),
      { numRuns: 1500 },
    );
  });

  it("holds for several messages in one datagram", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (ms) => {
        const parts = ms.map((m) => encodeMessage(m));
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let off = 0;
        for (const p of parts) {
          all.set(p, off);
          off += p.length;
        }
        const d = decodeDatagram(all);
        expect(d.ok && d.value.map(normalise)).toEqual(ms.map(normalise));
      }),
      { numRuns: 300 },
    );
  });
});

describe("mutated valid messages", () => {
  const encoded = message.map((m) => encodeMessage(m));

  it("give a value or a typed error when bytes are overwritten", () => {
    fc.assert(
      fc.property(encoded, fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 6 }), (b, edits) => {
        const m = b.slice();
        for (const [pos, val] of edits) m[pos % m.length] = val;
        return total(() => decodeDatagram(m));
      }),
      { numRuns: 3000 },
    );
  });

  it("give a value or a typed error when truncated or extended", () => {
    fc.assert(
      fc.property(encoded, fc.nat(), fc.uint8Array({ maxLength: 12 }), (b, cut, extra) => {
        const t = b.subarray(0, cut % (b.length + 1));
        const e = new Uint8Array(b.length + extra.length);
        e.set(b);
        e.set(extra, b.length);
        return total(() => decodeDatagram(t)) && total(() => decodeDatagram(e));
      }),
      { numRuns: 2000 },
    );
  });

  it("length fields set to 0 give an error, not a loop", () => {
    fc.assert(
      fc.property(encoded, fc.nat(), (b, where) => {
        const m = b.slice();
        // Zero a u16 at an attribute-length-sized offset after the headers, or the nlmsg_len.
        const pos = where % 2 === 0 ? 0 : 16 + ((where % Math.max(1, m.length - 17)) & ~3);
        if (pos + 2 <= m.length) m.set([0, 0], pos);
        if (pos === 0) m.set([0, 0], 2);
        return total(() => decodeDatagram(m));
      }),
      { numRuns: 1000 },
    );
  });
});

