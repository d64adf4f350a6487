/**
 * The priv's files against what someone else may have planted beside them (issue 13 B9): temp
 * files are created exclusively under unpredictable names, records are read without following a
 * symlink, and the calf's bind-mount list is not taken from a cache a non-root user could write.
 */
import { chmodSync, chownSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { foreignWriteAccess, randomTempSuffix, replaceFileAtomic } from "../src/handlers/files.ts";
import { OwnershipFile } from "../src/handlers/ownership.ts";
import { acquirePidLock } from "../src/pid-lock.ts";
import { cachedNodeRuntime, resolveNodeRuntime } from "../src/sandbox/bundle.ts";

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-files-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;
/** An unprivileged uid for files "someone else" wrote (Debian's nobody). */
const NOBODY = 65534;

/** A victim file outside the directory being written, and a check that it was never touched. */
function victim(): { file: string; untouched(): void } {
  const file = path.join(freshDir(), "victim");
  writeFileSync(file, "precious\n");
  return { file, untouched: () => expect(readFileSync(file, "utf8")).toBe("precious\n") };
}

describe("foreignWriteAccess", () => {
  it.each([
    ["root, drwx------", 0, 0o40700, null],
    ["root, drwx--x--x (the runtime directory)", 0, 0o40711, null],
    ["root, drwxr-xr-x", 0, 0o40755, null],
    ["root, -rw-------", 0, 0o100600, null],
    ["root, drwxrwx---", 0, 0o40770, "mode"],
    ["root, drwx-----w-", 0, 0o40702, "mode"],
    ["root, drwxrwxrwt (sticky)", 0, 0o41777, "mode"],
    ["nobody, drwx------", NOBODY, 0o40700, "owner"],
  ] as const)("%s: %s", (_name, owner, mode, kind) => {
    expect(foreignWriteAccess({ uid: owner, mode }, 0)?.kind ?? null).toBe(kind);
  });
});

describe("replaceFileAtomic", () => {
  it("never writes through a symlink or a file at its temp name, even one it would pick", async () => {
    const dir = freshDir();
    const v = victim();
    const file = path.join(dir, "resolv.conf");
    writeFileSync(file, "old\n");
    const tmp = path.join(dir, ".resolv.conf.paddock-fixed.tmp");
    symlinkSync(v.file, tmp);
    await expect(replaceFileAtomic(file, "new\n", 0o644, () => "fixed")).rejects.toMatchObject({ code: "EEXIST" });
    v.untouched();
    expect(readFileSync(file, "utf8")).toBe("old\n");
    expect(lstatSync(tmp).isSymbolicLink()).toBe(true); // left as found, not removed as "ours"
  });

  it("takes its temp names from 128 random bits, so the old pid-and-counter names mean nothing", async () => {
    expect(randomTempSuffix()).toMatch(/^[0-9a-f]{32}$/);
    expect(randomTempSuffix()).not.toBe(randomTempSuffix());
    const dir = freshDir();
    const v = victim();
    const file = path.join(dir, "resolv.conf");
    // Every name the old code would have used next.
    for (let n = 1; n <= 64; n++) symlinkSync(v.file, path.join(dir, `.resolv.conf.paddock-${process.pid}-${n}.tmp`));
    await replaceFileAtomic(file, "new\n", 0o644);
    await replaceFileAtomic(file, "newer\n", 0o644);
    v.untouched();
    expect(readFileSync(file, "utf8")).toBe("newer\n");
    expect(readdirSync(dir).filter((n) => !n.startsWith(".resolv.conf.paddock-" + process.pid))).toEqual(["resolv.conf"]);
  });

  it("replaces a symlink at the final name itself, never its target", async () => {
    const dir = freshDir();
    const v = victim();
    const file = path.join(dir, "owned.json");
    symlinkSync(v.file, file);
    await replaceFileAtomic(file, "{}\n", 0o600);
    v.untouched();
    expect(lstatSync(file).isFile()).toBe(true);
  });
});

describe("OwnershipFile", () => {
  it("does not read a record through a symlink: it is moved aside, and nothing is ours", () => {
    const dir = freshDir();
    const elsewhere = path.join(freshDir(), "fake-record.json");
    writeFileSync(elsewhere, JSON.stringify({ owned: ["10.6.6.6/24"] }));
    const file = path.join(dir, "owned-addresses.json");
    symlinkSync(elsewhere, file);
    const errors: string[] = [];
    const log = { debug() {}, info() {}, warn() {}, error: (_o: object, msg?: string) => void errors.push(msg ?? "") };
    const record = new OwnershipFile<{ owned: string[] }>(file, () => ({ owned: [] }), (x) => x as { owned: string[] }, log);
    expect(record.get()).toEqual({ owned: [] });
    expect(errors).toHaveLength(1);
    expect(readdirSync(dir).filter((n) => n.startsWith("owned-addresses.json.corrupt-"))).toHaveLength(1);
  });
});

describe("acquirePidLock", () => {
  it("takes over a stale lock without writing through a symlink at the old temp name", () => {
    const dir = freshDir();
    const v = victim();
    const file = path.join(dir, "x.pid");
    writeFileSync(file, "999999999\n");
    symlinkSync(v.file, `${file}.${process.pid}`);
    const lock = acquirePidLock(file);
    v.untouched();
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(file, "utf8").trim()).toBe(String(process.pid));
    lock.release();
  });
});

describe("cachedNodeRuntime trusts only a cache only root can have written", () => {
  /**
   * A cache whose list has one extra, real file in it (what an attacker would add to get it
   * bind-mounted into the calf), with a correct stamp: believed only when trusted.
   */
  async function poisonedCache(): Promise<{ dir: string; file: string; fresh: Awaited<ReturnType<typeof resolveNodeRuntime>>; extra: string }> {
    const dir = freshDir();
    const fresh = await resolveNodeRuntime(process.execPath);
    expect(await cachedNodeRuntime(process.execPath, dir)).toEqual(fresh);
    const file = path.join(dir, "node-runtime.json");
    const cache = JSON.parse(readFileSync(file, "utf8")) as { runtime: { libraries: string[] }; stamps: object[] };
    const extra = path.join(freshDir(), "extra.so");
    writeFileSync(extra, "x");
    const st = lstatSync(extra);
    cache.runtime.libraries.push(extra);
    cache.stamps.push({ path: extra, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    // Written in place: the file keeps its owner and mode (root, 0600).
    writeFileSync(file, JSON.stringify(cache));
    return { dir, file, fresh, extra };
  }

  function collect(): { warnings: Array<{ fields: object; msg: string }>; warn: (fields: object, msg: string) => void } {
    const warnings: Array<{ fields: object; msg: string }> = [];
    return { warnings, warn: (fields, msg) => void warnings.push({ fields, msg }) };
  }

  it("believes a root-owned 0600 cache in a root-owned 0711 directory (the control case)", async () => {
    const { dir, fresh, extra } = await poisonedCache();
    chmodSync(dir, 0o711);
    const w = collect();
    expect((await cachedNodeRuntime(process.execPath, dir, { warn: w.warn })).libraries).toEqual([...fresh.libraries, extra]);
    expect(w.warnings).toEqual([]);
  });

  it.each([
    ["the cache is group-writable", (_dir: string, file: string) => chmodSync(file, 0o620)],
    ["the cache is world-writable", (_dir: string, file: string) => chmodSync(file, 0o606)],
    ["its directory is world-writable", (dir: string) => chmodSync(dir, 0o777)],
    ["its directory is group-writable (sticky or not)", (dir: string) => chmodSync(dir, 0o1770)],
  ])("ignores it and runs ldd when %s", async (_name, spoil) => {
    const { dir, file, fresh } = await poisonedCache();
    spoil(dir, file);
    const w = collect();
    expect(await cachedNodeRuntime(process.execPath, dir, { warn: w.warn })).toEqual(fresh);
    expect(w.warnings).toHaveLength(1);
    expect(w.warnings[0]!.fields).toMatchObject({ file });
  });

  it("rebuilds a cache that is not trusted, in a trusted directory, as root's own 0600 file", async () => {
    const { dir, file, fresh } = await poisonedCache();
    chmodSync(file, 0o666);
    const w = collect();
    expect(await cachedNodeRuntime(process.execPath, dir, { warn: w.warn })).toEqual(fresh);
    expect(lstatSync(file).mode & 0o7777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8")).runtime).toEqual(fresh);
    expect(await cachedNodeRuntime(process.execPath, dir, { warn: w.warn })).toEqual(fresh);
    expect(w.warnings).toHaveLength(1);
  });

  it("ignores a symlink at the cache's name", async () => {
    const { dir, file, fresh } = await poisonedCache();
    const planted = path.join(freshDir(), "planted.json");
    writeFileSync(planted, readFileSync(file));
    rmSync(file);
    symlinkSync(planted, file);
    const w = collect();
    expect(await cachedNodeRuntime(process.execPath, dir, { warn: w.warn })).toEqual(fresh);
    expect(w.warnings).toHaveLength(1);
  });

  it.skipIf(!isRoot && process.env.CI !== "true")("ignores a cache, or a directory, owned by another uid (needs root to chown)", async () => {
    const a = await poisonedCache();
    chownSync(a.file, NOBODY, NOBODY);
    const w = collect();
    expect(await cachedNodeRuntime(process.execPath, a.dir, { warn: w.warn })).toEqual(a.fresh);
    expect(w.warnings).toHaveLength(1);
    expect(JSON.stringify(w.warnings[0]!.fields)).toContain(`uid ${NOBODY}`);

    const b = await poisonedCache();
    chownSync(b.dir, NOBODY, NOBODY);
    expect(await cachedNodeRuntime(process.execPath, b.dir, { warn: w.warn })).toEqual(b.fresh);
    expect(w.warnings).toHaveLength(2);
    // Nothing is written into a directory another user controls.
    expect(JSON.parse(readFileSync(b.file, "utf8")).runtime.libraries).toContain(b.extra);
  });

  it("uses the uid it is given (so the check does not depend on who runs the tests)", async () => {
    const { dir, fresh } = await poisonedCache();
    const w = collect();
    expect(await cachedNodeRuntime(process.execPath, dir, { uid: (process.getuid?.() ?? 0) + 1, warn: w.warn })).toEqual(fresh);
    expect(w.warnings).toHaveLength(1);
  });
});
