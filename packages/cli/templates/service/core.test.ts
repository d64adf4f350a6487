/** Tests of the core: the codec is total and round-trips; the client says hello and counts replies. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode, PORT, start, step } from "./core.ts";

describe("codec", () => {
  it("decodes arbitrary bytes without throwing", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 32 }), (bytes) => void expect(typeof decode(bytes).ok).toBe("boolean")));
  });
  it("round-trips", () => {
    fc.assert(fc.property(fc.constantFrom("hello" as const, "reply" as const), fc.nat({ max: 2 ** 32 - 1 }), (kind, seq) => {
      expect(decode(encode(kind, seq))).toEqual({ ok: true, value: { kind, seq } });
    }));
  });
});

describe("client", () => {
  it("publishes that it runs and says hello at once, then every interval", () => {
    const s = start("192.0.2.1", 1000, 5000);
    expect(s.actions.map((a) => a.kind)).toEqual(["publish", "send", "timer"]);
    expect(s.actions[2]).toEqual({ kind: "timer", atMs: 6000 });
  });
  it("counts replies from the peer only, with the kernel's receive time", () => {
    const s = start("192.0.2.1", 1000, 0).state;
    const reply = { kind: "datagram" as const, data: encode("reply", 1), rxTimeNs: 42n };
    expect(step(s, { ...reply, from: { address: "192.0.2.9", port: PORT } }).actions).toEqual([]);
    expect(step(s, { ...reply, from: { address: "192.0.2.1", port: PORT } }).actions).toEqual([
      { kind: "publish", changes: [{ path: "/status/replies", value: "1" }, { path: "/status/last-rx-ns", value: "42" }] },
    ]);
  });
});
