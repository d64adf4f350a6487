/**
 * The heartbeat core: the codec is total over arbitrary bytes and round-trips; the client
 * measures round trips from the receive time it is given and refuses replies it did not ask for.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createClient, decode, encode, HEARTBEAT_PORT, MAX_MISSES, PING_BYTES, PONG_BYTES, step, type ClientAction } from "./core.ts";

const PEER = "192.0.2.1";
const MS = 1_000_000n;
const T0 = 1_800_000_000_000n * MS;

const sent = (actions: ClientAction[]) => actions.filter((a): a is Extract<ClientAction, { kind: "send" }> => a.kind === "send");

describe("codec", () => {
  it("decodes any bytes to a message or a typed error, without throwing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const d = decode(bytes);
        expect(typeof d.ok).toBe("boolean");
        if (!d.ok) expect(["TOO_SHORT", "BAD_MAGIC", "BAD_VERSION", "BAD_LENGTH"]).toContain(d.error.code);
      }),
      { numRuns: 5000 },
    );
  });

  it("decodes bytes that start like a message (the header is not a shortcut past the length checks)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }), (type, rest) => {
        const d = decode(new Uint8Array([0x48, 0x42, 1, type, ...rest]));
        if (d.ok && d.value.kind === "ping") expect(rest.length).toBe(PING_BYTES - 4);
        if (d.ok && d.value.kind === "pong") expect(rest.length).toBe(PONG_BYTES - 4);
      }),
    );
  });

  it("round-trips PINGs and PONGs", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 32 - 1 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (seq, token, serverTimeNs) => {
        expect(decode(encode({ kind: "ping", seq, token }))).toEqual({ ok: true, value: { kind: "ping", seq, token } });
        expect(decode(encode({ kind: "pong", seq, token, serverTimeNs }))).toEqual({ ok: true, value: { kind: "pong", seq, token, serverTimeNs } });
      }),
    );
  });

  it("keeps unknown message types with their bytes", () => {
    expect(decode(new Uint8Array([0x48, 0x42, 1, 9, 7, 7]))).toEqual({ ok: true, value: { kind: "unknown", type: 9, data: new Uint8Array([7, 7]) } });
  });
});

describe("client", () => {
  it("pings at once, then every interval", () => {
    const c = createClient({ peer: PEER, intervalMs: 1000 }, T0);
    expect(sent(c.actions)).toHaveLength(1);
    expect(sent(c.actions)[0]!.to).toEqual({ address: PEER, port: HEARTBEAT_PORT });
    expect(c.actions).toContainEqual({ kind: "timer", atNs: T0 + 1000n * MS });
  });

  it("measures the round trip to the kernel's receive time, and the server's offset at the midpoint", () => {
    const c = createClient({ peer: PEER, intervalMs: 1000 }, T0);
    const ping = decode(sent(c.actions)[0]!.data);
    if (!ping.ok || ping.value.kind !== "ping") throw new Error("not a ping");
    const pong = encode({ kind: "pong", seq: ping.value.seq, token: ping.value.token, serverTimeNs: T0 + 5n * MS + 250_000n });
    const r = step(c.state, { kind: "datagram", data: pong, from: { address: PEER, port: HEARTBEAT_PORT }, rxTimeNs: T0 + 500_000n });
    expect(r.actions).toEqual([{ kind: "publish", sample: { seq: 1, rttUs: 500, offsetUs: 5000, rxTimeNs: T0 + 500_000n } }]);
    expect(r.state.peerState).toBe("reachable");
  });

  it("ignores replies from others, garbage, and PONGs it did not ask for", () => {
    const c = createClient({ peer: PEER, intervalMs: 1000 }, T0);
    const good = { kind: "pong" as const, seq: 1, token: T0, serverTimeNs: T0 };
    const cases = [
      { data: encode(good), from: { address: "192.0.2.66", port: HEARTBEAT_PORT } },
      { data: encode(good), from: { address: PEER, port: 9 } },
      { data: new Uint8Array([1, 2, 3]), from: { address: PEER, port: HEARTBEAT_PORT } },
      { data: encode({ ...good, seq: 2 }), from: { address: PEER, port: HEARTBEAT_PORT } },
      { data: encode({ ...good, token: T0 + 1n }), from: { address: PEER, port: HEARTBEAT_PORT } },
    ];
    for (const x of cases) {
      const r = step(c.state, { kind: "datagram", ...x, rxTimeNs: T0 + MS });
      expect(r.state).toBe(c.state);
      expect(r.actions.map((a) => a.kind)).toEqual(["ignore"]);
    }
  });

  it(`declares the peer unreachable after ${MAX_MISSES} unanswered pings, once`, () => {
    let s = createClient({ peer: PEER, intervalMs: 1000 }, T0).state;
    const kinds: string[][] = [];
    for (let i = 1; i <= MAX_MISSES + 2; i++) {
      const r = step(s, { kind: "tick", nowNs: T0 + BigInt(i) * 1000n * MS });
      s = r.state;
      kinds.push(r.actions.map((a) => a.kind));
    }
    expect(kinds.filter((k) => k.includes("unreachable"))).toHaveLength(1);
    expect(kinds[MAX_MISSES - 1]).toContain("unreachable");
  });

  it("never throws, whatever arrives in whatever order", () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant("tick" as const), nowNs: fc.bigInt({ min: 0n, max: 2n ** 63n }) }),
      fc.record({ kind: fc.constant("datagram" as const), data: fc.uint8Array({ maxLength: 30 }), from: fc.record({ address: fc.constantFrom(PEER, "10.0.0.1"), port: fc.constantFrom(HEARTBEAT_PORT, 1) }), rxTimeNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        let s = createClient({ peer: PEER, intervalMs: 1000 }, T0).state;
        for (const e of events) s = step(s, e).state;
      }),
    );
  });
});
