import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { AUDIT_FILE, KvStore, STORE_FILE, readKey, readKeys, type KvCaller, type StoreEvent } from "../src/index.ts";

const calf: KvCaller = { role: "calf", name: "calf:test" };
const priv: KvCaller = { role: "priv", name: "priv" };
const admin: KvCaller = { role: "admin", name: "admin" };
const te = new TextEncoder();
const seg = (p: string) => p.split("/").filter(Boolean);

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-kv-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dir = freshDir(), writeFile?: (f: string, d: string) => void) {
  return new KvStore({ schema: dhcp4Schema, stateDir: dir, ...(writeFile ? { writeFile } : {}) });
}

async function put(store: KvStore, who: KvCaller, p: string, v: string) {
  return store.write(who, seg(p), te.encode(v));
}

describe("KvStore rights (dhcp4 schema)", () => {
  it.each([
    ["calf writes /ip", calf, "/ip", "10.1.2.3/24", null],
    ["calf writes /mac", calf, "/mac", "02:00:00:00:00:01", "PADDOCK_E_KV_READ_ONLY"],
    ["priv writes /mac", priv, "/mac", "02:00:00:00:00:01", null],
    ["calf writes a bad /ip", calf, "/ip", "999.1.1.1/24", "PADDOCK_E_KV_INVALID_VALUE"],
    ["calf writes /nameserver/001", calf, "/nameserver/001", "10.0.0.53", null],
    ["calf writes /nameserver/1", calf, "/nameserver/1", "10.0.0.53", "PADDOCK_E_KV_UNKNOWN_PATH"],
    ["calf writes an unknown path", calf, "/etc/passwd", "x", "PADDOCK_E_KV_UNKNOWN_PATH"],
    ["calf writes /domain with a newline", calf, "/domain", "a.test\nnameserver 6.6.6.6", "PADDOCK_E_KV_INVALID_VALUE"],
    ["calf writes /mtu 70000", calf, "/mtu", "70000", "PADDOCK_E_KV_INVALID_VALUE"],
    ["calf writes a 1 MB state value", calf, "/state/lease", "x".repeat(1 << 20), "PADDOCK_E_KV_TOO_LARGE"],
    ["calf writes a path with '..'", calf, "/state/..", "x", "PADDOCK_E_KV_BAD_PATH"],
  ])("%s", async (_name, who, p, v, code) => {
    const r = await put(open(), who, p, v);
    if (code === null) expect(r).toEqual({ ok: true, value: undefined });
    else expect(r.ok || r.error.code).toBe(code);
  });

  it("lets a calf read its state and /mac but not the lease keys it wrote", async () => {
    const s = open();
    await put(s, priv, "/mac", "02:00:00:00:00:01");
    await put(s, calf, "/ip", "10.1.2.3/24");
    await put(s, calf, "/state/lease", "{}");
    expect(s.read(calf, ["mac"])).toEqual({ ok: true, value: "02:00:00:00:00:01" });
    expect(s.read(calf, ["state", "lease"])).toEqual({ ok: true, value: "{}" });
    const r = s.read(calf, ["ip"]);
    expect(r.ok || r.error.code).toBe("PADDOCK_E_KV_FORBIDDEN");
    expect(s.read(admin, ["ip"])).toEqual({ ok: true, value: "10.1.2.3/24" });
  });

  it("bounds the number of keys under a wildcard", async () => {
    const s = open();
    for (let i = 1; i <= dhcp4Schema.entries.find((e) => e.pattern === "/nameserver/*")!.maxKeys!; i++) {
      expect((await put(s, calf, `/nameserver/${String(i).padStart(3, "0")}`, "10.0.0.1")).ok).toBe(true);
    }
    const r = await put(s, calf, "/nameserver/999", "10.0.0.1");
    expect(r.ok || r.error.code).toBe("PADDOCK_E_KV_TOO_MANY_KEYS");
    // Overwriting an existing key is not a new key.
    expect((await put(s, calf, "/nameserver/001", "10.0.0.2")).ok).toBe(true);
  });

  it("refuses a value that is not UTF-8", async () => {
    const r = await open().write(calf, ["domain"], new Uint8Array([0xff, 0xfe]));
    expect(r.ok || r.error.code).toBe("PADDOCK_E_KV_INVALID_VALUE");
  });
});

describe("KvStore durability and audit", () => {
  it("persists acknowledged writes and reloads them", async () => {
    const dir = freshDir();
    const s = open(dir);
    await put(s, calf, "/ip", "10.1.2.3/24");
    await put(s, calf, "/gateway", "10.1.2.1");
    await s.delete(calf, ["gateway"]);
    await s.close();
    const again = open(dir);
    expect([...again.values]).toEqual([["/ip", "10.1.2.3/24"]]);
    expect(again.lastSeq).toBe(3n);
    await again.close();
  });

  it("audits every attempt, accepted and refused, with old and new values", async () => {
    const dir = freshDir();
    const s = open(dir);
    await put(s, calf, "/ip", "10.1.2.3/24");
    await put(s, calf, "/ip", "10.1.2.4/24");
    await put(s, calf, "/mac", "02:00:00:00:00:01");
    s.read(calf, ["ip"]);
    await s.delete(calf, ["ip"]);
    await s.close();
    const lines = readFileSync(path.join(dir, AUDIT_FILE), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.op, l.path, l.old, l.new, l.result])).toEqual([
      ["write", "/ip", null, "10.1.2.3/24", "ok"],
      ["write", "/ip", "10.1.2.3/24", "10.1.2.4/24", "ok"],
      ["write", "/mac", null, "02:00:00:00:00:01", "PADDOCK_E_KV_READ_ONLY"],
      ["read", "/ip", "10.1.2.4/24", null, "PADDOCK_E_KV_FORBIDDEN"],
      ["delete", "/ip", "10.1.2.4/24", null, "ok"],
    ]);
    for (const l of lines) expect(l.client).toBe("calf:test");
  });

  it("truncates huge values in the audit log", async () => {
    const dir = freshDir();
    const s = open(dir);
    await put(s, calf, "/state/x", "y".repeat(100_000));
    await s.close();
    const line = readFileSync(path.join(dir, AUDIT_FILE), "utf8");
    expect(line.length).toBeLessThan(1000);
    expect(line).toContain("(100000 bytes)");
  });

  it("rolls back and reports a commit that cannot reach the disk", async () => {
    const dir = freshDir();
    let failing = false;
    const s = open(dir, (f, d) => {
      if (failing) throw new Error("ENOSPC: no space left on device");
      writeFileSync(f, d);
    });
    await put(s, calf, "/ip", "10.1.2.3/24");
    failing = true;
    const r = await put(s, calf, "/ip", "10.9.9.9/24");
    expect(r.ok || r.error.code).toBe("PADDOCK_E_KV_STORAGE");
    expect(s.read(admin, ["ip"])).toEqual({ ok: true, value: "10.1.2.3/24" });
    expect(JSON.parse(readFileSync(path.join(dir, STORE_FILE), "utf8")).entries["/ip"]).toBe("10.1.2.3/24");
    failing = false;
    expect((await put(s, calf, "/ip", "10.9.9.9/24")).ok).toBe(true);
    await s.close();
  });

  it("delivers committed changes to watchers in order, by prefix", async () => {
    const s = open();
    const seen: StoreEvent[] = [];
    const stop = s.watch("/nameserver", (e) => seen.push(e));
    await Promise.all([put(s, calf, "/nameserver/001", "10.0.0.1"), put(s, calf, "/ip", "10.0.0.5/24"), put(s, calf, "/nameserver/002", "10.0.0.2")]);
    await s.delete(calf, ["nameserver", "001"]);
    stop();
    await put(s, calf, "/nameserver/003", "10.0.0.3");
    // Each write is a commit of its own: one event each, even when persisted together.
    expect(seen).toEqual([
      { seq: 1n, changes: [{ path: "/nameserver/001", value: "10.0.0.1" }] },
      { seq: 3n, changes: [{ path: "/nameserver/002", value: "10.0.0.2" }] },
      { seq: 4n, changes: [{ path: "/nameserver/001", value: null }] },
    ]);
  });

  it("drops stored values that no longer pass the schema", async () => {
    const dir = freshDir();
    writeFileSync(path.join(dir, STORE_FILE), JSON.stringify({ format: "paddock-kv/1", schema: "dhcp4", seq: "5", entries: { "/ip": "10.0.0.5/24", "/mtu": "9", "/bogus": "x" } }));
    const s = open(dir);
    expect([...s.values]).toEqual([["/ip", "10.0.0.5/24"]]);
    expect([...s.parsed.keys()]).toEqual(["/ip"]);
    await s.close();
  });

  it("keeps each durable value parsed next to its text: parsed on write, and again on load", async () => {
    const dir = freshDir();
    const s = open(dir);
    const written = Promise.all([put(s, calf, "/ip", "10.0.0.5/24"), put(s, calf, "/mtu", "1400"), put(s, calf, "/search", "a.test b.test"), put(s, calf, "/state/lease", "{}")]);
    // Not durable yet: neither view has it.
    expect(s.parsed.size).toBe(0);
    await written;
    const { keys } = dhcp4Schema;
    const ip = readKey(s.parsed, keys.ip);
    expect(ip && { text: ip.text, address: ip.address, prefixLength: ip.prefixLength, network: ip.network.text }).toEqual({ text: "10.0.0.5/24", address: "10.0.0.5", prefixLength: 24, network: "10.0.0.0/24" });
    expect(readKey(s.parsed, keys.mtu)).toBe(1400);
    expect(readKey(s.parsed, keys.search)).toEqual(["a.test", "b.test"]);
    expect(readKeys(s.parsed, keys.state)).toEqual(["{}"]);
    expect([...s.parsed.keys()].sort()).toEqual([...s.values.keys()].sort());
    await s.delete(calf, ["mtu"]);
    expect(s.parsed.has("/mtu")).toBe(false);
    await s.close();
    const again = open(dir);
    expect(readKey(again.parsed, keys.ip)?.text).toBe("10.0.0.5/24");
    expect(readKey(again.parsed, keys.search)).toEqual(["a.test", "b.test"]);
    expect([...again.parsed.keys()].sort()).toEqual(["/ip", "/search", "/state/lease"]);
    await again.close();
  });
});
