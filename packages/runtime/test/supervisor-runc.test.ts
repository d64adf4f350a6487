// The supervisor against real runc: restart after kill -9 with new channels, exponential backoff
// of a crash-looping calf, clean stop (SIGTERM, then SIGKILL for a calf that ignores it) leaving
// no runc state, process or bundle dir, removal of a crashed run's leftovers, signal handling and
// sd_notify to a real datagram socket. Needs root and runc; skipped with a reason otherwise, never
// under CI=true. Every container, dir, cgroup and process is removed in afterEach.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, utimesSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { calfContainerId, createCalfBundle } from "../src/sandbox/bundle.ts";
import { nativeNotifySender, perlNotifySender, SdNotifier, systemdNotifySender } from "../src/sd-notify.ts";
import type { CalfChannels, CalfExit } from "../src/supervisor.ts";
import { assertCanRun, CalfLab, LineClient, NEEDS_ROOT, RUN_RUNC_TESTS, waitFor } from "./sandbox-harness.ts";

const LIMITS = { memoryBytes: 96 * 1024 * 1024, pids: 32 };

interface Recorder {
  starts: { at: number; channels: CalfChannels; control: LineClient }[];
  exits: { at: number; exit: CalfExit }[];
}

function recorder(): Recorder & { onStart: (c: string, ch: CalfChannels) => void; onExit: (c: string, e: CalfExit) => void } {
  const r: Recorder = { starts: [], exits: [] };
  return {
    ...r,
    onStart: (_c, channels) => r.starts.push({ at: performance.now(), channels, control: new LineClient(channels.control) }),
    onExit: (_c, exit) => r.exits.push({ at: performance.now(), exit }),
  };
}

/** A datagram receiver standing in for systemd's notify socket (Node cannot bind AF_UNIX datagram sockets). */
function notifyReceiver(address: string): { messages: string[]; proc: ChildProcess; ready: Promise<void> } {
  const messages: string[] = [];
  const proc = spawn(
    "python3",
    [
      "-u",
      "-c",
      [
        "import socket, sys",
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
        "a = sys.argv[1]",
        "s.bind(a.replace('@', '\\0', 1) if a.startswith('@') else a)",
        "print('bound', flush=True)",
        "while True:",
        "    print(s.recv(4096).decode(), flush=True)",
      ].join("\n"),
      address,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let buf = "";
  let bound!: () => void;
  const ready = new Promise<void>((r) => (bound = r));
  proc.stdout?.on("data", (b: Buffer) => {
    buf += b.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === "bound") bound();
      else messages.push(line);
    }
  });
  return { messages, proc, ready };
}

describe.skipIf(!RUN_RUNC_TESTS)(`supervisor under runc ${NEEDS_ROOT}`, () => {
  let lab: CalfLab;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    assertCanRun();
    lab = new CalfLab();
  });

  afterEach(async () => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
    await lab.cleanup();
    expect(lab.runcIds()).toEqual([]);
    expect(lab.calfProcesses()).toEqual([]);
  });

  it("restarts a calf killed with kill -9 and hands the caller new channels", async () => {
    const name = lab.name("kill9");
    const rec = recorder();
    const sup = lab.supervisor({ backoff: { initialMs: 100 }, onStart: rec.onStart, onExit: rec.onExit });
    await sup.start([{ name, script: await lab.build("echo-calf"), ...LIMITS }]);
    await waitFor(() => rec.starts.length === 1, 10_000, "first start");
    const first = rec.starts[0] as Recorder["starts"][number];
    expect(await first.control.next()).toBe("ready 1");
    const pid1 = await waitFor(() => sup.calfPid(name), 5_000, "pid");

    process.kill(pid1, "SIGKILL");
    await waitFor(() => rec.starts.length === 2, 10_000, "restart");
    const exit = rec.exits[0] as Recorder["exits"][number];
    expect(exit.exit).toMatchObject({ code: 137, restarts: 1, restartInMs: 100 });
    const second = rec.starts[1] as Recorder["starts"][number];
    expect(second.at - exit.at).toBeGreaterThanOrEqual(95);
    // The old channels are closed; the new ones are different objects and work.
    await waitFor(() => first.control.closed, 10_000, "old control closed");
    expect(second.channels.control).not.toBe(first.channels.control);
    expect(await second.control.next()).toBe("ready 1");
    second.control.send("echo after restart");
    expect(await second.control.next()).toBe("after restart");
    const pid2 = await waitFor(() => sup.calfPid(name), 5_000, "new pid");
    expect(pid2).not.toBe(pid1);
    expect(existsSync(`/proc/${pid1}`)).toBe(false);
    expect(sup.status(name)).toMatchObject({ state: "running", restarts: 1 });
    expect(lab.logs.some((l) => l["calf"] === name && l["msg"] === "calf exited; restarting" && l["code"] === 137)).toBe(true);
  });

  it("restarts a crash-looping calf with exponential backoff up to the cap", async () => {
    const name = lab.name("crash");
    const rec = recorder();
    const sup = lab.supervisor({ backoff: { initialMs: 50, maxMs: 200, stableMs: 60_000 }, onStart: rec.onStart, onExit: rec.onExit });
    await sup.start([{ name, script: await lab.build("crash-calf"), ...LIMITS }]);
    await waitFor(() => rec.exits.length >= 5, 20_000, "five exits");
    await sup.stop();
    const delays = rec.exits.slice(0, 5).map((e) => e.exit.restartInMs);
    expect(delays).toEqual([50, 100, 200, 200, 200]);
    for (const [i, e] of rec.exits.slice(0, 4).entries()) {
      expect(e.exit.code).toBe(3);
      const next = rec.starts[i + 1] as Recorder["starts"][number];
      expect(next.at - e.at).toBeGreaterThanOrEqual((e.exit.restartInMs as number) - 5);
    }
  });

  it("stop() stops calves with SIGTERM and leaves no runc state, process, bundle dir or channel", async () => {
    const name = lab.name("stop");
    const rec = recorder();
    const sup = lab.supervisor({ onStart: rec.onStart, onExit: rec.onExit });
    await sup.start([{ name, script: await lab.build("echo-calf"), ...LIMITS }]);
    await waitFor(() => rec.starts.length === 1, 10_000, "start");
    const start = rec.starts[0] as Recorder["starts"][number];
    expect(await start.control.next()).toBe("ready 1");
    expect(lab.runcIds()).toEqual([calfContainerId(name)]);
    expect(lab.calfProcesses()).toHaveLength(1);

    await sup.stop();
    expect(rec.exits.map((e) => e.exit)).toEqual([expect.objectContaining({ code: 0, restartInMs: undefined })]);
    expect(lab.logs.some((l) => l["calf"] === name && l["msg"] === "echo calf: SIGTERM, exiting")).toBe(true);
    expect(lab.runcIds()).toEqual([]);
    expect(lab.calfProcesses()).toEqual([]);
    expect(existsSync(path.join(lab.runtimeDir, name))).toBe(false);
    // Only the ldd cache (node-runtime.json) stays: it describes the host, not a calf.
    expect(readdirSync(lab.runtimeDir)).toEqual(["node-runtime.json"]);
    await waitFor(() => start.control.closed, 10_000, "control closed");
    expect(sup.status(name)?.state).toBe("stopped");
    // stop() is idempotent, and nothing restarts afterwards.
    await sup.stop();
    // What is tested is an absence: a window longer than the restart backoff (100 ms) in which a
    // restart would show. Load can only hide a restart past the window, never fail a correct run.
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.starts).toHaveLength(1);
  });

  it("stop() kills a calf that ignores SIGTERM after the timeout", async () => {
    const name = lab.name("stubborn");
    const rec = recorder();
    const sup = lab.supervisor({ stopTimeoutMs: 500, onStart: rec.onStart, onExit: rec.onExit });
    await sup.start([{ name, script: await lab.build("echo-calf"), ...LIMITS }]);
    await waitFor(() => rec.starts.length === 1, 10_000, "start");
    const control = (rec.starts[0] as Recorder["starts"][number]).control;
    expect(await control.next()).toBe("ready 1");
    control.send("ignore-term");
    expect(await control.next()).toBe("ignoring");
    const t0 = performance.now();
    await sup.stop();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(490);
    expect(rec.exits.map((e) => e.exit.code)).toEqual([137]);
    expect(lab.logs.some((l) => l["calf"] === name && l["msg"] === "calf ignored SIGTERM; killing")).toBe(true);
    expect(lab.runcIds()).toEqual([]);
    expect(lab.calfProcesses()).toEqual([]);
  });

  it("removes a crashed run's containers and bundle dirs at start", async () => {
    const name = lab.name("stale");
    const script = await lab.build("echo-calf");
    // A "crashed run": a detached container of ours still running, a bundle dir and a channel dir.
    const stale = await createCalfBundle({ name, script, ...LIMITS }, { runtimeDir: lab.runtimeDir, cgroupParent: lab.cgroupParent, hostIdBase: lab.hostIdBase });
    execFileSync("runc", ["--root", lab.runcRoot, "run", "-d", "--bundle", stale.dir, stale.containerId], { stdio: "ignore", env: { PATH: process.env["PATH"] ?? "" } });
    const stalePid = await waitFor(() => lab.calfProcesses()[0], 5_000, "stale calf");
    // Another supervisor's calf (a shim on another interface) shares the runtime dir: not ours.
    const other = lab.name("other");
    mkdirSync(path.join(lab.runtimeDir, other, "rootfs"), { recursive: true });
    // A channel dir of a crashed run (old) goes; one being set up right now (fresh) stays.
    mkdirSync(path.join(lab.runtimeDir, ".channels-OLD"));
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(path.join(lab.runtimeDir, ".channels-OLD"), twoMinutesAgo, twoMinutesAgo);
    mkdirSync(path.join(lab.runtimeDir, ".channels-NEW"));

    const rec = recorder();
    const sup = lab.supervisor({ onStart: rec.onStart });
    await sup.start([{ name, script, ...LIMITS }]);
    await waitFor(() => rec.starts.length === 1, 10_000, "start");
    expect(await (rec.starts[0] as Recorder["starts"][number]).control.next()).toBe("ready 1");
    expect(lab.calfProcesses()).not.toContain(stalePid);
    expect(lab.calfProcesses()).toHaveLength(1);
    expect(lab.runcIds()).toEqual([calfContainerId(name)]);
    expect(readdirSync(lab.runtimeDir).sort()).toEqual([".channels-NEW", name, "node-runtime.json", other].sort());
    expect(lab.logs.some((l) => l["msg"] === "removed stale calf container" && l["containerId"] === stale.containerId)).toBe(true);
  });

  it("SIGTERM to priv stops the calves, then exits", async () => {
    const name = lab.name("signal");
    const rec = recorder();
    const sup = lab.supervisor({ onStart: rec.onStart, onExit: rec.onExit });
    await sup.start([{ name, script: await lab.build("echo-calf"), ...LIMITS }]);
    await waitFor(() => rec.starts.length === 1, 10_000, "start");
    expect(await (rec.starts[0] as Recorder["starts"][number]).control.next()).toBe("ready 1");
    let exitCode: number | undefined;
    const undo = sup.handleSignals((code) => (exitCode = code));
    try {
      process.emit("SIGTERM", "SIGTERM");
      await waitFor(() => exitCode !== undefined, 10_000, "exit after SIGTERM");
    } finally {
      undo();
    }
    expect(exitCode).toBe(0);
    expect(rec.exits.map((e) => e.exit.code)).toEqual([0]);
    expect(lab.runcIds()).toEqual([]);
  });

  it("sends READY=1 on notifyReady() and STOPPING=1 on stop() to NOTIFY_SOCKET", async () => {
    const socketPath = path.join(lab.base, "notify.sock");
    const rx = notifyReceiver(socketPath);
    children.push(rx.proc);
    await rx.ready;
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socketPath };
    const notifier = SdNotifier.fromEnv(env);
    expect(env["NOTIFY_SOCKET"]).toBeUndefined();
    const rec = recorder();
    const sup = lab.supervisor({ notifier, onStart: rec.onStart });
    await sup.start([{ name: lab.name("notify"), script: await lab.build("echo-calf"), ...LIMITS }]);
    await waitFor(() => rec.starts.length === 1, 10_000, "start");
    expect(await (rec.starts[0] as Recorder["starts"][number]).control.next()).toBe("ready 1");
    expect(rx.messages).toEqual([]);
    await sup.notifyReady();
    await sup.notifyReady();
    await waitFor(() => rx.messages.includes("READY=1"), 5_000, "READY=1");
    await sup.stop();
    await waitFor(() => rx.messages.includes("STOPPING=1"), 5_000, "STOPPING=1");
    expect(rx.messages.filter((m) => m === "READY=1")).toHaveLength(1);
  });

  it("delivers notifications with each sender, to a path and to an abstract socket", async () => {
    for (const [sender, address] of [
      [nativeNotifySender, path.join(lab.base, "n0.sock")],
      [nativeNotifySender, `@paddock-test-${process.pid}-n`],
      [systemdNotifySender, path.join(lab.base, "n1.sock")],
      [perlNotifySender, path.join(lab.base, "n2.sock")],
      [systemdNotifySender, `@paddock-test-${process.pid}-a`],
      [perlNotifySender, `@paddock-test-${process.pid}-b`],
    ] as const) {
      const rx = notifyReceiver(address);
      children.push(rx.proc);
      await rx.ready;
      await new SdNotifier(address, [sender]).notify("STATUS=line one\nMAINPID=1");
      await waitFor(() => rx.messages.find((m) => m.startsWith("STATUS=")), 5_000, `message via ${address}`);
      expect(rx.messages.filter((m) => m.startsWith("STATUS="))).toEqual(["STATUS=line one MAINPID=1"]);
    }
  });
});
