/**
 * Shared by the runc tests: a throwaway lab (runtime dir, runc root, cgroup parent and uid range
 * unique to this test file), test calves built with bundleCalf, captured JSON logs, a line client
 * for priv's end of a channel, and a cleanup that removes every container, dir, cgroup and
 * process even when a test failed.
 */

import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import type net from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { pino, type Logger } from "pino";
import { bundleCalf } from "@paddock/bundler";
import { parseCalfName, type CalfName } from "../src/sandbox/bundle.ts";
import { SdNotifier } from "../src/sd-notify.ts";
import { Supervisor, type SupervisorOptions } from "../src/supervisor.ts";

/** Root runs the runc tests; without root they are skipped, except under CI=true where they fail. */
export const IS_ROOT = process.getuid?.() === 0;
/** Whether the runc suites run at all. */
export const RUN_RUNC_TESTS = IS_ROOT || process.env["CI"] === "true";
/** Suite-name suffix carrying the skip reason. */
export const NEEDS_ROOT = "(needs root and runc: skipped when not root, unless CI=true)";

/** Fails loudly when CI wants these tests but they cannot run. */
export function assertCanRun(): void {
  if (!IS_ROOT) throw new Error("CI=true but not root: the runc tests cannot run and must not be skipped");
}

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

/** A channel end read line by line. */
export class LineClient {
  private buf = "";
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buf += chunk;
      for (let i = this.buf.indexOf("\n"); i >= 0; i = this.buf.indexOf("\n")) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => {});
  }

  send(line: string): void {
    this.socket.write(`${line}\n`);
  }

  /** The next line, or a rejection after `timeoutMs` or when the channel closes. */
  async next(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error("channel closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.lines.shift() as string;
  }

  /** Sends a command and parses the next line as JSON. */
  async ask<T = Record<string, unknown>>(line: string, timeoutMs = 15_000): Promise<T> {
    this.send(line);
    return JSON.parse(await this.next(timeoutMs)) as T;
  }
}

/** Polls `f` until it returns a value other than undefined/false. */
export async function waitFor<T>(f: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let labCounter = 0;

/** A throwaway environment for one test file's calves. */
export class CalfLab {
  readonly base: string;
  readonly runtimeDir: string;
  readonly runcRoot: string;
  readonly scriptsDir: string;
  readonly cgroupParent: string;
  /** First host uid of this lab's calves' user namespace; unique per test file. */
  readonly hostIdBase: number;
  readonly logs: Record<string, unknown>[] = [];
  readonly logger: Logger;
  private readonly supervisors: Supervisor[] = [];
  private readonly tag: string;

  constructor() {
    labCounter++;
    this.tag = `${process.pid}-${labCounter}`;
    this.base = mkdtempSync(path.join("/tmp", `paddock-lab-${this.tag}-`));
    // The calf's mapped root must traverse down to the rootfs and the scripts.
    chmodSync(this.base, 0o711);
    this.runtimeDir = path.join(this.base, "calves");
    this.runcRoot = path.join(this.base, "runc");
    this.scriptsDir = path.join(this.base, "scripts");
    mkdirSync(this.scriptsDir, { mode: 0o755 });
    chmodSync(this.scriptsDir, 0o755);
    this.cgroupParent = `/paddock-test-${this.tag}`;
    this.hostIdBase = 200_000 + ((process.pid * 8 + labCounter) % 4096) * 65_536;
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        for (const line of chunk.toString().split("\n")) if (line) this.logs.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    this.logger = pino({ name: "paddock-priv-test", level: "debug" }, sink);
  }

  /** A unique calf name for this lab. */
  name(stem: string): CalfName {
    const r = parseCalfName(`${stem}-${this.tag}`);
    if (!r.ok) throw r.error;
    return r.value;
  }

  /** Builds fixtures/<fixture>.ts into this lab's scripts dir. */
  async build(fixture: string): Promise<string> {
    const out = path.join(this.scriptsDir, `${fixture}.mjs`);
    await bundleCalf(path.join(FIXTURES, `${fixture}.ts`), out);
    return out;
  }

  /** A supervisor on this lab's dirs, stopped by cleanup(). */
  supervisor(opts: Partial<SupervisorOptions> = {}): Supervisor {
    const s = new Supervisor({
      runtimeDir: this.runtimeDir,
      runcRoot: this.runcRoot,
      logger: this.logger,
      notifier: new SdNotifier(undefined),
      stopTimeoutMs: 2_000,
      ...opts,
      bundle: { cgroupParent: this.cgroupParent, hostIdBase: this.hostIdBase, ...opts.bundle },
    });
    this.supervisors.push(s);
    return s;
  }

  /** Container ids runc knows in this lab's root. */
  runcIds(): string[] {
    if (!existsSync(this.runcRoot)) return [];
    const out = execFileSync("runc", ["--root", this.runcRoot, "list", "-q"], { encoding: "utf8" });
    return out.split("\n").filter(Boolean);
  }

  /** Host pids of processes running as a uid of this lab's calves' range. */
  calfProcesses(): number[] {
    const pids: number[] = [];
    for (const e of readdirSync("/proc")) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const status = readFileSync(`/proc/${e}/status`, "utf8");
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
        // A zombie has released everything; it lingers until its (re)parent reaps it.
        const zombie = /^State:\s+Z/m.test(status);
        if (uid >= this.hostIdBase && uid < this.hostIdBase + 65_536 && !zombie) pids.push(Number(e));
      } catch {
        // The process ended while we looked.
      }
    }
    return pids;
  }

  /** Cgroup directories of this lab that still exist (one per hierarchy and calf). */
  cgroupDirs(): string[] {
    const dirs: string[] = [];
    for (const h of readdirSync("/sys/fs/cgroup")) {
      const d = path.join("/sys/fs/cgroup", h, this.cgroupParent);
      if (existsSync(d)) dirs.push(d);
    }
    return dirs;
  }

  /** Removes everything this lab made; safe to call after any failure. */
  async cleanup(): Promise<void> {
    await Promise.allSettled(this.supervisors.map((s) => s.stop()));
    for (const id of this.runcIds()) {
      try {
        execFileSync("runc", ["--root", this.runcRoot, "delete", "--force", id], { stdio: "ignore" });
      } catch {
        // Already gone.
      }
    }
    for (const pid of this.calfProcesses()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    for (const d of this.cgroupDirs()) {
      for (const child of readdirSync(d, { withFileTypes: true })) {
        if (child.isDirectory()) rmdirSafe(path.join(d, child.name));
      }
      rmdirSafe(d);
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}

function rmdirSafe(d: string): void {
  try {
    rmdirSync(d);
  } catch {
    // Busy or gone: the assertions on cgroupDirs() report it.
  }
}
