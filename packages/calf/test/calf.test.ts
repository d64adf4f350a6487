import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KvServer, KvStore } from "@paddock/kv";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, type DataMessage } from "@paddock/protocol";
import { runCalf, Timers, MAX_TIMEOUT_MS, MAX_RANDOM_BYTES, createCalfLogger, nodeHost, type CalfHost, type CalfProfile } from "../src/index.ts";

const profile: CalfProfile = { name: "test" };
let dir: string;
let store: KvStore;
let kvServer: KvServer;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "paddock-calf-"));
  store = new KvStore({ schema: dhcp4Schema, stateDir: path.join(dir, "state") });
  kvServer = new KvServer(store, { debug() {}, info() {}, warn() {}, error() {} });
});
afterAll(async () => {
  await kvServer.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A connected pair of stream sockets (Node has no socketpair()). */
async function pair(name: string): Promise<[net.Socket, net.Socket]> {
  const p = path.join(dir, `${name}.sock`);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(p, r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.createConnection(p);
  await new Promise((r) => client.once("connect", r));
  const other = await accepted;
  server.close();
  return [client, other];
}

function collect(sock: net.Socket): DataMessage[] {
  const out: DataMessage[] = [];
  const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
  sock.on("data", (c) => {
    for (const f of reader.push(new Uint8Array(c)).frames) {
      const m = decodeDataMessage(f);
      if (m.ok) out.push(m.value);
    }
  });
  return out;
}

/** Whether `pred` came to hold within `ms` (a bound on a hang, not on how fast: load only delays it). */
const until = async (pred: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return pred();
};

describe("runCalf", () => {
  it("gives main a KV client with calf rights, a data channel and link state, and stops when the priv hangs up", async () => {
    const [calfControl, privControl] = await pair("c1");
    const [calfData, privData] = await pair("d1");
    kvServer.serve(privControl, { role: "calf", name: "calf:test" });
    const fromCalf = collect(privData);
    const lines: string[] = [];
    let aborted = "";
    const done = runCalf(profile, async (ctx) => {
      await ctx.kv.write("/ip", "10.1.2.3/24");
      await expect(ctx.kv.write("/mac", "02:00:00:00:00:01")).rejects.toMatchObject({ code: "PADDOCK_E_KV_READ_ONLY" });
      ctx.data.onFrame((frame, rx) => ctx.data.sendFrame(new Uint8Array([...frame, Number(rx % 256n)])));
      ctx.data.onLink((l) => ctx.log.info({ up: l.up, mtu: l.mtu }, "link"));
      ctx.signal.addEventListener("abort", () => (aborted = String(ctx.signal.reason)));
    }, { channels: { control: calfControl, data: calfData }, exit: false, log: createCalfLogger("info", (l) => lines.push(l)) });

    privData.write(encodeDataMessage({ kind: "link", up: true, carrier: true, mtu: 1500 }));
    privData.write(encodeDataMessage({ kind: "frame", data: new Uint8Array([1, 2, 3]), rxTimeNs: 1_000_000_007n }));
    expect(await until(() => fromCalf.length === 1)).toBe(true);
    expect(fromCalf[0]).toEqual({ kind: "frame", data: new Uint8Array([1, 2, 3, 7]), rxTimeNs: 0n });
    expect(await until(() => lines.some((l) => JSON.parse(l).msg === "link"))).toBe(true);
    expect(JSON.parse(lines.find((l) => JSON.parse(l).msg === "link")!)).toMatchObject({ level: "info", up: true, mtu: 1500 });
    expect(store.values.get("/ip")).toBe("10.1.2.3/24");

    privControl.destroy();
    await done;
    expect(aborted).toBe("the priv closed the control channel");
    privData.destroy();
  });

  it("reports a main that throws and stops", async () => {
    const [calfControl, privControl] = await pair("c2");
    const [calfData, privData] = await pair("d2");
    const lines: string[] = [];
    await runCalf(profile, () => {
      throw new Error("boom");
    }, { channels: { control: calfControl, data: calfData }, exit: false, log: createCalfLogger("info", (l) => lines.push(l)) });
    const failed = lines.map((l) => JSON.parse(l)).find((o) => o.msg === "calf failed");
    expect(failed.err).toBe("boom");
    // The stack goes with it (paddock calf dev maps it back to the sources).
    expect(failed.stack).toMatch(/^Error: boom\n {4}at /);
    privControl.destroy();
    privData.destroy();
  });

  it("reaches clocks, random bytes and exit through its host", async () => {
    const [calfControl, privControl] = await pair("c5");
    const [calfData, privData] = await pair("d5");
    const exits: number[] = [];
    const host: CalfHost = {
      ...nodeHost,
      realTimeMs: () => 1_700_000_000_000,
      monotonicNs: () => 42n,
      random: (n) => new Uint8Array(n).fill(7),
      exit: ((code: number) => void exits.push(code)) as CalfHost["exit"],
    };
    let seen: { now: number; mono: bigint; random: Uint8Array } | undefined;
    await runCalf(profile, (ctx) => {
      seen = { now: ctx.now(), mono: ctx.monotonicNs(), random: ctx.random(3) };
      ctx.exit(3, "done");
    }, { host, channels: { control: calfControl, data: calfData }, log: createCalfLogger("info", () => {}) });
    expect(seen).toEqual({ now: 1_700_000_000_000, mono: 42n, random: new Uint8Array([7, 7, 7]) });
    expect(exits).toEqual([3]);
    privControl.destroy();
    privData.destroy();
  });
});

describe("the Node host", () => {
  it("gives random bytes from the CSPRNG, a monotonic clock, and refuses absurd sizes", () => {
    const a = nodeHost.random(16);
    expect(a).toHaveLength(16);
    expect(a).not.toEqual(nodeHost.random(16));
    expect(() => nodeHost.random(MAX_RANDOM_BYTES + 1)).toThrow(RangeError);
    const t0 = nodeHost.monotonicNs();
    expect(nodeHost.monotonicNs()).toBeGreaterThanOrEqual(t0);
  });
});

describe("Timers", () => {
  it("fires at absolute times and chains waits longer than setTimeout allows", async () => {
    const fired: string[] = [];
    const t = new Timers();
    const now = Date.now();
    t.set("soon", now + 10, () => fired.push("soon"));
    t.set("far", now + MAX_TIMEOUT_MS * 2, () => fired.push("far"));
    t.set("gone", now + 5, () => fired.push("gone"));
    t.cancel("gone");
    t.set("past", now - 1000, () => fired.push("past"));
    expect(await until(() => fired.length === 2)).toBe(true);
    expect(fired).toEqual(["past", "soon"]);
    expect(t.names).toEqual(["far"]);
    t.cancelAll();
    expect(t.names).toEqual([]);
  });
});

describe("runCalf stop work", () => {
  it("finishes onStop work, store writes included, before it returns", async () => {
    const [calfControl, privControl] = await pair("c3");
    const [calfData, privData] = await pair("d3");
    kvServer.serve(privControl, { role: "calf", name: "calf:stop" });
    let handlerDone = false;
    let stopHandlerSet = false;
    const done = runCalf(profile, (ctx) => {
      ctx.onStop(async () => {
        // Stop work that takes a while (what is tested: runCalf waits for it).
        await new Promise((r) => setTimeout(r, 50));
        await ctx.kv.write("/state/stopped", "yes");
        handlerDone = true;
      });
      stopHandlerSet = true;
    }, { channels: { control: calfControl, data: calfData }, exit: false, log: createCalfLogger("error", () => {}) });
    expect(await until(() => stopHandlerSet)).toBe(true);
    process.emit("SIGTERM", "SIGTERM");
    await done;
    expect(handlerDone).toBe(true);
    expect(store.values.get("/state/stopped")).toBe("yes");
    privControl.destroy();
    privData.destroy();
  });
});
