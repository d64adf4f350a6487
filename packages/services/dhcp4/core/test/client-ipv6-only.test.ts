/**
 * RFC 8925 (IPv6-only preferred, option 108) in the client core (departure 15 of machine.ts): the
 * request list with the setting on and off, an OFFER or a rapid-commit ACK with 108 (no REQUEST,
 * V6ONLY_WAIT of at least 300 s, then DISCOVER again), an ACK at INIT-REBOOT (the lease withdrawn
 * and released), an ACK while renewing (the address kept), a 108 of the wrong length, and the
 * ways out of the wait (link, operator).
 */
import { describe, expect, it } from "vitest";
import { decodeDhcpMessage, encodeDhcpMessage } from "../src/index.ts";
import { leaseKeys, MIN_V6ONLY_WAIT_SECONDS, requestListFor, serializePersistedLease } from "../src/client/index.ts";
import { MessageType, type DhcpMessage, type DhcpOption } from "../src/message.ts";
import { config, Harness, opt, persisted, reply, SERVER, standardOptions, T0, typeOf } from "./client-fixtures.ts";

const v6only = (seconds: number): DhcpOption => ({ kind: "ipv6OnlyPreferred", code: 108, seconds });

/** An OFFER as a server that prefers IPv6-only sends it (dnsmasq and Kea still fill in yiaddr; some send 0.0.0.0). */
function offer(h: Harness, options: DhcpOption[], yiaddr = "10.0.0.5"): DhcpMessage {
  return reply(MessageType.OFFER, h.state.xid, yiaddr, options);
}

/** A 108 whose length is not 4, as the codec decodes it from the wire. */
function malformed108(): DhcpOption {
  const m = reply(MessageType.OFFER, 1, "10.0.0.5", standardOptions());
  const bytes = encodeDhcpMessage(m);
  if (!bytes.ok) throw new Error("encode");
  // Insert 108 with 2 bytes of data just before the end option.
  const b = Array.from(bytes.value);
  const end = b.lastIndexOf(255);
  b.splice(end, 0, 108, 2, 0x07, 0x08);
  const back = decodeDhcpMessage(Uint8Array.from(b));
  if (!back.ok) throw new Error("decode");
  const o = back.value.options.find((x) => x.code === 108);
  expect(o?.kind).toBe("malformed");
  return o!;
}

function prl(m: DhcpMessage): number[] {
  return opt(m, "parameterRequestList")?.codes ?? [];
}

describe("RFC 8925: the parameter request list (§3.2)", () => {
  it("asks for 108 in DISCOVER and in every REQUEST when enabled", () => {
    const h = new Harness(config({ ipv6OnlyPreferred: true }));
    expect(prl(h.only())).toContain(108);
    h.receive(offer(h, standardOptions()));
    expect(h.state.name).toBe("REQUESTING");
    expect(prl(h.only())).toContain(108);
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"));
    h.fire("t1");
    expect(h.state.name).toBe("RENEWING");
    expect(prl(h.only())).toContain(108);
  });

  it("does not ask for 108 when disabled, even if the configured request list names it", () => {
    const plain = new Harness(config());
    expect(prl(plain.only())).not.toContain(108);
    const listed = new Harness(config({ parameterRequestList: [1, 3, 108, 6] }));
    expect(prl(listed.only())).toEqual([1, 3, 6]);
    expect(requestListFor([1, 108, 3, 1], true)).toEqual([1, 3, 108]);
    expect(requestListFor([1, 108, 3], false)).toEqual([1, 3]);
  });
});

describe("RFC 8925: an OFFER with 108 (§3.2)", () => {
  it("is not requested: no REQUEST, no address, IPV6-ONLY for the option's value, then DISCOVER again", () => {
    const h = new Harness(config({ ipv6OnlyPreferred: true }));
    const firstXid = h.state.xid;
    h.receive(offer(h, [...standardOptions(), v6only(1800)]));
    expect(h.state.name).toBe("IPV6-ONLY");
    expect(h.sent()).toEqual([]);
    expect(h.kv.has("/ip")).toBe(false);
    expect(h.timers.get("ipv6Only")).toBe(T0 + 1800_000);
    expect([...h.timers.keys()]).toEqual(["ipv6Only"]);
    expect(h.kv.get("/client/ipv6-only-until")).toBe(String((T0 + 1800_000) / 1000));
    expect(h.last.some((a) => a.kind === "log" && a.level === "info" && a.message.includes("option 108"))).toBe(true);
    // Nothing from the server is acted on while waiting.
    h.receive(reply(MessageType.ACK, firstXid, "10.0.0.5"));
    expect(h.state.name).toBe("IPV6-ONLY");
    h.fire("ipv6Only");
    expect(h.now).toBe(T0 + 1800_000);
    expect(h.state.name).toBe("SELECTING");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
    expect(h.kv.has("/client/ipv6-only-until")).toBe(false);
  });

  it("waits at least MIN_V6ONLY_WAIT (300 s), also for 0", () => {
    for (const value of [0, 1, 299]) {
      const h = new Harness(config({ ipv6OnlyPreferred: true }));
      h.receive(offer(h, [...standardOptions(), v6only(value)], "0.0.0.0"));
      expect(h.state.name).toBe("IPV6-ONLY");
      expect(h.timers.get("ipv6Only")).toBe(T0 + MIN_V6ONLY_WAIT_SECONDS * 1000);
    }
    expect(MIN_V6ONLY_WAIT_SECONDS).toBe(300);
  });

  it("ignores a 108 of the wrong length (§3.1): the offer is requested as usual, with a warning", () => {
    const h = new Harness(config({ ipv6OnlyPreferred: true }));
    h.receive(offer(h, [...standardOptions(), malformed108()]));
    expect(h.state.name).toBe("REQUESTING");
    expect(typeOf(h.only())).toBe(MessageType.REQUEST);
    expect(h.last.some((a) => a.kind === "log" && a.level === "warn" && a.message.includes("option 108 ignored"))).toBe(true);
  });

  it("is ignored when disabled: the offer is requested and the address bound", () => {
    const h = new Harness(config());
    h.bindTo("10.0.0.5", [...standardOptions(), v6only(1800)], [...standardOptions(), v6only(1800)]);
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
    expect(h.timers.has("ipv6Only")).toBe(false);
  });

  it("a rapid-commit ACK with 108 is not bound: its address is released and the client waits", () => {
    const h = new Harness(config({ ipv6OnlyPreferred: true }));
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", [...standardOptions(), { kind: "rapidCommit", code: 80 }, v6only(600)]));
    expect(h.state.name).toBe("IPV6-ONLY");
    const release = h.only();
    expect(typeOf(release)).toBe(MessageType.RELEASE);
    expect(release.ciaddr).toBe("10.0.0.5");
    expect(opt(release, "serverId")?.address).toBe(SERVER);
    expect(h.kv.has("/ip")).toBe(false);
    expect(h.timers.get("ipv6Only")).toBe(T0 + 600_000);
  });
});

describe("RFC 8925: ACKs with 108 (§3.2)", () => {
  it("at INIT-REBOOT: the remembered lease is withdrawn and released, and the client waits", () => {
    const h = new Harness(config({ ipv6OnlyPreferred: true }), { persistedLease: serializePersistedLease(persisted()) }, T0, new Map(leaseKeys(persisted())));
    expect(h.state.name).toBe("REBOOTING");
    expect(prl(h.only())).toContain(108);
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", [...standardOptions(), v6only(900)]));
    expect(h.state.name).toBe("IPV6-ONLY");
    expect(typeOf(h.only())).toBe(MessageType.RELEASE);
    expect(h.kv.has("/ip")).toBe(false);
    expect(h.state.lease).toBeUndefined();
    expect(h.timers.get("ipv6Only")).toBe(T0 + 900_000);
    expect(h.timers.has("expiry")).toBe(false);
  });

  it("while renewing: the address is kept (the client is not at INIT-REBOOT)", () => {
    const h = new Harness(config({ ipv6OnlyPreferred: true }));
    h.bindTo();
    h.fire("t1");
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5", [...standardOptions(), v6only(900)]));
    expect(h.state.name).toBe("BOUND");
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
    expect(h.timers.has("ipv6Only")).toBe(false);
  });
});

describe("RFC 8925: leaving the wait early", () => {
  function waiting(): Harness {
    const h = new Harness(config({ ipv6OnlyPreferred: true }));
    h.receive(offer(h, [...standardOptions(), v6only(1800)]));
    expect(h.state.name).toBe("IPV6-ONLY");
    return h;
  }

  it("link down ends it; link up (a network attachment) discovers at once", () => {
    const h = waiting();
    h.event({ kind: "linkDown" }, T0 + 5000);
    expect(h.state.name).toBe("INIT");
    expect(h.timers.size).toBe(0);
    expect(h.kv.has("/client/ipv6-only-until")).toBe(false);
    h.event({ kind: "linkUp" }, T0 + 6000);
    expect(h.state.name).toBe("SELECTING");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
  });

  it("the operator's renew discovers at once", () => {
    const h = waiting();
    h.event({ kind: "renew" }, T0 + 5000);
    expect(h.state.name).toBe("SELECTING");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
    expect(h.timers.has("ipv6Only")).toBe(false);
    expect(h.kv.has("/client/ipv6-only-until")).toBe(false);
  });

  it("stop ends it with nothing sent", () => {
    const h = waiting();
    h.event({ kind: "stop", release: true }, T0 + 5000);
    expect(h.state.name).toBe("STOPPED");
    expect(h.sent()).toEqual([]);
    expect(h.timers.size).toBe(0);
  });
});
