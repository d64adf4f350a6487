/**
 * Interface identifiers: SHA-256 against node:crypto, RFC 7217 stable identifiers (the encoding
 * pinned by an independent computation, so an upgrade cannot silently move every host's address),
 * RFC 5453 reserved identifiers, RFC 8981 temporary identifiers, and the SLAAC address plan.
 */

import { createHash } from "node:crypto";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  INFINITE_LIFETIME,
  MAX_DESYNC_FACTOR,
  REGEN_ADVANCE,
  RaErrorCode,
  TEMP_PREFERRED_LIFETIME,
  TEMP_VALID_LIFETIME,
  createRaClient,
  isReservedIid,
  sha256,
  slaacAddresses,
  stableIid,
  step,
  temporaryIid,
  type Ipv6Address,
  type SlaacPrefix,
  type TemporaryAddress,
} from "../src/index.ts";
import { HOST_LL, HOST_MAC, bytesOf, frameOf, richRa } from "./fixtures.ts";

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i * 3 + 1);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const iidOf = (text: string) => bytesOf(`::${text}`).subarray(8);

describe("SHA-256", () => {
  it("FIPS 180-4's 'abc' example", () => {
    expect(hex(sha256(Uint8Array.from([0x61, 0x62, 0x63])))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  test.prop([fc.uint8Array({ maxLength: 300 })], { numRuns: 300 })("agrees with node:crypto", (data) => {
    expect(hex(sha256(data))).toBe(createHash("sha256").update(data).digest("hex"));
  });
});

describe("stable identifiers (RFC 7217)", () => {
  it("are SHA-256(prefix[0..8] ‖ interface name ‖ network id ‖ counter byte ‖ secret), low 64 bits", () => {
    const r = stableIid(SECRET, "2001:db8:1:2::", "eth0", Uint8Array.of(9, 9), 1);
    const expected = createHash("sha256")
      .update(Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]))
      .update("eth0")
      .update(Uint8Array.of(9, 9, 1))
      .update(SECRET)
      .digest()
      .subarray(24);
    expect(r).toEqual({ ok: true, value: { iid: new Uint8Array(expected), dadCounter: 1 } });
  });

  it("stay the same for the same inputs, and change with each of them", () => {
    const iid = (secret = SECRET, prefix = "2001:db8:1:2::", iface = "eth0", net = new Uint8Array(0), counter = 0) => {
      const r = stableIid(secret, prefix, iface, net, counter);
      if (!r.ok) throw new Error(r.error.detail);
      return hex(r.value.iid);
    };
    const base = iid();
    expect(iid()).toBe(base);
    expect(iid(SECRET, "2001:db8:1:2::ffff")).toBe(base); // only the /64 counts
    const others = [iid(SECRET.map((b) => b ^ 1)), iid(SECRET, "2001:db8:1:3::"), iid(SECRET, "2001:db8:1:2::", "eth1"), iid(SECRET, "2001:db8:1:2::", "eth0", Uint8Array.of(1)), iid(SECRET, "2001:db8:1:2::", "eth0", new Uint8Array(0), 1)];
    expect(new Set([base, ...others]).size).toBe(6);
  });

  it("refuse a secret under 128 bits, a bad prefix and a counter out of range", () => {
    expect(stableIid(new Uint8Array(15), "2001:db8::", "eth0", new Uint8Array(0), 0)).toMatchObject({ ok: false, error: { code: RaErrorCode.BAD_SECRET } });
    expect(stableIid(new Uint8Array(16), "2001:db8::", "eth0", new Uint8Array(0), 0).ok).toBe(true);
    expect(stableIid(SECRET, "2001:db8::/64", "eth0", new Uint8Array(0), 0)).toMatchObject({ ok: false, error: { code: RaErrorCode.BAD_ADDRESS } });
    expect(stableIid(SECRET, "2001:db8::", "eth0", new Uint8Array(0), -1)).toMatchObject({ ok: false, error: { code: RaErrorCode.BAD_SECRET } });
    expect(stableIid(SECRET, "2001:db8::", "eth0", new Uint8Array(0), 1.5).ok).toBe(false);
  });
});

describe("reserved identifiers (RFC 5453)", () => {
  it.each([
    ["0:0:0:0", true],
    ["0:0:0:1", false],
    ["fdff:ffff:ffff:ff7f", false],
    ["fdff:ffff:ffff:ff80", true],
    ["fdff:ffff:ffff:ffff", true],
    ["200:5eff:fdff:ffff", false],
    ["200:5eff:fe00:0", true],
    ["200:5eff:fe00:5213", true],
    ["200:5eff:feff:ffff", true],
    ["200:5eff:ff00:0", false],
  ])("%s reserved: %s", (text, reserved) => {
    expect(isReservedIid(iidOf(text))).toBe(reserved);
  });
});

describe("temporary identifiers (RFC 8981 §3.3.1)", () => {
  /** A random source that hands out these 8-byte values in turn, then repeats the last. */
  const scripted = (...values: Uint8Array[]) => {
    let i = 0;
    return (count: number) => {
      const v = values[Math.min(i++, values.length - 1)]!;
      return count === 8 ? v.slice() : new Uint8Array(count);
    };
  };

  it("skip reserved identifiers and the stable one", () => {
    const stable = iidOf("1234:5678:9abc:def0");
    const good = iidOf("aaaa:bbbb:cccc:dddd");
    const r = temporaryIid(scripted(iidOf("0:0:0:0"), iidOf("fdff:ffff:ffff:ff99"), iidOf("200:5eff:fe00:1"), stable, good), stable);
    expect(r).toEqual({ ok: true, value: good });
  });

  it("give up with a typed error when the source only gives reserved ones", () => {
    expect(temporaryIid(scripted(new Uint8Array(8)))).toMatchObject({ ok: false, error: { code: RaErrorCode.NO_IID } });
    expect(temporaryIid(() => new Uint8Array(3))).toMatchObject({ ok: false, error: { code: RaErrorCode.BAD_SECRET } });
  });
});

describe("slaacAddresses", () => {
  const HOUR = 3_600_000;
  const prefix = (p: string, validS: number, preferredS: number, now = 0, prefixLength = 64): SlaacPrefix => ({
    prefix: p as Ipv6Address,
    prefixLength,
    autonomous: { validUntil: validS === Infinity ? Infinity : now + validS * 1000, preferredUntil: preferredS === Infinity ? Infinity : now + preferredS * 1000 },
  });
  const opts = { secret: SECRET, netIface: "eth0" };
  /** Random bytes: the same non-reserved value each call (unit ≈ 0.25 for the desync factor). */
  const random = (count: number) => Uint8Array.from({ length: count }, (_, i) => (i === 0 ? 0x40 : 0x11 * (i + 1)));

  it("one stable address per autonomous /64 with time left, lifetimes in whole seconds left", () => {
    const r = slaacAddresses(
      [prefix("2001:db8:1::", 86_400, 14_400), prefix("2001:db8:2::", Infinity, Infinity), prefix("2001:db8:3::", 10, 5, -20_000), prefix("2001:db8:4::", 100, 100, 0, 48), { prefix: "2001:db8:5::" as Ipv6Address, prefixLength: 64, autonomous: undefined }],
      500,
      opts,
    );
    if (!r.ok) throw new Error(r.error.detail);
    const stable = stableIid(SECRET, "2001:db8:1::", "eth0", new Uint8Array(0), 0);
    if (!stable.ok) throw new Error();
    expect(r.value.map((a) => [a.kind, a.prefix, a.validLifetime, a.preferredLifetime])).toEqual([
      ["stable", "2001:db8:1::", 86_399, 14_399],
      ["stable", "2001:db8:2::", INFINITE_LIFETIME, INFINITE_LIFETIME],
    ]);
    expect(bytesOf(r.value[0]!.address).subarray(8)).toEqual(stable.value.iid);
    expect(r.value[0]!.address.startsWith("2001:db8:1:0:")).toBe(true);
  });

  it("uses the DAD counter kept for a prefix", () => {
    const plain = slaacAddresses([prefix("2001:db8:1::", 600, 600)], 0, opts);
    const bumped = slaacAddresses([prefix("2001:db8:1::", 600, 600)], 0, { ...opts, dadCounters: new Map([["2001:db8:1::", 1]]) });
    if (!plain.ok || !bumped.ok) throw new Error();
    expect(bumped.value[0]!.dadCounter).toBe(1);
    expect(bumped.value[0]!.address).not.toBe(plain.value[0]!.address);
  });

  it("refuses a short secret", () => {
    expect(slaacAddresses([prefix("2001:db8:1::", 600, 600)], 0, { secret: new Uint8Array(8), netIface: "eth0" })).toMatchObject({ ok: false, error: { code: RaErrorCode.BAD_SECRET } });
  });

  it("makes a temporary address with lifetimes capped by RFC 8981's and the prefix's", () => {
    const r = slaacAddresses([prefix("2001:db8:1::", Infinity, Infinity)], 0, { ...opts, temporary: { existing: [], random } });
    if (!r.ok) throw new Error(r.error.detail);
    const temp = r.value.find((a) => a.kind === "temporary")!;
    const desync = temp.temporary!.desyncFactor;
    expect(desync).toBeGreaterThan(0);
    expect(desync).toBeLessThan(MAX_DESYNC_FACTOR);
    expect(temp).toMatchObject({ validLifetime: TEMP_VALID_LIFETIME, preferredLifetime: TEMP_PREFERRED_LIFETIME - desync, temporary: { createdAt: 0, prefix: "2001:db8:1::" } });
    expect(temp.address).not.toBe(r.value[0]!.address);
    const short = slaacAddresses([prefix("2001:db8:1::", 3_000, 1_000)], 0, { ...opts, temporary: { existing: [], random } });
    if (!short.ok) throw new Error();
    expect(short.value.find((a) => a.kind === "temporary")).toMatchObject({ validLifetime: 3_000, preferredLifetime: 1_000 });
  });

  it("keeps a preferred temporary address, adds a new one REGEN_ADVANCE before it is deprecated, drops it when its valid lifetime ends", () => {
    const p = [prefix("2001:db8:1::", Infinity, Infinity)];
    const made = slaacAddresses(p, 0, { ...opts, temporary: { existing: [], random } });
    if (!made.ok) throw new Error();
    const t: TemporaryAddress = made.value[1]!.temporary!;
    const temps = (now: number) => {
      const r = slaacAddresses(p, now, { ...opts, temporary: { existing: [t], random } });
      if (!r.ok) throw new Error(r.error.detail);
      return r.value.filter((a) => a.kind === "temporary");
    };
    const deprecatedAt = (TEMP_PREFERRED_LIFETIME - t.desyncFactor) * 1000;
    expect(temps(HOUR)).toHaveLength(1);
    expect(temps(HOUR)[0]).toMatchObject({ address: t.address, validLifetime: TEMP_VALID_LIFETIME - 3600 });
    expect(temps(deprecatedAt - (REGEN_ADVANCE + 1) * 1000)).toHaveLength(1);
    const regenerated = temps(deprecatedAt - (REGEN_ADVANCE - 1) * 1000);
    expect(regenerated).toHaveLength(2);
    expect(regenerated[1]!.temporary!.createdAt).toBe(deprecatedAt - (REGEN_ADVANCE - 1) * 1000);
    // Past TEMP_VALID_LIFETIME only a fresh one is left (this test's random source repeats its bytes).
    const late = temps(TEMP_VALID_LIFETIME * 1000);
    expect(late.map((a) => a.temporary!.createdAt)).toEqual([TEMP_VALID_LIFETIME * 1000]);
  });

  it("makes no temporary address on a prefix no longer preferred", () => {
    const r = slaacAddresses([prefix("2001:db8:1::", 600, 0)], 0, { ...opts, temporary: { existing: [], random } });
    expect(r.ok && r.value.map((a) => a.kind)).toEqual(["stable"]);
  });
});

describe("slaacAddresses on the client's snapshot", () => {
  it("takes the published prefixes as they are: the address lives as long as the RA said, counted from now", () => {
    const created = createRaClient({ mac: HOST_MAC, linkLocal: HOST_LL, linkMtu: 1500, random: (n) => new Uint8Array(n) });
    if (!created.ok) throw new Error(created.error.detail);
    const learned = step(created.state, { kind: "frame", bytes: frameOf(richRa()), link: "ethernet", receivedAt: 1_000 }).state.learned;
    const r = slaacAddresses(learned.prefixes, 61_000, { secret: SECRET, netIface: "eth0" });
    expect(r.ok && r.value.map((a) => [a.prefix, a.validLifetime, a.preferredLifetime])).toEqual([["2001:db8:1::", 86_400 - 60, 14_400 - 60]]);
  });
});
