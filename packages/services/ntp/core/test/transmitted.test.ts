/**
 * The `transmitted` event: a kernel transmit time replaces T1 of the request in flight (the
 * caller's queues between the client's reading and the wire would otherwise bias every offset by
 * half their delay), and only that request's.
 */
import { describe, expect, it } from "vitest";
import { addSeconds, createNtpClient, instantFromUnix, sourceStatus, step, timestampFromInstant, type NtpClientEvent, type NtpClientState, type NtpTimestamp } from "../src/index.ts";
import { encoded, serverReply } from "./fixtures.ts";

const BASE = instantFromUnix(1_800_000_000);
const SERVER = { address: "192.0.2.1", port: 123 };

/** One request at t = 0, optionally a transmit time, then a reply stamped 5 ms (T2 = T3) and received at 6 ms. */
function exchange(transmit?: (nonce: NtpTimestamp) => NtpClientEvent) {
  const c = createNtpClient({ sources: [{ address: SERVER.address }], iburst: false });
  if (!c.ok) throw new Error(c.error.detail);
  let state: NtpClientState = c.state;
  let nonce: NtpTimestamp | undefined;
  let seq = 1;
  const at = (t: number, e: NtpClientEvent) => {
    const r = step(state, e, { now: { mono: t, real: addSeconds(BASE, t) }, random32: () => (seq++ * 2654435761) >>> 0 });
    state = r.state;
    for (const a of r.actions) {
      if (a.kind === "send") nonce = a.nonce;
      if (a.kind === "log" && a.message.includes("bug")) throw new Error(a.message);
    }
  };
  at(0, { kind: "start" });
  if (transmit) at(0.0045, transmit(nonce!));
  const stamp = timestampFromInstant(addSeconds(BASE, 0.005));
  at(0.006, { kind: "received", from: SERVER, bytes: encoded(serverReply({ precision: -20, rootDelay: 0, rootDispersion: 0, referenceTime: stamp, originTime: nonce!, receiveTime: stamp, transmitTime: stamp })) });
  return sourceStatus(state)[0]!;
}

describe("transmitted", () => {
  it("without it, T1 is the client's reading: the 4 ms before the wire count as delay and half of it as offset", () => {
    const s = exchange();
    expect(s.offsetSeconds).toBeCloseTo(0.002, 6);
    expect(s.delaySeconds).toBeCloseTo(0.006, 6);
  });

  it("with it, T1 is the kernel's transmit time: offset 0, delay 2 ms", () => {
    const s = exchange((nonce) => ({ kind: "transmitted", to: SERVER, nonce, at: addSeconds(BASE, 0.004) }));
    expect(s.offsetSeconds).toBeCloseTo(0, 6);
    expect(s.delaySeconds).toBeCloseTo(0.002, 6);
  });

  it("is ignored for another nonce, another source, a time before the reading or more than a second after it", () => {
    for (const wrong of [
      (n: NtpTimestamp) => ({ kind: "transmitted" as const, to: SERVER, nonce: { ...n, fraction: (n.fraction + 1) >>> 0 }, at: addSeconds(BASE, 0.004) }),
      (n: NtpTimestamp) => ({ kind: "transmitted" as const, to: { address: "192.0.2.2", port: 123 }, nonce: n, at: addSeconds(BASE, 0.004) }),
      (n: NtpTimestamp) => ({ kind: "transmitted" as const, to: SERVER, nonce: n, at: addSeconds(BASE, -0.001) }),
      (n: NtpTimestamp) => ({ kind: "transmitted" as const, to: SERVER, nonce: n, at: addSeconds(BASE, 1.5) }),
    ]) {
      expect(exchange(wrong).offsetSeconds).toBeCloseTo(0.002, 6);
    }
  });
});
