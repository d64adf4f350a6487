/**
 * The priv's records in the store (decision 0012): a before-persist hook's record goes into the
 * same atomic write of the store file as the commits being persisted, is durable when their
 * watchers hear of them, is rolled back with them, and survives a reopen.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { KvErrorCode, KvStore, STORE_FILE, writeFileAtomicSync, type KvCaller, type KvStoreChange } from "../src/index.ts";

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
