/**
 * The store file on disk, against what someone else may have left in the state directory: temp
 * files are created exclusively under unpredictable names (issue 13 B9), and a store file that is
 * not one is moved aside so the service starts fresh, while another service's is refused (A8).
 */
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import { KvStore, randomTempSuffix, readDurableSnapshot, STORE_FILE, writeFileAtomicSync, type KvCaller, type KvLogger } from "../src/index.ts";

const calf: KvCaller = { role: "calf", name: "calf:test" };
const te = new TextEncoder();

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-kv-safety-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A logger that keeps its warnings. */
function recordingLog(): KvLogger & { warnings: Array<{ obj: object; msg: string | undefined }> } {
  const warnings: Array<{ obj: object; msg: string | undefined }> = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (obj, msg) => void warnings.push({ obj, msg }) };
}

describe("writeFileAtomicSync", () => {
  it("does not write through a symlink planted at the temp name the old code used", () => {
    const dir = freshDir();
    const victim = path.join(freshDir(), "victim");
    writeFileSync(victim, "precious\n");
    const file = path.join(dir, STORE_FILE);
    // Before: `.store.json.<pid>.tmp`, opened with O_CREAT|O_TRUNC: the victim was overwritten
    // and the symlink renamed over store.json.
    symlinkSync(victim, path.join(dir, `.${STORE_FILE}.${process.pid}.tmp`));
    writeFileAtomicSync(file, "new\n");
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("new\n");
  });

  it("never follows or overwrites what is already at its temp name, even one it would pick", () => {
    const dir = freshDir();
    const victim = path.join(freshDir(), "victim");
    writeFileSync(victim, "precious\n");
    const file = path.join(dir, STORE_FILE);
    writeFileSync(file, "old\n");
    const fixed = () => "fixedsuffix";
    const tmp = path.join(dir, `.${STORE_FILE}.fixedsuffix.tmp`);
    symlinkSync(victim, tmp);
    expect(() => writeFileAtomicSync(file, "new\n", fixed)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(readFileSync(file, "utf8")).toBe("old\n");
    // A plain file planted there is not truncated either, and is left where it was.
    rmSync(tmp);
    writeFileSync(tmp, "planted\n");
    expect(() => writeFileAtomicSync(file, "new\n", fixed)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    expect(readFileSync(tmp, "utf8")).toBe("planted\n");
    expect(readFileSync(file, "utf8")).toBe("old\n");
  });

  it("names its temp files from 128 random bits and leaves none behind", () => {
    const a = randomTempSuffix();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(randomTempSuffix()).not.toBe(a);
    const dir = freshDir();
    const file = path.join(dir, STORE_FILE);
    const used: string[] = [];
    for (let i = 0; i < 3; i++) {
      writeFileAtomicSync(file, `v${i}\n`, () => {
        used.push(randomTempSuffix());
        return used[used.length - 1]!;
      });
    }
    expect(new Set(used).size).toBe(3);
    expect(readdirSync(dir)).toEqual([STORE_FILE]);
  });
});

describe("KvStore opening its store file", () => {
  it.each([
    ["torn JSON", '{"format": "paddock-kv/1", "schema": "dhcp4", "seq": "4", "entr'],
    ["not UTF-8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ["another format", JSON.stringify({ format: "something-else/3", schema: "dhcp4", seq: "1", entries: {} })],
    ["a non-decimal sequence number", JSON.stringify({ format: "paddock-kv/1", schema: "dhcp4", seq: "1e3", entries: {} })],
    ["a value that is not text", JSON.stringify({ format: "paddock-kv/1", schema: "dhcp4", seq: "1", entries: { "/mtu": 1500 } })],
    ["an empty file", ""],
  ])("moves aside a store file with %s, warns, and starts empty", async (_name, content) => {
    const dir = freshDir();
    const file = path.join(dir, STORE_FILE);
    writeFileSync(file, content);
    const log = recordingLog();
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, log, now: () => 1234 });
    expect(store.values.size).toBe(0);
    expect(readFileSync(path.join(dir, `${STORE_FILE}.corrupt-1234`))).toEqual(Buffer.from(content));
    expect(existsSync(file)).toBe(false);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]!.obj).toMatchObject({ file, movedTo: `${file}.corrupt-1234` });
    // And it works: a write is durable (in the journal), and lands in a fresh store file when the store closes.
    expect(await store.write(calf, ["ip"], te.encode("10.1.2.3/24"))).toEqual({ ok: true, value: undefined });
    expect(readDurableSnapshot(dir, "dhcp4")?.entries).toEqual({ "/ip": "10.1.2.3/24" });
    await store.close();
    expect(JSON.parse(readFileSync(file, "utf8")).entries).toEqual({ "/ip": "10.1.2.3/24" });
  });

  it("moves aside a symlink at the store file's name without reading what it points to", async () => {
    const dir = freshDir();
    const elsewhere = path.join(freshDir(), "other-store.json");
    writeFileSync(elsewhere, JSON.stringify({ format: "paddock-kv/1", schema: "dhcp4", seq: "9", entries: { "/ip": "10.6.6.6/24" } }));
    symlinkSync(elsewhere, path.join(dir, STORE_FILE));
    const log = recordingLog();
    const store = new KvStore({ schema: dhcp4Schema, stateDir: dir, log, now: () => 7 });
    expect(store.values.size).toBe(0);
    expect(lstatSync(path.join(dir, `${STORE_FILE}.corrupt-7`)).isSymbolicLink()).toBe(true);
    expect(log.warnings).toHaveLength(1);
    await store.close();
  });

  it("refuses another service's store file, and leaves it where it is", () => {
    const dir = freshDir();
    const file = path.join(dir, STORE_FILE);
    const other = JSON.stringify({ format: "paddock-kv/1", schema: "ntp", seq: "3", entries: { "/server/0": "10.0.0.1" } });
    writeFileSync(file, other);
    const log = recordingLog();
    expect(() => new KvStore({ schema: dhcp4Schema, stateDir: dir, log })).toThrow(/holds the state of the service "ntp", not dhcp4/);
    expect(readFileSync(file, "utf8")).toBe(other);
    expect(readdirSync(dir)).toEqual([STORE_FILE]);
    expect(log.warnings).toEqual([]);
  });
});
