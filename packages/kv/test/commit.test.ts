/**
 * KvStore.commit: several changes validated together, applied all or none under one sequence
 * number, persisted once, delivered to each watcher as one event.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_COMMIT_CHANGES } from "@paddock/protocol";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { AUDIT_FILE, entryFileBytes, KvStore, readDurableSnapshot, STORE_FILE, storeFileBytes, type KvCaller, type KvStoreChange, type ServiceSchema, type StoreEvent } from "../src/index.ts";

const calf: KvCaller = { role: "calf", name: "calf:test" };
const priv: KvCaller = { role: "priv", name: "priv" };
const admin: KvCaller = { role: "admin", name: "admin" };
const te = new TextEncoder();

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-kvc-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(opts: { dir?: string; schema?: ServiceSchema; writeFile?: (f: string, d: string) => void } = {}) {
  return new KvStore({ schema: opts.schema ?? dhcp4Schema, stateDir: opts.dir ?? freshDir(), ...(opts.writeFile ? { writeFile: opts.writeFile } : {}) });
}

/** "/a/b" = "v" as a change; null deletes. */
const ch = (p: string, v: string | null): KvStoreChange => ({ path: p.split("/").filter(Boolean), value: v === null ? null : te.encode(v) });

const lease = [
  ch("/ip", "10.1.2.3/24"),
  ch("/gateway", "10.1.2.1"),
  ch("/mtu", "1400"),
  ch("/nameserver/001", "10.1.2.53"),
  ch("/nameserver/002", "10.1.2.54"),
  ch("/lease/expires", "1767225600"),
];

function auditLines(dir: string): Array<Record<string, unknown>> {
  return readFileSync(path.join(dir, AUDIT_FILE), "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

/** The durable entries as a restart would load them: the store file, or the journal's newer snapshot. */
function stored(dir: string): Record<string, string> {
  return readDurableSnapshot(dir, "dhcp4")?.entries ?? JSON.parse(readFileSync(path.join(dir, STORE_FILE), "utf8")).entries;
}

/**
 * A tiny schema whose limits a test can reach with a few short values: the store file may hold 48
 * bytes of entries (an entry costs its key and value as JSON plus 6: `/a` = "aaaaaaaa" is 20).
 */
const tiny: ServiceSchema = {
  name: "tiny",
  description: "limits within reach",
  maxTotalBytes: storeFileBytes("tiny", 1, 48),
  entries: [
    { pattern: "/a", description: "a", writer: "calf", calfReads: true, validate: () => ({ ok: true }), maxBytes: 10 },
    { pattern: "/b", description: "b", writer: "calf", calfReads: true, validate: () => ({ ok: true }), maxBytes: 10 },
    { pattern: "/n/*", maxKeys: 2, description: "n", writer: "calf", calfReads: true, validate: () => ({ ok: true }), maxBytes: 10 },
  ],
};

describe("KvStore.commit", () => {
  it("applies a lease as one commit: one seq, one watch event, one store file", async () => {
    const dir = freshDir();
    let replaced = 0;
    const s = open({ dir, writeFile: (f, d) => (replaced++, writeFileSync(f, d)) });
    const seen: StoreEvent[] = [];
    s.watch("/", (e) => seen.push(e));
    expect(await s.commit(calf, lease)).toEqual({ ok: true, value: undefined });
    expect(seen).toEqual([
      {
        seq: 1n,
        changes: [
          { path: "/ip", value: "10.1.2.3/24" },
          { path: "/gateway", value: "10.1.2.1" },
          { path: "/mtu", value: "1400" },
          { path: "/nameserver/001", value: "10.1.2.53" },
          { path: "/nameserver/002", value: "10.1.2.54" },
          { path: "/lease/expires", value: "1767225600" },
        ],
      },
    ]);
    expect(s.lastSeq).toBe(1n);
    expect(replaced).toBe(1);
    expect(Object.keys(stored(dir))).toHaveLength(6);
    const lines = auditLines(dir);
    expect(lines.map((l) => [l.path, l.result, l.seq, l.commit])).toEqual(lease.map((c) => ["/" + c.path.join("/"), "ok", "1", 6]));
    await s.close();
  });

  it("gives a watcher only the changes under its prefix, and no event when there are none", async () => {
    const s = open();
    const ns: StoreEvent[] = [];
    const routes: StoreEvent[] = [];
    s.watch("/nameserver", (e) => ns.push(e));
    s.watch("/route", (e) => routes.push(e));
    await s.commit(calf, lease);
    await s.commit(calf, [ch("/nameserver/001", null), ch("/mtu", "1500")]);
    expect(ns).toEqual([
      { seq: 1n, changes: [{ path: "/nameserver/001", value: "10.1.2.53" }, { path: "/nameserver/002", value: "10.1.2.54" }] },
      { seq: 2n, changes: [{ path: "/nameserver/001", value: null }] },
    ]);
    expect(routes).toEqual([]);
  });

  it("applies nothing when one value is invalid, and names that path", async () => {
    const dir = freshDir();
    const s = open({ dir });
    await s.commit(calf, [ch("/ip", "10.0.0.5/24")]);
    const seen: StoreEvent[] = [];
    s.watch("/", (e) => seen.push(e));
    const r = await s.commit(calf, [ch("/ip", "10.1.2.3/24"), ch("/gateway", "10.1.2.1"), ch("/mtu", "70000"), ch("/domain", "a.test")]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("PADDOCK_E_KV_INVALID_VALUE");
    expect(r.error.path).toBe("/mtu");
    expect(r.error.message).toContain("/mtu");
    expect(s.read(admin, ["ip"])).toEqual({ ok: true, value: "10.0.0.5/24" });
    for (const k of ["gateway", "mtu", "domain"]) expect(s.read(admin, [k]).ok).toBe(false);
    await s.settled();
    expect(seen).toEqual([]);
    expect(s.lastSeq).toBe(1n);
    expect(stored(dir)).toEqual({ "/ip": "10.0.0.5/24" });
    // One audit line for the refused commit: the change that failed, with the commit's size.
    const last = auditLines(dir).at(-1)!;
    expect([last.path, last.result, last.commit, last.seq]).toEqual(["/mtu", "PADDOCK_E_KV_INVALID_VALUE", 4, undefined]);
  });

  it.each([
    ["a priv-owned key", [ch("/ip", "10.1.2.3/24"), ch("/mac", "02:00:00:00:00:01")], "PADDOCK_E_KV_READ_ONLY", "/mac"],
    ["an unknown path", [ch("/ip", "10.1.2.3/24"), ch("/etc/passwd", "x")], "PADDOCK_E_KV_UNKNOWN_PATH", "/etc/passwd"],
    ["a value that is not UTF-8", [ch("/ip", "10.1.2.3/24"), { path: ["domain"], value: new Uint8Array([0xff]) }], "PADDOCK_E_KV_INVALID_VALUE", "/domain"],
    ["a value over its size limit", [ch("/ip", "10.1.2.3/24"), ch("/state/x", "x".repeat(16 * 1024 + 1))], "PADDOCK_E_KV_TOO_LARGE", "/state/x"],
    ["the same path twice", [ch("/ip", "10.1.2.3/24"), ch("/gateway", "10.1.2.1"), ch("/ip", "10.1.2.4/24")], "PADDOCK_E_KV_BAD_COMMIT", "/ip"],
    ["a delete of a priv-owned key", [ch("/ip", "10.1.2.3/24"), ch("/mac", null)], "PADDOCK_E_KV_READ_ONLY", "/mac"],
    ["a malformed path", [ch("/ip", "10.1.2.3/24"), { path: ["state", ".."], value: te.encode("x") }], "PADDOCK_E_KV_BAD_PATH", undefined],
  ])("refuses a commit holding %s, applying none of it", async (_name, changes, code, failing) => {
    const s = open();
    await s.write(priv, ["mac"], te.encode("02:00:00:00:00:02"));
    const r = await s.commit(calf, changes);
    expect(r.ok || [r.error.code, r.error.path]).toEqual([code, failing]);
    expect(r.ok || r.error.message).toContain(failing ?? "/state/..");
    expect(s.read(admin, ["ip"]).ok).toBe(false);
    expect(s.read(admin, ["mac"])).toEqual({ ok: true, value: "02:00:00:00:00:02" });
    expect(s.lastSeq).toBe(1n);
  });

  it(`refuses more than MAX_COMMIT_CHANGES (${MAX_COMMIT_CHANGES}) changes`, async () => {
    const s = open();
    const many = Array.from({ length: MAX_COMMIT_CHANGES + 1 }, () => ch("/mtu", "1400"));
    const r = await s.commit(calf, many);
    expect(r.ok || r.error.code).toBe("PADDOCK_E_KV_BAD_COMMIT");
    expect(s.read(admin, ["mtu"]).ok).toBe(false);
  });

  it("counts maxKeys as if the whole commit applied", async () => {
    const s = open({ schema: tiny });
    expect((await s.commit(calf, [ch("/n/x", "1")])).ok).toBe(true);
    // Two new keys on top of one: three under /n/*, limit 2. The first new one is named.
    const r = await s.commit(calf, [ch("/n/y", "2"), ch("/n/z", "3")]);
    expect(r.ok || [r.error.code, r.error.path]).toEqual(["PADDOCK_E_KV_TOO_MANY_KEYS", "/n/y"]);
    expect(s.read(admin, ["n", "y"]).ok).toBe(false);
    // Deleting one in the same commit makes room: counted after the whole commit.
    expect((await s.commit(calf, [ch("/n/y", "2"), ch("/n/z", "3"), ch("/n/x", null)])).ok).toBe(true);
    expect(s.list(admin, ["n"])).toEqual({ ok: true, value: ["/n/y", "/n/z"] });
    // Replacing the full set, old keys deleted after the new ones are listed, is fine too.
    expect((await s.commit(calf, [ch("/n/p", "4"), ch("/n/q", "5"), ch("/n/y", null), ch("/n/z", null)])).ok).toBe(true);
    expect(s.list(admin, ["n"])).toEqual({ ok: true, value: ["/n/p", "/n/q"] });
  });

  it("counts maxTotalBytes after the whole commit", async () => {
    const s = open({ schema: tiny });
    expect((await s.commit(calf, [ch("/a", "aaaaaaaa")])).ok).toBe(true); // 20 of 48 bytes
    // Each value alone fits; together 20 + 15 + 17 = 52 > 48. The first change that grows is named.
    const r = await s.commit(calf, [ch("/b", "bbb"), ch("/n/x", "xxx")]);
    expect(r.ok || [r.error.code, r.error.path]).toEqual(["PADDOCK_E_KV_TOO_LARGE", "/b"]);
    expect(s.read(admin, ["b"]).ok).toBe(false);
    // Shrinking /a in the same commit makes room: 14 + 15 + 17 = 46.
    expect((await s.commit(calf, [ch("/b", "bbb"), ch("/n/x", "xxx"), ch("/a", "aa")])).ok).toBe(true);
  });

  it("takes an empty commit as a no-op: no seq, no event, no audit line", async () => {
    const dir = freshDir();
    const s = open({ dir });
    const seen: StoreEvent[] = [];
    s.watch("/", (e) => seen.push(e));
    expect(await s.commit(calf, [])).toEqual({ ok: true, value: undefined });
    await s.close();
    expect(seen).toEqual([]);
    expect(s.lastSeq).toBe(0n);
    expect(readFileSync(path.join(dir, AUDIT_FILE), "utf8")).toBe("");
  });

  it("leaves unchanged keys out of the event and takes no seq when nothing changes", async () => {
    const s = open();
    await s.commit(calf, lease);
    const seen: StoreEvent[] = [];
    s.watch("/", (e) => seen.push(e));
    expect((await s.commit(calf, lease)).ok).toBe(true);
    expect(s.lastSeq).toBe(1n);
    expect((await s.commit(calf, [...lease.slice(0, 2), ch("/mtu", "1500")])).ok).toBe(true);
    expect(seen).toEqual([{ seq: 2n, changes: [{ path: "/mtu", value: "1500" }] }]);
  });

  it("rolls back a whole commit when the store file cannot be written", async () => {
    const dir = freshDir();
    let failing = false;
    const s = open({ dir, writeFile: (f, d) => {
      if (failing) throw new Error("ENOSPC: no space left on device");
      writeFileSync(f, d);
    } });
    await s.commit(calf, [ch("/ip", "10.0.0.5/24"), ch("/mtu", "1500")]);
    const seen: StoreEvent[] = [];
    s.watch("/", (e) => seen.push(e));
    failing = true;
    const r = await s.commit(calf, [ch("/ip", "10.1.2.3/24"), ch("/mtu", null), ch("/gateway", "10.1.2.1")]);
    expect(r.ok || r.error.code).toBe("PADDOCK_E_KV_STORAGE");
    expect(s.read(admin, ["ip"])).toEqual({ ok: true, value: "10.0.0.5/24" });
    expect(s.read(admin, ["mtu"])).toEqual({ ok: true, value: "1500" });
    expect(s.read(admin, ["gateway"]).ok).toBe(false);
    expect(stored(dir)).toEqual({ "/ip": "10.0.0.5/24", "/mtu": "1500" });
    expect([...s.parsed].map(([k, v]) => [k, typeof v === "object" ? (v as { text: string }).text : v])).toEqual([["/ip", "10.0.0.5/24"], ["/mtu", 1500]]);
    expect(seen).toEqual([]);
    expect(s.lastSeq).toBe(1n);
    expect(auditLines(dir).slice(-3).map((l) => [l.path, l.result, l.reason])).toEqual([
      ["/ip", "PADDOCK_E_KV_STORAGE", "rolled back"],
      ["/mtu", "PADDOCK_E_KV_STORAGE", "rolled back"],
      ["/gateway", "PADDOCK_E_KV_STORAGE", "rolled back"],
    ]);
    // The seq is reused once the disk is back, so watchers still see 1, 2, 3 ….
    failing = false;
    expect((await s.commit(calf, [ch("/ip", "10.1.2.3/24"), ch("/gateway", "10.1.2.1")])).ok).toBe(true);
    expect(seen.map((e) => [e.seq, e.changes.length])).toEqual([[2n, 2]]);
    expect([...s.parsed.keys()]).toEqual(["/ip", "/mtu", "/gateway"]);
    expect((s.parsed.get("/ip") as { text: string }).text).toBe("10.1.2.3/24");
    await s.close();
  });

  it("persists commits of the same turn together, each still its own event and seq", async () => {
    const dir = freshDir();
    let replaced = 0;
    const s = open({ dir, writeFile: (f, d) => (replaced++, writeFileSync(f, d)) });
    const seen: StoreEvent[] = [];
    s.watch("/", (e) => seen.push(e));
    await Promise.all([s.commit(calf, lease.slice(0, 3)), s.write(calf, ["domain"], te.encode("a.test")), s.commit(calf, lease.slice(3))]);
    expect(replaced).toBe(1);
    expect(seen.map((e) => [e.seq, e.changes.length])).toEqual([[1n, 3], [2n, 1], [3n, 3]]);
    await s.close();
    expect(open({ dir }).lastSeq).toBe(3n);
  });
});
