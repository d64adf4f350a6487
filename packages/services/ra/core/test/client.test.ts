/**
 * The RA client rule by rule: when it solicits (RFC 4861 §6.3.7, RFC 7559 backoff), what one
 * advertisement changes (RFC 4861 §6.3.4, RFC 4862 §5.5.3, RFC 4191, RFC 8106, RFC 8781), what
 * expires when, the bounds, and the hostile frames the calf must ignore.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCapture } from "@paddock/dhcp4";
import { describe, expect, it } from "vitest";
import {
  MAX_PREFIXES,
  MAX_RDNSS,
  MAX_ROUTERS,
  MAX_ROUTES,
  MAX_SEARCH_NAMES,
  RaErrorCode,
  createRaClient,
  decodeNdPacket,
  raCounters,
  step,
  type Ipv6Address,
  type NdOption,
  type PrefixOption,
  type RaClientAction,
  type RaClientConfig,
  type RaClientEvent,
  type RaClientState,
  type RaSnapshot,
  type RouterAdvertisement,
} from "../src/index.ts";
import { HOST_LL, HOST_MAC, PUBLIC, ROUTER, ROUTER2, frameAround, frameOf, icmpOf, richRa } from "./fixtures.ts";

const HOUR = 3_600_000;

/** A random source whose every draw is `value` in [0, 1). */
const steady = (value: number) => (count: number) => {
  const v = Math.floor(value * 2 ** 32);
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = (v >>> (24 - 8 * (i % 4))) & 0xff;
  return out;
};

function client(config: Partial<RaClientConfig> = {}): RaClientState {
  const r = createRaClient({ mac: HOST_MAC, linkLocal: HOST_LL, linkMtu: 1500, random: steady(0.5), ...config });
  if (!r.ok) throw new Error(r.error.detail);
  return r.state;
}

/** Runs events in order; returns the final state and every action. */
function run(state: RaClientState, ...events: RaClientEvent[]): { state: RaClientState; actions: RaClientAction[] } {
  const actions: RaClientAction[] = [];
  for (const e of events) {
    const r = step(state, e);
    state = r.state;
    actions.push(...r.actions);
  }
  return { state, actions };
}

const sends = (actions: RaClientAction[]) => actions.filter((a) => a.kind === "send");
const timers = (actions: RaClientAction[]) => actions.flatMap((a) => (a.kind === "timer" ? [a.at] : []));
const published = (actions: RaClientAction[]): RaSnapshot | undefined => actions.flatMap((a) => (a.kind === "publish" ? [a.snapshot] : [])).at(-1);

/** An RA event from `from` received at `at`. */
const ra = (message: RouterAdvertisement, at: number, from: Ipv6Address = ROUTER): RaClientEvent => ({ kind: "ra", message, from, receivedAt: at });
/** An RA carrying only these options, from a router that is not a default router (lifetime 0). */
const only = (...options: NdOption[]) => richRa({ routerLifetime: 0, options });
const pio = (overrides: Partial<PrefixOption> = {}): PrefixOption => ({
  kind: "prefix",
  prefixLength: 64,
  onLink: true,
  autonomous: true,
  routerAddress: false,
  validLifetime: 86_400,
  preferredLifetime: 14_400,
  prefix: "2001:db8:1::" as Ipv6Address,
  ...overrides,
});

describe("solicitation", () => {
  it("waits the random initial delay, sends 3 RS 4 s apart, then backs off 8 s, 16 s, … (RFC 4861 §6.3.7, RFC 7559)", () => {
    let s = client();
    const start = run(s, { kind: "start", now: 10_000 });
    expect(sends(start.actions)).toEqual([]);
    expect(timers(start.actions)).toEqual([10_500]); // 0.5 × MAX_RTR_SOLICITATION_DELAY
    s = start.state;
    const sentAt: number[] = [];
    let at = 10_500;
    for (let i = 0; i < 8; i++) {
      const r = step(s, { kind: "tick", now: at });
      expect(sends(r.actions), `tick at ${at}`).toHaveLength(1);
      sentAt.push(at);
      s = r.state;
      at = timers(r.actions)[0]!;
    }
    // RAND is 0 with a steady 0.5: the backoff doubles exactly.
    expect(sentAt.map((t, i) => (i === 0 ? 0 : t - sentAt[i - 1]!))).toEqual([0, 4_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000]);
    expect(raCounters(s).solicitationsSent).toBe(8);
  });

  it("the backoff stops growing at one hour, ±10 %", () => {
    let s = run(client({ random: steady(0.99) }), { kind: "start", now: 0 }).state;
    let last = 0;
    let interval = 0;
    for (let i = 0; i < 20; i++) {
      const due = s.timer!;
      const r = step(s, { kind: "tick", now: due });
      interval = r.state.timer! - due;
      last = due;
      s = r.state;
    }
    expect(last).toBeGreaterThan(0);
    expect(interval).toBeLessThanOrEqual(1.1 * HOUR);
    expect(interval).toBeGreaterThan(HOUR);
  });

  it("sends the frame the codec builds: from the link-local address to all-routers, with the MAC", () => {
    const r = run(client(), { kind: "start", now: 0 }, { kind: "tick", now: 500 });
    const frame = (sends(r.actions)[0] as { frame: Uint8Array }).frame;
    expect(decodeNdPacket(frame, "ethernet")).toMatchObject({ ok: true, value: { source: HOST_LL, destination: "ff02::2", message: { kind: "rs", options: [{ kind: "sourceLinkLayer", address: HOST_MAC }] } } });
  });

  it("without a link-local address yet, solicits from :: without the option", () => {
    const r = run(client({ linkLocal: undefined }), { kind: "start", now: 0 }, { kind: "tick", now: 500 });
    const frame = (sends(r.actions)[0] as { frame: Uint8Array }).frame;
    expect(decodeNdPacket(frame, "ethernet")).toMatchObject({ ok: true, value: { source: "::", message: { options: [] } } });
  });

  it("with backoff off, stops after the third", () => {
    let s = run(client({ backoff: false }), { kind: "start", now: 0 }).state;
    const all: RaClientAction[] = [];
    for (const now of [500, 4_500, 8_500, 100_000, 10 * HOUR]) {
      const r = step(s, { kind: "tick", now });
      all.push(...r.actions);
      s = r.state;
    }
    expect(sends(all)).toHaveLength(3);
    expect(s.timer).toBeUndefined();
  });

  it("a tick before the due time sends nothing", () => {
    const r = run(client(), { kind: "start", now: 0 }, { kind: "tick", now: 499 });
    expect(sends(r.actions)).toEqual([]);
  });

  it("an advertisement with a router lifetime ends solicitation; one with lifetime 0 does not", () => {
    const started = run(client(), { kind: "start", now: 0 }, { kind: "tick", now: 500 }).state;
    const notDefault = run(started, ra(only(), 1_000), { kind: "tick", now: 4_500 });
    expect(sends(notDefault.actions)).toHaveLength(1);
    const answered = run(started, ra(richRa(), 1_000), { kind: "tick", now: 4_500 }, { kind: "tick", now: 8_500 });
    expect(sends(answered.actions)).toEqual([]);
    expect(answered.state.solicit.phase).toBe("done");
  });

  it("stops while the link is down and starts over when it comes back, keeping what it learned", () => {
    let s = run(client(), { kind: "start", now: 0 }, { kind: "tick", now: 500 }, ra(only(pio()), 600)).state;
    const down = run(s, { kind: "link", up: true, carrier: false, now: 1_000 }, { kind: "tick", now: 4_500 }, { kind: "tick", now: 9_000 });
    expect(sends(down.actions)).toEqual([]);
    s = down.state;
    const up = run(s, { kind: "link", up: true, carrier: true, now: 20_000 });
    expect(up.state.timer).toBe(20_500);
    expect(up.state.learned.prefixes).toHaveLength(1);
    const resumed = run(up.state, { kind: "tick", now: 20_500 }, { kind: "tick", now: 24_500 }, { kind: "tick", now: 28_500 });
    expect(sends(resumed.actions)).toHaveLength(3);
  });

  it("a link that was down before start and came up solicits at start; one down at start waits for it", () => {
    const flapped = run(client(), { kind: "link", up: false, carrier: false, now: 0 }, { kind: "link", up: true, carrier: true, now: 1 }, { kind: "start", now: 2 });
    expect(flapped.state.timer).toBe(502);
    const down = run(client(), { kind: "link", up: true, carrier: false, now: 0 }, { kind: "start", now: 2 }, { kind: "tick", now: 10_000 });
    expect(sends(down.actions)).toEqual([]);
    expect(run(down.state, { kind: "link", up: true, carrier: true, now: 20_000 }).state.timer).toBe(20_500);
  });

  it("with solicit off, only listens", () => {
    const r = run(client({ solicit: false }), { kind: "start", now: 0 }, { kind: "tick", now: 5_000 });
    expect(sends(r.actions)).toEqual([]);
    expect(r.state.timer).toBeUndefined();
  });
});

describe("what an advertisement teaches", () => {
  it("router, prefix, route, DNS servers, search names, NAT64 prefix, MTU, flags and timers, published at once", () => {
    const r = run(client(), { kind: "start", now: 0 }, ra(richRa({ managed: true }), 1_000));
    expect(published(r.actions)).toEqual({
      routers: [{ address: ROUTER, preference: "high", expiresAt: 1_000 + 1_800_000 }],
      prefixes: [{ prefix: "2001:db8:1::", prefixLength: 64, onLinkUntil: 1_000 + 86_400_000, autonomous: { validUntil: 1_000 + 86_400_000, preferredUntil: 1_000 + 14_400_000 } }],
      routes: [{ prefix: "2001:db8:100::", prefixLength: 48, router: ROUTER, preference: "low", expiresAt: 1_000 + HOUR }],
      dnsServers: [
        { address: "2001:db8:1::53", router: ROUTER, expiresAt: 601_000 },
        { address: "2001:db8:2::53", router: ROUTER, expiresAt: 601_000 },
      ],
      searchNames: [
        { name: "example.com", router: ROUTER, expiresAt: 601_000 },
        { name: "lab.example.org", router: ROUTER, expiresAt: 601_000 },
      ],
      pref64: [{ prefix: "64:ff9b::", prefixLength: 96, router: ROUTER, expiresAt: 1_801_000 }],
      mtu: 1480,
      managed: true,
      other: true,
      curHopLimit: 64,
      reachableTime: 30_000,
      retransTimer: 1_000,
    });
    expect(raCounters(r.state).advertisements).toBe(1);
  });

  it("publishes only when something changed, and arms the timer for the first expiry", () => {
    const first = run(client({ solicit: false }), { kind: "start", now: 0 }, ra(richRa(), 1_000));
    expect(first.state.timer).toBe(601_000); // RDNSS and DNSSL: 600 s
    const same = run(first.state, ra(richRa(), 1_000), { kind: "tick", now: 2_000 });
    expect(published(same.actions)).toBeUndefined();
    expect(timers(same.actions)).toEqual([]);
    const expired = run(first.state, { kind: "tick", now: 601_000 });
    expect(published(expired.actions)).toMatchObject({ dnsServers: [], searchNames: [] });
    expect(expired.state.timer).toBe(1_801_000);
  });

  it("a router lifetime of 0 removes the router; the preference follows the latest RA", () => {
    let s = run(client(), ra(richRa({ preference: "low" }), 0), ra(richRa({ preference: "high" }), 0, ROUTER2)).state;
    expect(s.learned.routers.map((r) => [r.address, r.preference])).toEqual([
      [ROUTER, "low"],
      [ROUTER2, "high"],
    ]);
    s = run(s, ra(richRa({ routerLifetime: 0 }), 10)).state;
    expect(s.learned.routers.map((r) => r.address)).toEqual([ROUTER2]);
  });

  it("a router expires at its lifetime", () => {
    const s = run(client(), ra(richRa({ routerLifetime: 10, options: [] }), 0)).state;
    expect(s.timer).toBe(10_000);
    expect(run(s, { kind: "tick", now: 9_999 }).state.learned.routers).toHaveLength(1);
    expect(run(s, { kind: "tick", now: 10_000 }).state.learned.routers).toHaveLength(0);
  });

  it("M, O, hop limit and timers are the latest RA's (hop limit and timers only when non-zero)", () => {
    const s = run(client(), ra(richRa({ managed: true }), 0), ra(richRa({ other: false, curHopLimit: 0, reachableTime: 0, retransTimer: 0 }), 1)).state;
    expect(s.learned).toMatchObject({ managed: false, other: false, curHopLimit: 64, reachableTime: 30_000, retransTimer: 1_000 });
  });

  it("an infinite lifetime never expires and arms no timer", () => {
    const inf = 0xffffffff;
    const s = run(
      client({ solicit: false }),
      ra(only(pio({ validLifetime: inf, preferredLifetime: inf }), { kind: "rdnss", lifetime: inf, servers: ["2001:db8::53" as Ipv6Address] }, { kind: "route", prefixLength: 32, preference: "medium", lifetime: inf, prefix: "2001:db8::" as Ipv6Address }), 0),
    ).state;
    expect(s.learned.prefixes[0]).toMatchObject({ onLinkUntil: Infinity, autonomous: { validUntil: Infinity, preferredUntil: Infinity } });
    expect(s.learned.dnsServers[0]!.expiresAt).toBe(Infinity);
    expect(s.timer).toBeUndefined();
    expect(run(s, { kind: "tick", now: 1e15 }).state.learned).toEqual(s.learned);
  });
});

describe("prefixes (RFC 4861 §6.3.4, RFC 4862 §5.5.3)", () => {
  /** The autonomous validity after a first PIO with `first` s and a second `later` ms on with `second` s. */
  const validAfter = (first: number, later: number, second: number, preferred = 0) => {
    const s = run(client(), ra(only(pio({ validLifetime: first, preferredLifetime: 0 })), 0), ra(only(pio({ validLifetime: second, preferredLifetime: preferred })), later)).state;
    return s.learned.prefixes[0]?.autonomous;
  };

  it("e) a valid lifetime above 2 h is taken, even when shorter than what is left", () => {
    expect(validAfter(36_000, 0, 10_800)?.validUntil).toBe(10_800_000);
  });

  it("e) a valid lifetime above what is left is taken", () => {
    expect(validAfter(3_600, 0, 5_000)?.validUntil).toBe(5_000_000);
  });

  it("e) a short lifetime cuts a long remainder to 2 h, never below", () => {
    expect(validAfter(36_000, 1_000, 60)?.validUntil).toBe(1_000 + 2 * HOUR);
    expect(validAfter(36_000, 1_000, 0)?.validUntil).toBe(1_000 + 2 * HOUR);
  });

  it("e) a short lifetime does not shorten a remainder already at most 2 h", () => {
    expect(validAfter(3_600, 1_000, 60)?.validUntil).toBe(3_600_000);
    expect(validAfter(3_600, 1_000, 0)?.validUntil).toBe(3_600_000);
  });

  it("e) the preferred lifetime is taken as received, never past the valid one", () => {
    expect(validAfter(36_000, 0, 60, 60)).toEqual({ validUntil: 2 * HOUR, preferredUntil: 60_000 });
    expect(validAfter(3_600, 0, 60, 60)).toEqual({ validUntil: 3_600_000, preferredUntil: 60_000 });
  });

  it("c) preferred above valid, d) a new prefix with valid 0 or not a /64, b) the link-local prefix: no SLAAC", () => {
    const autonomousOf = (o: PrefixOption) => run(client(), ra(only(o), 0)).state.learned.prefixes[0]?.autonomous;
    expect(autonomousOf(pio({ preferredLifetime: 90_000 }))).toBeUndefined();
    expect(autonomousOf(pio({ validLifetime: 0, preferredLifetime: 0 }))).toBeUndefined();
    expect(autonomousOf(pio({ prefixLength: 48 }))).toBeUndefined();
    expect(run(client(), ra(only(pio({ prefix: "fe80::" as Ipv6Address })), 0)).state.learned.prefixes).toEqual([]);
  });

  it("on-link: valid lifetime 0 ends the on-link state; an entry neither on-link nor autonomous goes", () => {
    const onLinkOnly = pio({ autonomous: false });
    let s = run(client(), ra(only(onLinkOnly), 0)).state;
    expect(s.learned.prefixes).toEqual([{ prefix: "2001:db8:1::", prefixLength: 64, onLinkUntil: 86_400_000, autonomous: undefined }]);
    s = run(s, ra(only(pio({ autonomous: false, validLifetime: 0, preferredLifetime: 0 })), 10)).state;
    expect(s.learned.prefixes).toEqual([]);
  });

  it("L clear says nothing about on-link; the prefix is keyed without the bits past its length", () => {
    const s = run(client(), ra(only(pio()), 0), ra(only(pio({ onLink: false, prefix: "2001:db8:1::99" as Ipv6Address })), 10)).state;
    expect(s.learned.prefixes).toHaveLength(1);
    expect(s.learned.prefixes[0]!.onLinkUntil).toBe(86_400_000);
  });

  it("SLAAC validity expires on its own, on-link validity on its own", () => {
    const s = run(client(), ra(only(pio({ validLifetime: 100, preferredLifetime: 50 }), pio({ prefix: "2001:db8:2::" as Ipv6Address, autonomous: false, validLifetime: 200 })), 0)).state;
    const later = run(s, { kind: "tick", now: 100_000 });
    expect(published(later.actions)!.prefixes.map((p) => p.prefix)).toEqual(["2001:db8:2::"]);
    expect(later.state.timer).toBe(200_000);
  });
});

describe("other options", () => {
  it("MTU: taken between 1280 and the link MTU, otherwise ignored", () => {
    const mtuAfter = (...mtus: number[]) => run(client(), ...mtus.map((mtu, i) => ra(only({ kind: "mtu", mtu }), i))).state;
    expect(mtuAfter(1400).learned.mtu).toBe(1400);
    expect(mtuAfter(1400, 1279).learned.mtu).toBe(1400);
    expect(mtuAfter(1400, 1501).learned.mtu).toBe(1400);
    expect(mtuAfter(1280, 1500).learned.mtu).toBe(1500);
    expect(raCounters(mtuAfter(0, 9000, 1279)).ignoredOptions).toBe(3);
  });

  it("routes: lifetime 0 removes; reserved preference, link-local and multicast prefixes are ignored", () => {
    const route = (prefix: string, prefixLength: number, lifetime = 600, preference: "high" | "reserved" = "high"): NdOption => ({ kind: "route", prefixLength, preference, lifetime, prefix: prefix as Ipv6Address });
    let s = run(client(), ra(only(route("2001:db8:a::", 48), route("fe80::", 10), route("ff00::", 8), route("2001:db8:b::", 48, 600, "reserved")), 0)).state;
    expect(s.learned.routes.map((r) => r.prefix)).toEqual(["2001:db8:a::"]);
    expect(raCounters(s).ignoredOptions).toBe(3);
    s = run(s, ra(only(route("2001:db8:a::", 48, 0)), 1)).state;
    expect(s.learned.routes).toEqual([]);
  });

  it("routes are per router", () => {
    const r: NdOption = { kind: "route", prefixLength: 48, preference: "high", lifetime: 600, prefix: "2001:db8:a::" as Ipv6Address };
    const s = run(client(), ra(only(r), 0), ra(only(r), 0, ROUTER2)).state;
    expect(s.learned.routes.map((e) => e.router)).toEqual([ROUTER, ROUTER2]);
  });

  it("RDNSS: per server, lifetime 0 removes, refresh moves the expiry, unusable addresses ignored", () => {
    const rdnss = (lifetime: number, ...servers: string[]): NdOption => ({ kind: "rdnss", lifetime, servers: servers as Ipv6Address[] });
    let s = run(client(), ra(only(rdnss(600, "2001:db8::53", "2001:db8::54", "::", "::1", "ff02::fb")), 0)).state;
    expect(s.learned.dnsServers.map((d) => d.address)).toEqual(["2001:db8::53", "2001:db8::54"]);
    expect(raCounters(s).ignoredOptions).toBe(3);
    s = run(s, ra(only(rdnss(0, "2001:db8::53"), rdnss(900, "2001:db8::54")), 10)).state;
    expect(s.learned.dnsServers).toEqual([{ address: "2001:db8::54", router: ROUTER, expiresAt: 900_010 }]);
  });

  it("DNSSL: names compared without case, lifetime 0 removes", () => {
    let s = run(client(), ra(only({ kind: "dnssl", lifetime: 600, names: ["Example.COM", "b.example"] }), 0), ra(only({ kind: "dnssl", lifetime: 900, names: ["example.com"] }), 5)).state;
    expect(s.learned.searchNames.map((n) => [n.name, n.expiresAt])).toEqual([
      ["example.com", 900_005],
      ["b.example", 600_000],
    ]);
    s = run(s, ra(only({ kind: "dnssl", lifetime: 0, names: ["B.EXAMPLE"] }), 6)).state;
    expect(s.learned.searchNames.map((n) => n.name)).toEqual(["example.com"]);
  });

  it("PREF64: lifetime 0 removes", () => {
    const p = (lifetime: number): NdOption => ({ kind: "pref64", lifetime, prefixLength: 96, prefix: "64:ff9b::" as Ipv6Address });
    let s = run(client(), ra(only(p(800)), 0)).state;
    expect(s.learned.pref64).toEqual([{ prefix: "64:ff9b::", prefixLength: 96, router: ROUTER, expiresAt: 800_000 }]);
    s = run(s, ra(only(p(0)), 1)).state;
    expect(s.learned.pref64).toEqual([]);
  });

  it("a malformed option is ignored and counted; the rest of the RA applies", () => {
    const s = run(client(), ra(only({ kind: "malformed", type: 25, bytes: new Uint8Array(6), error: { code: RaErrorCode.BAD_OPTION, detail: "x" } }, pio()), 0));
    expect(s.state.learned.prefixes).toHaveLength(1);
    expect(raCounters(s.state).ignoredOptions).toBe(1);
    expect(s.actions.some((a) => a.kind === "log" && a.level === "debug")).toBe(true);
  });
});

describe("bounds", () => {
  const prefixN = (i: number) => `2001:db8:${i.toString(16)}::` as Ipv6Address;

  it("1000 prefixes in one RA: the first 16 are kept, 984 dropped and counted; known ones still refresh", () => {
    const options = Array.from({ length: 1000 }, (_, i) => pio({ prefix: prefixN(i) }));
    // Through the frame path, so the codec and the client meet the same bytes a calf would.
    let s = run(client(), { kind: "frame", bytes: frameOf(only(...options)), link: "ethernet", receivedAt: 0 }).state;
    expect(s.learned.prefixes).toHaveLength(MAX_PREFIXES);
    expect(raCounters(s).dropped.prefixes).toBe(1000 - MAX_PREFIXES);
    s = run(s, ra(only(pio({ prefix: prefixN(3), validLifetime: 999_999, preferredLifetime: 1 })), 10)).state;
    expect(s.learned.prefixes.find((p) => p.prefix === prefixN(3))!.onLinkUntil).toBe(999_999_010);
    expect(s.learned.prefixes).toHaveLength(MAX_PREFIXES);
  });

  it("routers, routes, DNS servers and search names stop at their bounds", () => {
    let s = client();
    for (let i = 1; i <= 20; i++) s = run(s, ra(richRa({ options: [] }), 0, `fe80::${i.toString(16)}` as Ipv6Address)).state;
    expect(s.learned.routers).toHaveLength(MAX_ROUTERS);
    expect(raCounters(s).dropped.routers).toBe(20 - MAX_ROUTERS);
    const many = run(
      client(),
      ra(
        only(
          ...Array.from({ length: 40 }, (_, i): NdOption => ({ kind: "route", prefixLength: 64, preference: "medium", lifetime: 60, prefix: prefixN(i) })),
          { kind: "rdnss", lifetime: 60, servers: Array.from({ length: 30 }, (_, i) => `2001:db8::${(i + 1).toString(16)}` as Ipv6Address) },
          { kind: "dnssl", lifetime: 60, names: Array.from({ length: 20 }, (_, i) => `n${i}.example`) },
        ),
        0,
      ),
    ).state;
    expect([many.learned.routes.length, many.learned.dnsServers.length, many.learned.searchNames.length]).toEqual([MAX_ROUTES, MAX_RDNSS, MAX_SEARCH_NAMES]);
    expect(raCounters(many).dropped).toMatchObject({ routes: 40 - MAX_ROUTES, dnsServers: 30 - MAX_RDNSS, searchNames: 20 - MAX_SEARCH_NAMES });
  });
});

describe("hostile frames (issue 11)", () => {
  const base = client();
  const rawRa = (...optionBytes: number[][]) => Uint8Array.from([...icmpOf(only()), ...optionBytes.flat()]);

  it.each<[string, Uint8Array, string]>([
    ["a zero-length option", frameAround(rawRa([1, 1, 2, 0, 0, 0, 0, 1], [3, 0, 0, 0, 0, 0, 0, 0])), RaErrorCode.ZERO_LENGTH_OPTION],
    ["an option past the end", frameAround(rawRa([25, 9, 0, 0, 0, 0, 0, 0])), RaErrorCode.OPTION_PAST_END],
    ["a global source", frameOf(richRa(), { source: "2001:db8::1" }), RaErrorCode.NOT_LINK_LOCAL],
    ["hop limit 254", frameOf(richRa(), { hopLimit: 254 }), RaErrorCode.BAD_HOP_LIMIT],
    ["hop limit 1", frameOf(richRa(), { hopLimit: 1 }), RaErrorCode.BAD_HOP_LIMIT],
  ])("%s is counted and teaches nothing", (_what, frame, code) => {
    const r = run(base, { kind: "frame", bytes: frame, link: "ethernet", receivedAt: 0 });
    expect(r.state.learned).toEqual(base.learned);
    expect(published(r.actions)).toBeUndefined();
    expect(raCounters(r.state).invalid).toEqual({ [code]: 1 });
    expect(raCounters(r.state).advertisements).toBe(0);
  });

  it("a solicitation from another host is not an advertisement", () => {
    const r = run(base, { kind: "frame", bytes: frameOf({ kind: "rs", options: [] }), link: "ethernet", receivedAt: 0 });
    expect(raCounters(r.state).invalid).toEqual({ [RaErrorCode.WRONG_TYPE]: 1 });
  });

  it("a valid frame teaches what the same RA event does", () => {
    const viaFrame = run(base, { kind: "frame", bytes: frameOf(richRa()), link: "ethernet", receivedAt: 5 });
    const viaEvent = run(base, ra(richRa(), 5));
    expect(viaFrame.state.learned).toEqual(viaEvent.state.learned);
  });
});

describe("configuration", () => {
  it.each<[string, Partial<RaClientConfig>]>([
    ["a 5-byte MAC", { mac: new Uint8Array(5) }],
    ["a global 'link-local' address", { linkLocal: "2001:db8::1" }],
    ["a link MTU below 1280", { linkMtu: 1000 }],
  ])("refuses %s with one sentence", (_what, config) => {
    const r = createRaClient({ mac: HOST_MAC, linkMtu: 1500, random: steady(0), ...config });
    expect(r).toMatchObject({ ok: false, error: { code: RaErrorCode.BAD_CONFIG } });
  });

  it("a bug in a step is logged, not thrown, and the state is kept", () => {
    const s = client();
    const r = step(s, { kind: "frame", bytes: null as unknown as Uint8Array, link: "ethernet", receivedAt: 0 });
    expect(r.state).toBe(s);
    expect(r.actions).toMatchObject([{ kind: "log", level: "warn" }]);
  });
});

describe("a real capture replayed", () => {
  it("icmp6-nd-options: every frame through the client at its capture time teaches the router, its /64 and the MTU", () => {
    const c = readCapture(new Uint8Array(readFileSync(join(PUBLIC, "zeek", "icmp6-nd-options.pcap"))));
    if (!c.ok) throw new Error(c.error.detail);
    const t0 = c.value.packets[0]!.timestamp;
    let s = run(client({ solicit: false }), { kind: "start", now: 0 }).state;
    for (const p of c.value.packets) s = step(s, { kind: "frame", bytes: p.data, link: "ethernet", receivedAt: Math.round((p.timestamp - t0) * 1000) }).state;
    const lastRa = Math.round((c.value.packets[14]!.timestamp - t0) * 1000); // frame 15, the last RA
    expect(s.learned.routers).toEqual([{ address: "fe80::c000:54ff:fef5:0", preference: "medium", expiresAt: lastRa + 1_800_000 }]);
    expect(s.learned.prefixes).toEqual([{ prefix: "2001:db8:0:1::", prefixLength: 64, onLinkUntil: lastRa + 2_592_000_000, autonomous: { validUntil: lastRa + 2_592_000_000, preferredUntil: lastRa + 604_800_000 } }]);
    expect(s.learned.mtu).toBe(1500);
    // 4 RAs taken; the RS, NS, NA and MLD frames counted as not for us.
    expect(raCounters(s).advertisements).toBe(4);
    expect(raCounters(s).invalid).toEqual({ [RaErrorCode.WRONG_TYPE]: 8, [RaErrorCode.NOT_ICMPV6]: 8 });
  });
});
