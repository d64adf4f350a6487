/**
 * The KV protocol against the reference implementation: requests built by Debian's `capnp encode`
 * from the schema text, sent to the real `paddock kv serve`, and its responses read back by
 * `capnp decode`. This is the acceptance list, end to end. The commit request is checked the
 * same way against the store and server run from source (see the second describe).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeKvRequest, encodeKvRequest, FrameReader, type KvRequest } from "@paddock/protocol";
import { connectKv, KvClient } from "@paddock/kv";
import { paddock, repoRoot, startPaddock, stopProcess, waitForOutput } from "./helpers/paddock.ts";

const schemaFile = path.join(repoRoot, "packages/protocol/schema/kv.capnp");
const kvServeFixture = path.join(repoRoot, "packages/kv/test/fixtures/kv-serve.ts");
let dir: string;
let child: ChildProcess | undefined;
let calfSock: string;
let adminSock: string;
let stateDir: string;

function capnpEncode(text: string): Buffer {
  const r = spawnSync("capnp", ["encode", schemaFile, "Request"], { input: text });
  if (r.status !== 0) throw new Error(`capnp encode failed: ${r.stderr}`);
  return r.stdout;
}

function capnpDecode(frame: Uint8Array, type: "Request" | "Response" = "Response"): string {
  const r = spawnSync("capnp", ["decode", "--short", schemaFile, type], { input: frame });
  if (r.status !== 0) throw new Error(`capnp decode failed: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** Sends raw bytes on a new connection; returns the response frames decoded by `capnp decode`. */
async function exchange(sock: string, bytes: Buffer, expected: number): Promise<{ texts: string[]; closed: boolean }> {
  const s = net.createConnection(sock);
  const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
  const frames: Uint8Array[] = [];
  let closed = false;
  s.on("data", (c) => frames.push(...reader.push(new Uint8Array(c)).frames));
  s.on("close", () => (closed = true));
  s.on("error", () => {});
  s.write(bytes);
  const end = Date.now() + 5000;
  while (frames.length < expected && !closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  return { texts: frames.map((f) => capnpDecode(f)), closed };
}

async function startServe(): Promise<void> {
  child = startPaddock(["kv", "serve", "--schema", "dhcp4", "--socket", calfSock, "--admin-socket", adminSock, "--state-dir", stateDir]);
  await waitForOutput(child, /store ready/);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "paddock-interop-"));
  calfSock = path.join(dir, "calf.sock");
  adminSock = path.join(dir, "admin.sock");
  stateDir = path.join(dir, "state");
  await startServe();
});

afterAll(async () => {
  await stopProcess(child, "SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("paddock kv serve with capnp encode/decode", () => {
  it.each([
    ["write /ip 10.1.2.3/24", '(id = 1, path = ["ip"], write = "10.1.2.3/24")', "ok"],
    ["calf write /mac", '(id = 2, path = ["mac"], write = "02:00:00:00:00:01")', "PADDOCK_E_KV_READ_ONLY"],
    ["write /ip 999.1.1.1/24", '(id = 3, path = ["ip"], write = "999.1.1.1/24")', "PADDOCK_E_KV_INVALID_VALUE"],
    ["calf read /ip", '(id = 4, path = ["ip"], read = void)', "PADDOCK_E_KV_FORBIDDEN"],
    ["write /nameserver/001", '(id = 5, path = ["nameserver", "001"], write = "10.0.0.53")', "ok"],
    ["unknown path", '(id = 6, path = ["etc", "shadow"], write = "x")', "PADDOCK_E_KV_UNKNOWN_PATH"],
    ["/domain with a newline", '(id = 7, path = ["domain"], write = "evil.test\\nnameserver 6.6.6.6")', "PADDOCK_E_KV_INVALID_VALUE"],
    ["/mtu 70000", '(id = 8, path = ["mtu"], write = "70000")', "PADDOCK_E_KV_INVALID_VALUE"],
  ])("%s", async (_name, request, want) => {
    const id = /id = (\d+)/.exec(request)![1];
    const { texts } = await exchange(calfSock, capnpEncode(request), 1);
    expect(texts).toHaveLength(1);
    expect(texts[0]).toContain(`id = ${id}`);
    if (want === "ok") expect(texts[0]).toMatch(/ok = ""/);
    else expect(texts[0]).toMatch(new RegExp(`error = "${want}: `));
  });

  it("answers three pipelined requests with their ids", async () => {
    const bytes = Buffer.concat([
      capnpEncode('(id = 101, path = ["gateway"], write = "10.1.2.1")'),
      capnpEncode('(id = 102, path = ["mac"], read = void)'),
      capnpEncode('(id = 103, path = ["mtu"], write = "1400")'),
    ]);
    const { texts } = await exchange(calfSock, bytes, 3);
    expect(texts.map((t) => /id = (\d+)/.exec(t)![1]).sort()).toEqual(["101", "102", "103"]);
  });

  it("closes only the connection that sends a hostile frame header", async () => {
    const hostile = Buffer.alloc(16);
    hostile.writeUInt32LE(0xb0000000 - 1, 0);
    const { closed, texts } = await exchange(calfSock, hostile, 1);
    expect(closed).toBe(true);
    expect(texts).toEqual([]);
    const after = await exchange(calfSock, capnpEncode('(id = 9, path = ["mac"], read = void)'), 1);
    expect(after.texts[0]).toContain("id = 9");
  });

  it("after kill -9 and a restart, the admin socket returns the acknowledged values and the audit shows refusals", async () => {
    await stopProcess(child, "SIGKILL");
    await startServe();
    const ip = paddock(["kv", "get", "/ip", "--socket", adminSock]);
    expect(ip).toMatchObject({ status: 0, stdout: "10.1.2.3/24\n" });
    expect(paddock(["kv", "get", "/nameserver/001", "--socket", adminSock]).stdout).toBe("10.0.0.53\n");
    expect(paddock(["kv", "get", "/mtu", "--socket", adminSock]).stdout).toBe("1400\n");
    const audit = paddock(["kv", "audit", "--socket", adminSock]);
    expect(audit.status).toBe(0);
    const records = audit.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const results = records.map((r: { path: string; result: string }) => `${r.path} ${r.result}`);
    expect(results).toContain("/mac PADDOCK_E_KV_READ_ONLY");
    expect(results).toContain("/ip PADDOCK_E_KV_FORBIDDEN");
    expect(results).toContain("/domain PADDOCK_E_KV_INVALID_VALUE");
    expect(results).toContain("/mtu PADDOCK_E_KV_INVALID_VALUE");
  });

  it("reports user errors in one sentence, without a stack trace", () => {
    const r = paddock(["kv", "get", "/ip", "--socket", path.join(dir, "absent.sock")]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^paddock: cannot connect to the store at .*absent\.sock: no such socket/);
    const bad = paddock(["kv", "serve", "--schema", "nope", "--socket", "/tmp/x", "--admin-socket", "/tmp/y", "--state-dir", dir]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^paddock: there is no built-in service named "nope"; known: dhcp4/);
    expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});

/**
 * The commit request (Request.commit @8) against `capnp encode`/`decode`. These run the store and
 * server from source (packages/kv/test/fixtures/kv-serve.ts), not the `paddock` bundle, so they
 * test the code in the tree even before `make setup` rebuilds the CLI.
 */
describe("commit with capnp encode/decode", () => {
  const source = { calf: "", admin: "", child: undefined as ChildProcess | undefined };

  beforeAll(async () => {
    const d = path.join(dir, "source");
    source.calf = path.join(dir, "source-calf.sock");
    source.admin = path.join(dir, "source-admin.sock");
    source.child = spawn(process.execPath, ["--import", "tsx", kvServeFixture, path.join(d, "state"), source.calf, source.admin], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    await waitForOutput(source.child, /store ready/);
  });

  afterAll(async () => {
    await stopProcess(source.child, "SIGKILL");
  });

  it("applies a commit built by capnp encode whole, and refuses one with a bad change whole", async () => {
    const good = '(id = 20, path = [], commit = (changes = [(path = ["route", "001"], write = "10.0.0.0/8 10.1.2.1"), (path = ["ntp", "001"], write = "10.0.0.123"), (path = ["hostname"], write = "calf-host")]))';
    const bad = '(id = 21, path = [], commit = (changes = [(path = ["route", "002"], write = "10.9.0.0/16 0.0.0.0"), (path = ["mac"], write = "02:00:00:00:00:01")]))';
    const { texts } = await exchange(source.calf, Buffer.concat([capnpEncode(good), capnpEncode(bad)]), 2);
    const byId = Object.fromEntries(texts.map((t) => [/id = (\d+)/.exec(t)![1], t]));
    expect(byId["20"]).toBe('(id = 20, ok = "")');
    expect(byId["21"]).toMatch(/^\(id = 21, error = "PADDOCK_E_KV_READ_ONLY: \/mac /);
    const admin = await connectKv(source.admin);
    try {
      expect(await admin.read("/route/001")).toBe("10.0.0.0/8 10.1.2.1");
      expect(await admin.read("/hostname")).toBe("calf-host");
      await expect(admin.read("/route/002")).rejects.toMatchObject({ code: "PADDOCK_E_KV_NOT_FOUND" });
    } finally {
      admin.close();
    }
  });

  it("encodes a commit that capnp decode reads, and decodes the one capnp encode writes", () => {
    const te = new TextEncoder();
    const request: KvRequest = {
      id: 22,
      path: [],
      op: { kind: "commit", changes: [{ path: ["route", "001"], value: te.encode("10.0.0.0/8 10.1.2.1") }, { path: ["ntp", "001"], value: null }, { path: ["mtu"], value: new Uint8Array(0) }] },
    };
    const text = '(id = 22, path = [], commit = (changes = [(path = ["route", "001"], write = "10.0.0.0/8 10.1.2.1"), (path = ["ntp", "001"], delete = void), (path = ["mtu"], write = "")]))';
    expect(capnpDecode(encodeKvRequest(request), "Request")).toBe(text);
    expect(decodeKvRequest(new Uint8Array(capnpEncode(text)))).toEqual({ ok: true, value: request });
  });

  it("delivers a commit to a watch as consecutive events with one seq (read by capnp decode)", async () => {
    const watch = net.createConnection(source.admin);
    const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
    const frames: Uint8Array[] = [];
    watch.on("data", (c) => frames.push(...reader.push(new Uint8Array(c)).frames));
    watch.on("error", () => {});
    const waitFrames = async (n: number) => {
      const end = Date.now() + 5000;
      while (frames.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      return frames.length >= n;
    };
    try {
      watch.write(capnpEncode('(id = 30, path = ["ntp"], watch = void)'));
      expect(await waitFrames(1)).toBe(true);
      const commit = '(id = 31, path = [], commit = (changes = [(path = ["ntp", "002"], write = "10.0.0.124"), (path = ["lease", "server"], write = "10.1.2.1"), (path = ["ntp", "001"], delete = void)]))';
      expect((await exchange(source.calf, capnpEncode(commit), 1)).texts).toEqual(['(id = 31, ok = "")']);
      expect(await waitFrames(3)).toBe(true);
      const texts = frames.map((f) => capnpDecode(f));
      expect(texts[0]).toBe('(id = 30, ok = "")');
      const seqs = texts.slice(1).map((t) => /seq = (\d+)/.exec(t)![1]);
      expect(seqs[0]).toBe(seqs[1]);
      expect(texts.slice(1).map((t) => t.replace(/seq = \d+/, "seq = N"))).toEqual([
        '(id = 30, event = (seq = N, path = ["ntp", "002"], written = "10.0.0.124"))',
        '(id = 30, event = (seq = N, path = ["ntp", "001"], deleted = void))',
      ]);
    } finally {
      watch.destroy();
    }
  });

});
