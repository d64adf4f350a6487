// Codec unit tests. Golden bytes are written out by hand from the kernel's struct layouts
// (<linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_addr.h>), little-endian as on this host;
// kernel-captures.json holds real replies captured from a kernel in a throwaway namespace
// (test/fixtures/capture.py) to check that we read what the kernel actually writes.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  AF_INET,
  align4,
  HOST_LITTLE_ENDIAN,
  IFA_F_PERMANENT,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  MAX_NEST_DEPTH,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTPROT_PADDOCK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTN_UNICAST,
  addressView,
  attributeAtOffset,
  decodeAddressMessage,
  decodeDatagram,
  decodeLinkMessage,
  decodeMessage,
  decodeRouteMessage,
  encodeAttribute,
  encodeMessage,
  encodeNested,
  encodeRawMessage,
  linkView,
  parseAttributeTree,
  parseAttributes,
  parseIfName,
  parseIpv4Address,
  parseIpv4Cidr,
  planAddress,
  planGetLink,
  planListLinks,
  planRoute,
  planSetLinkMtu,
  planSetLinkUp,
  routeView,
  splitMessages,
  stringAttribute,
} from "../src/index.ts";
import type { NetlinkMessage } from "../src/index.ts";

/** Little-endian u16 / u32 / s32 as byte lists, to spell golden messages field by field. */
const u16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const s32 = (v: number) => u32(v >>> 0);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const bytes = (...parts: number[][]) => Uint8Array.from(parts.flat());

function decodeOne(b: Uint8Array): NetlinkMessage {
  const d = decodeDatagram(b);
  if (!d.ok) throw new Error(`decode failed: ${d.error.code} ${d.error.message}`);
  expect(d.value).toHaveLength(1);
  return d.value[0]!;
}

describe("host", () => {
  it("is little-endian, which the golden bytes below assume", () => {
    expect(HOST_LITTLE_ENDIAN).toBe(true);
  });
});

describe("nlmsghdr and framing", () => {
  it("encodes an RTM_GETLINK dump request exactly", () => {
    const p = planListLinks();
    if (!p.ok) throw new Error(p.reason);
    const got = encodeRawMessage({ type: p.plan.type, flags: p.plan.flags, seq: 7, pid: 0 }, p.plan.body);
    expect(got).toEqual(
      bytes(
        u32(40), u16(RTM_NEWLINK + 2), u16(NLM_F_REQUEST | NLM_F_DUMP), u32(7), u32(0), // nlmsghdr
        [0, 0], u16(0), s32(0), u32(0), u32(0), // ifinfomsg: family, pad, type, index, flags, change
        u16(8), u16(29), u32(1 << 3), // IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS
      ),
    );
  });

  it("pads a message to 4 bytes but keeps nlmsg_len exact", () => {
    const got = encodeRawMessage({ type: 0x20, flags: 0, seq: 1, pid: 2 }, Uint8Array.of(1, 2, 3));
    expect(got).toEqual(bytes(u32(19), u16(0x20), u16(0), u32(1), u32(2), [1, 2, 3, 0]));
    const split = splitMessages(got);
    expect(split.ok && split.value[0]!.payload).toEqual(Uint8Array.of(1, 2, 3));
  });

  it("splits a multipart dump datagram: two NEWLINK then DONE", () => {
    const link = (index: number, name: string) =>
      bytes(
        u32(16 + 16 + 12), u16(RTM_NEWLINK), u16(NLM_F_MULTI), u32(9), u32(4242),
        [0, 0], u16(1), s32(index), u32(IFF_UP), u32(0),
        u16(4 + name.length + 1), u16(3), ascii(name), [0], new Array((4 - ((name.length + 1) % 4)) % 4).fill(0),
      );
    const done = bytes(u32(20), u16(3), u16(NLM_F_MULTI), u32(9), u32(4242), s32(0));
    const d = decodeDatagram(bytes([...link(1, "eth0")], [...link(2, "veth12")], [...done]));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.map((m) => m.kind)).toEqual(["link", "link", "done"]);
    const [a, b] = d.value;
    expect(a?.kind === "link" && a.link.name).toBe("eth0");
    expect(b?.kind === "link" && [b.link.index, b.link.name]).toEqual([2, "veth12"]);
    expect(d.value.every((m) => m.header.seq === 9 && m.header.pid === 4242)).toBe(true);
  });

  it("rejects a zero nlmsg_len instead of looping", () => {
    const d = splitMessages(bytes(u32(0), u16(RTM_NEWLINK), u16(0), u32(0), u32(0)));
    expect(d).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_LENGTH", offset: 0 } });
  });

  it("rejects nlmsg_len past the end, a short datagram, and trailing bytes", () => {
    expect(splitMessages(bytes(u32(64), u16(3), u16(0), u32(0), u32(0)))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_LENGTH" } });
    expect(splitMessages(Uint8Array.of(1, 2, 3))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_TRUNCATED" } });
    const done = bytes(u32(20), u16(3), u16(0), u32(0), u32(0), s32(0));
    expect(splitMessages(bytes([...done], [9, 9]))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_TRAILING_BYTES", offset: 20 } });
  });

  it("decodes an empty datagram as no messages", () => {
    expect(decodeDatagram(new Uint8Array(0))).toEqual({ ok: true, value: [] });
  });
});

describe("rtattr", () => {
  it("encodes IFLA_IFNAME with its NUL and padding", () => {
    expect(stringAttribute(3, "veth0")).toEqual(bytes(u16(10), u16(3), ascii("veth0"), [0], [0, 0]));
  });

  it("encodes and parses a nest (IFLA_LINKINFO { IFLA_INFO_KIND \"veth\" })", () => {
    const nest = encodeNested(IFLA_LINKINFO, [stringAttribute(IFLA_INFO_KIND, "veth")]);
    expect(nest).toEqual(bytes(u16(16), u16(IFLA_LINKINFO | 0x8000), u16(9), u16(IFLA_INFO_KIND), ascii("veth"), [0], [0, 0, 0]));
    const tree = parseAttributeTree(nest);
    expect(tree.ok).toBe(true);
    if (!tree.ok) return;
    expect(tree.value[0]).toMatchObject({ type: IFLA_LINKINFO, nested: true });
    expect(tree.value[0]?.children?.[0]).toMatchObject({ type: IFLA_INFO_KIND, data: Uint8Array.from([...ascii("veth"), 0]) });
  });

  it("descends into nests without NLA_F_NESTED when told the type is a nest", () => {
    const nest = encodeAttribute(IFLA_LINKINFO, stringAttribute(IFLA_INFO_KIND, "dummy"));
    const flat = parseAttributeTree(nest);
    expect(flat.ok && flat.value[0]?.children).toBeUndefined();
    const tree = parseAttributeTree(nest, (path) => path.length === 1 && path[0] === IFLA_LINKINFO);
    expect(tree.ok && tree.value[0]?.children?.[0]?.type).toBe(IFLA_INFO_KIND);
  });

  it("accepts a last attribute without padding (as the kernel's nla_next does)", () => {
    const r = parseAttributes(bytes(u16(5), u16(7), [0xab]));
    expect(r).toMatchObject({ ok: true, value: [{ type: 7, data: Uint8Array.of(0xab) }] });
  });

  it("rejects a zero-length attribute instead of looping", () => {
    expect(parseAttributes(bytes(u16(0), u16(1), u32(0)))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_LENGTH" } });
  });

  it("rejects an attribute longer than its container, and stray bytes", () => {
    expect(parseAttributes(bytes(u16(12), u16(1), u32(0)))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_LENGTH" } });
    expect(parseAttributes(bytes(u16(8), u16(1), u32(0), [1, 2]))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_TRAILING_BYTES", offset: 8 } });
  });

  it("stops at MAX_NEST_DEPTH", () => {
    let a = encodeAttribute(1, Uint8Array.of(1, 2, 3, 4));
    for (let i = 0; i <= MAX_NEST_DEPTH + 1; i++) a = encodeNested(1, [a]);
    expect(parseAttributeTree(a)).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_TOO_DEEP" } });
  });
});

describe("NLMSG_ERROR and extended ack", () => {
  it("decodes an acknowledgement (error 0, capped)", () => {
    const m = decodeOne(bytes(u32(36), u16(2), u16(0x100), u32(5), u32(77), s32(0), u32(40), u16(RTM_NEWADDR), u16(0x605), u32(5), u32(77)));
    expect(m).toMatchObject({ kind: "error", error: 0, request: { length: 40, type: RTM_NEWADDR, seq: 5 } });
  });

  it("decodes errno, message and offset from capped TLVs", () => {
    const msg = "ipv4: Invalid prefix length";
    const msgAttr = bytes(u16(4 + msg.length + 1), u16(1), ascii(msg), [0]); // 32 bytes: aligned already
    const offsAttr = bytes(u16(8), u16(2), u32(24));
    const payload = bytes(s32(-22), u32(48), u16(RTM_NEWADDR), u16(0x605), u32(6), u32(0), [...msgAttr], [...offsAttr]);
    const m = decodeOne(bytes(u32(16 + payload.length), u16(2), u16(0x100 | 0x200), u32(6), u32(0), [...payload]));
    expect(m).toMatchObject({ kind: "error", error: -22, extack: { message: msg, offset: 24 } });
  });

  it("skips the echoed request (not capped) before the TLVs", () => {
    const echoedBody = [1, 2, 3, 4, 5, 6]; // 6 bytes: the echo is padded to 8
    const msg = "x";
    const payload = bytes(s32(-17), u32(22), u16(RTM_NEWLINK), u16(5), u32(3), u32(0), echoedBody, [0, 0], u16(6), u16(1), ascii(msg), [0], [0, 0]);
    const m = decodeOne(bytes(u32(16 + payload.length), u16(2), u16(0x200), u32(3), u32(0), [...payload]));
    expect(m).toMatchObject({ kind: "error", error: -17, extack: { message: "x" } });
  });

  it("keeps unknown extack TLVs and reads the missing-attribute ones", () => {
    const payload = bytes(s32(-22), u32(16), u16(RTM_NEWLINK), u16(5), u32(1), u32(0), u16(8), u16(5), u32(3), u16(8), u16(99), u32(0xdeadbeef));
    const m = decodeOne(bytes(u32(16 + payload.length), u16(2), u16(0x300), u32(1), u32(0), [...payload]));
    expect(m.kind === "error" && m.extack.missingType).toBe(3);
    expect(m.kind === "error" && m.extack.unknown.map((a) => a.type)).toEqual([99]);
  });

  it("rejects an NLMSG_ERROR too short for struct nlmsgerr, or whose echo overruns it", () => {
    expect(decodeDatagram(bytes(u32(20), u16(2), u16(0), u32(0), u32(0), s32(-1)))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_TRUNCATED" } });
    const p = bytes(s32(-1), u32(400), u16(16), u16(0), u32(0), u32(0));
    expect(decodeDatagram(bytes(u32(36), u16(2), u16(0x200), u32(0), u32(0), [...p]))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_LENGTH" } });
  });

  // Issue 13 C3: a bit-mask align4 turned an echoed length ≥ 2^31 negative, so extack was read
  // from the wrong bytes (or the offset went negative) instead of the message being refused.
  it("refuses an echoed request length of 2^31 or more, never reading extack from the wrong bytes", () => {
    for (const echoed of [2 ** 31, 2 ** 31 + 3, 2 ** 32 - 1]) {
      const p = bytes(s32(-22), u32(echoed), u16(RTM_NEWLINK), u16(5), u32(1), u32(0), u16(8), u16(1), ascii("bad"), [0]);
      expect(decodeDatagram(bytes(u32(16 + p.length), u16(2), u16(0x200), u32(1), u32(0), [...p]))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_LENGTH" } });
    }
    expect(align4(2 ** 31 + 1)).toBe(2 ** 31 + 4);
    expect(align4(2 ** 32 - 1)).toBe(2 ** 32);
  });

  it("decodes NLMSG_DONE with a dump error and extack", () => {
    const m = decodeOne(bytes(u32(28), u16(3), u16(0x202), u32(4), u32(0), s32(-16), u16(8), u16(1), ascii("bus"), [0]));
    expect(m).toMatchObject({ kind: "done", error: -16, extack: { message: "bus" } });
  });

  it("round-trips an error through encodeMessage, capped and uncapped", () => {
    const request = { length: 24, type: RTM_NEWLINK, flags: 5, seq: 11, pid: 0 };
    const e: NetlinkMessage = { kind: "error", header: { length: 0, type: 2, flags: 0, seq: 11, pid: 0 }, error: -22, request, extack: { message: "mtu greater than device maximum", offset: 32, unknown: [] } };
    const capped = decodeOne(encodeMessage(e));
    expect(capped).toMatchObject({ kind: "error", error: -22, request: { length: 24 }, extack: { message: "mtu greater than device maximum", offset: 32 } });
    const uncapped = decodeOne(encodeMessage(e, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
    expect(uncapped).toMatchObject({ kind: "error", extack: { message: "mtu greater than device maximum", offset: 32 } });
    expect(uncapped.header.flags & 0x100).toBe(0);
  });
});

describe("ifinfomsg", () => {
  const golden = bytes(
    [0, 0], u16(1), s32(3), u32(IFF_UP | IFF_RUNNING | IFF_LOWER_UP), u32(0), // ifinfomsg
    u16(10), u16(3), ascii("veth0"), [0, 0, 0], // IFLA_IFNAME
    u16(8), u16(4), u32(1400), // IFLA_MTU
    u16(10), u16(1), [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01], [0, 0], // IFLA_ADDRESS
    u16(5), u16(16), [6], [0, 0, 0], // IFLA_OPERSTATE = IF_OPER_UP
    u16(5), u16(33), [1], [0, 0, 0], // IFLA_CARRIER
    u16(8), u16(13), u32(1000), // IFLA_TXQLEN: not typed, must be kept
  );

  it("decodes the typed fields and keeps unknown attributes", () => {
    const d = decodeLinkMessage(golden);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value).toMatchObject({ index: 3, ifType: 1, name: "veth0", mtu: 1400, address: "02:00:5e:10:00:01", operstate: 6, carrier: true });
    expect(d.value.unknown).toHaveLength(1);
    expect(d.value.unknown[0]).toMatchObject({ type: 13, data: Uint8Array.from(u32(1000)) });
    expect(linkView(d.value)).toMatchObject({ up: true, running: true, lowerUp: true, operState: "up", carrier: true });
  });

  it("re-encodes to the same bytes", async () => {
    const { encodeLinkMessage } = await import("../src/index.ts");
    const d = decodeLinkMessage(golden);
    expect(d.ok && encodeLinkMessage(d.value)).toEqual(golden);
  });

  it.each(["eth 0", "a\nb", "a/b", "a:b", "\u0085x", ".", ".."])("refuses an IFLA_IFNAME no interface can have: %j", (name) => {
    const enc = new TextEncoder().encode(name);
    const len = 4 + enc.length + 1;
    const pad = Array.from({ length: (4 - (len % 4)) % 4 }, () => 0);
    const msg = bytes([0, 0], u16(1), s32(3), u32(0), u32(0), u16(len), u16(3), [...enc], [0], pad);
    expect(decodeLinkMessage(msg)).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_ATTRIBUTE" } });
  });

  it("rejects a struct shorter than 16 bytes and a 2-byte IFLA_MTU", () => {
    expect(decodeLinkMessage(golden.subarray(0, 15))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_TRUNCATED" } });
    const bad = bytes([0, 0], u16(1), s32(3), u32(0), u32(0), u16(6), u16(4), u16(1400), [0, 0]);
    expect(decodeLinkMessage(bad)).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_ATTRIBUTE", offset: 16 } });
  });

  it("builds `ip link set up` and `mtu` requests byte for byte", () => {
    const up = planSetLinkUp(3, "veth0", true);
    expect(up.ok && up.plan.body).toEqual(bytes([0, 0], u16(0), s32(3), u32(IFF_UP), u32(IFF_UP)));
    expect(up.ok && up.plan.flags).toBe(NLM_F_REQUEST | NLM_F_ACK);
    expect(up.ok && up.plan.description).toBe("RTM_NEWLINK dev veth0 up");
    const down = planSetLinkUp(3, undefined, false);
    expect(down.ok && down.plan.body).toEqual(bytes([0, 0], u16(0), s32(3), u32(0), u32(IFF_UP)));
    const mtu = planSetLinkMtu(3, "veth0", 1400);
    expect(mtu.ok && mtu.plan.body).toEqual(bytes([0, 0], u16(0), s32(3), u32(0), u32(0), u16(8), u16(4), u32(1400)));
    expect(planGetLink("bad/name")).toMatchObject({ ok: false });
    const byName = planGetLink("veth0");
    expect(byName.ok && byName.plan.body).toEqual(bytes([0, 0], u16(0), s32(0), u32(0), u32(0), u16(10), u16(3), ascii("veth0"), [0, 0, 0], u16(8), u16(29), u32(8)));
  });
});

describe("ifaddrmsg", () => {
  // RTM_NEWADDR 10.0.0.5/24 dev #3 brd 10.0.0.255 valid_lft 3600 preferred_lft 1800
  const golden = bytes(
    [AF_INET, 24, 0, RT_SCOPE_UNIVERSE], u32(3), // ifaddrmsg
    u16(8), u16(2), [10, 0, 0, 5], // IFA_LOCAL
    u16(8), u16(1), [10, 0, 0, 5], // IFA_ADDRESS
    u16(8), u16(4), [10, 0, 0, 255], // IFA_BROADCAST
    u16(20), u16(6), u32(1800), u32(3600), u32(0), u32(0), // IFA_CACHEINFO: prefered, valid, cstamp, tstamp
  );

  it("is what planAddress builds for an add with lifetimes", () => {
    const p = planAddress("add", 3, "veth0", { link: "veth0", address: "10.0.0.5/24", validLifetime: 3600, preferredLifetime: 1800 });
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.plan.body).toEqual(golden);
    expect(p.plan.type).toBe(RTM_NEWADDR);
    expect(p.plan.flags).toBe(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    expect(p.plan.description).toBe("RTM_NEWADDR 10.0.0.5/24 dev veth0 brd 10.0.0.255 valid_lft 3600sec preferred_lft 1800sec");
  });

  it("decodes it back with lifetimes", () => {
    const d = decodeAddressMessage(golden);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value).toMatchObject({ family: AF_INET, prefixLength: 24, index: 3, local: "10.0.0.5", broadcast: "10.0.0.255", cacheInfo: { preferred: 1800, valid: 3600 } });
    expect(addressView(d.value)).toMatchObject({ cidr: "10.0.0.5/24", validLifetime: 3600, preferredLifetime: 1800, peer: undefined });
  });

  it("builds a delete without broadcast or lifetimes, and refuses bad input", () => {
    const p = planAddress("delete", 3, undefined, { link: 3, address: "10.0.0.5/24" });
    expect(p.ok && p.plan.body).toEqual(bytes([AF_INET, 24, 0, 0], u32(3), u16(8), u16(2), [10, 0, 0, 5], u16(8), u16(1), [10, 0, 0, 5]));
    expect(p.ok && p.plan.description).toBe("RTM_DELADDR 10.0.0.5/24 dev #3");
    expect(planAddress("add", 3, undefined, { link: 3, address: "10.0.0.5/33" })).toMatchObject({ ok: false });
    expect(planAddress("add", 3, undefined, { link: 3, address: "10.0.0.5/24", validLifetime: -1 })).toMatchObject({ ok: false });
    expect(planAddress("add", 3, undefined, { link: 3, address: "10.0.0.5/31" }).ok).toBe(true);
  });

  it("types IPv6 address attributes (RFC 5952 text) and leaves other families' raw", () => {
    const v6 = bytes([10, 64, 0, 0], u32(1), u16(20), u16(1), new Array(16).fill(0xfe));
    const d = decodeAddressMessage(v6);
    expect(d.ok && d.value.address).toBe("fefe:fefe:fefe:fefe:fefe:fefe:fefe:fefe");
    const other = bytes([17, 64, 0, 0], u32(1), u16(20), u16(1), new Array(16).fill(0xfe));
    const o = decodeAddressMessage(other);
    expect(o.ok && o.value.address).toBeUndefined();
    expect(o.ok && o.value.unknown[0]?.data.byteLength).toBe(16);
  });

  it("rejects a 3-byte IPv4 address and a short IFA_CACHEINFO", () => {
    expect(decodeAddressMessage(bytes([AF_INET, 24, 0, 0], u32(1), u16(7), u16(2), [10, 0, 0], [0]))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_ATTRIBUTE" } });
    expect(decodeAddressMessage(bytes([AF_INET, 24, 0, 0], u32(1), u16(12), u16(6), u32(1), u32(2)))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_NETLINK_BAD_ATTRIBUTE" } });
  });
});

describe("rtmsg", () => {
  // RTM_NEWROUTE default via 10.0.0.1 dev #3 proto 176, table main
  const golden = bytes(
    [AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_PADDOCK, RT_SCOPE_UNIVERSE, RTN_UNICAST], u32(0), // rtmsg
    u16(8), u16(15), u32(RT_TABLE_MAIN), // RTA_TABLE
    u16(8), u16(5), [10, 0, 0, 1], // RTA_GATEWAY
    u16(8), u16(4), u32(3), // RTA_OIF
  );

  it("is what planRoute builds for a default route", () => {
    const p = planRoute("add", 3, "veth0", { destination: "default", gateway: "10.0.0.1", link: "veth0" });
    expect(p.ok && p.plan.body).toEqual(golden);
    expect(p.ok && p.plan.type).toBe(RTM_NEWROUTE);
    expect(p.ok && p.plan.description).toBe("RTM_NEWROUTE default via 10.0.0.1 dev veth0 proto 176");
  });

  it("decodes it back", () => {
    const d = decodeRouteMessage(golden);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(routeView(d.value)).toMatchObject({ cidr: "default", gateway: "10.0.0.1", oif: 3, table: RT_TABLE_MAIN, protocol: RTPROT_PADDOCK, type: RTN_UNICAST });
  });

  it("builds a prefix route with link scope, and a delete that matches only our protocol", () => {
    const p = planRoute("add", 3, undefined, { destination: "10.1.0.0/16", link: 3, priority: 50 });
    expect(p.ok && p.plan.body).toEqual(
      bytes([AF_INET, 16, 0, 0, RT_TABLE_MAIN, RTPROT_PADDOCK, 253, RTN_UNICAST], u32(0), u16(8), u16(15), u32(254), u16(8), u16(1), [10, 1, 0, 0], u16(8), u16(4), u32(3), u16(8), u16(6), u32(50)),
    );
    const del = planRoute("delete", undefined, undefined, { destination: "0.0.0.0/0" });
    expect(del.ok && Array.from(del.ok ? del.plan.body.subarray(0, 8) : [])).toEqual([AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_PADDOCK, 255, 0]);
    expect(planRoute("add", 3, undefined, { destination: "10.1.0.0" })).toMatchObject({ ok: false });
    expect(planRoute("add", 3, undefined, { destination: "default", gateway: "10.0.0.256" })).toMatchObject({ ok: false });
  });

  it("puts table ids above 255 only in RTA_TABLE", () => {
    const p = planRoute("add", 3, undefined, { destination: "default", gateway: "10.0.0.1", table: 1000 });
    expect(p.ok && p.plan.body[4]).toBe(0);
    const d = p.ok ? decodeRouteMessage(p.plan.body) : undefined;
    expect(d?.ok && routeView(d.value).table).toBe(1000);
  });
});

describe("extended-ack offsets name the attribute we sent", () => {
  it("maps offsets in an RTM_NEWADDR to IFA_* names", () => {
    const p = planAddress("add", 3, "veth0", { link: 3, address: "10.0.0.5/24", validLifetime: 10 });
    if (!p.ok) throw new Error(p.reason);
    // nlmsghdr 16 + ifaddrmsg 8 = 24: IFA_LOCAL; 32: IFA_ADDRESS; 40: IFA_BROADCAST; 48: IFA_CACHEINFO.
    expect(attributeAtOffset(p.plan.type, p.plan.body, 24)).toBe("IFA_LOCAL");
    expect(attributeAtOffset(p.plan.type, p.plan.body, 48)).toBe("IFA_CACHEINFO");
    expect(attributeAtOffset(p.plan.type, p.plan.body, 17)).toBe("ifaddrmsg");
    expect(attributeAtOffset(p.plan.type, p.plan.body, 500)).toBeUndefined();
  });
});

describe("text forms", () => {
  it("parses canonical IPv4, CIDR and interface names only", () => {
    expect(parseIpv4Address("10.0.0.5")).toBe("10.0.0.5");
    for (const bad of ["010.0.0.1", "1.2.3", "1.2.3.4.5", "256.0.0.1", " 1.2.3.4", "1.2.3.4 ", ""]) expect(parseIpv4Address(bad)).toBeUndefined();
    expect(parseIpv4Cidr("10.0.0.5/24")).toEqual({ address: "10.0.0.5", prefixLength: 24 });
    expect(parseIpv4Cidr("10.0.0.5")).toEqual({ address: "10.0.0.5", prefixLength: 32 });
    for (const bad of ["10.0.0.5/33", "10.0.0.5/", "10.0.0.5/024", "10.0.0.5/-1"]) expect(parseIpv4Cidr(bad)).toBeUndefined();
    expect(parseIfName("veth0")).toBe("veth0");
    for (const bad of ["", "a".repeat(16), "a/b", "a:b", "a b", ".", ".."]) expect(parseIfName(bad)).toBeUndefined();
  });
});

describe("real kernel replies (captured in a throwaway namespace)", () => {
  const fx = JSON.parse(readFileSync(new URL("./fixtures/kernel-captures.json", import.meta.url), "utf8")) as Record<string, string[]>;
  const all = (name: string) =>
    (fx[name] ?? []).flatMap((hex) => {
      const d = decodeDatagram(Uint8Array.from(Buffer.from(hex, "hex")));
      if (!d.ok) throw new Error(`${name}: ${d.error.code} ${d.error.message}`);
      return d.value;
    });

  it("decodes a link dump (lo, veth pair) ending in NLMSG_DONE", () => {
    const ms = all("getlink_dump");
    expect(ms.at(-1)?.kind).toBe("done");
    const links = ms.flatMap((m) => (m.kind === "link" ? [linkView(m.link)] : []));
    expect(links.map((l) => l.name)).toEqual(["lo", "v1", "v0"]);
    const v0 = links.find((l) => l.name === "v0");
    expect(v0).toMatchObject({ mtu: 1500, up: true, lowerUp: true, carrier: true, operState: "up" });
    expect(v0?.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    // The kernel sends many more attributes than we type; they are all kept.
    expect(v0?.message.unknown.length).toBeGreaterThan(20);
    // Every message was multipart with the same seq.
    expect(new Set(ms.map((m) => m.header.seq)).size).toBe(1);
  });

  it("decodes the veth's nested IFLA_LINKINFO kind", () => {
    const v0 = all("getlink_dump").find((m) => m.kind === "link" && m.link.name === "v0");
    const info = v0?.kind === "link" ? v0.link.unknown.find((a) => a.type === IFLA_LINKINFO) : undefined;
    expect(info).toBeDefined();
    const tree = parseAttributeTree(info!.data);
    expect(tree.ok && new TextDecoder().decode(tree.value.find((a) => a.type === IFLA_INFO_KIND)?.data)).toBe("veth\0");
  });

  it("decodes an ack, and errors with the kernel's extack text", () => {
    expect(all("setlink_up_ack")[0]).toMatchObject({ kind: "error", error: 0 });
    expect(all("setlink_mtu_einval")[0]).toMatchObject({ kind: "error", error: -22, extack: { message: "mtu greater than device maximum" } });
    expect(all("newaddr_eexist")[0]).toMatchObject({ kind: "error", error: -17, extack: { message: "ipv4: Address already assigned" } });
    expect(all("newaddr_enodev")[0]).toMatchObject({ kind: "error", error: -19, extack: { message: "ipv4: Device not found" } });
  });

  it("decodes an address dump and a route dump", () => {
    const addrs = all("getaddr_dump").flatMap((m) => (m.kind === "address" ? [addressView(m.address)] : []));
    expect(addrs.map((a) => a.cidr)).toEqual(["127.0.0.1/8", "10.9.0.1/24"]);
    expect(addrs[1]).toMatchObject({ label: "v0", validLifetime: "forever", preferredLifetime: "forever" });
    expect(addrs[1]!.flags & IFA_F_PERMANENT).toBe(IFA_F_PERMANENT);
    const routes = all("getroute_dump").flatMap((m) => (m.kind === "route" ? [routeView(m.route)] : []));
    expect(routes.find((r) => r.cidr === "default")).toMatchObject({ gateway: "10.9.0.254", table: RT_TABLE_MAIN });
    expect(routes.find((r) => r.cidr === "10.9.0.0/24")).toMatchObject({ scope: 253, protocol: 2 });
  });

  it("re-encodes every captured message to the same value and size (attribute order aside)", () => {
    let checked = 0;
    for (const [name, hexes] of Object.entries(fx)) {
      for (const hex of hexes) {
        const raw = Uint8Array.from(Buffer.from(hex, "hex"));
        const split = splitMessages(raw);
        if (!split.ok) throw new Error(name);
        for (const r of split.value) {
          const d = decodeMessage(r);
          // Errors echo our request (uncapped), which encodeMessage does not reproduce.
          if (!d.ok || d.value.kind === "error") continue;
          const again = encodeMessage(d.value);
          expect(again.byteLength, `${name} type ${r.header.type}`).toBe((r.header.length + 3) & ~3);
          expect(decodeOne(again), `${name} type ${r.header.type}`).toEqual(d.value);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

});
