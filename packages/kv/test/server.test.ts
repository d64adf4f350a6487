import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeKvResponse, encodeKvRequest, FrameReader, type KvRequest, type KvResponse } from "@paddock/protocol";
import { connectKv, KvClient, KvServer, KvStore } from "../src/index.ts";
// The DHCP client's schema: the original design's key layout, which the wire must keep serving.
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";

const te = new TextEncoder();
let dir: string;
let store: KvStore;
let server: KvServer;
let calfSock: string;
let adminSock: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "paddock-kvs-"));
  store = new KvStore({ schema: dhcp4Schema, stateDir: path.join(dir, "state") });
  server = new KvServer(store, { debug() {}, info() {}, warn() {}, error() {} });
  calfSock = path.join(dir, "calf.sock");
  adminSock = path.join(dir, "admin.sock");
  await server.listen(calfSock, "calf", "calf:test");
  await server.listen(adminSock, "admin");
});
afterAll(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const open: net.Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

/** A raw connection: send bytes, collect decoded responses, notice a close. */
function raw(sockPath: string) {
  const s = net.createConnection(sockPath);
  open.push(s);
  const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
  const responses: KvResponse[] = [];
  let closed = false;
  s.on("data", (c) => {
    for (const f of reader.push(new Uint8Array(c)).frames) {
      const r = decodeKvResponse(f);
      if (r.ok) responses.push(r.value);
    }
  });
  s.on("close", () => (closed = true));
  s.on("error", () => {});
  return {
    send: (b: Uint8Array) => s.write(b),
    end: () => s.end(),
    responses,
    isClosed: () => closed,
    waitFor: async (pred: () => boolean, ms = 10_000) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      return pred();
    },
  };
}

const req = (id: number, p: string, op: KvRequest["op"]): Uint8Array => encodeKvRequest({ id, path: p.split("/").filter(Boolean), op });
const write = (id: number, p: string, v: string) => req(id, p, { kind: "write", value: te.encode(v) });
const text = (r: KvResponse) => (r.result.kind === "ok" ? `ok:${new TextDecoder().decode(r.result.value)}` : r.result.kind === "error" ? `error:${r.result.message.split(":")[0]}` : r.result.kind);

describe("KvServer", () => {
  it("answers pipelined requests by id", async () => {
    const c = raw(calfSock);
    const batch = [write(11, "/ip", "10.1.2.3/24"), write(12, "/mac", "02:00:00:00:00:01"), req(13, "/state/x", { kind: "read" })];
    c.send(Buffer.concat(batch));
    expect(await c.waitFor(() => c.responses.length === 3)).toBe(true);
    const byId = Object.fromEntries(c.responses.map((r) => [r.id, text(r)]));
    expect(byId).toEqual({ 11: "ok:", 12: "error:PADDOCK_E_KV_READ_ONLY", 13: "error:PADDOCK_E_KV_NOT_FOUND" });
  });

  it("closes only the connection that sends a hostile frame header", async () => {
    const good = raw(calfSock);
    const bad = raw(calfSock);
    const hostile = new Uint8Array(16);
    new DataView(hostile.buffer).setUint32(0, 0xb0000000 - 1, true);
    bad.send(hostile);
    expect(await bad.waitFor(() => bad.isClosed())).toBe(true);
    good.send(write(1, "/gateway", "10.1.2.1"));
    expect(await good.waitFor(() => good.responses.length === 1)).toBe(true);
    expect(text(good.responses[0]!)).toBe("ok:");
    expect(good.isClosed()).toBe(false);
  });

  it("closes a calf connection that sends a frame over its size limit", async () => {
    const c = raw(calfSock);
    c.send(write(1, "/state/big", "x".repeat(1 << 20)));
    expect(await c.waitFor(() => c.isClosed())).toBe(true);
    expect(c.responses).toEqual([]);
    expect(server.stats.protocolViolations).toBeGreaterThan(0);
  });

  it("rate-limits a flooding calf with typed errors and stays responsive", async () => {
    const c = raw(calfSock);
    const n = 1000;
    const frames: Uint8Array[] = [];
    for (let i = 0; i < n; i++) frames.push(req(i + 1, "/mac", { kind: "read" }));
    c.send(Buffer.concat(frames));
    expect(await c.waitFor(() => c.responses.length === n, 10_000)).toBe(true);
    const limited = c.responses.filter((r) => text(r) === "error:PADDOCK_E_KV_RATE_LIMITED").length;
    expect(limited).toBeGreaterThan(n / 2);
    const admin = await connectKv(adminSock);
    await admin.write("/mac", "02:00:00:00:00:09");
    expect(await admin.read("/mac")).toBe("02:00:00:00:00:09");
    admin.close();
  });

  it("keeps list, watch and audit for operators", async () => {
    const c = raw(calfSock);
    c.send(Buffer.concat([req(1, "/", { kind: "list" }), req(2, "/", { kind: "watch" }), req(3, "/", { kind: "audit", tail: 0 })]));
    expect(await c.waitFor(() => c.responses.length === 3)).toBe(true);
    for (const r of c.responses) expect(text(r)).toBe("error:PADDOCK_E_KV_FORBIDDEN");
  });

  it("lets a calf watch a prefix whose keys it may all read, and no other (issue 13 A3)", async () => {
    const calf = await connectKv(calfSock);
    const seen: string[] = [];
    await calf.watch("/mac", (e) => seen.push(`${e.path}=${e.value}`));
    await expect(calf.watch("/lease", () => {})).rejects.toMatchObject({ code: "PADDOCK_E_KV_FORBIDDEN" });
    await expect(calf.watch("/", () => {})).rejects.toMatchObject({ code: "PADDOCK_E_KV_FORBIDDEN" });
    const admin = await connectKv(adminSock);
    await admin.write("/mac", "02:00:00:00:00:0a");
    await admin.write("/gateway", "10.1.2.1");
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual(["/mac=02:00:00:00:00:0a"]);
    admin.close();
    calf.close();
  });

  it("answers info to operators only, from the server's provider (issue 13 A3)", async () => {
    const infoSock = path.join(dir, "info.sock");
    const infoCalfSock = path.join(dir, "info-calf.sock");
    const withInfo = new KvServer(store, { debug() {}, info() {}, warn() {}, error() {} }, { info: () => ({ calf: { state: "running", restarts: 2 } }) });
    await withInfo.listen(infoSock, "admin");
    await withInfo.listen(infoCalfSock, "calf");
    const admin = await connectKv(infoSock);
    expect(await admin.info()).toEqual({ calf: { state: "running", restarts: 2 } });
    const calf = await connectKv(infoCalfSock);
    await expect(calf.info()).rejects.toMatchObject({ code: "PADDOCK_E_KV_FORBIDDEN" });
    const plain = await connectKv(adminSock);
    expect(await plain.info()).toEqual({});
    for (const c of [admin, calf, plain]) c.close();
    await withInfo.close();
  });

  it("delivers watch events to an operator over the wire, in order", async () => {
    const admin = await connectKv(adminSock);
    const seen: string[] = [];
    await admin.watch("/route", (e) => seen.push(`${e.path}=${e.value}`));
    const calf = await connectKv(calfSock);
    await calf.write("/route/001", "10.0.0.0/8 10.1.2.1");
    await calf.write("/route/002", "10.9.0.0/16 0.0.0.0");
    await calf.delete("/route/001");
    await calf.write("/mtu", "1400");
    // Watch events follow the commits' acknowledgements; wait for them (a bound on a hang, not a duration).
    const end = Date.now() + 10_000;
    while (seen.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual(["/route/001=10.0.0.0/8 10.1.2.1", "/route/002=10.9.0.0/16 0.0.0.0", "/route/001=null"]);
    const audit = (await admin.audit(2)).map((l) => JSON.parse(l));
    expect(audit.map((a) => a.path)).toEqual(["/route/001", "/mtu"]);
    calf.close();
    admin.close();
  });

  it("commits a lease over the wire: one seq for all its events, all or none", async () => {
    const admin = await connectKv(adminSock);
    const seen: Array<[bigint, string]> = [];
    await admin.watch("/ntp", (e) => seen.push([e.seq, `${e.path}=${e.value}`]));
    const calf = await connectKv(calfSock);
    await calf.commit([
      { path: "/ntp/001", value: "10.0.0.123" },
      { path: "/ntp/002", value: "10.0.0.124" },
      { path: "/lease/server", value: "10.0.0.1" },
    ]);
    await expect(calf.commit([{ path: "/ntp/003", value: "10.0.0.125" }, { path: "/ntp/001", value: null }, { path: "/mac", value: "02:00:00:00:00:07" }]))
      .rejects.toMatchObject({ code: "PADDOCK_E_KV_READ_ONLY", message: expect.stringContaining("/mac") });
    await calf.commit([{ path: "/ntp/002", value: null }, { path: "/mtu", value: "1280" }]);
    // Watch events follow the commits' acknowledgements; wait for them (a bound on a hang, not a duration).
    const end = Date.now() + 10_000;
    while (seen.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(seen.map(([, e]) => e)).toEqual(["/ntp/001=10.0.0.123", "/ntp/002=10.0.0.124", "/ntp/002=null"]);
    expect(seen[0]![0]).toBe(seen[1]![0]);
    expect(seen[2]![0]).toBeGreaterThan(seen[1]![0]);
    expect(await admin.list("/ntp")).toEqual(["/ntp/001"]);
    await calf.commit([]);
    calf.close();
    admin.close();
  });

  it("counts a commit as one request against the calf rate limit", async () => {
    // 150 commits of 64 changes: within the burst of 200 requests, far over it if changes counted.
    const c = raw(calfSock);
    const changes = Array.from({ length: 64 }, (_, i) => ({ path: ["route", String(i + 1).padStart(3, "0")], value: te.encode(`10.${i}.0.0/16 0.0.0.0`) }));
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 150; i++) frames.push(req(i + 1, "/", { kind: "commit", changes }));
    c.send(Buffer.concat(frames));
    expect(await c.waitFor(() => c.responses.length === 150, 10_000)).toBe(true);
    expect(c.responses.filter((r) => text(r) === "error:PADDOCK_E_KV_RATE_LIMITED")).toEqual([]);
    expect(c.responses.every((r) => text(r) === "ok:")).toBe(true);
  });

  it("refuses a commit whose request carries a path, keeping the connection", async () => {
    const c = raw(calfSock);
    c.send(Buffer.concat([req(1, "/ip", { kind: "commit", changes: [{ path: ["ip"], value: te.encode("10.1.2.3/24") }] }), req(2, "/mac", { kind: "read" })]));
    expect(await c.waitFor(() => c.responses.length === 2)).toBe(true);
    expect(Object.fromEntries(c.responses.map((r) => [r.id, text(r)]))).toEqual({ 1: "error:PADDOCK_E_KV_BAD_PATH", 2: expect.stringMatching(/^ok:|^error:PADDOCK_E_KV_NOT_FOUND$/) });
    expect(c.isClosed()).toBe(false);
  });

  it("closes a connection that sends a commit of more than MAX_COMMIT_CHANGES changes", async () => {
    const c = raw(calfSock);
    c.send(req(1, "/", { kind: "commit", changes: Array.from({ length: 129 }, () => ({ path: ["mtu"], value: null })) }));
    expect(await c.waitFor(() => c.isClosed())).toBe(true);
    expect(c.responses).toEqual([]);
  });

  it("client errors carry the server's stable code", async () => {
    const calf = await connectKv(calfSock);
    await expect(calf.write("/ip", "999.1.1.1/24")).rejects.toMatchObject({ code: "PADDOCK_E_KV_INVALID_VALUE", path: "/ip" });
    await expect(calf.read("/ip")).rejects.toMatchObject({ code: "PADDOCK_E_KV_FORBIDDEN" });
    calf.close();
    await expect(calf.read("/mac")).rejects.toMatchObject({ code: "PADDOCK_E_KV_CLOSED" });
  });

  it("client times out when the peer never answers", async () => {
    const silentPath = path.join(dir, "silent.sock");
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(silentPath, r));
    const c = await connectKv(silentPath, { timeoutMs: 100 });
    await expect(c.read("/mac")).rejects.toMatchObject({ code: "PADDOCK_E_KV_TIMEOUT" });
    c.close();
    silent.close();
  });

  it("survives arbitrary bytes and mutated messages on many connections, then still serves", async () => {
    const valid = write(7, "/gateway", "10.1.2.1");
    const validCommit = req(8, "/", { kind: "commit", changes: [{ path: ["gateway"], value: te.encode("10.1.2.1") }, { path: ["nameserver", "001"], value: null }] });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 200 }),
          fc.tuple(fc.constantFrom(valid, validCommit), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })).map(([frame, flips]) => {
            const m = frame.slice();
            for (const [at, v] of flips) m[at % m.length] = v;
            return m;
          }),
        ),
        async (bytes) => {
          const c = raw(calfSock);
          c.send(bytes);
          // Followed by a valid request and the end of the stream: either the request is answered,
          // or the connection is closed (a broken frame, or one left incomplete at the end).
          c.send(req(99, "/mac", { kind: "read" }));
          c.end();
          expect(await c.waitFor(() => c.isClosed() || c.responses.some((r) => r.id === 99), 10_000)).toBe(true);
          open.pop()?.destroy();
        },
      ),
      { numRuns: 150 },
    );
    const admin = await connectKv(adminSock);
    await admin.write("/mtu", "1500");
    expect(await admin.read("/mtu")).toBe("1500");
    admin.close();
  });
});
