// The RA service's pure parts (issue 11): the Router Solicitation egress check (what a hostile
// calf's frames meet in the priv), the schema's parsers (what a hostile calf's values meet), the
// calf's snapshot → keys with its republish rule, and the handler's desired state.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeNdPacket, encodeRouterSolicitationFrame, type RaSnapshot } from "@paddock/ra";
import { snapshotKeys, sameButTime } from "../../calf/src/main.ts";
import { linkLocalsOf, routerSolicitationEgress } from "../src/egress.ts";
import { dnsServerValue, prefixValue, raSchema, routerValue, routeValue, searchNameValue } from "../src/schema.ts";
import { RaHandler } from "../src/slaac-handler.ts";

const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x11);
const LL = "fe80::11";
const LL_HEX = "fe800000000000000000000000000011";
const check = routerSolicitationEgress({ mac: MAC, ifindex: 2, linkLocals: () => new Set([LL_HEX]) });
const rs = (linkLocal: string | undefined = LL) => {
  const f = encodeRouterSolicitationFrame(MAC, linkLocal);
  if (!f.ok) throw new Error(f.error.detail);
  return f.value;
};
const code = (f: Uint8Array) => check(f)?.code ?? "ok";

describe("router solicitation egress", () => {
  it("lets out the core's solicitation, from the link-local address or from ::", () => {
    expect(code(rs())).toBe("ok");
    expect(code(rs(undefined))).toBe("ok");
  });

  it("refuses another source, hop limit, destination, type, a forged link-layer option, and options from ::", () => {
    const other = encodeRouterSolicitationFrame(MAC, "fe80::99");
    expect(other.ok && code(other.value)).toBe("PADDOCK_E_EGRESS_RS_SOURCE");
    const global = encodeNdPacket({ kind: "rs", options: [] }, { sourceMac: MAC, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 2), source: "2001:db8::11", destination: "ff02::2" });
    expect(global.ok && code(global.value)).toBe("PADDOCK_E_EGRESS_RS_SOURCE");
    const hop = encodeNdPacket({ kind: "rs", options: [] }, { sourceMac: MAC, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 2), source: LL, destination: "ff02::2", hopLimit: 254 });
    expect(hop.ok && code(hop.value)).toBe("PADDOCK_E_EGRESS_RS_HOP_LIMIT");
    const dst = encodeNdPacket({ kind: "rs", options: [] }, { sourceMac: MAC, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), source: LL, destination: "ff02::1" });
    expect(dst.ok && code(dst.value)).toBe("PADDOCK_E_EGRESS_RS_DESTINATION");
    const forged = encodeNdPacket({ kind: "rs", options: [{ kind: "sourceLinkLayer", address: Uint8Array.of(2, 0, 0, 0, 0, 0x66) }] }, { sourceMac: MAC, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 2), source: LL, destination: "ff02::2" });
    expect(forged.ok && code(forged.value)).toBe("PADDOCK_E_EGRESS_RS_LINK_LAYER");
    const fromNothing = encodeNdPacket({ kind: "rs", options: [{ kind: "sourceLinkLayer", address: MAC }] }, { sourceMac: MAC, destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 2), source: "::", destination: "ff02::2" });
    expect(fromNothing.ok && code(fromNothing.value)).toBe("PADDOCK_E_EGRESS_RS_OPTION");
    // A neighbor solicitation (135) with the RS's shape.
    const ns = rs().slice();
    ns[14 + 40] = 135;
    expect(code(ns)).toBe("PADDOCK_E_EGRESS_RS_TYPE");
    // A zero-length option, and a length running past the frame.
    const zero = rs().slice();
    zero[14 + 40 + 8 + 1] = 0;
    expect(code(zero)).toBe("PADDOCK_E_EGRESS_RS_OPTION");
    const past = rs().slice();
    past[14 + 40 + 8 + 1] = 3;
    expect(code(past)).toBe("PADDOCK_E_EGRESS_RS_OPTION");
    // A payload length that lies about the frame.
    const long = Uint8Array.from([...rs(), 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(code(long)).toBe("PADDOCK_E_EGRESS_RS_LENGTH");
  });

  it("is total: arbitrary frames get an answer, never an exception", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (f) => {
      const r = check(f);
      expect(r === null || r.code.startsWith("PADDOCK_E_EGRESS_RS_")).toBe(true);
    }));
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 255 }), (at, b) => {
      const f = rs().slice();
      if (at < f.length) f[at] = b;
      expect(() => check(f)).not.toThrow();
    }));
  });

  it("reads usable link-local addresses from /proc/net/if_inet6's text", () => {
    const text = [
      "fe800000000000000000000000000011 02 40 20 80 eth0",
      "fe800000000000000000000000000022 02 40 20 c0 eth0", // tentative
      "20010db8000000000000000000000011 02 40 00 00 eth0",
      "fe800000000000000000000000000033 03 40 20 80 eth1",
    ].join("\n");
    expect([...linkLocalsOf(text, 2)]).toEqual([LL_HEX]);
  });
});

describe("schema values", () => {
  it("parses what the calf writes and refuses what breaks the form", () => {
    expect(routerValue("fe80::1 high 1764601800")).toEqual({ ok: true, value: { address: "fe80::1", preference: "high", until: 1764601800 } });
    expect(routerValue("2001:db8::1 high 1764601800").ok).toBe(false); // a router is link-local
    expect(routerValue("fe80::1 urgent never").ok).toBe(false);
    expect(prefixValue("2001:db8:1::/64 on-link=never valid=1764601800 preferred=1764600000")).toEqual({ ok: true, value: { prefix: "2001:db8:1::", prefixLength: 64, onLinkUntil: "never", autonomous: { validUntil: 1764601800, preferredUntil: 1764600000 } } });
    expect(prefixValue("2001:db8:1::/64").ok).toBe(false); // neither on-link nor autonomous
    expect(prefixValue("fe80::/64 on-link=never").ok).toBe(false);
    expect(prefixValue("2001:db8:1::/64 valid=1").ok).toBe(false);
    expect(routeValue("2001:db8:2::/48 via fe80::1 low 1764601800").ok).toBe(true);
    expect(routeValue("2001:db8:2::/48 via 2001:db8::1 low 1764601800").ok).toBe(false);
    expect(dnsServerValue("2001:db8::53 never").ok).toBe(true);
    for (const bad of ["ff02::1 never", ":: never", "::1 never", "2001:db8::53", "2001:db8::53 never x"]) expect(dnsServerValue(bad).ok, bad).toBe(false);
    expect(searchNameValue("example.test 1764601800").ok).toBe(true);
    expect(searchNameValue("bad\nname 1764601800").ok).toBe(false);
  });

  it("bounds what a calf can publish: the core's limits", () => {
    const max = (pattern: string) => raSchema.entries.find((e) => e.pattern === pattern)?.maxKeys;
    expect([max("/router/*"), max("/prefix/*"), max("/route/*"), max("/dns/*"), max("/search/*")]).toEqual([8, 16, 16, 8, 8]);
  });

  it("arbitrary text never throws in a parser", () => {
    fc.assert(fc.property(fc.string({ maxLength: 120 }), (s) => {
      for (const p of [routerValue, prefixValue, routeValue, dnsServerValue, searchNameValue]) expect(typeof p(s).ok).toBe("boolean");
    }));
  });
});

describe("calf publishing", () => {
  const snapshot: RaSnapshot = {
    routers: [{ address: "fe80::1" as never, preference: "high", expiresAt: 1_800_000 }],
    prefixes: [{ prefix: "2001:db8:1::" as never, prefixLength: 64, onLinkUntil: Number.POSITIVE_INFINITY, autonomous: { validUntil: 86_400_000, preferredUntil: 14_400_000 } }],
    routes: [{ prefix: "2001:db8:2::" as never, prefixLength: 48, router: "fe80::1" as never, preference: "low", expiresAt: 1_800_000 }],
    dnsServers: [{ address: "2001:db8::53" as never, router: "fe80::1" as never, expiresAt: 1_800_000 }],
    searchNames: [{ name: "example.test", router: "fe80::1" as never, expiresAt: 1_800_000 }],
    pref64: [],
    mtu: 1400,
    managed: true,
    other: false,
    curHopLimit: 64,
    reachableTime: undefined,
    retransTimer: undefined,
  };

  it("every key the calf writes passes the schema's parser", () => {
    const keys = snapshotKeys(snapshot, 0, 1_764_600_000_000);
    expect(Object.fromEntries(keys)).toEqual({
      "/router/000": "fe80::1 high 1764601800",
      "/prefix/000": "2001:db8:1::/64 on-link=never valid=1764686400 preferred=1764614400",
      "/route/000": "2001:db8:2::/48 via fe80::1 low 1764601800",
      "/dns/000": "2001:db8::53 1764601800",
      "/search/000": "example.test 1764601800",
      "/mtu": "1400",
      "/flags/managed": "true",
      "/flags/other": "false",
    });
    for (const [path, value] of keys) {
      const entry = raSchema.entries.find((e) => (e.pattern.endsWith("*") ? path.startsWith(e.pattern.slice(0, -1)) : e.pattern === path))!;
      expect(entry.validate(value).ok, `${path} ${value}`).toBe(true);
    }
  });

  it("a later end moved a little is not republished; an earlier one, or a changed value, is", () => {
    const now = 1_764_600_000;
    expect(sameButTime("fe80::1 high 1764601800", "fe80::1 high 1764601804", now)).toBe(true);
    expect(sameButTime("fe80::1 high 1764601800", "fe80::1 high 1764602100", now)).toBe(false); // > 1/8 of 1800 s
    expect(sameButTime("fe80::1 high 1764601800", "fe80::1 high 1764600010", now)).toBe(false); // shortened
    expect(sameButTime("fe80::1 high 1764601800", "fe80::1 low 1764601800", now)).toBe(false);
    expect(sameButTime("1400", "1401", now)).toBe(false);
  });
});

describe("the handler's desired state", () => {
  const handler = new RaHandler({ link: "eth0", stateDir: "/nonexistent", secret: new Uint8Array(32).fill(7) });
  const parsed = (values: Record<string, unknown>) => ({ parsed: new Map(Object.entries(values)), values: new Map<string, string>() });

  it("one stable address per autonomous /64, nothing for other lengths or expired ones, and the earliest end to wake at", () => {
    const now = 1_764_600_000_000;
    const d = handler.desired(
      parsed({
        "/prefix/000": { prefix: "2001:db8:1::", prefixLength: 64, onLinkUntil: "never", autonomous: { validUntil: 1_764_686_400, preferredUntil: 1_764_614_400 } },
        "/prefix/001": { prefix: "2001:db8:3::", prefixLength: 56, autonomous: { validUntil: "never", preferredUntil: "never" } },
        "/prefix/002": { prefix: "2001:db8:4::", prefixLength: 64, autonomous: { validUntil: 1_764_599_000, preferredUntil: 1_764_599_000 } },
        "/router/000": { address: "fe80::1", preference: "high", until: 1_764_601_800 },
        "/dns/000": { address: "fe80::53", until: 1_764_600_100 },
      }),
      now,
    );
    expect(d.addresses.map((a) => a.prefix)).toEqual(["2001:db8:1::"]);
    expect(d.addresses[0]!.address.startsWith("2001:db8:1:0:")).toBe(true);
    expect(d.onLink.map((r) => r.destination)).toEqual(["2001:db8:1::/64"]);
    expect(d.defaultRoutes).toEqual([{ destination: "default", gateway: "fe80::1", pref: "high", expiresAt: 1_764_601_800_000 }]);
    expect(handler.wakeAt(d)).toBe(1_764_600_100_000);
    // The DNS server's lifetime ends: it leaves the desired state at that moment.
    expect(handler.desired(parsed({ "/dns/000": { address: "fe80::53", until: 1_764_600_100 } }), 1_764_600_100_000).dnsServers).toEqual([]);
  });
});
