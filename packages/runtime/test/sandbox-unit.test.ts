// Pure tests of the sandbox's pieces: calf names, ldd parsing, the OCI config, the seccomp
// profile, the log line splitter, the restart backoff, the sd_notify sender chain, and the calf
// bundler's refusal to bundle priv code. No root needed.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { bundleCalf } from "@paddock/bundler";
import {
  CALF_SCRIPT_PATH,
  calfOciConfig,
  parseCalfName,
  parseLdd,
  type CalfName,
  type CalfSandboxSpec,
  type NodeRuntime,
} from "../src/sandbox/bundle.ts";
import { LogLineSplitter } from "../src/sandbox/log-lines.ts";
import { CALF_FORBIDDEN_SYSCALLS, CALF_SYSCALL_GROUPS, calfSeccompProfile } from "../src/sandbox/seccomp.ts";
import { SdNotifier, type NotifySender } from "../src/sd-notify.ts";
import { DEFAULT_BACKOFF, nextRestartDelay } from "../src/supervisor.ts";

const LDD_DEBIAN_NODE = `	linux-vdso.so.1 (0x00007fd6f9151000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007fd6f913a000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fd6f8e00000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fd6f8c1e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007fd6f9153000)
`;

const runtime: NodeRuntime = { binary: "/usr/bin/node", libraries: parseLdd(LDD_DEBIAN_NODE, "/usr/bin/node") };
const spec: CalfSandboxSpec = { name: "dhcp" as CalfName, script: "/opt/calves/dhcp.mjs", memoryBytes: 64 << 20, pids: 32 };

describe("calf names", () => {
  it.each(["dhcp", "ntp-client", "a", "0", "x".repeat(32)])("accepts %s", (n) => {
    expect(parseCalfName(n).ok).toBe(true);
  });
  it.each(["", "-x", "Dhcp", "a/b", "..", "a.b", "a b", "x".repeat(33), "dhcp\n"])("rejects %j", (n) => {
    const r = parseCalfName(n);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("PADDOCK_E_SANDBOX_BAD_NAME");
  });
});

describe("ldd parsing", () => {
  it("lists the interpreter first and every resolved library, skipping the vDSO", () => {
    expect(runtime.libraries).toEqual([
      "/lib64/ld-linux-x86-64.so.2",
      "/lib/x86_64-linux-gnu/libdl.so.2",
      "/lib/x86_64-linux-gnu/libstdc++.so.6",
      "/lib/x86_64-linux-gnu/libc.so.6",
    ]);
  });
  it("fails on a library ldd cannot find", () => {
    expect(() => parseLdd("\tlibfoo.so.1 => not found\n", "/usr/bin/node")).toThrow(/PADDOCK_E_SANDBOX_NODE_RUNTIME/);
  });
});

describe("the calf's OCI config", () => {
  const config = calfOciConfig(spec, runtime);
  const proc = config.process as {
    user: { uid: number; gid: number };
    env: string[];
    capabilities: Record<string, string[]>;
    noNewPrivileges: boolean;
    args: string[];
    rlimits: { type: string; hard: number }[];
  };
  const linux = config.linux as unknown as {
    namespaces: { type: string }[];
    uidMappings: { containerID: number; hostID: number; size: number }[];
    resources: { memory: { limit: number; swap: number }; pids: { limit: number } };
    cgroupsPath: string;
  };

  it("runs Node on the script as uid 1000 with no capabilities, no new privileges and only HOME", () => {
    expect(proc.args).toEqual(["/usr/bin/node", "--jitless", "--no-expose-wasm", "--max-old-space-size=32", CALF_SCRIPT_PATH]);
    expect(proc.user).toMatchObject({ uid: 1000, gid: 1000 });
    expect(proc.env).toEqual(["HOME=/"]);
    expect(Object.keys(proc.capabilities).sort()).toEqual(["ambient", "bounding", "effective", "inheritable", "permitted"]);
    for (const set of Object.values(proc.capabilities)) expect(set).toEqual([]);
    expect(proc.noNewPrivileges).toBe(true);
    expect(proc.rlimits.find((r) => r.type === "RLIMIT_NOFILE")?.hard).toBe(64);
  });

  it("has a read-only root, every namespace including user, a mapped range and cgroup limits", () => {
    expect(config.root).toEqual({ path: "rootfs", readonly: true });
    expect(linux.namespaces.map((n) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
    expect(linux.uidMappings).toEqual([{ containerID: 0, hostID: 100_000, size: 65_536 }]);
    expect(linux.resources.memory).toEqual({ limit: 64 << 20, swap: 64 << 20 });
    expect(linux.resources.pids).toEqual({ limit: 32 });
    expect(linux.cgroupsPath).toBe("/paddock/dhcp");
  });

  it("caps the CPU at one core by default, at the definition's share when it asks for less, never more", () => {
    const cpu = (cores?: number) => (calfOciConfig(cores === undefined ? spec : { ...spec, cpuCores: cores }, runtime).linux as unknown as { resources: { cpu: unknown } }).resources.cpu;
    expect(cpu()).toMatchObject({ quota: 100_000, period: 100_000 });
    expect(cpu(0.25)).toMatchObject({ quota: 25_000, period: 100_000 });
    expect(cpu(4)).toMatchObject({ quota: 100_000 });
  });

  it("mounts only Node, its libraries and the script, read-only; noexec wherever nothing is executed", () => {
    const binds = config.mounts.filter((m) => m.type === "bind");
    expect(binds.map((m) => m.destination)).toEqual(["/usr/bin/node", ...runtime.libraries, CALF_SCRIPT_PATH]);
    for (const m of binds) expect(m.options).toEqual(expect.arrayContaining(["bind", "ro", "nosuid", "nodev"]));
    expect(config.mounts.find((m) => m.destination === CALF_SCRIPT_PATH)?.options).toContain("noexec");
    for (const d of ["/proc", "/dev", "/tmp"]) expect(config.mounts.find((m) => m.destination === d)?.options).toContain("noexec");
    expect(config.mounts.find((m) => m.destination === "/tmp")?.options).toEqual(expect.arrayContaining(["nosuid", "nodev", "size=4194304"]));
  });

  it("adds extra mounts read-only and noexec, and refuses reserved or relative destinations", () => {
    const withExtra = calfOciConfig({ ...spec, extraMounts: [{ source: "/usr/share/zoneinfo", destination: "/usr/share/zoneinfo" }] }, runtime);
    expect(withExtra.mounts.at(-1)).toEqual({ destination: "/usr/share/zoneinfo", type: "bind", source: "/usr/share/zoneinfo", options: ["bind", "ro", "nosuid", "nodev", "noexec"] });
    for (const destination of ["/", "/tmp/x", "/proc", "/calf/main.mjs", "relative", "/a/../etc"]) {
      expect(() => calfOciConfig({ ...spec, extraMounts: [{ source: "/etc", destination }] }, runtime), destination).toThrow(/PADDOCK_E_SANDBOX_BAD_SPEC/);
    }
  });

  it("refuses limits below what Node needs", () => {
    expect(() => calfOciConfig({ ...spec, memoryBytes: 1 << 20 }, runtime)).toThrow(/memoryBytes/);
    expect(() => calfOciConfig({ ...spec, pids: 4 }, runtime)).toThrow(/pids/);
    expect(() => calfOciConfig({ ...spec, script: "calf.mjs" }, runtime)).toThrow(/absolute/);
  });
});

describe("the seccomp profile", () => {
  const profile = calfSeccompProfile("x64");
  const allowed = new Set(profile.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW").flatMap((r) => r.names));

  it("denies by default with EPERM, on the native ABI only", () => {
    expect(profile).toMatchObject({ defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, architectures: ["SCMP_ARCH_X86_64"] });
  });

  it("allows none of the forbidden syscalls, in any rule", () => {
    for (const s of CALF_FORBIDDEN_SYSCALLS) {
      if (s === "clone3" || s === "io_uring_setup") continue;
      expect(allowed.has(s), s).toBe(false);
    }
  });

  it("allows clone only for threads without namespace flags, ioctl only for listed requests", () => {
    const clone = profile.syscalls.filter((r) => r.names.includes("clone"));
    expect(clone).toHaveLength(1);
    const arg = clone[0]?.args?.[0];
    expect(arg).toMatchObject({ index: 0, op: "SCMP_CMP_MASKED_EQ", valueTwo: 0x10000 });
    // CLONE_NEWUSER, CLONE_NEWNET and CLONE_NEWNS are all in the mask, so a thread asking for them fails.
    for (const flag of [0x10000000, 0x40000000, 0x20000]) expect(((arg?.value ?? 0) & flag) !== 0).toBe(true);
    // fork() (SIGCHLD only) does not match: (flags & mask) must equal CLONE_THREAD.
    expect((17 & (arg?.value ?? 0)) === arg?.valueTwo).toBe(false);
    for (const r of profile.syscalls.filter((r) => r.names.includes("ioctl"))) {
      expect(r.args?.[0]).toMatchObject({ index: 1, op: "SCMP_CMP_EQ" });
    }
  });

  it("turns clone3 and io_uring into ENOSYS so glibc and libuv fall back", () => {
    const enosys = profile.syscalls.find((r) => r.action === "SCMP_ACT_ERRNO");
    expect(enosys).toMatchObject({ errnoRet: 38 });
    expect([...(enosys?.names ?? [])].sort()).toEqual(["clone3", "io_uring_enter", "io_uring_register", "io_uring_setup"]);
  });

  it("lists every allowed name once", () => {
    const names = Object.values(CALF_SYSCALL_GROUPS).flat();
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("log line splitting", () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

  it("splits lines across chunks and flushes the last one at the end", () => {
    const s = new LogLineSplitter(100, 1000);
    expect(s.push(enc("one\ntw"), 0)).toEqual([{ kind: "line", text: "one", truncated: false }]);
    expect(s.push(enc("o\nthr"), 0)).toEqual([{ kind: "line", text: "two", truncated: false }]);
    expect(s.end(0)).toEqual([{ kind: "line", text: "thr", truncated: false }]);
  });

  it("cuts a line at the limit and drops its rest, even without a newline ever", () => {
    const s = new LogLineSplitter(4, 1000);
    expect(s.push(enc("abcdefgh"), 0)).toEqual([{ kind: "line", text: "abcd", truncated: true }]);
    expect(s.push(enc("ijkl".repeat(1000)), 0)).toEqual([]);
    expect(s.push(enc("mn\nok\n"), 0)).toEqual([{ kind: "line", text: "ok", truncated: false }]);
  });

  it("rate-limits lines per second and reports how many it dropped", () => {
    const s = new LogLineSplitter(100, 2);
    expect(s.push(enc("a\nb\nc\nd\n"), 0).map((e) => (e.kind === "line" ? e.text : e.count))).toEqual(["a", "b"]);
    expect(s.push(enc("e\n"), 1000)).toEqual([{ kind: "suppressed", count: 2 }, { kind: "line", text: "e", truncated: false }]);
  });

  it("never emits a line longer than the limit, and keeps short lines intact (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }).map((l) => l.replace(/\n/g, "")), { maxLength: 30 }), fc.integer({ min: 1, max: 17 }), (lines, chunk) => {
        const bytes = enc(lines.map((l) => `${l}\n`).join(""));
        const s = new LogLineSplitter(24, 1_000_000);
        const out = [];
        for (let i = 0; i < bytes.length; i += chunk) out.push(...s.push(bytes.subarray(i, i + chunk), 0));
        out.push(...s.end(0));
        const texts = out.map((e) => (e.kind === "line" ? e : undefined)).filter((e) => e !== undefined);
        for (const e of texts) expect(Buffer.byteLength(e.text)).toBeLessThanOrEqual(24 + 3);
        const expected = lines.filter((l) => Buffer.byteLength(l) <= 24);
        expect(texts.filter((e) => !e.truncated).map((e) => e.text)).toEqual(expected);
      }),
    );
  });
});

describe("restart backoff", () => {
  it("starts at initialMs, doubles, caps at maxMs and resets after a stable run", () => {
    const p = DEFAULT_BACKOFF;
    let d: number | undefined;
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) seen.push((d = nextRestartDelay(d, 50, p)));
    expect(seen.slice(0, 5)).toEqual([100, 200, 400, 800, 1600]);
    expect(seen.at(-1)).toBe(30_000);
    expect(nextRestartDelay(30_000, p.stableMs, p)).toBe(100);
  });
});

describe("sd_notify sender chain", () => {
  it("does nothing without NOTIFY_SOCKET, and ignores a relative path", async () => {
    const calls: string[] = [];
    const send: NotifySender = async (_p, m) => void calls.push(m);
    await SdNotifier.fromEnv({}, [send]).ready();
    await SdNotifier.fromEnv({ NOTIFY_SOCKET: "relative/path" }, [send]).ready();
    expect(calls).toEqual([]);
  });

  it("falls back to the next sender, sends READY=1 once, keeps STATUS on one line", async () => {
    const calls: string[] = [];
    const failing: NotifySender = async () => {
      throw new Error("no helper");
    };
    const ok: NotifySender = async (p, m) => void calls.push(`${p} ${m}`);
    const n = new SdNotifier("@sock", [failing, ok]);
    await n.ready();
    await n.ready();
    await n.stopping();
    await n.notify("STATUS=a\nREADY=1");
    expect(calls).toEqual(["@sock READY=1", "@sock STOPPING=1", "@sock STATUS=a READY=1"]);
  });

  it("rejects when no sender delivers", async () => {
    const failing: NotifySender = async () => {
      throw new Error("no helper");
    };
    await expect(new SdNotifier("/run/x", [failing]).ready()).rejects.toThrow(/failed with every sender/);
  });
});

describe("bundleCalf", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "paddock-bundle-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("bundles a calf into one self-contained ES module", async () => {
    const out = path.join(dir, "echo.mjs");
    const b = await bundleCalf(new URL("./fixtures/echo-calf.ts", import.meta.url).pathname, out);
    expect(b.inputs.some((i) => i.endsWith("fixtures/channel.ts"))).toBe(true);
    const text = readFileSync(out, "utf8");
    expect(text).not.toMatch(/from ?"\.\.?\//);
    expect(text).toMatch(/from ?"node:net"/); // minified: no space before the quote
  });

  it("refuses a calf that imports priv code", async () => {
    const entry = path.join(dir, "bad-calf.ts");
    const privModule = new URL("../src/sandbox/log-lines.ts", import.meta.url).pathname;
    writeFileSync(entry, `import { LogLineSplitter } from ${JSON.stringify(privModule)};\nconsole.log(new LogLineSplitter());\n`);
    await expect(bundleCalf(entry, path.join(dir, "bad.mjs"))).rejects.toThrow(/would contain priv\/native code: .*packages\/runtime\/src\/sandbox\/log-lines\.ts/);
  });
});
