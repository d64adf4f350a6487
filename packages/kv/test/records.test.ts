/**
 * Decision 0012. The priv's records in the store: a before-persist hook's record goes into the
 * same durable write as the commits being persisted, is durable when their watchers hear of them,
 * is rolled back with them, and survives a reopen. The journal: each persist is one fsync'd
 * append, a restart after a crash loads the journal's last complete line, and the journal is
 * folded into the store file.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { JOURNAL_COMPACT_BYTES, JOURNAL_FILE, KvErrorCode, KvStore, STORE_FILE, writeFileAtomicSync, type KvCaller, type KvStoreChange } from "../src/index.ts";

const calf: KvCaller = { role: "calf", name: "calf:test" };
const te = new TextEncoder();
const ch = (p: string, v: string): KvStoreChange => ({ path: p.split("/").filter(Boolean), value: te.encode(v) });

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-kvr-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const owned = { format: "paddock-owned/1", addresses: [{ index: 7, cidr: "10.1.2.3/24" }] };

describe("records beside the values", () => {
  it("a record a before-persist hook writes goes into the commit's own write, and is durable when watchers hear of the commit", async () => {
    const dir = freshDir();
    const writes: string[] = [];
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, writeFile: (f, d) => {
      writes.push(d);
      writeFileAtomicSync(f, d);
    } });
    const seen: Array<{ ip: unknown; record: unknown }> = [];
    store.watch("/", () => seen.push({ ip: store.values.get("/ip"), record: store.readRecord("handler-lease.json") }));
    let hookSaw: unknown;
    store.beforePersist((view) => {
      hookSaw = view.values.get("/ip");
      void store.writeRecord("handler-lease.json", owned);
    });
    const r = await store.commit(calf, [ch("/ip", "10.1.2.3/24"), ch("/mtu", "1400")]);
    expect(r.ok).toBe(true);
    // One write of the store file holds the lease and the record.
    expect(writes).toHaveLength(1);
    const file = JSON.parse(writes[0]!) as { entries: Record<string, string>; records: Record<string, unknown> };
    expect(file.entries["/ip"]).toBe("10.1.2.3/24");
    expect(file.records["handler-lease.json"]).toEqual(owned);
    // The hook saw the commit before it was durable; the watcher saw both durable.
    expect(hookSaw).toBe("10.1.2.3/24");
    expect(seen).toEqual([{ ip: "10.1.2.3/24", record: owned }]);
    await store.close();
    // A reopened store has the record, and never showed it as a KV path.
    const again = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    expect(again.readRecord("handler-lease.json")).toEqual(owned);
    expect([...again.values.keys()].some((k) => k.includes("handler"))).toBe(false);
    await again.close();
  });

  it("a write that fails rolls the record back with the commit: neither is in memory nor on disk", async () => {
    const dir = freshDir();
    let fail = true;
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, writeFile: (f, d) => {
      if (fail) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      writeFileAtomicSync(f, d);
    } });
    let recordOutcome: Promise<void> | undefined;
    store.beforePersist(() => {
      recordOutcome = store.writeRecord("handler-lease.json", owned);
    });
    const r = await store.commit(calf, [ch("/ip", "10.1.2.3/24")]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(KvErrorCode.STORAGE);
    await expect(recordOutcome).rejects.toMatchObject({ code: KvErrorCode.STORAGE });
    expect(store.readRecord("handler-lease.json")).toBeUndefined();
    expect(store.values.get("/ip")).toBeUndefined();
    fail = false;
    // A record written on its own (no commit) is persisted by itself, and the hook is not asked.
    let hooked = 0;
    store.beforePersist(() => void hooked++);
    await store.writeRecord("handler-lease.json", owned);
    expect(hooked).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, STORE_FILE), "utf8")).records).toEqual({ "handler-lease.json": owned });
    await store.close();
  });

  it("a commit that arrives while the hooks run goes into the next write, which the hooks see first", async () => {
    const dir = freshDir();
    const writes: Array<Record<string, string>> = [];
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, writeFile: (f, d) => {
      writes.push((JSON.parse(d) as { entries: Record<string, string> }).entries);
      writeFileAtomicSync(f, d);
    } });
    const seen: Array<string | undefined> = [];
    let second: Promise<unknown> | undefined;
    store.beforePersist(async (view) => {
      seen.push(view.values.get("/mtu"));
      // The calf's next commit arrives while this hook waits on the kernel.
      second ??= store.commit(calf, [ch("/mtu", "1400")]);
      await new Promise((r) => setImmediate(r));
    });
    expect((await store.commit(calf, [ch("/ip", "10.1.2.3/24")])).ok).toBe(true);
    expect(await second).toEqual({ ok: true, value: undefined });
    // Each write holds what its hook saw: the first without the later commit, the second with it.
    expect(seen).toEqual([undefined, "1400"]);
    expect(writes.map((e) => e["/mtu"])).toEqual([undefined, "1400"]);
    await store.close();
  });

  it("a hook that throws or never settles does not hold the commit back", async () => {
    const store = new KvStore({ schema: dhcp4Schema, stateDir: freshDir() });
    store.beforePersist(() => {
      throw new Error("netlink said no");
    });
    store.beforePersist(() => new Promise<void>(() => {}));
    const r = await store.commit(calf, [ch("/ip", "10.1.2.3/24")]);
    expect(r.ok).toBe(true);
    expect(store.values.get("/ip")).toBe("10.1.2.3/24");
    await store.close();
  });
});

describe("the journal", () => {
  it("a commit is one appended line, durable before it is acknowledged: a store opened after a crash (the first never closed) has it, and folds it into the store file", async () => {
    const dir = freshDir();
    const crashed = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    expect((await crashed.commit(calf, [ch("/ip", "10.1.2.3/24"), ch("/mtu", "1400")])).ok).toBe(true);
    await crashed.writeRecord("handler-lease.json", owned);
    // Nothing was written to the store file: two lines in the journal, the second with the record.
    expect(existsSync(path.join(dir, STORE_FILE))).toBe(false);
    const lines = readFileSync(path.join(dir, JOURNAL_FILE), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ schema: "dhcp4", seq: "1", entries: { "/ip": "10.1.2.3/24", "/mtu": "1400" } });
    expect(lines[1]).toMatchObject({ seq: "1", records: { "handler-lease.json": owned } });
    // A torn line after them (a crash in the middle of an append that was never acknowledged) is ignored.
    writeFileSync(path.join(dir, JOURNAL_FILE), '{"format":"paddock-kv/1","schema":"dhcp4","seq":"2","entries":{"/ip":"10.9', { flag: "a" });
    const again = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    expect(again.values.get("/ip")).toBe("10.1.2.3/24");
    expect(again.lastSeq).toBe(1n);
    expect(again.readRecord("handler-lease.json")).toEqual(owned);
    expect(JSON.parse(readFileSync(path.join(dir, STORE_FILE), "utf8")).entries).toEqual({ "/ip": "10.1.2.3/24", "/mtu": "1400" });
    expect(statSync(path.join(dir, JOURNAL_FILE)).size).toBe(0);
    await again.close();
  });

  it("is folded into the store file once it passes JOURNAL_COMPACT_BYTES, and at close", async () => {
    const dir = freshDir();
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const value = "v".repeat(8 * 1024);
    let i = 0;
    // Each line holds the whole snapshot (about 8 KiB here): past the threshold after ~32 commits.
    while (i * value.length < 2 * JOURNAL_COMPACT_BYTES) {
      expect((await store.commit(calf, [ch("/state/big", `${i++}${value}`)])).ok).toBe(true);
      await new Promise((r) => setImmediate(r));
      if (existsSync(path.join(dir, STORE_FILE))) break;
    }
    expect(JSON.parse(readFileSync(path.join(dir, STORE_FILE), "utf8")).entries["/state/big"]).toMatch(/^\d+v/);
    expect(statSync(path.join(dir, JOURNAL_FILE)).size).toBeLessThan(JOURNAL_COMPACT_BYTES);
    expect((await store.commit(calf, [ch("/ip", "10.1.2.3/24")])).ok).toBe(true);
    await store.close();
    expect(JSON.parse(readFileSync(path.join(dir, STORE_FILE), "utf8")).entries["/ip"]).toBe("10.1.2.3/24");
    expect(statSync(path.join(dir, JOURNAL_FILE)).size).toBe(0);
  });

  it("a symlink at the journal's name is moved aside without being followed", async () => {
    const dir = freshDir();
    const victim = path.join(freshDir(), "victim");
    writeFileSync(victim, "keep me\n");
    symlinkSync(victim, path.join(dir, JOURNAL_FILE));
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, now: () => 77 });
    expect((await store.commit(calf, [ch("/ip", "10.1.2.3/24")])).ok).toBe(true);
    expect(readFileSync(victim, "utf8")).toBe("keep me\n");
    expect(lstatSync(path.join(dir, `${JOURNAL_FILE}.corrupt-77`)).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(dir, JOURNAL_FILE)).isFile()).toBe(true);
    await store.close();
  });
});

describe("a commit made durable with the next persist (withNextPersist; decision 0012)", () => {
  const priv: KvCaller = { role: "priv", name: "priv" };

  it("is read at once, written in the same write as the next commit, and resolves with it; watchers hear both in order", async () => {
    const dir = freshDir();
    const writes: string[] = [];
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, writeFile: (f, d) => {
      writes.push(d);
      writeFileAtomicSync(f, d);
    } });
    const heard: string[][] = [];
    store.watch("/", (e) => heard.push(e.changes.map((c) => c.path)));
    let observedDone = false;
    const observed = store.commit(priv, [ch("/lease/acked", "10.1.2.3")], { withNextPersist: true }).then((r) => {
      observedDone = true;
      return r;
    });
    await store.settled();
    await new Promise((r) => setImmediate(r));
    // Read at once, but nothing written and nothing acknowledged yet.
    expect(store.read(priv, ["lease", "acked"])).toEqual({ ok: true, value: "10.1.2.3" });
    expect(writes).toHaveLength(0);
    expect(observedDone).toBe(false);
    expect(store.values.has("/lease/acked")).toBe(false);
    // The calf's commit: one write holds both.
    expect((await store.commit(calf, [ch("/ip", "10.1.2.3/24")])).ok).toBe(true);
    expect((await observed).ok).toBe(true);
    expect(writes).toHaveLength(1);
    expect((JSON.parse(writes[0]!) as { entries: Record<string, string> }).entries).toMatchObject({ "/lease/acked": "10.1.2.3", "/ip": "10.1.2.3/24" });
    expect(heard).toEqual([["/lease/acked"], ["/ip"]]);
    await store.close();
  });

  it("is written when the store closes if no commit followed, and an unchanged one starts no write", async () => {
    const dir = freshDir();
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const first = store.commit(priv, [ch("/lease/acked", "10.1.2.4")], { withNextPersist: true });
    await store.close();
    expect((await first).ok).toBe(true);
    const again = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    expect(again.values.get("/lease/acked")).toBe("10.1.2.4");
    await again.close();
    const writes: string[] = [];
    const store2 = new KvStore({ schema: dhcp4Schema, stateDir: freshDir(), writeFile: (f, d) => {
      writes.push(d);
      writeFileAtomicSync(f, d);
    } });
    expect((await store2.commit(priv, [ch("/lease/acked", "10.1.2.4")])).ok).toBe(true);
    expect((await store2.commit(priv, [ch("/lease/acked", "10.1.2.4")], { withNextPersist: true })).ok).toBe(true);
    await store2.settled();
    await new Promise((r) => setImmediate(r));
    await store2.close();
    expect(writes).toHaveLength(1);
  });
});

describe("the audit lines ride in the journal line (one fsync a persist; decision 0012)", () => {
  it("a journal line carries its commit's audit lines; a crash that lost audit.log's unsynced end gets them back at start, once", async () => {
    const dir = freshDir();
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    const audit = path.join(dir, "audit.log");
    expect((await store.commit(calf, [ch("/ip", "10.1.2.3/24")])).ok).toBe(true);
    const before = readFileSync(audit);
    expect((await store.commit(calf, [ch("/ip", "10.1.2.4/24"), ch("/mtu", "1400")])).ok).toBe(true);
    const journal = readFileSync(path.join(dir, JOURNAL_FILE), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { audit?: string[] });
    const carried = journal.at(-1)!.audit!;
    expect(carried.map((l) => (JSON.parse(l) as { path: string }).path)).toEqual(["/ip", "/mtu"]);
    const lines = readFileSync(audit, "utf8").trim().split("\n");
    expect(lines.slice(-2)).toEqual(carried);
    // A power loss: audit.log loses what was not fsynced (the journal's line made it durable), the
    // process is gone without closing. The next start puts the lost lines back.
    writeFileSync(audit, Buffer.concat([before, Buffer.from('{"time":"torn')]));
    const again = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    expect(again.values.get("/ip")).toBe("10.1.2.4/24");
    const after = readFileSync(audit, "utf8").split("\n").filter((l) => l.length > 0);
    expect(after.slice(-2)).toEqual(carried);
    expect(after.filter((l) => carried.includes(l))).toHaveLength(2);
    expect(after.filter((l) => l.startsWith('{"time":"torn'))).toEqual(['{"time":"torn']);
    await again.close();
    // Nothing is restored twice.
    const third = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    expect(readFileSync(audit, "utf8").split("\n").filter((l) => carried.includes(l))).toHaveLength(2);
    await third.close();
    store.close().catch(() => {});
  });
});
