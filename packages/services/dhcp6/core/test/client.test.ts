/**
 * The DHCPv6 client, one rule per test, with made-up times (ms) and a fixed random source
 * (0.5: RAND = 0, so every retransmission time is exact).
 */

import { describe, expect, it } from "vitest";
import { INFINITY, MessageType, MIN_T1_SECONDS, OptionCode, StatusCode, optionOf, type Dhcp6Message } from "../src/index.ts";
import { client, Driver, encoded, fixedRandom, fromServer, iaNa, iaPd, IAID, OTHER_SERVER_DUID, SERVER_ADDRESS, SERVER_DUID } from "./fixtures.ts";

/** A started client that has sent its first SOLICIT. */
function soliciting(over: Parameters<typeof client>[0] = {}) {
  const d = new Driver(client(over));
  d.run({ kind: "start", now: 0 });
  const first = d.nextSend();
  if (first === undefined) throw new Error("no SOLICIT");
  return { d, solicit: first.message };
}

/** A client bound by SOLICIT → ADVERTISE (preference 255) → REQUEST → REPLY. */
function boundClient(options = [iaNa()], over: Parameters<typeof client>[0] = {}) {
  const { d, solicit } = soliciting({ rapidCommit: false, ...over });
  d.reply(MessageType.ADVERTISE, solicit.transactionId, [...options, { kind: "preference", value: 255 }]);
  const req = d.nextSend()!;
  d.reply(MessageType.REPLY, req.message.transactionId, options);
  return { d, request: req.message };
}

describe("SOLICIT", () => {
  it("waits a random delay up to SOL_MAX_DELAY (1 s), then sends client id, IA_NA, ORO, elapsed time 0 and rapid commit", () => {
    const d = new Driver(client());
    const actions = d.run({ kind: "start", now: 1000 });
    expect(actions.filter((a) => a.kind === "send")).toEqual([]);
    expect(actions).toContainEqual({ kind: "timer", at: 1500 });
    const { message, at } = d.nextSend()!;
    expect(at).toBe(1500);
    expect(message.type).toBe(MessageType.SOLICIT);
    expect(message.options.map((o) => o.kind)).toEqual(["clientId", "iaNa", "oro", "elapsedTime", "rapidCommit"]);
    expect(optionOf(message.options, "elapsedTime")?.hundredths).toBe(0);
    expect(optionOf(message.options, "oro")?.codes).toEqual([OptionCode.DNS_SERVERS, OptionCode.DOMAIN_LIST, OptionCode.SOL_MAX_RT]);
    expect(optionOf(message.options, "iaNa")?.iaid).toBe(IAID);
  });

  it("a tick before the deadline arms the timer again for the same deadline", () => {
    const d = new Driver(client());
    d.run({ kind: "start", now: 0 });
    const actions = d.run({ kind: "tick", now: 499 });
    expect(actions).toEqual([{ kind: "timer", at: 500 }]);
  });

  it("retransmits at RT = IRT (>1 s), then 2·RT, capped at SOL_MAX_RT, with the same transaction id and a growing elapsed time", () => {
    const { d, solicit } = soliciting();
    const times: number[] = [];
    for (let i = 0; i < 14; i++) {
      const s = d.nextSend()!;
      expect(s.message.transactionId).toBe(solicit.transactionId);
      times.push(s.at);
    }
    const gaps = [times[0]! - 500, ...times.slice(1).map((t, i) => t - times[i]!)];
    // RAND for the first SOLICIT RT is (1 − 0.5) × 0.1 = 0.05; later RAND = 0.
    expect(gaps.slice(0, 4)).toEqual([1050, 2100, 4200, 8400]);
    expect(Math.max(...gaps)).toBe(3_600_000);
    const last = d.sends().at(-1)!.message;
    expect(optionOf(last.options, "elapsedTime")?.hundredths).toBe(0xffff);
  });

  it("asks for a prefix (IA_PD with a length hint) when configured, and only a prefix without an address", () => {
    const { solicit } = soliciting({ address: false, prefix: { length: 56 } });
    expect(solicit.options.map((o) => o.kind)).toEqual(["clientId", "iaPd", "oro", "elapsedTime", "rapidCommit"]);
    expect(optionOf(solicit.options, "iaPd")?.options).toEqual([{ kind: "iaPrefix", preferred: 0, valid: 0, prefixLength: 56, prefix: "::", options: [] }]);
  });

  it("collects ADVERTISEs until the first RT ends and requests the most preferred", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa("2001:db8::1"), { kind: "preference", value: 10 }], { server: OTHER_SERVER_DUID, from: "fe80::1" });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa("2001:db8::2"), { kind: "preference", value: 20 }], { from: SERVER_ADDRESS });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa("2001:db8::3"), { kind: "preference", value: 5 }], { server: OTHER_SERVER_DUID, from: "fe80::3" });
    expect(d.sends()).toHaveLength(1);
    const req = d.nextSend()!;
    expect(req.at).toBe(500 + 1050); // the first RT's end, no SOLICIT retransmitted
    expect(req.message.type).toBe(MessageType.REQUEST);
    expect(optionOf(req.message.options, "serverId")?.duid).toEqual(SERVER_DUID);
    expect(optionOf(req.message.options, "iaNa")?.options).toEqual([{ kind: "iaAddr", address: "2001:db8::2", preferred: 0, valid: 0, options: [] }]);
  });

  it("draws a new 24-bit transaction id for each exchange and keeps it across retransmissions", () => {
    let n = 0;
    const { d, solicit } = soliciting({ rapidCommit: false, random: () => ((n++ * 0.37) % 1) });
    const again = d.nextSend()!.message;
    expect(again.transactionId).toBe(solicit.transactionId);
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa()]);
    const req = d.nextSend()!.message;
    expect(req.type).toBe(MessageType.REQUEST);
    expect(req.transactionId).not.toBe(solicit.transactionId);
    expect(req.transactionId).toBeLessThan(2 ** 24);
  });

  it("takes an ADVERTISE with preference 255 at once", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: 255 }], { at: 600 });
    const req = d.nextSend()!;
    expect(req.message.type).toBe(MessageType.REQUEST);
    expect(req.at).toBe(600);
  });

  it("after the first RT, takes the first ADVERTISE at once", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.nextSend(); // the first retransmission: collecting is over
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa()], { at: 2000 });
    expect(d.nextSend()!).toMatchObject({ at: 2000, message: { type: MessageType.REQUEST } });
  });

  it("ignores an ADVERTISE that offers nothing (NoAddrsAvail) but still takes its SOL_MAX_RT", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [{ kind: "statusCode", status: StatusCode.NO_ADDRS_AVAIL, message: "none" }, { kind: "solMaxRt", seconds: 120 }]);
    expect(d.state.name).toBe("soliciting");
    expect(d.state.best).toBeNull();
    expect(d.state.solMaxRtMs).toBe(120_000);
  });

  it("takes INF_MAX_RT from a REPLY whatever its status (RFC 8415 §18.2.10)", () => {
    const d = new Driver(client({ mode: "stateless" }));
    d.run({ kind: "start", now: 0 });
    const ir = d.nextSend()!;
    d.reply(MessageType.REPLY, ir.message.transactionId, [{ kind: "statusCode", status: StatusCode.UNSPEC_FAIL, message: "" }, { kind: "infMaxRt", seconds: 90 }]);
    expect(d.state.infMaxRtMs).toBe(90_000);
    expect(d.state.exchange?.maxRtMs).toBe(90_000);
  });

  it("uses SOL_MAX_RT only within 60–86400 s", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [{ kind: "solMaxRt", seconds: 59 }]);
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [{ kind: "solMaxRt", seconds: 86_401 }]);
    expect(d.state.solMaxRtMs).toBe(3_600_000);
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [{ kind: "solMaxRt", seconds: 60 }]);
    expect(d.state.solMaxRtMs).toBe(60_000);
    const gaps: number[] = [];
    let last = d.sends().at(-1)!.at;
    for (let i = 0; i < 10; i++) {
      const s = d.nextSend()!;
      gaps.push(s.at - last);
      last = s.at;
    }
    expect(Math.max(...gaps)).toBe(60_000);
  });

  it("binds at once on a rapid-commit REPLY, and drops a REPLY without rapid commit", () => {
    const { d, solicit } = soliciting();
    d.reply(MessageType.REPLY, solicit.transactionId, [iaNa()]);
    expect(d.state.name).toBe("soliciting");
    d.reply(MessageType.REPLY, solicit.transactionId, [{ kind: "rapidCommit" }, iaNa()]);
    expect(d.state.name).toBe("bound");
    expect(d.published().at(-1)?.addresses.map((a) => a.address)).toEqual(["2001:db8::13c"]);
  });

  it("does not offer rapid commit when it is not allowed, and refuses a rapid-commit REPLY then", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    expect(optionOf(solicit.options, "rapidCommit")).toBeUndefined();
    d.reply(MessageType.REPLY, solicit.transactionId, [{ kind: "rapidCommit" }, iaNa()]);
    expect(d.state.name).toBe("soliciting");
  });
});

describe("answers that are not ours are dropped", () => {
  it.each([
    ["a wrong transaction id", (x: number) => ({ xid: x ^ 1 })],
    ["another client's DUID", () => ({ clientDuid: OTHER_SERVER_DUID })],
  ])("%s", (_, change) => {
    const { d, solicit } = soliciting();
    const c = change(solicit.transactionId);
    d.reply(MessageType.REPLY, "xid" in c ? c.xid! : solicit.transactionId, [{ kind: "rapidCommit" }, iaNa()], "clientDuid" in c ? { clientDuid: c.clientDuid } : {});
    expect(d.state.name).toBe("soliciting");
    expect(d.published()).toEqual([]);
  });

  it("a REPLY without a client id, or without a server id", () => {
    const { d, solicit } = soliciting();
    const base = { type: MessageType.REPLY, transactionId: solicit.transactionId } as const;
    const noClient: Dhcp6Message = { ...base, options: [{ kind: "serverId", duid: SERVER_DUID }, { kind: "rapidCommit" }, iaNa()] };
    const noServer: Dhcp6Message = { ...base, options: [{ kind: "clientId", duid: { type: "ll", hardwareType: 1, linkLayer: Uint8Array.of(0x52, 0x54, 0x00, 0x8a, 0x3e, 0x1c) } }, { kind: "rapidCommit" }, iaNa()] };
    for (const m of [noClient, noServer]) d.run({ kind: "datagram", bytes: encoded(m), from: SERVER_ADDRESS, rxTimeMs: 600 });
    expect(d.state.name).toBe("soliciting");
  });

  it("a REPLY to REQUEST from a server other than the chosen one", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: 255 }]);
    const req = d.nextSend()!;
    d.reply(MessageType.REPLY, req.message.transactionId, [iaNa()], { server: OTHER_SERVER_DUID });
    expect(d.state.name).toBe("requesting");
    d.reply(MessageType.REPLY, req.message.transactionId, [iaNa()]);
    expect(d.state.name).toBe("bound");
  });

  it("a datagram that does not decode, and a client's own message type", () => {
    const { d, solicit } = soliciting();
    d.run({ kind: "datagram", bytes: Uint8Array.of(7, 1, 2), from: SERVER_ADDRESS, rxTimeMs: 600 });
    d.reply(MessageType.SOLICIT, solicit.transactionId, []);
    expect(d.state.name).toBe("soliciting");
    expect(d.log.filter((l) => l.action.kind === "log" && l.action.level === "debug")).toHaveLength(2);
  });

  it("RECONFIGURE is refused, never acted on", () => {
    const { d } = boundClient();
    const before = d.state;
    const actions = d.reply(MessageType.RECONFIGURE, 0, [{ kind: "reconfMsg", messageType: MessageType.RENEW }, { kind: "auth", protocol: 3, algorithm: 1, rdm: 0, replayDetection: new Uint8Array(8), info: new Uint8Array(17) }]);
    expect(actions.filter((a) => a.kind === "send" || a.kind === "publish")).toEqual([]);
    expect(d.state.name).toBe(before.name);
    expect(actions).toContainEqual({ kind: "log", level: "info", message: expect.stringContaining("refused RECONFIGURE") });
  });
});

describe("REQUEST and REPLY", () => {
  it("gives up REQUEST after REQ_MAX_RC (10) transmissions and solicits again after a hold-off", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: 255 }]);
    const requests: number[] = [];
    for (;;) {
      const s = d.nextSend()!;
      if (s.message.type !== MessageType.REQUEST) {
        expect(s.message.type).toBe(MessageType.SOLICIT);
        break;
      }
      requests.push(s.at);
    }
    expect(requests).toHaveLength(10);
    // RT: 1, 2, 4, 8, 16, then REQ_MAX_RT 30 s.
    expect(requests.slice(1).map((t, i) => t - requests[i]!)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  });

  it("publishes the lease: addresses with absolute expiries, DNS servers, domains, server DUID, T1/T2", () => {
    const { d, solicit } = soliciting({ prefix: { length: 56 } });
    d.reply(MessageType.REPLY, solicit.transactionId, [
      { kind: "rapidCommit" },
      iaNa("2001:db8::13c", 3600, 7200, 1000, 2000),
      iaPd("2001:db8:100::", 56, 1800, 3600, 900, 1440, [{ kind: "pdExclude", prefixLength: 64, subnetId: Uint8Array.of(0x01) }]),
      { kind: "dnsServers", servers: ["2001:db8::1", "2001:db8::2"] },
      { kind: "domainList", domains: ["example.com", "lab.example.com"] },
    ], { at: 10_000 });
    const lease = d.published().at(-1)!;
    expect(lease).toEqual({
      mode: "stateful",
      serverDuid: SERVER_DUID,
      serverAddress: SERVER_ADDRESS,
      obtainedAt: 10_000,
      t1: 900,
      t2: 1440,
      renewAt: 910_000,
      rebindAt: 1_450_000,
      addresses: [{ iaid: IAID, address: "2001:db8::13c", preferred: 3600, valid: 7200, preferredUntil: 3_610_000, validUntil: 7_210_000 }],
      prefixes: [{ iaid: IAID, prefix: "2001:db8:100::", prefixLength: 56, preferred: 1800, valid: 3600, preferredUntil: 1_810_000, validUntil: 3_610_000, exclude: { prefix: "2001:db8:100:1::", prefixLength: 64 } }],
      dnsServers: ["2001:db8::1", "2001:db8::2"],
      domains: ["example.com", "lab.example.com"],
      refreshAt: null,
    });
  });

  it("chooses T1/T2 of 0 as 0.5 and 0.8 of the shortest preferred lifetime", () => {
    const { d } = boundClient([iaNa("2001:db8::5", 1000, 2000, 0, 0)]);
    const lease = d.published().at(-1)!;
    expect([lease.t1, lease.t2]).toEqual([500, 800]);
  });

  it("never renews sooner than MIN_T1_SECONDS, whatever the server says", () => {
    const { d } = boundClient([iaNa("2001:db8::5", 100, 200, 1, 2)]);
    expect(d.published().at(-1)!.t1).toBe(MIN_T1_SECONDS);
  });

  it("ignores an IA with T1 > T2 and an address whose preferred lifetime exceeds its valid one", () => {
    const { d, solicit } = soliciting();
    d.reply(MessageType.REPLY, solicit.transactionId, [{ kind: "rapidCommit" }, iaNa("2001:db8::1", 100, 200, 300, 200)]);
    expect(d.state.name).not.toBe("bound");
    const { d: d2, solicit: s2 } = soliciting();
    d2.reply(MessageType.REPLY, s2.transactionId, [{ kind: "rapidCommit" }, { kind: "iaNa", iaid: IAID, t1: 0, t2: 0, options: [{ kind: "iaAddr", address: "2001:db8::1", preferred: 300, valid: 200, options: [] }, { kind: "iaAddr", address: "2001:db8::2", preferred: 100, valid: 200, options: [] }] }]);
    expect(d2.published().at(-1)?.addresses.map((a) => a.address)).toEqual(["2001:db8::2"]);
  });

  it("a REPLY to REQUEST with every IA refused (NoAddrsAvail) solicits again after a hold-off", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: 255 }], { at: 600 });
    const req = d.nextSend()!;
    d.reply(MessageType.REPLY, req.message.transactionId, [{ kind: "iaNa", iaid: IAID, t1: 0, t2: 0, options: [{ kind: "statusCode", status: StatusCode.NO_ADDRS_AVAIL, message: "" }] }], { at: 700 });
    expect(d.state.name).toBe("soliciting");
    const next = d.nextSend()!;
    expect(next.message.type).toBe(MessageType.SOLICIT);
    expect(next.at).toBeGreaterThanOrEqual(700 + 1000);
  });

  it("NotOnLink in the REPLY to REQUEST starts over with SOLICIT", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: 255 }]);
    const req = d.nextSend()!;
    d.reply(MessageType.REPLY, req.message.transactionId, [{ kind: "statusCode", status: StatusCode.NOT_ON_LINK, message: "" }]);
    expect(d.state.name).toBe("soliciting");
  });

  it("UnspecFail leaves the REQUEST retransmitting", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: 255 }]);
    const req = d.nextSend()!;
    d.reply(MessageType.REPLY, req.message.transactionId, [{ kind: "statusCode", status: StatusCode.UNSPEC_FAIL, message: "busy" }]);
    expect(d.state.name).toBe("requesting");
    expect(d.nextSend()!.message.transactionId).toBe(req.message.transactionId);
  });
});

describe("RENEW, REBIND and expiry", () => {
  it("renews at T1 to the server, rebinds at T2 to all, and drops the lease at the valid lifetime's end", () => {
    const { d } = boundClient([iaNa("2001:db8::13c", 3600, 7200, 1800, 2880)]);
    const boundAt = d.published().at(-1)!.obtainedAt;
    const renew = d.nextSend()!;
    expect(renew.message.type).toBe(MessageType.RENEW);
    expect(renew.at).toBe(boundAt + 1_800_000);
    expect(optionOf(renew.message.options, "serverId")?.duid).toEqual(SERVER_DUID);
    expect(optionOf(renew.message.options, "oro")?.codes).toContain(OptionCode.SOL_MAX_RT);
    expect(optionOf(renew.message.options, "iaNa")?.options).toEqual([{ kind: "iaAddr", address: "2001:db8::13c", preferred: 0, valid: 0, options: [] }]);
    let s = d.nextSend()!;
    expect(s.message.type).toBe(MessageType.RENEW);
    expect(s.at - renew.at).toBe(10_000); // REN_TIMEOUT
    while (s.message.type === MessageType.RENEW) s = d.nextSend()!;
    expect(s.message.type).toBe(MessageType.REBIND);
    expect(s.at).toBe(boundAt + 2_880_000);
    expect(optionOf(s.message.options, "serverId")).toBeUndefined();
    while (s.message.type === MessageType.REBIND) s = d.nextSend()!;
    expect(d.published().at(-1)).toBeNull();
    expect(d.log.find((l) => l.action.kind === "publish" && l.action.lease === null)!.at).toBe(boundAt + 7_200_000);
    expect(s.message.type).toBe(MessageType.SOLICIT);
  });

  it("a REPLY to RENEW extends the lease and keeps what it does not mention", () => {
    const { d } = boundClient([iaNa("2001:db8::13c", 3600, 7200, 1800, 2880)]);
    const renew = d.nextSend()!;
    d.reply(MessageType.REPLY, renew.message.transactionId, [iaNa("2001:db8::13d", 3600, 7200, 1800, 2880)]);
    const lease = d.published().at(-1)!;
    expect(lease.addresses.map((a) => a.address).sort()).toEqual(["2001:db8::13c", "2001:db8::13d"]);
    expect(lease.obtainedAt).toBe(renew.at + 5);
    expect(d.state.name).toBe("bound");
  });

  it("a lifetime of 0 in a REPLY removes that address", () => {
    const { d } = boundClient([iaNa("2001:db8::13c", 3600, 7200, 1800, 2880)]);
    const renew = d.nextSend()!;
    d.reply(MessageType.REPLY, renew.message.transactionId, [{ kind: "iaNa", iaid: IAID, t1: 1800, t2: 2880, options: [{ kind: "iaAddr", address: "2001:db8::13c", preferred: 0, valid: 0, options: [] }, { kind: "iaAddr", address: "2001:db8::99", preferred: 3600, valid: 7200, options: [] }] }]);
    expect(d.published().at(-1)!.addresses.map((a) => a.address)).toEqual(["2001:db8::99"]);
  });

  it("NoBinding in the REPLY to RENEW sends REQUEST for the same addresses", () => {
    const { d } = boundClient();
    const renew = d.nextSend()!;
    d.reply(MessageType.REPLY, renew.message.transactionId, [{ kind: "iaNa", iaid: IAID, t1: 0, t2: 0, options: [{ kind: "statusCode", status: StatusCode.NO_BINDING, message: "" }] }]);
    const req = d.nextSend()!;
    expect(req.message.type).toBe(MessageType.REQUEST);
    expect(optionOf(req.message.options, "iaNa")?.options).toEqual([{ kind: "iaAddr", address: "2001:db8::13c", preferred: 0, valid: 0, options: [] }]);
  });

  it("the REPLY to RENEW must come from our server; REBIND takes any", () => {
    const { d } = boundClient([iaNa("2001:db8::13c", 3600, 7200, 1800, 2880)]);
    const renew = d.nextSend()!;
    d.reply(MessageType.REPLY, renew.message.transactionId, [iaNa("2001:db8::77")], { server: OTHER_SERVER_DUID });
    expect(d.state.name).toBe("renewing");
    let s = d.nextSend()!;
    while (s.message.type === MessageType.RENEW) s = d.nextSend()!;
    d.reply(MessageType.REPLY, s.message.transactionId, [iaNa("2001:db8::77")], { server: OTHER_SERVER_DUID, from: "fe80::99" });
    expect(d.state.name).toBe("bound");
    expect(d.published().at(-1)!.serverDuid).toEqual(OTHER_SERVER_DUID);
  });

  it("infinite lifetimes never renew or expire", () => {
    const { d } = boundClient([iaNa("2001:db8::1", INFINITY, INFINITY, 0, 0)]);
    const lease = d.published().at(-1)!;
    expect([lease.renewAt, lease.rebindAt, lease.addresses[0]!.validUntil]).toEqual([null, null, null]);
    expect(d.state.timerAt).toBeNull();
  });

  it("an operator's renew event renews at once", () => {
    const { d } = boundClient();
    d.run({ kind: "renew", now: d.now + 1 });
    expect(d.nextSend()!.message.type).toBe(MessageType.RENEW);
  });
});

describe("RELEASE", () => {
  it("unpublishes first, then sends RELEASE with the server id and the addresses, at most REL_MAX_RC (4) times", () => {
    const { d } = boundClient();
    const actions = d.run({ kind: "release", now: d.now + 10 });
    expect(actions.find((a) => a.kind === "publish")).toEqual({ kind: "publish", lease: null });
    const sent: Dhcp6Message[] = [];
    for (let s = d.nextSend(); s !== undefined; s = d.nextSend()) sent.push(s.message);
    expect(sent.map((m) => m.type)).toEqual([8, 8, 8, 8]);
    expect(optionOf(sent[0]!.options, "serverId")?.duid).toEqual(SERVER_DUID);
    expect(optionOf(sent[0]!.options, "iaNa")?.options.map((o) => o.kind === "iaAddr" && o.address)).toEqual(["2001:db8::13c"]);
    expect(d.state.name).toBe("released");
  });

  it("a REPLY ends the RELEASE exchange", () => {
    const { d } = boundClient();
    d.run({ kind: "release", now: d.now + 10 });
    const rel = d.nextSend()!;
    d.reply(MessageType.REPLY, rel.message.transactionId, [{ kind: "statusCode", status: 0, message: "released" }]);
    expect(d.state.name).toBe("released");
    expect(d.state.timerAt).toBeNull();
  });
});

describe("stateless (INFORMATION-REQUEST)", () => {
  it("asks for DNS, domains, the refresh time and INF_MAX_RT, publishes them and refreshes after INFORMATION_REFRESH_TIME", () => {
    const d = new Driver(client({ mode: "stateless" }));
    d.run({ kind: "start", now: 0 });
    const ir = d.nextSend()!;
    expect(ir.message.type).toBe(MessageType.INFORMATION_REQUEST);
    expect(optionOf(ir.message.options, "oro")?.codes).toEqual([23, 24, 32, 83]);
    expect(ir.message.options.some((o) => o.kind === "iaNa" || o.kind === "iaPd")).toBe(false);
    d.reply(MessageType.REPLY, ir.message.transactionId, [{ kind: "dnsServers", servers: ["2001:db8::53"] }, { kind: "domainList", domains: ["example.org"] }, { kind: "informationRefreshTime", seconds: 3600 }], { at: 1000 });
    expect(d.published().at(-1)).toMatchObject({ mode: "stateless", dnsServers: ["2001:db8::53"], domains: ["example.org"], refreshAt: 3_601_000 });
    const again = d.nextSend()!;
    expect(again.message.type).toBe(MessageType.INFORMATION_REQUEST);
    expect(again.at).toBeGreaterThanOrEqual(3_601_000);
  });

  it.each([
    [undefined, 86_400],
    [10, 600],
    [INFINITY, null],
  ])("INFORMATION_REFRESH_TIME %s gives a refresh after %s s", (irt, seconds) => {
    const d = new Driver(client({ mode: "stateless" }));
    d.run({ kind: "start", now: 0 });
    const ir = d.nextSend()!;
    d.reply(MessageType.REPLY, ir.message.transactionId, irt === undefined ? [] : [{ kind: "informationRefreshTime", seconds: irt }], { at: 1000 });
    expect(d.published().at(-1)!.refreshAt).toBe(seconds === null ? null : 1000 + seconds * 1000);
  });
});

describe("link changes", () => {
  it("sends nothing while the link is down, then CONFIRMs addresses when it returns", () => {
    const { d } = boundClient();
    d.run({ kind: "link", up: false, now: d.now + 1 });
    d.run({ kind: "link", up: true, now: d.now + 1000 });
    const c = d.nextSend()!;
    expect(c.message.type).toBe(MessageType.CONFIRM);
    expect(optionOf(c.message.options, "serverId")).toBeUndefined();
    d.reply(MessageType.REPLY, c.message.transactionId, [{ kind: "statusCode", status: StatusCode.SUCCESS, message: "" }]);
    expect(d.state.name).toBe("bound");
  });

  it("NotOnLink in the REPLY to CONFIRM drops the lease and solicits", () => {
    const { d } = boundClient();
    d.run({ kind: "link", up: false, now: d.now + 1 });
    d.run({ kind: "link", up: true, now: d.now + 1000 });
    const c = d.nextSend()!;
    d.reply(MessageType.REPLY, c.message.transactionId, [{ kind: "statusCode", status: StatusCode.NOT_ON_LINK, message: "" }]);
    expect(d.published().at(-1)).toBeNull();
    expect(d.state.name).toBe("soliciting");
  });

  it("no answer to CONFIRM within CNF_MAX_RD (10 s) keeps the lease", () => {
    const { d } = boundClient();
    d.run({ kind: "link", up: false, now: d.now + 1 });
    d.run({ kind: "link", up: true, now: d.now + 1000 });
    const first = d.nextSend()!;
    let s = d.nextSend()!;
    while (s.message.type === MessageType.CONFIRM) s = d.nextSend()!;
    expect(s.message.type).toBe(MessageType.RENEW);
    expect(d.sends().filter((x) => x.message.type === MessageType.CONFIRM).every((x) => x.at - first.at < 10_000)).toBe(true);
    expect(d.published().at(-1)).not.toBeNull();
  });

  it("with a delegated prefix it REBINDs instead", () => {
    const { d } = boundClient([iaPd()], { address: false, prefix: true });
    d.run({ kind: "link", up: false, now: d.now + 1 });
    d.run({ kind: "link", up: true, now: d.now + 1000 });
    expect(d.nextSend()!.message.type).toBe(MessageType.REBIND);
  });
});

describe("configuration", () => {
  it("refuses a configuration that asks for nothing, a bad IAID or a bad UUID, in one sentence with a stable code", async () => {
    const { createDhcp6Client } = await import("../src/index.ts");
    const base = { mode: "stateful" as const, iaid: 1, duid: { kind: "ll" as const, mac: Uint8Array.of(1, 2, 3, 4, 5, 6) }, random: fixedRandom() };
    for (const bad of [{ ...base, address: false }, { ...base, iaid: -1 }, { ...base, duid: { kind: "uuid" as const, uuid: "xyz" } }, { ...base, prefix: { length: 129 } }]) {
      const r = createDhcp6Client(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("PADDOCK_E_DHCP6_BAD_CONFIG");
        expect(r.error.detail).toMatch(/^[^\n]+\.$/);
      }
    }
  });

  it("a config event after release starts the client again (the RA's M flag came back)", () => {
    const { d } = boundClient();
    d.run({ kind: "release", now: d.now + 1 });
    while (d.nextSend() !== undefined);
    expect(d.state.name).toBe("released");
    d.run({ kind: "config", config: { mode: "stateful", iaid: IAID, duid: { kind: "ll", mac: Uint8Array.of(0x52, 0x54, 0x00, 0x8a, 0x3e, 0x1c) }, random: fixedRandom() }, now: d.now + 1 });
    expect(d.nextSend()!.message.type).toBe(MessageType.SOLICIT);
  });

  it("a configuration that is not one (from a file or a key) is refused, not thrown on", async () => {
    const { createDhcp6Client } = await import("../src/index.ts");
    const junk = [null, {}, { mode: "stateful", iaid: 1, random: Math.random }, { mode: "stateful", iaid: 1, random: Math.random, duid: { kind: "ll", mac: "52:54" } }, { mode: "stateful", iaid: 1, random: Math.random, duid: { kind: "ll", mac: Uint8Array.of(1) }, prefix: null }];
    for (const c of junk) {
      const r = createDhcp6Client(c as never);
      expect(r.ok ? "ok" : r.error.code, JSON.stringify(c)).toBe("PADDOCK_E_DHCP6_BAD_CONFIG");
    }
    const { d } = boundClient();
    const actions = d.run({ kind: "config", config: { mode: "neither" } as never, now: d.now + 1 });
    expect(actions).toContainEqual({ kind: "log", level: "warn", message: expect.stringContaining("PADDOCK_E_DHCP6_BAD_CONFIG") });
    expect(d.state.name).toBe("bound");
  });

  it("a config event switches stateful to stateless, dropping the lease", () => {
    const { d } = boundClient();
    d.run({ kind: "config", config: { mode: "stateless", iaid: IAID, duid: { kind: "ll", mac: Uint8Array.of(0x52, 0x54, 0x00, 0x8a, 0x3e, 0x1c) }, random: fixedRandom() }, now: d.now + 1 });
    expect(d.published().at(-1)).toBeNull();
    expect(d.nextSend()!.message.type).toBe(MessageType.INFORMATION_REQUEST);
  });

  it("DUID-LLT, DUID-UUID and a kept DUID are sent as configured", () => {
    const llt = soliciting({ duid: { kind: "llt", mac: Uint8Array.of(1, 2, 3, 4, 5, 6), time: 12345 } }).solicit;
    expect(optionOf(llt.options, "clientId")?.duid).toEqual({ type: "llt", hardwareType: 1, time: 12345, linkLayer: Uint8Array.of(1, 2, 3, 4, 5, 6) });
    const uuid = soliciting({ duid: { kind: "uuid", uuid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" } }).solicit;
    expect(optionOf(uuid.options, "clientId")?.duid).toEqual({ type: "uuid", uuid: Uint8Array.from([0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0]) });
    const kept = soliciting({ duid: { kind: "duid", duid: { type: "en", enterprise: 9, identifier: Uint8Array.of(7) } } }).solicit;
    expect(optionOf(kept.options, "clientId")?.duid).toEqual({ type: "en", enterprise: 9, identifier: Uint8Array.of(7) });
  });
});


describe("a hostile server", () => {
  /** A REPLY to `xid` with our ids, then `tail` appended raw (bytes the encoder would refuse). */
  function rawReply(xid: number, tail: number[]): Uint8Array {
    const head = encoded(fromServer(MessageType.REPLY, xid, [{ kind: "rapidCommit" }]));
    return Uint8Array.from([...head, ...tail]);
  }
  const u16 = (n: number) => [n >> 8, n & 0xff];
  const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const opt = (code: number, data: number[]) => [...u16(code), ...u16(data.length), ...data];

  it("a REPLY whose PD_EXCLUDE overflows its prefix is dropped whole, and the exchange goes on", () => {
    const { d, solicit } = soliciting({ address: false, prefix: true });
    const prefix = opt(26, [...u32(100), ...u32(200), 56, ...new Array(16).fill(0x20), ...opt(67, [64, ...new Array(300).fill(0xff)])]);
    const actions = d.run({ kind: "datagram", bytes: rawReply(solicit.transactionId, opt(25, [...u32(IAID), ...u32(0), ...u32(0), ...prefix])), from: SERVER_ADDRESS, rxTimeMs: 700 });
    expect(actions).toContainEqual({ kind: "log", level: "debug", message: expect.stringContaining("PADDOCK_E_DHCP6_BAD_PREFIX") });
    expect(d.state.name).toBe("soliciting");
    expect(d.nextSend()!.message.transactionId).toBe(solicit.transactionId);
  });

  it("a REPLY with nested IA options of bogus lengths, or 10 000 addresses, is dropped", () => {
    const { d, solicit } = soliciting();
    const bogus = opt(3, [...u32(IAID), ...u32(0), ...u32(0), ...u16(5), ...u16(0xfff0), 1, 2, 3]);
    const address = opt(5, [...new Array(15).fill(0), 1, ...u32(100), ...u32(200)]);
    const flood = opt(3, [...u32(IAID), ...u32(0), ...u32(0)]).concat(new Array(10_000).fill(address).flat());
    for (const tail of [bogus, flood]) d.run({ kind: "datagram", bytes: rawReply(solicit.transactionId, tail), from: SERVER_ADDRESS, rxTimeMs: 700 });
    expect(d.state.name).toBe("soliciting");
    expect(d.published()).toEqual([]);
  });

  it("1000 ADVERTISEs from 1000 servers keep one candidate and lead to one REQUEST", () => {
    const { d, solicit } = soliciting({ rapidCommit: false });
    for (let i = 0; i < 1000; i++) {
      d.reply(MessageType.ADVERTISE, solicit.transactionId, [iaNa(), { kind: "preference", value: i % 200 }], { server: { type: "en", enterprise: i, identifier: Uint8Array.of(1) }, from: `fe80::${(i + 1).toString(16)}`, at: 600 });
    }
    expect(d.state.best?.preference).toBe(199);
    const req = d.nextSend()!;
    expect(req.message.type).toBe(MessageType.REQUEST);
    expect(optionOf(req.message.options, "serverId")?.duid).toEqual({ type: "en", enterprise: 199, identifier: Uint8Array.of(1) });
    expect(d.sends().filter((s) => s.message.type === MessageType.REQUEST)).toHaveLength(1);
  });

  it("REPLYs with wrong transaction ids or another client's DUID never touch a bound lease", () => {
    const { d } = boundClient();
    const renew = d.nextSend()!;
    const before = d.published().length;
    d.reply(MessageType.REPLY, renew.message.transactionId ^ 0x800000, [iaNa("2001:db8::bad", 0, 0)]);
    d.reply(MessageType.REPLY, renew.message.transactionId, [iaNa("2001:db8::bad", 0, 0)], { clientDuid: OTHER_SERVER_DUID });
    expect(d.published()).toHaveLength(before);
    expect(d.state.name).toBe("renewing");
  });
});

describe("resuming a kept lease at start", () => {
  it("publishes what is still valid at once, then CONFIRMs it (REBINDs with a prefix)", () => {
    const { d } = boundClient([iaNa("2001:db8::13c", 3600, 7200, 1800, 2880)]);
    const kept = d.published().at(-1)!;
    const next = new Driver(client());
    const actions = next.run({ kind: "start", now: kept.obtainedAt + 60_000, lease: kept });
    expect(actions).toContainEqual({ kind: "publish", lease: kept });
    expect(next.nextSend()!.message.type).toBe(MessageType.CONFIRM);

    const withPrefix = new Driver(client({ prefix: true }));
    withPrefix.run({ kind: "start", now: kept.obtainedAt + 60_000, lease: { ...kept, prefixes: [{ iaid: IAID, prefix: "2001:db8:100::", prefixLength: 56, preferred: 3600, valid: 7200, preferredUntil: kept.obtainedAt + 3_600_000, validUntil: kept.obtainedAt + 7_200_000, exclude: null }] } });
    expect(withPrefix.nextSend()!.message.type).toBe(MessageType.REBIND);
  });

  it("an expired lease, or one of the other mode, is not resumed: SOLICIT afresh", () => {
    const { d } = boundClient([iaNa("2001:db8::13c", 3600, 7200, 1800, 2880)]);
    const kept = d.published().at(-1)!;
    for (const [lease, now] of [[kept, kept.obtainedAt + 7_200_000], [{ ...kept, mode: "stateless" as const }, kept.obtainedAt]] as const) {
      const next = new Driver(client());
      next.run({ kind: "start", now, lease });
      expect(next.published()).toEqual([]);
      expect(next.nextSend()!.message.type).toBe(MessageType.SOLICIT);
    }
  });
});

describe("DECLINE (RFC 8415 §18.2.8)", () => {
  it("drops the address at once, declines it to the server (at most DEC_MAX_RC times), then solicits", () => {
    const { d } = boundClient();
    const actions = d.run({ kind: "decline", addresses: ["2001:db8::13c"], now: d.now + 10 });
    expect(actions).toContainEqual({ kind: "publish", lease: null });
    const sent: Dhcp6Message[] = [];
    for (let s = d.nextSend(); s !== undefined && s.message.type === MessageType.DECLINE; s = d.nextSend()) sent.push(s.message);
    expect(sent).toHaveLength(4);
    expect(optionOf(sent[0]!.options, "serverId")?.duid).toEqual(SERVER_DUID);
    expect(optionOf(sent[0]!.options, "iaNa")?.options).toEqual([{ kind: "iaAddr", address: "2001:db8::13c", preferred: 0, valid: 0, options: [] }]);
    expect(d.sends().at(-1)!.message.type).toBe(MessageType.SOLICIT);
  });

  it("keeps what is left, and a REPLY from our server ends the exchange", () => {
    const { d } = boundClient([{ kind: "iaNa", iaid: IAID, t1: 1800, t2: 2880, options: [{ kind: "iaAddr", address: "2001:db8::1", preferred: 3600, valid: 7200, options: [] }, { kind: "iaAddr", address: "2001:db8::2", preferred: 3600, valid: 7200, options: [] }] }]);
    d.run({ kind: "decline", addresses: ["2001:db8::2"], now: d.now + 10 });
    expect(d.published().at(-1)!.addresses.map((a) => a.address)).toEqual(["2001:db8::1"]);
    const dec = d.nextSend()!;
    d.reply(MessageType.REPLY, dec.message.transactionId, [{ kind: "statusCode", status: 0, message: "" }], { server: OTHER_SERVER_DUID });
    expect(d.state.name).toBe("declining");
    d.reply(MessageType.REPLY, dec.message.transactionId, [{ kind: "statusCode", status: 0, message: "" }]);
    expect(d.state.name).toBe("bound");
    expect(d.nextSend()!.message.type).toBe(MessageType.RENEW);
  });

  it("an address the lease does not hold is not declined", () => {
    const { d } = boundClient();
    const actions = d.run({ kind: "decline", addresses: ["2001:db8::99"], now: d.now + 10 });
    expect(actions.filter((a) => a.kind === "send" || a.kind === "publish")).toEqual([]);
    expect(d.state.name).toBe("bound");
  });
});
