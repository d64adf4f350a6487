import { describe, expect, it } from "vitest";
import { leaseFromAck, leaseKeys, parsePersistedLease, serializePersistedLease, MessageType } from "../src/index.ts";
import { reply, SERVER, standardOptions, T0 } from "./client-fixtures.ts";

const opts = { mac: "02:00:5e:10:20:30", serverId: SERVER, serverMac: "02:00:00:00:00:01", acquiredAt: T0, fallbackLeaseSeconds: undefined };

function leaseWith(hostname: string) {
  const ack = reply(MessageType.ACK, 1, "10.0.0.5", [...standardOptions(), { kind: "hostname", code: 12, name: hostname }]);
  const r = leaseFromAck(ack, opts);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

describe("the assigned host name (option 12)", () => {
  it("is published as /hostname and survives the persisted lease", () => {
    const { lease } = leaseWith("node7.lab.test");
    expect(leaseKeys(lease).get("/hostname")).toBe("node7.lab.test");
    const again = parsePersistedLease(serializePersistedLease(lease));
    expect(again.ok && again.lease.hostname).toBe("node7.lab.test");
  });

  it.each([["a".repeat(65)], ["bad name"], ["evil\nhost"], [""]])("ignores an unusable name %j", (name) => {
    const { lease, notes } = leaseWith(name);
    expect(lease.hostname).toBeUndefined();
    expect(leaseKeys(lease).has("/hostname")).toBe(false);
    expect(notes.join(" ")).toMatch(/host name/);
  });

  it("refuses a persisted lease whose host name was tampered with", () => {
    const { lease } = leaseWith("node7");
    const text = serializePersistedLease(lease).replace('"node7"', '"node7\\nnameserver 6.6.6.6"');
    expect(parsePersistedLease(text).ok).toBe(false);
  });
});
