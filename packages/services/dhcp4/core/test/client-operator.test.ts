/**
 * The operator's requests to the client core (issue 13 A3): `renew` renews now as at T1, or
 * starts an exchange without a lease; `release` gives the lease back and rests in RELEASED until
 * the next `renew`. The lease keys `paddock status` reads are published with every lease.
 */
import { describe, expect, it } from "vitest";
import { MessageType } from "../src/message.ts";
import { Harness, SERVER, SERVER_MAC, T0, opt, reply, standardOptions, typeOf } from "./client-fixtures.ts";

const S = 1000;

describe("operator requests", () => {
  it("renew while BOUND sends a unicast REQUEST at once, as at T1, and the ACK keeps the lease", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5");
    const t1 = h.timers.get("t1")!;
    h.event({ kind: "renew" }, T0 + 10 * S);
    expect(h.state.name).toBe("RENEWING");
    const [send] = h.sent();
    expect(send?.to).toBe(SERVER);
    expect(send?.nextHopMac).toEqual(SERVER_MAC);
    expect(typeOf(send!.message)).toBe(MessageType.REQUEST);
    expect(send!.message.ciaddr).toBe("10.0.0.5");
    expect(opt(send!.message, "serverId")).toBeUndefined();
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"));
    expect(h.state.name).toBe("BOUND");
    // The renewed lease counts from the renewal's REQUEST: T1 moved.
    expect(h.timers.get("t1")).toBe(t1 + 10 * S);
    expect(h.kv.get("/lease/renew")).toBe(String(Math.floor((T0 + 10 * S) / S) + 1800));
  });

  it("publishes the server, the time obtained, T1 and T2 with the lease", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5", [...standardOptions(SERVER, 1000), { kind: "renewalTime", code: 58, seconds: 100 }, { kind: "rebindingTime", code: 59, seconds: 200 }]);
    const obtained = Math.floor(T0 / S);
    expect(Object.fromEntries([...h.kv].filter(([k]) => k.startsWith("/lease/")))).toEqual({
      "/lease/server": SERVER,
      "/lease/obtained": String(obtained),
      "/lease/renew": String(obtained + 100),
      "/lease/rebind": String(obtained + 200),
      "/lease/expires": String(obtained + 1000),
    });
  });

  it("release sends RELEASE, withdraws every key and rests in RELEASED: no timers, link events change nothing", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5");
    h.event({ kind: "release" }, T0 + 5 * S);
    expect(h.state.name).toBe("RELEASED");
    const [send] = h.sent();
    expect(typeOf(send!.message)).toBe(MessageType.RELEASE);
    expect(send?.to).toBe(SERVER);
    expect(send!.message.ciaddr).toBe("10.0.0.5");
    expect(h.kv.size).toBe(0);
    expect(h.timers.size).toBe(0);
    h.event({ kind: "linkDown" });
    h.event({ kind: "linkUp" });
    expect(h.state.name).toBe("RELEASED");
    expect(h.sent()).toEqual([]);
    // An OFFER or ACK that arrives now is not an exchange of ours.
    h.receive(reply(MessageType.ACK, h.state.xid, "10.0.0.5"));
    expect(h.state.name).toBe("RELEASED");
    expect(h.kv.size).toBe(0);
  });

  it("renew after release discovers again and binds", () => {
    const h = new Harness();
    h.bindTo("10.0.0.5");
    h.event({ kind: "release" });
    h.event({ kind: "renew" }, T0 + 60 * S);
    expect(h.state.name).toBe("SELECTING");
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
    h.bindTo("10.0.0.5");
    expect(h.kv.get("/ip")).toBe("10.0.0.5/24");
  });

  it("renew without a lease restarts the exchange now, even during a hold-off", () => {
    const h = new Harness();
    // A second NAK before a lease is bound holds off before discovering again.
    for (let n = 0; n < 2; n++) {
      h.receive(reply(MessageType.OFFER, h.state.xid, "10.0.0.5"));
      h.receive(reply(MessageType.NAK, h.state.xid, "0.0.0.0", [{ kind: "serverId", code: 54, address: SERVER }]));
    }
    expect(h.state.name).toBe("INIT");
    expect(h.timers.has("start")).toBe(true);
    h.event({ kind: "renew" }, h.now + S);
    expect(h.state.name).toBe("SELECTING");
    expect(h.timers.has("start")).toBe(false);
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
  });

  it("release with no lease rests in RELEASED; renew with the link down does nothing", () => {
    const h = new Harness();
    h.event({ kind: "release" });
    expect(h.state.name).toBe("RELEASED");
    expect(h.sent()).toEqual([]);
    h.event({ kind: "linkDown" });
    h.event({ kind: "renew" });
    expect(h.state.name).toBe("RELEASED");
    expect(h.sent()).toEqual([]);
    h.event({ kind: "stop" });
    expect(h.state.name).toBe("STOPPED");
  });
});
