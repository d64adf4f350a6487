// Unit tests of the generic data path: the egress checks every service gets (packet: source MAC,
// size, the declarative rules, then the service's check; UDP: port, peer, size), and the relay
// (frames and datagrams both ways over a real Unix stream, send rate and byte rate, a message for
// a channel the service does not have disconnecting the calf). No root needed.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, type DataMessage } from "@paddock/protocol";
import { BROADCAST, frameKit, mac } from "../../../native/test/frames.ts";
import { DataPathRelay, datagramEgress, packetEgress, type DatagramSocket, type FrameSocket } from "../src/datapath/index.ts";

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
    const udp: DatagramSocket = { onMessage: (cb) => void (deliver = cb), sendTo: (d, a, p) => void sent.push({ bytes: d.length, to: `${a}:${p}` }) };
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
});
