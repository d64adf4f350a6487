/**
 * What a network or a hostile server can send the client: replies that do not echo our nonce,
 * from addresses or ports we did not ask, replays, zero and inconsistent timestamps, other
 * modes, garbage. Each is ignored and counted, never used, and nothing throws; a property test
 * drives the client with arbitrary datagrams between real exchanges.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addSeconds,
  createNtpClient,
  decodeNtpPacket,
  instantFromUnix,
  sourceStatus,
  step,
  timestampFromInstant,
  type NtpClientEvent,
  type NtpClientState,
  type NtpCounters,
  type NtpInstant,
  type NtpTimePacket,
  type NtpTimestamp,
} from "../src/index.ts";
import { encoded, serverReply } from "./fixtures.ts";
import { prng } from "./simulation.ts";

const BASE = instantFromUnix(1_800_000_000);
const SERVER = { address: "192.0.2.1", port: 123 };

/** A client with one server, driven by hand at simulated times (seconds). */
class Harness {
  state: NtpClientState;
  t = 0;
  sent: Uint8Array[] = [];
  adjustments = 0;
  private readonly random = prng(99);
  constructor(sources = [{ address: SERVER.address }]) {
    const c = createNtpClient({ sources, iburst: false });
    if (!c.ok) throw new Error(c.error.detail);
    this.state = c.state;
  }
  real(t = this.t): NtpInstant {
    return addSeconds(BASE, t);
  }
  event(e: NtpClientEvent): void {
    const r = step(this.state, e, { now: { mono: this.t, real: this.real() }, random32: () => Math.floor(this.random() * 2 ** 32) });
    this.state = r.state;
    for (const a of r.actions) {
      if (a.kind === "log" && a.message.includes("NTP client bug")) throw new Error(a.message);
      if (a.kind === "send") this.sent.push(a.bytes);
      if (a.kind === "adjust") this.adjustments++;
    }
  }
  /** The nonce of the last request sent. */
  nonce(): NtpTimestamp {
    const d = decodeNtpPacket(this.sent[this.sent.length - 1]!);
    if (!d.ok || d.value.kind !== "time") throw new Error("no request");
    return d.value.transmitTime;
  }
  counters(): NtpCounters {
    return this.state.counters;
  }
}

/** A well-formed reply to `origin`, with the server's clock equal to ours. */
function replyTo(origin: NtpTimestamp, t: number, over: Partial<NtpTimePacket> = {}): Uint8Array {
  return encoded(
    serverReply({
      precision: -20,
      rootDelay: 0,
      rootDispersion: 0,
      referenceTime: timestampFromInstant(addSeconds(BASE, t - 5)),
      originTime: origin,
      receiveTime: timestampFromInstant(addSeconds(BASE, t - 0.001)),
      transmitTime: timestampFromInstant(addSeconds(BASE, t - 0.0009)),
      ...over,
    }),
  );
}

function started(): Harness {
  const h = new Harness();
  h.event({ kind: "start" });
  expect(h.sent).toHaveLength(1);
  h.t = 0.002;
  return h;
}

const received = (bytes: Uint8Array, from = SERVER): NtpClientEvent => ({ kind: "received", from, bytes });

describe("replies the client ignores, each counted", () => {
  it("a reply whose origin is not our nonce", () => {
    const h = started();
    const n = h.nonce();
    h.event(received(replyTo({ seconds: n.seconds, fraction: (n.fraction + 1) >>> 0 }, h.t)));
    expect(h.counters()).toMatchObject({ bogusOrigin: 1, accepted: 0 });
    // The real reply still counts afterwards: a forgery does not use up the request.
    h.event(received(replyTo(n, h.t)));
    expect(h.counters()).toMatchObject({ bogusOrigin: 1, accepted: 1 });
  });

  it("a reply from an address or a port we did not ask", () => {
    const h = started();
    const n = h.nonce();
    h.event(received(replyTo(n, h.t), { address: "192.0.2.99", port: 123 }));
    h.event(received(replyTo(n, h.t), { address: SERVER.address, port: 1123 }));
    expect(h.counters()).toMatchObject({ unknownSource: 2, accepted: 0 });
  });

  it("a duplicate (replay) of a reply already taken, and a reply with no request in flight", () => {
    const h = started();
    const bytes = replyTo(h.nonce(), h.t);
    h.event(received(bytes));
    h.event(received(bytes));
    h.event(received(bytes));
    expect(h.counters()).toMatchObject({ accepted: 1, duplicate: 2 });
    h.event(received(replyTo(h.nonce(), h.t, { transmitTime: { seconds: 1, fraction: 1 } })));
    expect(h.counters()).toMatchObject({ unsolicited: 1 });
  });

  it("a zero transmit or receive timestamp, T3 before T2, and T4 before T1", () => {
    const h = started();
    const n = h.nonce();
    h.event(received(replyTo(n, h.t, { transmitTime: { seconds: 0, fraction: 0 } })));
    h.event(received(replyTo(n, h.t, { receiveTime: { seconds: 0, fraction: 0 } })));
    h.event(received(replyTo(n, h.t, { receiveTime: timestampFromInstant(addSeconds(BASE, 5)) })));
    // T4 before T1: the kernel timestamp of the reply is earlier than our clock at the request.
    h.event({ kind: "received", from: SERVER, bytes: replyTo(n, h.t), receivedAt: addSeconds(BASE, -1) });
    expect(h.counters()).toMatchObject({ badTimestamps: 4, accepted: 0 });
    expect(h.adjustments).toBe(0);
  });

  it("client requests, broadcasts, symmetric, mode 6 and mode 7 packets from the server", () => {
    const h = started();
    const n = h.nonce();
    for (const mode of [0, 1, 2, 3, 5]) h.event(received(replyTo(n, h.t, { mode })));
    h.event(received(Uint8Array.of(0x16, 0x82, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)));
    h.event(received(Uint8Array.of(0x97, 0x00, 3, 42, 0, 0, 0, 0)));
    expect(h.counters()).toMatchObject({ notServerMode: 7, accepted: 0 });
  });

  it("truncated, empty, oversized and garbage datagrams", () => {
    const h = started();
    const good = replyTo(h.nonce(), h.t);
    for (const bytes of [good.subarray(0, 47), new Uint8Array(0), new Uint8Array(5000), Uint8Array.of(0xff, 1, 2), Uint8Array.of(...good, 1, 2)]) h.event(received(bytes));
    expect(h.counters()).toMatchObject({ malformed: 5, accepted: 0 });
    h.event(received(good));
    expect(h.counters()).toMatchObject({ accepted: 1 });
  });

  it("an unknown kiss code is ignored, and a kiss with a wrong origin is not believed", () => {
    const h = started();
    const n = h.nonce();
    const kiss = (code: string, origin: NtpTimestamp) => replyTo(origin, h.t, { stratum: 0, referenceId: new TextEncoder().encode(code) });
    h.event(received(kiss("DENY", { seconds: n.seconds ^ 1, fraction: n.fraction })));
    expect(sourceStatus(h.state)[0]!.state).not.toBe("kod");
    h.event(received(kiss("ACST", n)));
    expect(sourceStatus(h.state)[0]!.state).not.toBe("kod");
    expect(h.counters()).toMatchObject({ bogusOrigin: 1, kissOfDeath: 1 });
  });

  it("a root delay and dispersion past 16 s", () => {
    const h = started();
    h.event(received(replyTo(h.nonce(), h.t, { rootDelay: 20, rootDispersion: 7 })));
    expect(h.counters()).toMatchObject({ unsynchronized: 1, accepted: 0 });
  });
});

describe("the client survives any datagram", () => {
  it("arbitrary and mutated datagrams between real exchanges: no throw, each counted once, old states untouched", () => {
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      fc.record({ flip: fc.nat({ max: 47 }), xor: fc.integer({ min: 1, max: 255 }) }).map(({ flip, xor }) => ({ flip, xor })),
    );
    const from = fc.constantFrom(SERVER, { address: "192.0.2.2", port: 123 }, { address: SERVER.address, port: 4000 });
    fc.assert(
      fc.property(fc.array(fc.tuple(datagram, from, fc.nat({ max: 3 })), { maxLength: 30 }), (events) => {
        const h = new Harness([{ address: SERVER.address }, { address: "192.0.2.2" }]);
        h.event({ kind: "start" });
        for (const [d, src, wait] of events) {
          h.t += wait;
          const bytes = d instanceof Uint8Array ? d : (() => {
            // A real reply to the request in flight with one byte flipped: a hostile near-miss.
            const b = replyTo(h.nonce(), h.t).slice();
            b[d.flip]! ^= d.xor;
            return b;
          })();
          const before = JSON.stringify(h.state, (_k, v) => (v instanceof Uint8Array ? [...v] : v));
          const old = h.state;
          h.event({ kind: "received", from: src, bytes });
          expect(JSON.stringify(old, (_k, v) => (v instanceof Uint8Array ? [...v] : v))).toBe(before);
          h.event({ kind: "timer" });
        }
        const c = h.counters();
        const total = Object.values(c).reduce((a, b) => a + b, 0);
        expect(total).toBe(events.length);
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe("the caller's timer", () => {
  it("a timer that fires early sends nothing and is armed again for the same time", () => {
    const h = new Harness();
    let armed: number | undefined;
    const run = (e: NtpClientEvent) => {
      const r = step(h.state, e, { now: { mono: h.t, real: h.real() }, random32: () => 7 });
      h.state = r.state;
      for (const a of r.actions) if (a.kind === "setTimer") armed = a.at;
      return r.actions.filter((a) => a.kind === "send").length;
    };
    expect(run({ kind: "start" })).toBe(1);
    expect(armed).toBe(64);
    armed = undefined;
    h.t = 30;
    expect(run({ kind: "timer" })).toBe(0);
    expect(armed).toBe(64);
    h.t = 64;
    expect(run({ kind: "timer" })).toBe(1);
    expect(armed).toBe(128);
  });
});

describe("addresses", () => {
  it("a reply is matched to its server whatever the text form of the address", () => {
    const c = createNtpClient({ sources: [{ address: "2001:DB8:0::1" }], iburst: false });
    if (!c.ok) throw new Error(c.error.detail);
    expect(sourceStatus(c.state)[0]!.address).toBe("2001:db8::1");
    const env = (t: number) => ({ now: { mono: t, real: addSeconds(BASE, t) }, random32: () => 12345 });
    const started = step(c.state, { kind: "start" }, env(0));
    const request = started.actions.find((a) => a.kind === "send");
    expect(request).toMatchObject({ to: { address: "2001:db8::1", port: 123 } });
    let state = started.state;
    const d = decodeNtpPacket(request!.kind === "send" ? request!.bytes : new Uint8Array(0));
    if (!d.ok || d.value.kind !== "time") throw new Error("no request");
    state = step(state, received(replyTo(d.value.transmitTime, 0.002), { address: "2001:db8:0:0:0:0:0:1", port: 123 }), env(0.002)).state;
    expect(state.counters.accepted).toBe(1);
  });

  it("a server given by name is refused in one sentence", () => {
    const c = createNtpClient({ sources: [{ address: "pool.ntp.org" }] });
    expect(c.ok ? "ok" : c.error.detail).toBe('NTP server "pool.ntp.org" is not an IPv4 or IPv6 address (names are not resolved).');
  });
});

describe("requests", () => {
  it("carry nothing but version 4, mode 3 and a fresh random transmit timestamp", () => {
    const h = new Harness();
    h.event({ kind: "start" });
    for (let i = 1; i <= 5; i++) {
      h.t = 64 * i;
      h.event({ kind: "timer" });
    }
    expect(h.sent).toHaveLength(6);
    for (const b of h.sent) {
      expect(b.length).toBe(48);
      expect(b[0]).toBe(0x23);
      expect([...b.subarray(1, 40)].every((x) => x === 0)).toBe(true);
    }
    const nonces = new Set(h.sent.map((b) => [...b.subarray(40)].join(",")));
    expect(nonces.size).toBe(6);
  });
});
