/**
 * The hook runner with real executables in a temporary directory (issue 13 A4): which files run
 * and in what order, exactly what environment and stdin they get, a timeout that kills the hook's
 * whole process group, bounded and escaped output, the ownership rule, and the bounded queue.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "@paddock/testkit";
import { HOOK_PATH, hookMetrics, HookRunner, HookTrigger, listHooks, MAX_HOOK_OUTPUT_BYTES, runHook, type AppliedState, type HookEvent } from "../src/hooks.ts";
import { HandlerRunner, type HandlerLogger, type KvSource } from "../src/handlers/reconciler.ts";

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-hooks-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Writes an executable shell script. */
function hook(dir: string, name: string, body: string, mode = 0o755): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, mode);
  return file;
}

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}
function recordingLog(): HandlerLogger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? "" });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A hook directory (root-owned, 0700 from mkdtemp) beside a directory for what hooks write. */
function setup(): { hooks: string; out: string } {
  const base = freshDir();
  const hooks = path.join(base, "hooks.d");
  const out = path.join(base, "out");
  mkdirSync(hooks, { mode: 0o755 });
  mkdirSync(out);
  return { hooks, out };
}

/** The environment a process was started with, NUL-separated as the kernel keeps it. */
const ENVIRON_OF_SHELL = (file: string) => `cat /proc/$$/environ > ${file}`;
function readEnviron(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(file, "utf8").split("\0").filter(Boolean)) {
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

const bound: HookEvent = { reason: "BOUND", env: { PADDOCK_IP: "10.0.0.5", PADDOCK_DNS: "10.0.0.1 10.0.0.2" }, json: { lease: { ip: "10.0.0.5", dns: ["10.0.0.1", "10.0.0.2"] } } };

describe.skipIf(!isRoot)("hook runner (real executables; needs root for the ownership rule)", () => {
  it("runs the executable regular files in name order, one at a time, skipping backups, dotfiles and the rest", async () => {
    const { hooks, out } = setup();
    const order = path.join(out, "order");
    // Each hook records its start and end; a second hook starting before the first ended would show.
    for (const name of ["20-second", "10-first", "30-third"]) hook(hooks, name, `echo "start ${name}" >> ${order}; sleep 0.2; echo "end ${name}" >> ${order}`);
    for (const name of ["10-first~", ".hidden", "10-first.dpkg-old", "10-first.dpkg-new", "20-x.ucf-dist", "40.rpmnew", "50.swp", "60.bak"]) hook(hooks, name, `echo "ran ${name}" >> ${order}`);
    hook(hooks, "70-not-executable", `echo "ran 70" >> ${order}`, 0o644);
    mkdirSync(path.join(hooks, "80-a-directory"));
    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log });
    runner.emit(bound);
    await runner.idle();
    expect(readFileSync(order, "utf8").trim().split("\n")).toEqual(["start 10-first", "end 10-first", "start 20-second", "end 20-second", "start 30-third", "end 30-third"]);
    expect(runner.stats).toMatchObject({ events: 1, succeeded: 3, failed: 0, refused: 0 });
    expect(log.lines.filter((l) => l.level === "info").map((l) => l.obj.hook)).toEqual(["10-first", "20-second", "30-third"]);
  });

  it("gives exactly PATH and the event's variables, and the event as one JSON document on stdin", async () => {
    const { hooks, out } = setup();
    hook(hooks, "10-record", `${ENVIRON_OF_SHELL(path.join(out, "env"))}; cat > ${path.join(out, "stdin")}; pwd > ${path.join(out, "cwd")}`);
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log: recordingLog() });
    process.env.PADDOCK_LEAK_TEST = "the priv's own environment";
    try {
      runner.emit(bound);
      await runner.idle();
    } finally {
      delete process.env.PADDOCK_LEAK_TEST;
    }
    expect(readEnviron(path.join(out, "env"))).toEqual({
      PATH: HOOK_PATH,
      PADDOCK_SERVICE: "dhcp4",
      PADDOCK_INTERFACE: "eth0",
      PADDOCK_REASON: "BOUND",
      PADDOCK_IP: "10.0.0.5",
      PADDOCK_DNS: "10.0.0.1 10.0.0.2",
    });
    const stdin = readFileSync(path.join(out, "stdin"), "utf8");
    expect(stdin.endsWith("\n")).toBe(true);
    expect(stdin.trimEnd().includes("\n")).toBe(false);
    expect(JSON.parse(stdin)).toEqual({ service: "dhcp4", interface: "eth0", reason: "BOUND", lease: { ip: "10.0.0.5", dns: ["10.0.0.1", "10.0.0.2"] } });
    expect(readFileSync(path.join(out, "cwd"), "utf8")).toBe("/\n");
  });

  it("escapes control characters in values and leaves out names that are not PADDOCK_ words", async () => {
    const { hooks, out } = setup();
    hook(hooks, "10-record", `${ENVIRON_OF_SHELL(path.join(out, "env"))}; cat > ${path.join(out, "stdin")}`);
    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log });
    runner.emit({
      reason: "BOUND",
      env: {
        PADDOCK_DOMAIN: "evil.test\nPADDOCK_IP=6.6.6.6",
        PADDOCK_SEARCH: "a\u0000b\u2028c\u0085d\u001b[2J",
        "PADDOCK_X=Y": "injected",
        LD_PRELOAD: "/tmp/evil.so",
        PADDOCK_REASON: "RELEASE",
        PADDOCK_HUGE: "x".repeat(5000),
        PADDOCK_OK: "a=b; $(reboot) `id`",
      },
      json: { domain: "evil.test\nx\u2028y" },
    });
    await runner.idle();
    const env = readEnviron(path.join(out, "env"));
    expect(env).toEqual({
      PATH: HOOK_PATH,
      PADDOCK_SERVICE: "dhcp4",
      PADDOCK_INTERFACE: "eth0",
      PADDOCK_REASON: "BOUND",
      PADDOCK_DOMAIN: "evil.test\\x0aPADDOCK_IP=6.6.6.6",
      PADDOCK_SEARCH: "a\\x00b\\u2028c\\x85d\\x1b[2J",
      // Passed as it is: nothing reaches a shell, so shell syntax is just text.
      PADDOCK_OK: "a=b; $(reboot) `id`",
    });
    const problems = log.lines.filter((l) => l.level === "warn").map((l) => l.msg);
    expect(problems).toHaveLength(4);
    expect(problems.join("\n")).toMatch(/LD_PRELOAD/);
    expect(problems.join("\n")).toMatch(/PADDOCK_HUGE is longer than 4096 bytes/);
    const stdin = readFileSync(path.join(out, "stdin"), "utf8");
    expect(stdin).not.toMatch(/[\u2028\u0085]/u);
    expect(stdin.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(stdin).domain).toBe("evil.test\nx\u2028y");
  });

  it("kills the whole process group at the timeout: a forked child too, and one that ignores SIGTERM", async () => {
    const { hooks, out } = setup();
    const pids = path.join(out, "pids");
    hook(hooks, "10-stuck", `sleep 300 & echo $! >> ${pids}\n(trap '' TERM; sleep 300) & echo $! >> ${pids}\necho $$ >> ${pids}\nwait`);
    const log = recordingLog();
    // 2 s: long enough for the hook to start its children on a loaded machine before it is killed.
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log, timeoutMs: 2000, killGraceMs: 500 });
    runner.emit(bound);
    await waitFor(() => existsSync(pids) && readFileSync(pids, "utf8").trim().split("\n").length === 3, { what: "the hook's three pids", timeoutMs: 10_000 });
    const all = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    await runner.idle();
    expect(runner.stats).toMatchObject({ timedOut: 1, failed: 1, succeeded: 0 });
    const alive = (pid: number) => {
      try {
        return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
      } catch {
        return false;
      }
    };
    await waitFor(() => all.every((p) => !alive(p)), { what: "every process of the hook's group to be gone", timeoutMs: 10_000, state: () => all.filter(alive).join(" ") });
    const line = log.lines.find((l) => l.level === "warn")!;
    expect(line.msg).toBe("hook 10-stuck (BOUND) did not finish within 2 s: its process group was killed");
  });

  it("keeps 64 KiB of output per stream, counts the rest, and logs it escaped, line by line", async () => {
    const { hooks } = setup();
    const file = hook(hooks, "10-loud", `head -c 204800 /dev/zero | tr '\\000' x\nprintf 'one\\ntwo \\033[2J\\302\\205 three\\n' >&2\nexit 3`);
    const direct = await runHook(file, { env: { PATH: HOOK_PATH }, input: "", timeoutMs: 10_000 });
    expect(direct.stdout.length).toBe(MAX_HOOK_OUTPUT_BYTES);
    expect(direct.droppedBytes).toBe(204800 - MAX_HOOK_OUTPUT_BYTES);
    expect(direct.code).toBe(3);

    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log });
    runner.emit(bound);
    await runner.idle();
    const line = log.lines.find((l) => l.level === "warn")!;
    expect(line.msg).toBe("hook 10-loud (BOUND) exited with code 3");
    expect(line.obj).toMatchObject({ hook: "10-loud", code: "PADDOCK_E_HOOK_EXIT", exitCode: 3, outputDroppedBytes: 204800 - MAX_HOOK_OUTPUT_BYTES, stderr: ["one", "two \\x1b[2J\\x85 three"] });
    expect(runner.stats).toMatchObject({ failed: 1, timedOut: 0 });
  });

  it("logs a hook that cannot be started (its interpreter is missing) and goes on with the next", async () => {
    const { hooks, out } = setup();
    writeFileSync(path.join(hooks, "10-no-interpreter"), "#!/nonexistent/sh\necho never\n", { mode: 0o755 });
    hook(hooks, "20-next", `echo ran > ${path.join(out, "next")}`);
    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log });
    runner.emit(bound);
    await runner.idle();
    expect(log.lines.find((l) => l.level === "warn")).toMatchObject({ msg: "hook 10-no-interpreter (BOUND) could not be started: ENOENT", obj: { code: "PADDOCK_E_HOOK_SPAWN", err: "ENOENT" } });
    expect(readFileSync(path.join(out, "next"), "utf8")).toBe("ran\n");
    expect(runner.stats).toMatchObject({ failed: 1, succeeded: 1 });
  });

  it("refuses a hook writable by group or others, one owned by someone else, and a symbolic link, with one line each", async () => {
    const { hooks, out } = setup();
    const ran = path.join(out, "ran");
    hook(hooks, "10-group-writable", `echo 10 >> ${ran}`, 0o775);
    hook(hooks, "20-world-writable", `echo 20 >> ${ran}`, 0o757);
    chownSync(hook(hooks, "30-nobodys", `echo 30 >> ${ran}`), NOBODY, NOBODY);
    symlinkSync(hook(out, "target", `echo link >> ${ran}`), path.join(hooks, "40-link"));
    hook(hooks, "50-fine", `echo 50 >> ${ran}`);
    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log });
    runner.emit(bound);
    await runner.idle();
    expect(readFileSync(ran, "utf8")).toBe("50\n");
    const refused = log.lines.filter((l) => l.level === "warn").map((l) => l.msg);
    expect(refused).toEqual([
      expect.stringMatching(/10-group-writable is writable by group or others \(mode 0775\).*refused/),
      expect.stringMatching(/20-world-writable is writable by group or others \(mode 0757\).*refused/),
      expect.stringMatching(/30-nobodys belongs to uid 65534, not 0.*refused/),
      expect.stringMatching(/40-link is a symbolic link/),
    ]);
    expect(runner.stats.refused).toBe(4);
    const [runs, dropped] = hookMetrics(() => [{ service: "dhcp4", stats: runner.stats }]);
    expect(runs!.read()).toEqual([
      { labels: { service: "dhcp4", result: "ok" }, value: 1 },
      { labels: { service: "dhcp4", result: "failed" }, value: 0 },
      { labels: { service: "dhcp4", result: "timeout" }, value: 0 },
      { labels: { service: "dhcp4", result: "refused" }, value: 4 },
    ]);
    expect(dropped!.read()).toEqual([{ labels: { service: "dhcp4" }, value: 0 }]);
  });

  it("refuses a whole directory owned by someone else or writable by others, and treats a missing one as no hooks", async () => {
    const { hooks, out } = setup();
    const ran = path.join(out, "ran");
    hook(hooks, "10-hook", `echo 10 >> ${ran}`);
    chownSync(hooks, NOBODY, NOBODY);
    expect((await listHooks(hooks, 0)).refused).toEqual([expect.stringMatching(/hooks directory .* belongs to uid 65534/)]);
    chownSync(hooks, 0, 0);
    chmodSync(hooks, 0o1777);
    expect((await listHooks(hooks, 0)).refused).toEqual([expect.stringMatching(/hooks directory .* is writable by group or others \(mode 1777\)/)]);
    chmodSync(hooks, 0o755);
    expect(await listHooks(hooks, 0)).toEqual({ hooks: [path.join(hooks, "10-hook")], refused: [] });
    expect(await listHooks(path.join(out, "absent"), 0)).toEqual({ hooks: [], refused: [] });

    chownSync(hooks, NOBODY, NOBODY);
    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log });
    runner.emit(bound);
    await runner.idle();
    expect(existsSync(ran)).toBe(false);
    expect(log.lines.map((l) => l.level)).toEqual(["warn"]);
  });

  it("never blocks the caller: events queue behind a running hook, and a full queue drops the oldest, counted", async () => {
    const { hooks, out } = setup();
    const fifo = path.join(out, "gate");
    execFileSync("mkfifo", [fifo]);
    const seen = path.join(out, "seen");
    // The first event's hook waits at the gate; the others must wait behind it.
    hook(hooks, "10-gate", `echo "$PADDOCK_REASON" >> ${seen}\nif [ "$PADDOCK_REASON" = E1 ]; then read line < ${fifo}; fi`);
    const log = recordingLog();
    const runner = new HookRunner({ dir: hooks, service: "dhcp4", iface: "eth0", log, maxQueue: 2 });
    for (let n = 1; n <= 5; n++) runner.emit({ reason: `E${n}`, env: {} });
    expect(runner.stats).toMatchObject({ events: 5, dropped: 2 });
    await waitFor(() => existsSync(seen), { what: "the first hook to start", timeoutMs: 10_000 });
    writeFileSync(fifo, "go\n");
    await runner.idle();
    expect(readFileSync(seen, "utf8").trim().split("\n")).toEqual(["E1", "E4", "E5"]);
    expect(log.lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual([
      "hook queue full (2 events waiting): dropped the oldest event, E2 (1 dropped so far)",
      "hook queue full (2 events waiting): dropped the oldest event, E3 (2 dropped so far)",
    ]);
  });
});

describe("hook trigger", () => {
  const state = (desired: string, at = 0): AppliedState<string> => ({ desired, store: { parsed: new Map(), values: new Map() }, at });

  it("asks the service for an event after its handler's applies only, with the phase, and a final one at stop", async () => {
    const asked: string[] = [];
    const trigger = new HookTrigger({ service: "svc", iface: "eth0", log: recordingLog() });
    trigger.declare({
      dir: "/nonexistent/hooks.d",
      after: "lease",
      event: (prev, next, phase) => {
        asked.push(`${prev?.desired ?? "-"}>${next.desired} ${phase}`);
        return null;
      },
    });
    trigger.applied("lease", state("a"));
    trigger.applied("hostname", state("x"));
    trigger.applied("lease", state("b"));
    trigger.stopping();
    trigger.applied("lease", state("none"));
    await trigger.stop();
    expect(asked).toEqual(["->a running", "a>b running", "b>none stopping", "none>none stopped"]);
  });

  it("is fed by the handler runner after each successful apply, with what the apply put in place", async () => {
    const seen: Array<[string, unknown]> = [];
    const source: KvSource = { parsed: new Map(), values: new Map(), watch: () => () => {} };
    let fail = true;
    const runner = new HandlerRunner({
      source,
      retry: { initialMs: 1, maxMs: 1, factor: 1 },
      resyncMs: 0,
      handlers: [
        { name: "whole", desired: () => "want", apply: async () => ({ changes: [] }) },
        { name: "partial", desired: () => "want", apply: async () => ({ changes: [], applied: "less" }) },
        { name: "flaky", desired: () => "want", apply: async () => {
          if (fail) {
            fail = false;
            throw new Error("not yet");
          }
          return { changes: [] };
        } },
      ],
      onApplied: (handler, applied) => void seen.push([handler, applied.desired]),
    });
    runner.start();
    await waitFor(() => seen.some(([h]) => h === "flaky"), { what: "the flaky handler's retry", timeoutMs: 10_000 });
    await runner.stop();
    expect(seen.sort()).toEqual([["flaky", "want"], ["partial", "less"], ["whole", "want"]]);
  });

  it("logs an event function that throws, and goes on", async () => {
    const log = recordingLog();
    const trigger = new HookTrigger({ service: "svc", iface: "eth0", log });
    trigger.declare({ dir: "/nonexistent", after: "lease", event: () => { throw new Error("boom"); } });
    trigger.applied("lease", state("a"));
    await trigger.stop();
    expect(log.lines.map((l) => l.msg)).toEqual(["computing the hook event failed (a bug in the service): boom", "computing the hook event failed (a bug in the service): boom"]);
  });
});
