// Issue 13 B5 and A10: the source address the DHCP calf may use besides 0.0.0.0 is the yiaddr of
// an ACK the priv itself delivered to it for this client, kept in /lease/acked (priv-written) —
// not whatever the calf wrote to /ip, and not gone when an operator deletes /ip. It counts as soon
// as the priv sees the ACK, and reaches the disk in the same write as the calf's next commit
// (decision 0012: one persist on the apply path; after a crash the store holds both or neither).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { encodeDhcpFrame, MessageType, type DhcpMessage } from "@paddock/dhcp4";
import { KvStore, readDurableSnapshot } from "@paddock/kv";
import { parseServiceOptions, setupContext, type ServiceSetup } from "@paddock/runtime";
import { defaultClientId, dhcp4Schema, dhcp4Service } from "../src/index.ts";

const MAC_TEXT = "02:77:f4:a9:18:e3";
const mac = Uint8Array.from(MAC_TEXT.split(":").map((h) => parseInt(h, 16)));
const SERVER_MAC = Uint8Array.of(2, 0, 0, 0, 0, 1);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const enc = new TextEncoder();
const CALF = { role: "calf" as const, name: "calf" };
/** What the calf commits after a reply (its state; a lease's keys come with it). */
const calfCommits = (store: KvStore, state: string) => store.commit(CALF, [{ path: ["client", "state"], value: enc.encode(state) }]);

function message(op: 1 | 2, type: MessageType, o: Partial<DhcpMessage> = {}): DhcpMessage {
  return {
    op, htype: 1, hlen: 6, hops: 0, xid: 0x1234, secs: 0, flags: 0,
    ciaddr: "0.0.0.0", yiaddr: "0.0.0.0", siaddr: "0.0.0.0", giaddr: "0.0.0.0",
    chaddr: mac, sname: "", file: "",
    options: [{ kind: "messageType", code: 53, type }, { kind: "serverId", code: 54, address: "10.77.0.1" }, { kind: "clientId", code: 61, data: defaultClientId(mac) }],
    ...o,
  };
}

function frame(msg: DhcpMessage, srcMac: Uint8Array, srcIp: string, dstIp: string, ports: [number, number]): Uint8Array {
  const r = encodeDhcpFrame(msg, { srcMac, dstMac: Uint8Array.of(255, 255, 255, 255, 255, 255), srcIp, dstIp, srcPort: ports[0], dstPort: ports[1] });
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

/** A unicast renewal from `from`, as the calf sends it in RENEWING. */
const renewal = (from: string) => frame(message(1, MessageType.REQUEST, { ciaddr: from }), mac, from, "10.77.0.1", [68, 67]);
const ackFor = (yiaddr: string) => frame(message(2, MessageType.ACK, { yiaddr }), SERVER_MAC, "10.77.0.1", yiaddr, [67, 68]);
const nak = () => frame(message(2, MessageType.NAK), SERVER_MAC, "10.77.0.1", "255.255.255.255", [67, 68]);

describe("the DHCP service's source-address rule", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function service(): Promise<{ dir: string; store: KvStore; setup: ServiceSetup; settle: () => Promise<void> }> {
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-acked-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    cleanups.push(() => store.close());
    const options = parseServiceOptions(dhcp4Service, {});
    const setup = await dhcp4Service.setup!(setupContext(store, { iface: { name: "eth9", index: 9, mac: MAC_TEXT, mtu: 1500 }, options, stateDir: dir, log: quiet }));
    return { dir, store, setup, settle: () => store.settled() };
  }
  const durable = (dir: string) => readDurableSnapshot(dir, dhcp4Schema.name)?.entries ?? {};

  it("allows the address of an ACK it delivered, not the calf's /ip; a NAK takes it back", async () => {
    const { store, setup, settle } = await service();
    const check = setup.checkFrame!;
    expect(check(renewal("10.77.0.5"))?.code).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    // What the calf writes to /ip changes nothing.
    expect((await store.commit({ role: "calf", name: "calf" }, [{ path: ["ip"], value: enc.encode("10.77.0.5/24") }])).ok).toBe(true);
    expect(check(renewal("10.77.0.5"))?.code).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    // An ACK for another client, or an OFFER, is not a lease of ours.
    setup.observeFrame!(frame(message(2, MessageType.ACK, { yiaddr: "10.77.0.5", chaddr: SERVER_MAC }), SERVER_MAC, "10.77.0.1", "10.77.0.5", [67, 68]));
    setup.observeFrame!(frame(message(2, MessageType.OFFER, { yiaddr: "10.77.0.5" }), SERVER_MAC, "10.77.0.1", "10.77.0.5", [67, 68]));
    await settle();
    expect(check(renewal("10.77.0.5"))?.code).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    // The ACK the priv delivered for this client: allowed at once, durable with the calf's commit.
    setup.observeFrame!(ackFor("10.77.0.5"));
    expect(check(renewal("10.77.0.5"))).toBeNull();
    await settle();
    expect(store.values.has("/lease/acked")).toBe(false);
    expect((await calfCommits(store, "BOUND")).ok).toBe(true);
    expect(store.values.get("/lease/acked")).toBe("10.77.0.5");
    expect(check(renewal("10.77.0.5"))).toBeNull();
    expect(check(renewal("10.77.0.6"))?.code).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    // An operator deleting /ip does not stop the next renewal (issue 13 A10).
    expect((await store.commit({ role: "admin", name: "admin" }, [{ path: ["ip"], value: null }])).ok).toBe(true);
    expect(check(renewal("10.77.0.5"))).toBeNull();
    // A NAK for this client: the address is no longer ours, at once.
    setup.observeFrame!(nak());
    expect(check(renewal("10.77.0.5"))?.code).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    expect((await calfCommits(store, "INIT")).ok).toBe(true);
    expect(store.values.has("/lease/acked")).toBe(false);
    expect(check(renewal("10.77.0.5"))?.code).toBe("PADDOCK_E_EGRESS_SOURCE_IP");
    expect(check(frame(message(1, MessageType.DISCOVER), mac, "0.0.0.0", "255.255.255.255", [68, 67]))).toBeNull();
  });

  it("keeps what it saw across a priv restart (the store), and a calf cannot write it", async () => {
    const { dir, store, setup } = await service();
    setup.observeFrame!(ackFor("10.77.0.7"));
    expect((await calfCommits(store, "BOUND")).ok).toBe(true);
    const refused = await store.commit(CALF, [{ path: ["lease", "acked"], value: enc.encode("10.77.0.8") }]);
    expect(refused.ok).toBe(false);
    await store.close();
    const again = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    cleanups.push(() => again.close());
    expect(again.values.get("/lease/acked")).toBe("10.77.0.7");
  });

  it("writes the ACKed address in the same durable write as the calf's next commit, not in one of its own ahead of it", async () => {
    const { dir, store, setup, settle } = await service();
    setup.observeFrame!(ackFor("10.77.0.9"));
    await settle();
    // No write of its own: the lease's commit is not held behind one (decision 0012).
    expect(durable(dir)["/lease/acked"]).toBeUndefined();
    const lease = store.commit(CALF, [{ path: ["ip"], value: enc.encode("10.77.0.9/24") }, { path: ["client", "state"], value: enc.encode("BOUND") }]);
    expect((await lease).ok).toBe(true);
    expect(durable(dir)).toMatchObject({ "/lease/acked": "10.77.0.9", "/ip": "10.77.0.9/24" });
  });

  it("writes an ACKed address no commit followed when the store closes", async () => {
    const { dir, store, setup } = await service();
    setup.observeFrame!(ackFor("10.77.0.10"));
    // The priv records it once the reply is relayed (observeFrame runs just before).
    await Promise.resolve();
    await store.close();
    expect(durable(dir)["/lease/acked"]).toBe("10.77.0.10");
  });
});
