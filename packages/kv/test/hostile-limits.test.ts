/**
 * What the store refuses a hostile calf (issue 13 B2, B3), with injected clocks:
 * - the size cap bounds the store file as written, JSON escapes included;
 * - `/state` values are printable text (the DHCP calf's persisted lease still is);
 * - a calf connection's commits may make the priv write only so many store-file bytes a second;
 * - the audit log rotates by size, reads back across the rotation, and collapses floods of
 *   identical refusals without ever collapsing an accepted change.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { leaseKeys, serializePersistedLease, type PersistedLease } from "../../services/dhcp4/core/src/client/index.ts";
import {
  AUDIT_FILE,
  AuditLog,
  CALF_LIMITS,
  connectKv,
  entryFileBytes,
  KvError,
  KvServer,
  KvStore,
  readDurableSnapshot,
  serializeSnapshot,
  STORE_FORMAT,
  storeFileBytes,
  stateText,
  writeFileAtomicSync,
  type AuditRecord,
  type KvCaller,
  type KvStoreChange,
  type ServiceSchema,
} from "../src/index.ts";

const calf: KvCaller = { role: "calf", name: "calf:test#1" };
const admin: KvCaller = { role: "admin", name: "admin#1" };
const te = new TextEncoder();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The size of the store file that holds the store's durable state (the journal's newest snapshot,
 * or the store file): what the journal folds into the store file (decision 0012).
 */
function storeFileSize(dir: string, schema: string): number {
  return Buffer.byteLength(serializeSnapshot(readDurableSnapshot(dir, schema)!));
}

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-kvh-"));
  dirs.push(d);
  return d;
}
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  vi.useRealTimers();
});

/** "/a/b" = "v" as a change; null deletes. */
const ch = (p: string, v: string | null): KvStoreChange => ({ path: p.split("/").filter(Boolean), value: v === null ? null : te.encode(v) });

/** A schema that takes any text, so the file's size is the only thing in the way. */
const blobs: ServiceSchema = {
  name: "blobs",
  description: "any text under /b/*",
  maxTotalBytes: 4096,
  entries: [{ pattern: "/b/*", maxKeys: 16, description: "b", writer: "calf", calfReads: true, validate: () => ({ ok: true }), maxBytes: 4096 }],
};

describe("the size cap counts the store file's bytes (B2)", () => {
  it("storeFileBytes is the size of the file serializeSnapshot writes (with the longest seq)", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: "grapheme", maxLength: 12 }).map((k) => "/" + k), fc.string({ unit: "binary", maxLength: 40 }), { maxKeys: 8 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (entries, seq) => {
          const sorted = Object.fromEntries(Object.entries(entries).sort());
          const file = Buffer.byteLength(serializeSnapshot({ format: STORE_FORMAT, schema: "s", seq: seq.toString(), entries: sorted }));
          const bound = storeFileBytes("s", Object.keys(entries).length, Object.entries(entries).reduce((n, [k, v]) => n + entryFileBytes(k, v), 0));
          // Exact but for the seq, which the bound counts at its longest (20 digits).
          expect(bound - file).toBe(20 - seq.toString().length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a value of characters JSON escapes once the file would pass the cap, and the file never does", async () => {
    const dir = freshDir();
    const s = new KvStore({ schema: blobs, stateDir: dir });
    closers.push(() => s.close());
    // 600 × U+0001 is 600 bytes of value but 3,600 bytes in the file: the second does not fit.
    expect((await s.commit(calf, [ch("/b/one", "\u0001".repeat(600))])).ok).toBe(true);
    const r = await s.commit(calf, [ch("/b/two", "\u0001".repeat(600))]);
    expect(r.ok || [r.error.code, r.error.path]).toEqual(["PADDOCK_E_KV_TOO_LARGE", "/b/two"]);
    expect(r.ok || r.error.message).toMatch(/store file would be \d+ bytes, limit 4096/);
    // Every accepted commit of random escape-heavy values leaves a file within the cap.
    const value = fc.array(fc.constantFrom("\u0001", '"', "\\", "a", "\u2028", "é", "\u007f"), { maxLength: 700 }).map((a) => a.join(""));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 15 }), fc.option(value)), { minLength: 1, maxLength: 6 }), async (changes) => {
        const unique = new Map(changes.map(([k, v]) => [`/b/k${k}`, v]));
        await s.commit(calf, [...unique].map(([k, v]) => ch(k, v)));
        await s.settled();
        expect(storeFileSize(dir, blobs.name)).toBeLessThanOrEqual(blobs.maxTotalBytes);
        expect(s.fileBytes).toBeLessThanOrEqual(blobs.maxTotalBytes);
      }),
      { numRuns: 150 },
    );
  });

  it("keeps the DHCP store file within its 256 KiB even when every /state key holds quotes (2 bytes each as JSON)", async () => {
    const dir = freshDir();
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    closers.push(() => s.close());
    const results: string[] = [];
    for (let i = 0; i < 16; i++) {
      const r = await s.write(calf, ["state", `k${i}`], te.encode('"'.repeat(16 * 1024 - 8)));
      results.push(r.ok ? "ok" : r.error.code);
    }
    // Counting value bytes, all 16 fitted (16 × 16,376 ≤ 262,144) and the file was ~512 KiB.
    expect(results).toContain("PADDOCK_E_KV_TOO_LARGE");
    expect(storeFileSize(dir, dhcp4Schema.name)).toBeLessThanOrEqual(dhcp4Schema.maxTotalBytes);
  });
});

/** A lease as the DHCP client core persists it, with every optional field used. */
const lease: PersistedLease = {
  v: 1,
  mac: "02:77:f4:a9:18:e3",
  address: "10.1.2.3",
  prefix: 24,
  serverId: "10.1.2.1",
  serverMac: "02:00:00:00:00:01",
  acquiredAt: 1_767_225_600_000,
  leaseSeconds: 3600,
  renewMs: 1_800_000,
  rebindMs: 3_150_000,
  routers: ["10.1.2.1"],
  classlessRoutes: [
    { destination: "0.0.0.0/0", router: "10.1.2.1" },
    { destination: "192.168.0.0/16", router: "10.1.2.254" },
  ],
  dns: ["10.1.2.53", "10.1.2.54"],
  domain: "lab.example.com",
  search: ["lab.example.com", "example.com"],
  mtu: 1400,
  ntp: ["10.1.2.123"],
  hostname: "host-1",
} as PersistedLease;

describe("/state values are printable text (B2)", () => {
  it("accepts the DHCP calf's persisted lease (JSON text), alone and as part of its lease commit", async () => {
    expect(stateText(serializePersistedLease(lease))).toMatchObject({ ok: true });
    expect(stateText(serializePersistedLease({ ...lease, classlessRoutes: null, domain: "", search: [], hostname: undefined, serverMac: "" }))).toMatchObject({ ok: true });
    fc.assert(
      fc.property(fc.domain(), fc.array(fc.domain(), { maxLength: 6 }), fc.ipV4(), fc.integer({ min: 1, max: 32 }), (domain, search, address, prefix) => {
        expect(stateText(serializePersistedLease({ ...lease, domain, search, address, prefix } as PersistedLease))).toMatchObject({ ok: true });
      }),
    );
    const s = new KvStore({ schema: dhcp4Schema, stateDir: freshDir() });
    closers.push(() => s.close());
    const r = await s.commit(calf, [...leaseKeys(lease)].map(([k, v]) => ch(k, v)));
    expect(r).toEqual({ ok: true, value: undefined });
    expect(s.read(calf, ["state", "lease"])).toEqual({ ok: true, value: serializePersistedLease(lease) });
  });

  it("refuses control characters and line breaks in /state, naming the character", async () => {
    const s = new KvStore({ schema: dhcp4Schema, stateDir: freshDir() });
    closers.push(() => s.close());
    for (const bad of ["\u0001".repeat(1000), "line\nbreak", "del\u007f", "nel\u0085", "ls\u2028"]) {
      const r = await s.write(calf, ["state", "x"], te.encode(bad));
      expect(r.ok || r.error.code, JSON.stringify(bad)).toBe("PADDOCK_E_KV_INVALID_VALUE");
    }
    const r = await s.write(calf, ["state", "x"], te.encode("ok\u0001"));
    expect(r.ok || r.error.message).toBe("/state/x: the value contains U+0001 at character 2: state is printable text (binary state goes in base64)");
    // Binary state as base64 is fine.
    expect((await s.write(calf, ["state", "x"], te.encode(Buffer.from([0, 1, 2, 255]).toString("base64")))).ok).toBe(true);
  });
});

describe("a calf connection's budget of store-file writes (B2)", () => {
  /** A store and server with a hand-moved clock; returns a calf client and the bytes written to the store file. */
  async function serveWithClock() {
    const dir = freshDir();
    let t = 0;
    const written = { bytes: 0, rewrites: 0 };
    const store = new KvStore({
      schema: dhcp4Schema,
      stateDir: path.join(dir, "state"),
      writeFile: (file, data) => {
        written.bytes += Buffer.byteLength(data);
        written.rewrites++;
        writeFileAtomicSync(file, data);
      },
    });
    const server = new KvServer(store, quiet, { now: () => t });
    await server.listen(path.join(dir, "calf.sock"), "calf", "calf:test");
    await server.listen(path.join(dir, "admin.sock"), "admin");
    const c = await connectKv(path.join(dir, "calf.sock"));
    const a = await connectKv(path.join(dir, "admin.sock"));
    closers.push(async () => {
      c.close();
      a.close();
      await server.close();
      await store.close();
    });
    return { calf: c, admin: a, server, store, written, advance: (ms: number) => (t += ms) };
  }

  async function outcome(p: Promise<unknown>): Promise<string> {
    return p.then(
      () => "ok",
      (e: KvError) => e.code,
    );
  }

  it("refuses commits past the burst with PADDOCK_E_KV_RATE_LIMITED, applies nothing of them, and refills with time", async () => {
    const k = await serveWithClock();
    const value = "x".repeat(16 * 1024 - 8); // each key adds ~16 KiB to the file
    const results: string[] = [];
    for (let i = 0; i < 10; i++) results.push(await outcome(k.calf.write(`/state/k${i}`, value)));
    // Files of 16, 32, … 112 KiB add up to 448 KiB of the 512 KiB burst; the 8th (128 KiB more) is refused.
    expect(results).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "PADDOCK_E_KV_RATE_LIMITED", "PADDOCK_E_KV_RATE_LIMITED", "PADDOCK_E_KV_RATE_LIMITED"]);
    const err = await k.calf.write("/state/k7", value).catch((e: KvError) => e);
    expect((err as KvError).message).toMatch(/beyond this connection's budget of 32768 bytes of store writes per second \(burst 524288\); nothing was applied/);
    expect(k.written.bytes).toBeLessThanOrEqual(CALF_LIMITS.storeWriteBurstBytes);
    expect(await k.admin.list("/state")).toHaveLength(7);
    expect(k.server.stats.storeWriteLimited).toBe(4);
    // An operator is not limited; the calf still reads.
    expect(await outcome(k.admin.write("/state/k8", value))).toBe("ok");
    expect(await outcome(k.calf.read("/state/k0"))).toBe("ok");
    // The 64,528 bytes left and 32 KiB a second: one second later a 9-key file (≈ 148 KB) does
    // not fit yet, three seconds later it does.
    k.advance(1_000);
    expect(await outcome(k.calf.write("/state/k7", value))).toBe("PADDOCK_E_KV_RATE_LIMITED");
    k.advance(2_000);
    expect(await outcome(k.calf.write("/state/k7", value))).toBe("ok");
    // The refusals are audited (collapsed: one line per run of identical refusals).
    const refused = (await k.admin.audit()).map((l) => JSON.parse(l) as AuditRecord).filter((r) => r.result === "PADDOCK_E_KV_RATE_LIMITED");
    expect(refused[0]).toMatchObject({ client: "calf:test#1", op: "commit", path: "/" });
  });

  it("bounds what a calf looping commits makes the priv write to what the budget allows per (simulated) second", async () => {
    const k = await serveWithClock();
    // The most expensive value /state takes: quotes, 2 bytes each in the file. 16 keys of them
    // would be a 512 KiB file; the store's cap stops it at 256 KiB.
    const SIMULATED_SECONDS = 20;
    const COMMITS_PER_SECOND = 100; // the request rate limit
    const counts = new Map<string, number>();
    for (let i = 0; i < SIMULATED_SECONDS * COMMITS_PER_SECOND; i++) {
      k.advance(1000 / COMMITS_PER_SECOND);
      const r = await outcome(k.calf.write(`/state/k${i % 16}`, '"'.repeat(8 * 1024) + String(i).padStart(8, "0")));
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    const allowed = CALF_LIMITS.storeWriteBurstBytes + SIMULATED_SECONDS * CALF_LIMITS.storeWriteBytesPerSecond;
    expect(k.written.bytes).toBeLessThanOrEqual(allowed);
    expect(counts.get("PADDOCK_E_KV_RATE_LIMITED")).toBeGreaterThan(0);
    // Without the budget the same loop wrote a ~256 KiB file per commit: 100 × 256 KiB a second.
    expect(k.written.bytes / SIMULATED_SECONDS).toBeLessThan(64 * 1024);
  });

  it("never slows a DHCP client down: a lease commit at start and at each renewal", async () => {
    const k = await serveWithClock();
    for (let renewal = 0; renewal < 50; renewal++) {
      const keys = leaseKeys({ ...lease, acquiredAt: lease.acquiredAt + renewal * 1_800_000 });
      await k.calf.commit([...keys].map(([path, value]) => ({ path, value })));
      k.advance(100); // renewals are half an hour apart; 0.1 s is plenty
    }
    expect(k.server.stats.storeWriteLimited).toBe(0);
  });
});

describe("the audit log rotates by size (B3)", () => {
  const rec = (i: number, client = "admin#1"): AuditRecord => ({ time: new Date(i * 1000).toISOString(), client, op: "write", path: `/state/k${i}`, old: null, new: String(i), result: "ok", seq: String(i) });

  it("renames audit.log to audit.log.1 (and .1 to .2) at the size, keeps two, and tails across the files", () => {
    const dir = freshDir();
    const file = path.join(dir, AUDIT_FILE);
    const log = new AuditLog(file, { maxFileBytes: 2048, rotatedFiles: 2 });
    const lineBytes = JSON.stringify(rec(100)).length + 1;
    for (let i = 100; i < 400; i++) log.append(rec(i));
    log.sync();
    for (const f of [file, `${file}.1`, `${file}.2`]) expect(statSync(f).size, f).toBeLessThanOrEqual(2048);
    expect(existsSync(`${file}.3`)).toBe(false);
    // The three files hold the newest lines, contiguous, newest in audit.log.
    const seqs = [`${file}.2`, `${file}.1`, file].flatMap((f) => readFileSync(f, "utf8").trim().split("\n").map((l) => Number(JSON.parse(l).seq)));
    expect(seqs.at(-1)).toBe(399);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 400 - seqs.length + i));
    // A rotated file was rotated when the next line would not fit: it is full to within a line.
    for (const f of [`${file}.1`, `${file}.2`]) expect(readFileSync(f, "utf8").trim().split("\n"), f).toHaveLength(Math.floor(2048 / lineBytes));
    // A tail longer than audit.log reads on into audit.log.1 and .2, in order.
    const inCurrent = readFileSync(file, "utf8").trim().split("\n").length;
    const tail = log.tail(inCurrent + 20, 1 << 20).map((l) => Number(JSON.parse(l).seq));
    expect(tail).toEqual(Array.from({ length: inCurrent + 20 }, (_, i) => 400 - inCurrent - 20 + i));
    expect(log.tail(0, 1 << 20).map((l) => Number(JSON.parse(l).seq))).toEqual(seqs);
    // The byte window still bounds the answer, across files too.
    const small = log.tail(0, 3000);
    expect(small.reduce((n, l) => n + l.length + 1, 0)).toBeLessThanOrEqual(3000);
    expect(small.map((l) => Number(JSON.parse(l).seq))).toEqual(seqs.slice(-small.length));
    log.close();
  });

  it("through the store: accepted writes all reach the log across rotations, and `kv audit` reads across the boundary", async () => {
    const dir = freshDir();
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir, audit: { maxFileBytes: 4096 } });
    for (let i = 0; i < 60; i++) expect((await s.write(admin, ["state", `k${i % 16}`], te.encode(`value ${i}`))).ok).toBe(true);
    expect(existsSync(path.join(dir, `${AUDIT_FILE}.1`))).toBe(true);
    const tail = s.auditTail(40, 1 << 20).map((l) => JSON.parse(l) as AuditRecord);
    expect(tail.map((r) => r.new)).toEqual(Array.from({ length: 40 }, (_, i) => `value ${20 + i}`));
    await s.close();
  });

  it("starts a store whose audit.log is already past the size, rotating at the next line", async () => {
    const dir = freshDir();
    writeFileSync(path.join(dir, AUDIT_FILE), JSON.stringify(rec(1)) + "\n" + "x".repeat(5000) + "\n");
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir, audit: { maxFileBytes: 4096 } });
    await s.write(admin, ["state", "a"], te.encode("1"));
    await s.close();
    expect(readFileSync(path.join(dir, AUDIT_FILE), "utf8").trim().split("\n")).toHaveLength(1);
    expect(readFileSync(path.join(dir, `${AUDIT_FILE}.1`), "utf8")).toContain("x".repeat(5000));
  });
});

describe("the audit log collapses repeated refusals (B3)", () => {
  function lines(dir: string): AuditRecord[] {
    return [`${AUDIT_FILE}.2`, `${AUDIT_FILE}.1`, AUDIT_FILE]
      .filter((f) => existsSync(path.join(dir, f)))
      .flatMap((f) => readFileSync(path.join(dir, f), "utf8").trim().split("\n").filter(Boolean))
      .map((l) => JSON.parse(l) as AuditRecord);
  }

  it("writes a flood of 10,000 identical refusals as a bounded number of lines with the right count, and every accepted write", async () => {
    const dir = freshDir();
    let t = Date.parse("2027-01-01T00:00:00Z");
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir, now: () => t });
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      t += 1; // 1,000 refusals a simulated second: ten seconds in all
      const r = await s.write(calf, ["mac"], te.encode("02:00:00:00:00:99"));
      expect(r.ok).toBe(false);
      // An accepted write every 1,000 refusals, from the same calf: never collapsed, and it ends the run.
      if (i % 1000 === 999) {
        expect((await s.write(calf, ["ip"], te.encode(`10.0.0.${++accepted}/24`))).ok).toBe(true);
      }
    }
    await s.close();
    const all = lines(dir);
    const refused = all.filter((r) => r.result === "PADDOCK_E_KV_READ_ONLY");
    const ok = all.filter((r) => r.result === "ok");
    expect(refused.reduce((n, r) => n + (r.repeated ?? 1), 0)).toBe(10_000);
    // Each run of 1,000 is its first line and one line for the rest (one second < the 5 s window).
    expect(refused).toHaveLength(20);
    expect(refused.every((r) => r.path === "/mac" && r.client === calf.name && r.op === "write")).toBe(true);
    expect(refused[1]).toMatchObject({ repeated: 999, first: new Date(Date.parse("2027-01-01T00:00:00Z") + 2).toISOString() });
    expect(ok.map((r) => r.new)).toEqual(Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}/24`));
    expect(ok.map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 1)));
    // Order is kept: each accepted write follows the run it ended.
    expect(all.map((r) => (r.result === "ok" ? "ok" : r.repeated ? "n" : "1")).join("")).toBe("1nok".repeat(10));
  });

  it("writes a long run's count once per window, and keeps runs of different paths, codes and clients apart", async () => {
    const dir = freshDir();
    let t = 0;
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir, now: () => t });
    const other: KvCaller = { role: "calf", name: "calf:test#2" };
    for (let i = 0; i < 3000; i++) {
      t += 10; // 30 simulated seconds: six 5 s windows
      await s.write(calf, ["mac"], te.encode("x")); // READ_ONLY
      await s.write(other, ["mac"], te.encode("x")); // another client: its own run
    }
    for (let i = 0; i < 10; i++) {
      await s.write(calf, ["ip"], te.encode("not an address")); // another path and code: a new run
      await s.write(calf, ["gateway"], te.encode("nope"));
    }
    await s.close();
    const all = lines(dir);
    for (const client of [calf.name, other.name]) {
      const run = all.filter((r) => r.client === client && r.path === "/mac");
      expect(run.reduce((n, r) => n + (r.repeated ?? 1), 0)).toBe(3000);
      expect(run.length).toBeGreaterThanOrEqual(6);
      expect(run.length).toBeLessThanOrEqual(8);
    }
    // Alternating refusals are not identical: each is its own line.
    expect(all.filter((r) => r.path === "/ip" || r.path === "/gateway")).toHaveLength(20);
  });

  it("bounds the lines of a flood that varies what it is refused (another path each time), counting every attempt", async () => {
    const dir = freshDir();
    let t = 0;
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir, now: () => t });
    const attempts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      t += 1; // ten simulated seconds
      const r = await s.write(calf, ["x", `p${i}`], te.encode("v")); // UNKNOWN_PATH, never identical
      if (!r.ok) attempts.set(r.error.code, (attempts.get(r.error.code) ?? 0) + 1);
      if (i % 1000 === 999) expect((await s.write(calf, ["ip"], te.encode(`10.0.0.${(i + 1) / 1000}/24`))).ok).toBe(true);
    }
    await s.close();
    const all = lines(dir);
    const refused = all.filter((r) => r.result !== "ok");
    expect(refused.reduce((n, r) => n + (r.repeated ?? r.suppressed ?? 1), 0)).toBe(10_000);
    // The burst of 100 lines, ten more from the refill, and a "suppressed" line per accepted write (which flushes the count).
    expect(refused.length).toBeLessThanOrEqual(100 + 10 + 10 + 2);
    expect(refused.filter((r) => r.suppressed !== undefined).length).toBeGreaterThanOrEqual(9);
    expect(all.filter((r) => r.result === "ok")).toHaveLength(10);
  });

  it("writes a pending count when the window ends, when the tail is read and when the store closes", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const dir = freshDir();
    const s = new KvStore({ schema: dhcp4Schema, stateDir: dir });
    for (let i = 0; i < 3; i++) await s.write(calf, ["mac"], te.encode("x"));
    expect(lines(dir)).toHaveLength(1);
    vi.advanceTimersByTime(5_000);
    expect(lines(dir).map((r) => r.repeated)).toEqual([undefined, 2]);
    for (let i = 0; i < 4; i++) await s.write(calf, ["mac"], te.encode("x"));
    expect(s.auditTail(0, 1 << 20).map((l) => (JSON.parse(l) as AuditRecord).repeated)).toEqual([undefined, 2, 4]);
    await s.write(calf, ["mac"], te.encode("x"));
    await s.close();
    expect(lines(dir).map((r) => r.repeated)).toEqual([undefined, 2, 4, 1]);
  });
});
