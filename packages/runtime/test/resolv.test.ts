// The resolv.conf composer (issue 13 A2): the pure composition (order, de-duplication, limits,
// injection) and the composer on temp files (contributions merged, withdrawn, restored; dead
// contributions dropped; another process composing at the same time). No root needed.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  composeResolvConf,
  contributionProblem,
  MAX_NAMESERVERS,
  MAX_SEARCH_CHARS,
  MAX_SEARCH_DOMAINS,
  RESOLV_CONF_HEADER,
  ResolvConfComposer,
  resolvContributionDir,
  type ResolvContribution,
} from "../src/handlers/index.ts";
import { acquirePidLock } from "../src/pid-lock.ts";

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-resolv-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const c = (source: string, iface: string, priority: number, nameservers: string[], search: string[] = [], domain?: string): ResolvContribution => ({
  source,
  iface,
  priority,
  nameservers,
  search,
  ...(domain !== undefined ? { domain } : {}),
});

/** The file's directives (no comments, no blank lines). */
const directives = (text: string | null): string[] => (text ?? "").split("\n").filter((l) => l !== "" && !l.startsWith("#"));

describe("composeResolvConf", () => {
  it("orders by priority (lowest first), then source, then interface, whatever the input order", () => {
    const a = c("dhcp4", "eth1", 1003, ["10.1.0.53"], ["one.test"], "one.test");
    const b = c("dhcp4", "eth0", 1002, ["10.0.0.53"], ["zero.test"], "zero.test");
    const d = c("dhcp6", "eth0", 1002, ["fd00::53"], ["six.test"]);
    const e = c("dhcp4", "eth2", 1002, ["10.2.0.53"]);
    const text = composeResolvConf([a, d, e, b]).text;
    expect(text!.split("\n")).toEqual([
      RESOLV_CONF_HEADER,
      "# from dhcp4 on eth0 (priority 1002), dhcp4 on eth2 (priority 1002), dhcp6 on eth0 (priority 1002), dhcp4 on eth1 (priority 1003); the previous file is restored when the last of them ends",
      "domain zero.test",
      "search zero.test six.test one.test",
      "nameserver 10.0.0.53",
      "nameserver 10.2.0.53",
      "nameserver fd00::53",
      `# left out: nameserver 10.1.0.53 of dhcp4 on eth1 (glibc reads ${MAX_NAMESERVERS})`,
      "",
    ]);
    expect(composeResolvConf([b, a, e, d]).text).toBe(text);
  });

  it("drops repeated nameservers and search names, keeps the first three servers, and says what it left out", () => {
    const r = composeResolvConf([
      c("dhcp4", "eth0", 1, ["10.0.0.1", "10.0.0.2", "10.0.0.1"], ["a.test", "B.test"]),
      c("dhcp4", "eth1", 2, ["10.0.0.2", "10.0.0.3", "10.0.0.4"], ["b.test", "c.test"]),
    ]);
    expect(directives(r.text)).toEqual(["search a.test B.test c.test", "nameserver 10.0.0.1", "nameserver 10.0.0.2", "nameserver 10.0.0.3"]);
    expect(r.dropped).toEqual(["nameserver 10.0.0.4 of dhcp4 on eth1 (glibc reads 3)"]);
  });

  it("a domain without a search list joins the search line when another link has one; alone, it is the domain line", () => {
    expect(directives(composeResolvConf([c("dhcp4", "eth0", 1, ["10.0.0.1"], [], "a.test"), c("dhcp4", "eth1", 2, [], ["b.test"])]).text)).toEqual([
      "domain a.test",
      "search a.test b.test",
      "nameserver 10.0.0.1",
    ]);
    expect(directives(composeResolvConf([c("dhcp4", "eth0", 1, ["10.0.0.1"], [], "a.test")]).text)).toEqual(["domain a.test", "nameserver 10.0.0.1"]);
  });

  it(`bounds the search list to ${MAX_SEARCH_DOMAINS} names and ${MAX_SEARCH_CHARS} characters; a name that does not fit is left out, a later one that fits is kept`, () => {
    const long = `${"x".repeat(63)}.${"y".repeat(63)}.${"z".repeat(63)}.test`; // 196 characters
    const r = composeResolvConf([
      c("dhcp4", "eth0", 1, [], ["a.test", long]),
      c("dhcp4", "eth1", 2, [], [`${"w".repeat(60)}.test`, "b.test", "c.test", "d.test", "e.test", "f.test", "g.test"]),
    ]);
    const search = directives(r.text)[0]!.slice("search ".length).split(" ");
    expect(search).toEqual(["a.test", long, "b.test", "c.test", "d.test", "e.test"]);
    expect(search.join(" ").length).toBeLessThanOrEqual(MAX_SEARCH_CHARS);
    expect(r.dropped).toEqual([
      `search ${"w".repeat(60)}.test of dhcp4 on eth1 (at most 6 names in 256 characters)`,
      "search f.test of dhcp4 on eth1 (at most 6 names in 256 characters)",
      "search g.test of dhcp4 on eth1 (at most 6 names in 256 characters)",
    ]);
  });

  it("is null when no contribution holds a resolver setting", () => {
    expect(composeResolvConf([]).text).toBeNull();
    expect(composeResolvConf([c("dhcp4", "eth0", 1, [])]).text).toBeNull();
  });

  const label = fc.stringMatching(/^[a-z0-9]{1,8}$/);
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join("."));
  const v6 = fc.ipV6();
  const contribution = fc.record({
    source: fc.constantFrom("dhcp4", "dhcp6", "ra"),
    iface: fc.constantFrom("eth0", "eth1", "wlan0"),
    priority: fc.nat(3000),
    nameservers: fc.array(fc.oneof(v4, v6), { maxLength: 5 }),
    search: fc.array(name, { maxLength: 8 }),
    domain: fc.option(name, { nil: undefined }),
  });

  it("property: every line is a comment or one directive; ≤ 3 distinct servers, the first distinct ones in order; search within its bounds; input order does not matter", () => {
    fc.assert(
      fc.property(fc.uniqueArray(contribution, { selector: (x) => `${x.source}@${x.iface}`, maxLength: 5 }), (list) => {
        const { text } = composeResolvConf(list);
        const rev = composeResolvConf([...list].reverse()).text;
        expect(rev).toBe(text);
        if (text === null) return;
        const lines = text.split("\n");
        expect(lines.pop()).toBe("");
        for (const line of lines) expect(line).toMatch(/^(# .*|domain [A-Za-z0-9_.-]+|search [A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*|nameserver [0-9a-fA-F.:]+)$/);
        const servers = lines.filter((l) => l.startsWith("nameserver ")).map((l) => l.slice(11));
        const ordered = [...list].sort((a, b) => a.priority - b.priority || (a.source < b.source ? -1 : a.source > b.source ? 1 : a.iface < b.iface ? -1 : 1));
        const distinct = [...new Set(ordered.flatMap((x) => x.nameservers))];
        expect(servers).toEqual(distinct.slice(0, MAX_NAMESERVERS));
        const search = lines.find((l) => l.startsWith("search "))?.slice(7).split(" ") ?? [];
        expect(search.length).toBeLessThanOrEqual(MAX_SEARCH_DOMAINS);
        expect(search.join(" ").length).toBeLessThanOrEqual(MAX_SEARCH_CHARS);
        expect(new Set(search.map((s) => s.toLowerCase())).size).toBe(search.length);
      }),
      { numRuns: 300 },
    );
  });

  it("property: a value that could add a line or a directive is refused before composition", () => {
    const nasty = fc.oneof(fc.string(), fc.constantFrom("10.0.0.1\nnameserver 6.6.6.6", "a.test b.test", "fe80::1%eth0 x", "a.test\u2028", "1.2.3.4 ", "x\ty", ""));
    fc.assert(
      fc.property(nasty, nasty, (server, domain) => {
        const x = c("dhcp4", "eth0", 1, [server], [domain]);
        if (contributionProblem(x) !== null) return;
        for (const line of composeResolvConf([x]).text!.split("\n").filter(Boolean)) expect(line).toMatch(/^(# .*|search \S+|nameserver \S+)$/);
      }),
      { numRuns: 500 },
    );
    expect(contributionProblem(c("dhcp4", "eth0", 1, ["10.0.0.1\nnameserver 6.6.6.6"]))).toMatch(/not an IP address/);
    expect(contributionProblem(c("dhcp4", "eth0", 1, [], ["a.test b.test"]))).toMatch(/not a domain name/);
    expect(contributionProblem(c("dhcp4", "eth0", -1, []))).toMatch(/priority/);
    expect(contributionProblem(c("dhcp4", "eth0", 1, ["fe80::1%eth0"]))).toBeNull();
  });
});

describe("ResolvConfComposer on temp files", () => {
  const ORIGINAL = "# the administrator's resolver\nnameserver 192.0.2.53\n";

  function setup(original: string | null = ORIGINAL) {
    const dir = tmp();
    const file = path.join(dir, "resolv.conf");
    if (original !== null) writeFileSync(file, original, { mode: 0o644 });
    const runtimeDir = path.join(dir, "run");
    const lock = acquirePidLock(path.join(dir, "paddock.pid"));
    const composer = new ResolvConfComposer({ file, runtimeDir, ownerLock: lock.file });
    return { dir, file, runtimeDir, lock, composer };
  }

  it("merges two links, keeps the other's when one goes, and restores the original when the last goes", async () => {
    const { file, composer } = setup();
    const u1 = await composer.update("dhcp4", "eth1", { priority: 1003, nameservers: ["10.1.0.53"], search: ["one.test"], domain: "one.test" });
    expect(u1.original).toEqual({ kind: "file", content: ORIGINAL, mode: 0o644 });
    await composer.update("dhcp4", "eth0", { priority: 1002, nameservers: ["10.0.0.53"], search: ["zero.test"], domain: "zero.test" });
    expect(directives(readFileSync(file, "utf8"))).toEqual(["domain zero.test", "search zero.test one.test", "nameserver 10.0.0.53", "nameserver 10.1.0.53"]);
    expect(lstatSync(file).mode & 0o777).toBe(0o644);

    const u2 = await composer.update("dhcp4", "eth0", null);
    expect(directives(readFileSync(file, "utf8"))).toEqual(["domain one.test", "search one.test", "nameserver 10.1.0.53"]);
    expect(u2.original).toEqual({ kind: "file", content: ORIGINAL, mode: 0o644 });

    const u3 = await composer.update("dhcp4", "eth1", null);
    expect(readFileSync(file, "utf8")).toBe(ORIGINAL);
    expect(u3.changes).toEqual([`restore ${file} (the previous file)`]);
    expect(u3.original).toBeNull();
    expect(readdirSync(composer.dir).filter((n) => n !== "lock")).toEqual([]);
  });

  it("an unchanged contribution writes nothing; a symlink is restored as the same symlink; no file before means none after", async () => {
    const s = setup(null);
    symlinkSync("../run/systemd/resolve/stub-resolv.conf", s.file);
    await s.composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] });
    expect((await s.composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] })).changes).toEqual([]);
    await s.composer.update("dhcp4", "eth0", null);
    expect(readlinkSync(s.file)).toBe("../run/systemd/resolve/stub-resolv.conf");

    const t = setup(null);
    await t.composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] });
    expect(existsSync(t.file)).toBe(true);
    await t.composer.update("dhcp4", "eth0", null);
    expect(existsSync(t.file)).toBe(false);
  });

  it("a contribution of a process that is gone is ignored and removed at the next composition", async () => {
    const { dir, file, composer } = setup();
    // A process that ran and ended: its pid lock still names it, but it is gone.
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const deadPid = Number(gone.stdout);
    const deadLock = path.join(dir, "dead.pid");
    writeFileSync(deadLock, `${deadPid}\n`);
    // Written as that process wrote it: same directory, its pid and lock.
    mkdirSync(composer.dir, { recursive: true });
    const stored = path.join(composer.dir, "dhcp4@eth9.json");
    writeFileSync(stored, JSON.stringify({ format: "paddock-resolv/1", pid: deadPid, lock: deadLock, source: "dhcp4", iface: "eth9", priority: 1, nameservers: ["10.9.0.53"], search: [] }));

    await composer.update("dhcp4", "eth0", { priority: 2, nameservers: ["10.0.0.53"], search: [] });
    expect(directives(readFileSync(file, "utf8"))).toEqual(["nameserver 10.0.0.53"]);
    expect(existsSync(stored)).toBe(false);
  });

  it("a released pid lock makes another process's contribution dead too; an unreadable contribution is removed", async () => {
    const { dir, file, composer } = setup();
    // Another live process (our parent) whose pid lock names it: live until the lock is released.
    const otherLock = path.join(dir, "other.pid");
    writeFileSync(otherLock, `${process.ppid}\n`);
    await composer.update("dhcp4", "eth0", { priority: 2, nameservers: ["10.0.0.53"], search: [] });
    writeFileSync(path.join(composer.dir, "dhcp4@eth1.json"), JSON.stringify({ format: "paddock-resolv/1", pid: process.ppid, lock: otherLock, source: "dhcp4", iface: "eth1", priority: 1, nameservers: ["10.1.0.53"], search: [] }));
    writeFileSync(path.join(composer.dir, "dhcp4@eth7.json"), "{ not json");
    await composer.update("dhcp4", "eth0", { priority: 2, nameservers: ["10.0.0.53"], search: [] });
    expect(directives(readFileSync(file, "utf8"))).toEqual(["nameserver 10.1.0.53", "nameserver 10.0.0.53"]);
    expect(existsSync(path.join(composer.dir, "dhcp4@eth7.json"))).toBe(false);
    rmSync(otherLock);
    await composer.update("dhcp4", "eth0", { priority: 2, nameservers: ["10.0.0.54"], search: [] });
    expect(directives(readFileSync(file, "utf8"))).toEqual(["nameserver 10.0.0.54"]);
  });

  it("this process's contributions stay live after their lock is released: a host stopped without release keeps its servers while another host here composes", async () => {
    const { dir, file, runtimeDir, composer } = setup();
    const stopped = acquirePidLock(path.join(dir, "stopped.pid"));
    const first = new ResolvConfComposer({ file, runtimeDir, ownerLock: stopped.file });
    await first.update("dhcp4", "eth1", { priority: 1, nameservers: ["10.1.0.53"], search: [] });
    stopped.release();
    await composer.update("dhcp4", "eth0", { priority: 2, nameservers: ["10.0.0.53"], search: [] });
    expect(directives(readFileSync(file, "utf8"))).toEqual(["nameserver 10.1.0.53", "nameserver 10.0.0.53"]);
  });

  it("after a reboot (no runtime directory, our file in place) the caller's remembered original is restored", async () => {
    const { file, runtimeDir, composer } = setup();
    const { original } = await composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] });
    rmSync(runtimeDir, { recursive: true });
    // The first contribution after the reboot finds our own file: the remembered copy is the original.
    const u = await composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] }, original);
    expect(u.original).toEqual(original);
    await composer.update("dhcp4", "eth0", null, u.original);
    expect(readFileSync(file, "utf8")).toBe(ORIGINAL);
    // And without a remembered copy, our own old file is not taken for the original.
    await composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] });
    rmSync(runtimeDir, { recursive: true });
    await composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] });
    await composer.update("dhcp4", "eth0", null);
    expect(existsSync(file)).toBe(false);
  });

  it("a file someone else put in place is left as it is when the last contribution goes", async () => {
    const { file, composer } = setup();
    await composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.53"], search: [] });
    writeFileSync(file, "nameserver 198.51.100.1\n");
    const u = await composer.update("dhcp4", "eth0", null);
    expect(u.conflicts).toEqual([`${file} was replaced by someone else since Paddock wrote it: left as it is`]);
    expect(readFileSync(file, "utf8")).toBe("nameserver 198.51.100.1\n");
  });

  it("refuses a value that cannot go into resolv.conf, with a typed error", async () => {
    const { composer } = setup();
    await expect(composer.update("dhcp4", "eth0", { priority: 1, nameservers: ["10.0.0.1 x"], search: [] })).rejects.toMatchObject({ code: "PADDOCK_E_RESOLV_VALUE" });
    await expect(composer.update("dhcp4", "../x", null)).rejects.toMatchObject({ code: "PADDOCK_E_RESOLV_NAME" });
  });

  it("many updates at once, from this process and another one, all end up in the file", async () => {
    const { dir, file, runtimeDir, composer } = setup();
    // Another process composing into the same directory at the same time (its own pid lock).
    const script = `
      import { ResolvConfComposer } from ${JSON.stringify(path.resolve(import.meta.dirname, "../src/handlers/resolv.ts"))};
      import { acquirePidLock } from ${JSON.stringify(path.resolve(import.meta.dirname, "../src/pid-lock.ts"))};
      const lock = acquirePidLock(${JSON.stringify(path.join(dir, "child.pid"))});
      const c = new ResolvConfComposer({ file: ${JSON.stringify(file)}, runtimeDir: ${JSON.stringify(runtimeDir)}, ownerLock: lock.file });
      for (let i = 0; i < 20; i++) await c.update("ra", "eth" + (i % 3), { priority: 10 + (i % 3), nameservers: ["fd00::" + (i % 3 + 1)], search: [] });
      process.stdout.write("done\\n");
      await new Promise((r) => process.stdin.once("data", r));
    `;
    const child = spawn(path.resolve(import.meta.dirname, "../../../node_modules/.bin/tsx"), ["--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "inherit"] });
    const done = new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("done") && resolve());
      child.once("exit", (code) => reject(new Error(`the other process exited (${code})`)));
    });
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => composer.update("dhcp4", `eth${i % 4}`, { priority: 1 + (i % 4), nameservers: [], search: [`l${i % 4}.test`] })));
      await done;
      // Whoever composed last saw every contribution of both processes (each is written under the lock).
      expect(directives(readFileSync(file, "utf8"))).toEqual(["search l0.test l1.test l2.test l3.test", "nameserver fd00::1", "nameserver fd00::2", "nameserver fd00::3"]);
      expect(readdirSync(resolvContributionDir(runtimeDir, file)).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    } finally {
      child.stdin.end("x");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    }
  });
});
