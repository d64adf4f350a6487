// One lease = one KV commit = one handler run, with no timer anywhere: the real DHCP calf
// (dhcp4CalfMain on the SDK) runs over in-memory channels against a real store with the DHCP
// schema and a handler runner; a DISCOVER/OFFER/REQUEST/ACK exchange is played to it, then a
// renewal that changes several options. Every state a handler ever sees holds a whole lease (or
// none): never an address without its router, or the old DNS servers with the new domain.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createCalfLogger, runCalf } from "@paddock/calf";
import { decodeDhcpFrame, encodeDhcpFrame, MessageType, type DhcpMessage, type DhcpOption } from "@paddock/dhcp4";
import { KvServer, KvStore, type StoreEvent } from "@paddock/kv";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES } from "@paddock/protocol";
import { HandlerRunner, type Handler, type StoreView } from "@paddock/runtime";
import { dhcp4Schema } from "../../service/src/schema.ts";
import { dhcp4CalfMain } from "../src/main.ts";

const MAC = "02:00:5e:10:20:30";
const SERVER_MAC = Uint8Array.of(2, 0, 0, 0, 0, 1);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const priv = { role: "priv" as const, name: "priv" };

/** A connected pair of stream sockets: [the priv's end, the calf's end]. */
async function pair(dir: string, name: string): Promise<[net.Socket, net.Socket]> {
  const file = path.join(dir, `${name}.sock`);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(file, r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.createConnection(file);
  await new Promise<void>((r) => client.once("connect", () => r()));
  const privEnd = await accepted;
  server.close();
  return [privEnd, client];
}

function options(o: { domain: string; dns: string[]; router: string; mtu: number }): DhcpOption[] {
  return [
    { kind: "serverId", code: 54, address: "10.0.0.1" },
    { kind: "leaseTime", code: 51, seconds: 3600 },
    { kind: "subnetMask", code: 1, mask: "255.255.255.0" },
    { kind: "routers", code: 3, addresses: [o.router] },
    { kind: "dnsServers", code: 6, addresses: o.dns },
    { kind: "domainName", code: 15, name: o.domain },
    { kind: "mtu", code: 26, mtu: o.mtu },
  ];
}

function reply(type: MessageType, request: DhcpMessage, opts: DhcpOption[]): Uint8Array {
  const msg: DhcpMessage = {
    ...request,
    op: 2,
    yiaddr: "10.0.0.5",
    ciaddr: "0.0.0.0",
    options: [{ kind: "messageType", code: 53, type }, ...opts],
  };
  const r = encodeDhcpFrame(msg, { srcMac: SERVER_MAC, dstMac: request.chaddr, srcIp: "10.0.0.1", dstIp: "10.0.0.5", srcPort: 67, dstPort: 68 });
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

async function until<T>(get: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("the DHCP calf publishes a lease as one commit", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("one commit per lease, and no handler ever sees half of it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-lease-commit-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new KvStore({ schema: dhcp4Schema, stateDir: path.join(dir, "state") });
    cleanups.push(() => store.close());
    await store.commit(priv, [{ path: ["mac"], value: new TextEncoder().encode(MAC) }]);
    const kv = new KvServer(store, quiet);
    cleanups.push(() => kv.close());

    const events: StoreEvent[] = [];
    store.watch("/", (e) => void events.push(e));
    // What a handler sees at each reconcile: the lease fields it would apply together.
    const seen: Array<Record<string, string | undefined>> = [];
    const recorder: Handler<Record<string, string | undefined>> = {
      name: "recorder",
      desired: (s: StoreView) => ({ ip: s.values.get("/ip"), gateway: s.values.get("/gateway"), domain: s.values.get("/domain"), dns: s.values.get("/nameserver/001"), mtu: s.values.get("/mtu") }),
      apply: async (d) => (seen.push(d), { changes: [] }),
    };
    const runner = new HandlerRunner({ source: store, handlers: [recorder], resyncMs: 0 });
    runner.start();
    cleanups.push(() => runner.stop());

    const [controlPriv, controlCalf] = await pair(dir, "control");
    const [dataPriv, dataCalf] = await pair(dir, "data");
    cleanups.push(() => {
      for (const s of [controlPriv, controlCalf, dataPriv, dataCalf]) s.destroy();
    });
    kv.serve(controlPriv, { role: "calf", name: "calf:test" });
    const sent: DhcpMessage[] = [];
    const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
    dataPriv.on("data", (chunk: Buffer) => {
      for (const f of reader.push(new Uint8Array(chunk)).frames) {
        const m = decodeDataMessage(f);
        if (m.ok && m.value.kind === "frame") {
          const d = decodeDhcpFrame(m.value.data, { verifyChecksums: false });
          if (d.ok) sent.push(d.value.message);
        }
      }
    });
    const toCalf = (frame: Uint8Array) => dataPriv.write(encodeDataMessage({ kind: "frame", data: frame, rxTimeNs: BigInt(Date.now()) * 1_000_000n }));
    dataPriv.write(encodeDataMessage({ kind: "link", up: true, carrier: true, mtu: 1500 }));
    const calfDone = runCalf({ name: "dhcp4" }, dhcp4CalfMain, { channels: { control: controlCalf, data: dataCalf }, exit: false, log: createCalfLogger("error") });
    cleanups.push(async () => {
      controlCalf.destroy();
      dataCalf.destroy();
      await calfDone;
    });

    const A = { domain: "a.test", dns: ["10.0.0.53"], router: "10.0.0.1", mtu: 1400 };
    const typeOf = (m: DhcpMessage) => (m.options.find((o) => o.kind === "messageType") as { type: number } | undefined)?.type;
    const discover = await until(() => sent.find((m) => typeOf(m) === MessageType.DISCOVER), "a DISCOVER");
    toCalf(reply(MessageType.OFFER, discover, options(A)));
    const request = await until(() => sent.find((m) => typeOf(m) === MessageType.REQUEST), "a REQUEST");
    toCalf(reply(MessageType.ACK, request, options(A)));
    await until(() => (store.values.get("/domain") === A.domain ? true : undefined), "lease A in the store");
    await runner.settled();

    // The whole lease arrived in one commit: one event holding the address and all it needs.
    const withIp = events.filter((e) => e.changes.some((c) => c.path === "/ip"));
    expect(withIp).toHaveLength(1);
    expect(withIp[0]!.changes.map((c) => c.path)).toEqual(expect.arrayContaining(["/ip", "/gateway", "/mtu", "/domain", "/nameserver/001", "/lease/expires", "/lease/server", "/lease/renew", "/state/lease"]));
    // The client's state for operators (`paddock status`) comes with it: BOUND and its lease are one commit.
    expect(withIp[0]!.changes).toContainEqual({ path: "/client/state", value: "BOUND" });

    // Every state any reconcile saw is empty or all of the lease: never an address without its
    // router, domain, DNS server and MTU.
    const whole = (d: Record<string, string | undefined>) => d.ip === "10.0.0.5/24" && d.gateway === A.router && d.domain === A.domain && d.dns === A.dns[0] && d.mtu === String(A.mtu);
    for (const d of seen) expect(d.ip === undefined || whole(d), JSON.stringify(d)).toBe(true);
    expect(seen.some(whole)).toBe(true);
  });
});
