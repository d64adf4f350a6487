// Unit tests of the generic data path: the egress checks every service gets (packet: source MAC,
// size, the declarative rules, then the service's check; UDP: port, peer, size), and the relay
// (frames and datagrams both ways over a real Unix stream, send rate and byte rate, a message for
// a channel the service does not have disconnecting the calf, transmit times of tagged datagrams).
// No root needed.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, type DataMessage } from "@paddock/protocol";
import { BROADCAST, frameKit, mac } from "../../../native/test/frames.ts";
import { DataPathRelay, datagramEgress, MAX_PENDING_TX_TAGS, MAX_QUEUED_TO_CALF_BYTES, packetEgress, type DatagramSocket, type FrameSocket } from "../src/datapath/index.ts";

const MAC = mac("02:00:00:00:00:07");
const kit = frameKit(MAC, BROADCAST);
const RULES = [{ family: "ipv4", protocol: "udp", srcPort: 68, dstPort: 67, firstPayloadByte: 1 }] as const;

describe("packetEgress", () => {
  const check = packetEgress({ mac: MAC, rules: RULES, maxFrameBytes: 600 });

  it("lets a frame that matches a rule, from the interface's MAC, go", () => {
    expect(check(kit.dhcpRequest(1))).toBeNull();
  });

  it.each([
    ["no Ethernet header", () => new Uint8Array(10), "PADDOCK_E_EGRESS_TOO_SHORT"],
    ["another source MAC", () => frameKit(mac("02:00:00:00:00:08")).dhcpRequest(1), "PADDOCK_E_EGRESS_SOURCE_MAC"],
    ["a frame over the size bound", () => new Uint8Array([...kit.dhcpRequest(1), ...new Uint8Array(400)]), "PADDOCK_E_EGRESS_TOO_LONG"],
    ["UDP to another port", () => kit.udp(68, 53), "PADDOCK_E_EGRESS_NO_RULE"],
    ["ARP", () => kit.arpRequest(), "PADDOCK_E_EGRESS_NO_RULE"],
  ])("refuses %s", (_what, frame, code) => {
    expect(check(frame())?.code).toBe(code);
  });

  it("runs the service's own check only after the rules matched", () => {
    const seen: number[] = [];
    const withCheck = packetEgress({ mac: MAC, rules: RULES, maxFrameBytes: 600, check: (f) => (seen.push(f.length), { code: "PADDOCK_E_EGRESS_MINE", detail: "no" }) });
    expect(withCheck(kit.udp(68, 53))?.code).toBe("PADDOCK_E_EGRESS_NO_RULE");
    expect(seen).toEqual([]);
    expect(withCheck(kit.dhcpRequest(2))?.code).toBe("PADDOCK_E_EGRESS_MINE");
    expect(seen).toHaveLength(1);
  });

  it("never throws on arbitrary bytes, and lets nothing through that matches no rule", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        const r = check(bytes);
        if (r === null) expect(bytes.length).toBeGreaterThanOrEqual(14 + 20 + 8 + 1);
      }),
    );
  });
});

describe("datagramEgress", () => {
  let peers = ["10.0.0.1"];
  const check = datagramEgress({ remotePort: 7047, maxDatagramBytes: 16, peers: () => peers });

  it("checks the port, the peer (asked at every send) and the size", () => {
    expect(check(new Uint8Array(16), { address: "10.0.0.1", port: 7047 })).toBeNull();
    expect(check(new Uint8Array(16), { address: "10.0.0.1", port: 9 })?.code).toBe("PADDOCK_E_EGRESS_PORTS");
    expect(check(new Uint8Array(16), { address: "10.0.0.2", port: 7047 })?.code).toBe("PADDOCK_E_EGRESS_PEER");
    expect(check(new Uint8Array(17), { address: "10.0.0.1", port: 7047 })?.code).toBe("PADDOCK_E_EGRESS_TOO_LONG");
    peers = ["10.0.0.2"];
    expect(check(new Uint8Array(1), { address: "10.0.0.2", port: 7047 })).toBeNull();
    expect(check(new Uint8Array(1), { address: "10.0.0.1", port: 7047 })?.code).toBe("PADDOCK_E_EGRESS_PEER");
  });
});

/** A connected pair of Unix stream sockets: [the priv's end, the calf's end]. */
async function socketPair(dir: string): Promise<[net.Socket, net.Socket]> {
  const file = path.join(dir, "pair.sock");
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(file, r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.createConnection(file);
  await new Promise<void>((r) => client.once("connect", () => r()));
  const priv = await accepted;
  server.close();
  return [priv, client];
}

/** Reads data messages arriving at the calf's end. */
function collect(calf: net.Socket): DataMessage[] {
  const out: DataMessage[] = [];
  const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
  calf.on("data", (chunk: Buffer) => {
    for (const f of reader.push(new Uint8Array(chunk)).frames) {
      const m = decodeDataMessage(f);
      if (m.ok) out.push(m.value);
    }
  });
  return out;
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!pred()) throw new Error(`timed out waiting for ${what}`);
}

const quiet = { debug() {}, info() {}, warn() {} };

describe("DataPathRelay", () => {
  const dirs: string[] = [];
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  async function pair(): Promise<[net.Socket, net.Socket]> {
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-relay-"));
    dirs.push(dir);
    const p = await socketPair(dir);
    sockets.push(...p);
    return p;
  }

  it("relays kernel datagrams to the calf with their timestamps, and sends what passes, up to the rates", async () => {
    let deliver: (data: Buffer, peer: { address: string; port: number }, rx: bigint) => void = () => {};
    const sent: Array<{ bytes: number; to: string }> = [];
    const udp: DatagramSocket = { onMessage: (cb) => void (deliver = cb), sendTo: (d, a, p) => sent.push({ bytes: d.length, to: `${a}:${p}` }) - 1, onTxTimestamp: () => {} };
    const relay = new DataPathRelay("test", { udp: { socket: udp, check: datagramEgress({ remotePort: 7, maxDatagramBytes: 100, peers: () => ["10.0.0.1"] }) } }, quiet, { perSecond: 1, burst: 3, bytesPerSecond: 64 }, () => 0);
    const [priv, calf] = await pair();
    relay.attach(priv);
    const got = collect(calf);
    deliver(Buffer.from("hi"), { address: "10.0.0.1", port: 7 }, 1_700_000_000_123_456_789n);
    await until(() => got.length === 1, "the datagram at the calf");
    expect(got[0]).toMatchObject({ kind: "datagram", peerAddress: "10.0.0.1", peerPort: 7, rxTimeNs: 1_700_000_000_123_456_789n });

    const send = (bytes: number, address = "10.0.0.1", port = 7) => calf.write(encodeDataMessage({ kind: "datagram", data: new Uint8Array(bytes), peerAddress: address, peerPort: port, rxTimeNs: 0n }));
    send(10, "10.0.0.9"); // refused by the check: costs no token
    send(30);
    send(30); // 60 of 64 bytes
    send(10); // over the byte budget
    send(1); // fits the bytes, and takes the third send
    send(1); // no send left
    await until(() => relay.stats.fromCalf === 6, "six datagrams from the calf");
    expect(sent).toEqual([{ bytes: 30, to: "10.0.0.1:7" }, { bytes: 30, to: "10.0.0.1:7" }, { bytes: 1, to: "10.0.0.1:7" }]);
    expect(relay.stats.rejected).toEqual({ PADDOCK_E_EGRESS_PEER: 1, PADDOCK_E_EGRESS_RATE: 2 });
  });

  it("bounds what waits for a calf that does not read: the rest is dropped and counted (issue 13 B1)", async () => {
    let deliver: (frame: Buffer, rx: bigint, pending: boolean) => void = () => {};
    const frames: FrameSocket = { onFrame: (cb) => void (deliver = cb), send: () => {} };
    const relay = new DataPathRelay("test", { packet: { socket: frames, check: () => null } }, quiet);
    const [priv, calf] = await pair();
    relay.attach(priv);
    calf.pause(); // the calf stops reading
    const frame = Buffer.alloc(1400, 7);
    const total = 2 * Math.ceil(MAX_QUEUED_TO_CALF_BYTES / frame.length) + 500;
    for (let i = 0; i < total; i++) deliver(frame, 1n, false);
    expect(relay.stats.droppedToCalf).toBeGreaterThan(0);
    expect(relay.stats.toCalf + relay.stats.droppedToCalf).toBe(total);
    // What the priv holds stays within the bound (plus one message that crossed it).
    expect(priv.writableLength).toBeLessThan(MAX_QUEUED_TO_CALF_BYTES + 2 * frame.length);
  });

  it("keeps the calf while the interface is gone (its sends refused as NO_LINK, not a violation), then sends on the new socket (issue 13 A1)", async () => {
    const udpOn = (sent: string[]): DatagramSocket => ({ onMessage: () => {}, sendTo: (d, a, p) => sent.push(`${a}:${p}`) - 1, onTxTimestamp: () => {} });
    const check = datagramEgress({ remotePort: 7, maxDatagramBytes: 100, peers: () => ["10.0.0.1"] });
    const before: string[] = [];
    const after: string[] = [];
    const relay = new DataPathRelay("test", { udp: { socket: udpOn(before), check } }, quiet, { perSecond: 100, burst: 100 }, () => 0);
    const [priv, calf] = await pair();
    relay.attach(priv);
    const send = () => calf.write(encodeDataMessage({ kind: "datagram", data: new Uint8Array(4), peerAddress: "10.0.0.1", peerPort: 7, rxTimeNs: 0n }));
    relay.rebind(null);
    send();
    await until(() => relay.stats.fromCalf === 1, "the datagram sent while the interface is gone");
    expect(relay.stats.rejected).toEqual({ PADDOCK_E_EGRESS_NO_LINK: 1 });
    expect(relay.stats.protocolViolations).toBe(0);
    expect(priv.destroyed).toBe(false);
    relay.rebind({ udp: { socket: udpOn(after), check } });
    send();
    await until(() => relay.stats.fromCalf === 2, "the datagram sent after the interface came back");
    expect(before).toEqual([]);
    expect(after).toEqual(["10.0.0.1:7"]);
  });

  it("disconnects a calf that sends on a channel its service does not have", async () => {
    const frames: FrameSocket = { onFrame: () => {}, send: () => {} };
    const relay = new DataPathRelay("test", { packet: { socket: frames, check: () => null } }, quiet);
    const [priv, calf] = await pair();
    relay.attach(priv);
    const closed = new Promise<void>((r) => calf.once("close", () => r()));
    calf.write(encodeDataMessage({ kind: "datagram", data: new Uint8Array(4), peerAddress: "10.0.0.1", peerPort: 7, rxTimeNs: 0n }));
    await closed;
    expect(relay.stats.protocolViolations).toBe(1);
    expect(relay.stats.sent).toBe(0);
  });

  /**
   * A UDP socket like the native one with txTimestamps: send ids 0, 1, 2, …; the test hands out
   * transmit timestamps (as the error queue would, later and in any order) with `stamp`.
   */
  function fakeTimestampingSocket() {
    const sent: Array<{ id: number; data: Uint8Array; to: string }> = [];
    let tx: (sendId: number, txTimeNs: bigint) => void = () => {};
    let txListeners = 0;
    let fail = false;
    const socket: DatagramSocket = {
      onMessage: () => {},
      sendTo: (data, address, port) => {
        if (fail) throw new Error("sendto: ENETUNREACH");
        return sent.push({ id: sent.length, data, to: `${address}:${port}` }) - 1;
      },
      onTxTimestamp: (cb) => {
        tx = cb;
        txListeners++;
      },
    };
    return { socket, sent, stamp: (sendId: number, txTimeNs: bigint) => tx(sendId, txTimeNs), listeners: () => txListeners, failSends: (f: boolean) => void (fail = f) };
  }
  const udpCheck = datagramEgress({ remotePort: 123, maxDatagramBytes: 48, peers: () => ["10.0.0.1"] });
  const datagram = (sendTag: number | undefined, address = "10.0.0.1", bytes = 48): DataMessage => ({ kind: "datagram", data: new Uint8Array(bytes), peerAddress: address, peerPort: 123, rxTimeNs: 0n, ...(sendTag === undefined ? {} : { sendTag }) });

  it("answers a tagged datagram that went out with one txTime carrying the socket's timestamp; untagged and refused ones get none", async () => {
    const fake = fakeTimestampingSocket();
    const relay = new DataPathRelay("test", { udp: { socket: fake.socket, check: udpCheck, txTimestamps: true } }, quiet, { perSecond: 100, burst: 100 }, () => 0);
    const [priv, calf] = await pair();
    relay.attach(priv);
    const got = collect(calf);
    calf.write(encodeDataMessage(datagram(41))); // send id 0
    calf.write(encodeDataMessage(datagram(undefined))); // send id 1, untagged
    calf.write(encodeDataMessage(datagram(42, "10.0.0.9"))); // refused (peer): never sent
    calf.write(encodeDataMessage(datagram(43, "10.0.0.1", 49))); // refused (size): never sent
    calf.write(encodeDataMessage(datagram(44))); // send id 2
    await until(() => relay.stats.fromCalf === 5, "five datagrams from the calf");
    expect(fake.sent.map((s) => s.id)).toEqual([0, 1, 2]);
    expect(fake.listeners()).toBe(1);
    // The kernel reports in its own order; an id nobody tagged, or one reported twice, is ignored.
    fake.stamp(2, 1_700_000_000_000_000_222n);
    fake.stamp(1, 1_700_000_000_000_000_111n);
    fake.stamp(0, 1_700_000_000_000_000_000n);
    fake.stamp(0, 1_700_000_000_000_000_999n);
    fake.stamp(7, 1_700_000_000_000_000_777n);
    await until(() => got.length >= 2, "two transmit times at the calf");
    // A datagram sent after them: everything before it has reached the calf.
    priv.write(encodeDataMessage({ kind: "link", up: true, carrier: true, mtu: 1500 }));
    await until(() => got.some((m) => m.kind === "link"), "the marker");
    expect(got.filter((m) => m.kind !== "link")).toEqual([
      { kind: "txTime", sendTag: 44, txTimeNs: 1_700_000_000_000_000_222n },
      { kind: "txTime", sendTag: 41, txTimeNs: 1_700_000_000_000_000_000n },
    ]);
    expect(relay.stats.txTimes).toBe(2);
    expect(relay.stats.rejected).toEqual({ PADDOCK_E_EGRESS_PEER: 1, PADDOCK_E_EGRESS_TOO_LONG: 1 });
  });

  it("sends no txTime for a datagram the socket failed to send, nor on a channel without transmit timestamps", async () => {
    const failing = fakeTimestampingSocket();
    const relay = new DataPathRelay("test", { udp: { socket: failing.socket, check: udpCheck, txTimestamps: true } }, quiet, { perSecond: 100, burst: 100 }, () => 0);
    const plain = fakeTimestampingSocket();
    const without = new DataPathRelay("test", { udp: { socket: plain.socket, check: udpCheck } }, quiet, { perSecond: 100, burst: 100 }, () => 0);
    expect(plain.listeners()).toBe(0);
    const [priv, calf] = await pair();
    const [priv2, calf2] = await pair();
    relay.attach(priv);
    without.attach(priv2);
    const got = collect(calf);
    const got2 = collect(calf2);
    failing.failSends(true);
    calf.write(encodeDataMessage(datagram(5)));
    calf2.write(encodeDataMessage(datagram(6)));
    await until(() => relay.stats.sendErrors === 1 && without.stats.sent === 1, "the failed and the plain send");
    failing.stamp(0, 1n); // no send had id 0 on this socket: it threw
    plain.stamp(0, 2n); // the relay never listened
    for (const [p, g] of [[priv, got], [priv2, got2]] as const) {
      p.write(encodeDataMessage({ kind: "link", up: true, carrier: true, mtu: 1500 }));
      await until(() => g.length === 1, "the marker");
      expect(g.map((m) => m.kind)).toEqual(["link"]);
    }
  });

  it(`remembers at most ${MAX_PENDING_TX_TAGS} tagged sends awaiting a timestamp, dropping the oldest, and forgets them when the calf is replaced`, async () => {
    const fake = fakeTimestampingSocket();
    const relay = new DataPathRelay("test", { udp: { socket: fake.socket, check: udpCheck, txTimestamps: true } }, quiet, { perSecond: 1000, burst: 1000 }, () => 0);
    const [priv, calf] = await pair();
    relay.attach(priv);
    const got = collect(calf);
    const n = MAX_PENDING_TX_TAGS + 2;
    for (let tag = 1; tag <= n; tag++) calf.write(encodeDataMessage(datagram(tag)));
    await until(() => relay.stats.sent === n, `${n} sends`);
    for (let id = 0; id < n; id++) fake.stamp(id, BigInt(1000 + id));
    await until(() => got.length === MAX_PENDING_TX_TAGS, "the transmit times kept");
    // Send ids 0 and 1 (tags 1 and 2) were the oldest and went.
    expect(got[0]).toEqual({ kind: "txTime", sendTag: 3, txTimeNs: 1002n });
    expect(got.at(-1)).toEqual({ kind: "txTime", sendTag: n, txTimeNs: BigInt(1000 + n - 1) });

    calf.write(encodeDataMessage(datagram(9)));
    await until(() => relay.stats.sent === n + 1, "one more send");
    const [priv2, calf2] = await pair();
    relay.attach(priv2); // the calf restarted
    const got2 = collect(calf2);
    fake.stamp(n, 1n);
    priv2.write(encodeDataMessage({ kind: "link", up: true, carrier: true, mtu: 1500 }));
    await until(() => got2.length === 1, "the marker");
    expect(got2.map((m) => m.kind)).toEqual(["link"]);
  });
});
