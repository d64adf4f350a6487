/**
 * A lab: throwaway network namespaces, veth pairs and processes for one test (or one run of
 * `paddock lab`), and the cleanup of all of it.
 *
 *   createLab({ prefix: "pdt" })  →  id "pdt" + 4 random chars, e.g. "pdtk3x9"
 *     namespaces   pdtk3x9-server, pdtk3x9-client      (ip netns add)
 *     interfaces   pdtk3x90, pdtk3x91 …                (≤ 15 bytes, IFNAMSIZ − 1)
 *     files        $TMPDIR/pdtk3x9-XXXXXX/             (mode 0711: a runc calf must traverse it)
 *     registry     /run/paddock-testkit/pdtk3x9.json   (what exists, for a later run to clean)
 *
 * Processes are started inside a namespace with `nsenter --net=/run/netns/NAME` (never
 * `ip netns exec`, which remounts /sys and breaks runc), so their pid is the program's own, and
 * they are stopped by that pid only. Everything the lab creates is written to its registry file
 * *before* it is created: a run killed at any point leaves a record that {@link removeLeftovers}
 * (called by the next {@link createLab} with the same prefix) uses to remove it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runAsync, runOk, type RunResult } from "./commands.ts";
import { TestkitError } from "./errors.ts";
import { isSameProcess, LabProcess, processesNaming, processTree, procStartTime, signalPid, STOP_GRACE_MS } from "./process.ts";

/** IFNAMSIZ − 1: the longest interface name the kernel accepts. */
export const MAX_IFNAME_BYTES = 15;
/** A prefix leaves room for 4 random characters and a 3-character interface counter within 15 bytes. */
export const MAX_PREFIX_CHARS = 8;
/** Random characters after the prefix: 36⁴ ≈ 1.7 million ids, and a clash is retried anyway. */
const ID_RANDOM_CHARS = 4;
/** How long a synchronous cleanup (exit hook) lets processes handle SIGTERM before SIGKILL. */
const SYNC_STOP_GRACE_MS = 1000;

/** A network namespace of a lab. */
export interface Netns {
  /** Its name under /run/netns. */
  readonly name: string;
  /** /run/netns/NAME: what `nsenter --net=` and `openRtnetlink({ netnsPath })` take. */
  readonly path: string;
}

/** A namespace, by handle or by name; `null` where allowed means the host's (the test process's) own. */
export type NsRef = Netns | string;

/** One end of a veth pair. */
export interface VethEnd {
  readonly ns: Netns;
  /** Interface name (unique across labs unless given). */
  readonly name: string;
  /** Its MAC address, as `ip` prints it. */
  readonly mac: string;
}

/** A veth pair: `a` and `b` ends, possibly in the same namespace. */
export interface Veth {
  readonly a: VethEnd;
  readonly b: VethEnd;
}

/** Options of {@link Lab.veth}. */
export interface VethOptions {
  /** Interface names; default unique ones derived from the lab id. */
  names?: { a?: string; b?: string };
  /** MAC addresses to set; default the kernel's random ones. */
  macs?: { a?: string; b?: string };
  /** Addresses (CIDR, IPv4 or IPv6) to add on each end. */
  addresses?: { a?: string | string[]; b?: string | string[] };
  /** Set the ends up (default true for both). */
  up?: { a?: boolean; b?: boolean };
}

/** Options of {@link Lab.namespace}. */
export interface NamespaceOptions {
  /** false: disable IPv6 in the namespace before any interface is added (no RS/MLD frames). Default true. */
  ipv6?: boolean;
}

/** Options of {@link Lab.spawn}. */
export interface SpawnOptions<P extends LabProcess = LabProcess> {
  /** Builds the handle (a subclass of {@link LabProcess} with more methods); default a plain LabProcess. */
  create?: (name: string, child: ChildProcess) => P;
  /** A name for messages; default the program's. */
  name?: string;
  /** Environment; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Standard input: "ignore" (default) or "pipe" (write to `child.stdin`). */
  stdin?: "ignore" | "pipe";
}

/** Options of {@link createLab}. */
export interface LabOptions {
  /** 1–8 characters [a-z0-9], starting with a letter: names this suite's labs, and its leftovers. */
  prefix: string;
  /** Where the lab records what it creates (default /run/paddock-testkit, or $PADDOCK_TESTKIT_REGISTRY). */
  registryDir?: string;
  /** Remove leftovers of dead runs with the same prefix first (default true, once per process and prefix). */
  removeLeftovers?: boolean;
}

/** What a lab has created, as recorded on disk for a later run to clean up. */
interface LabRecord {
  id: string;
  prefix: string;
  owner: { pid: number; start: string | undefined };
  dir: string;
  namespaces: string[];
  pids: Array<{ pid: number; start: string | undefined }>;
}

/** What {@link removeLeftovers} removed. */
export interface LeftoverReport {
  /** Ids of the dead labs. */
  labs: string[];
  namespaces: string[];
  /** Processes killed. */
  pids: number[];
  dirs: string[];
}

const liveLabs = new Set<Lab>();
const cleanedPrefixes = new Set<string>();
let hooksInstalled = false;

/** The default registry directory: /run is a tmpfs, like /run/netns, so both vanish at reboot. */
export function defaultRegistryDir(): string {
  return process.env.PADDOCK_TESTKIT_REGISTRY ?? (process.getuid?.() === 0 ? "/run/paddock-testkit" : path.join(tmpdir(), "paddock-testkit"));
}

/** Resolves a namespace reference to its name. */
export function nsName(ns: NsRef): string {
  return typeof ns === "string" ? ns : ns.name;
}

/** The argv that runs `argv` inside namespace `ns` (or in the host's when null). */
export function inNamespace(ns: NsRef | null, argv: readonly string[]): string[] {
  return ns === null ? [...argv] : ["nsenter", `--net=/run/netns/${nsName(ns)}`, ...argv];
}

/** `ip -j -n NS ARGS…` to completion, parsed; throws on failure. */
export function ipJson<T = unknown>(ns: NsRef, args: readonly string[]): T {
  const out = runOk("ip", ["-j", "-n", nsName(ns), ...args]).trim();
  return (out === "" ? [] : JSON.parse(out)) as T;
}

/**
 * A unique short name: `prefix` and random characters, at most `maxBytes` long (default 15, an
 * interface name's limit). Unique within this process; random across processes.
 */
export function uniqueName(prefix: string, maxBytes = MAX_IFNAME_BYTES): string {
  const suffix = `${(++nameCounter).toString(36)}${randomChars(3)}`;
  const name = `${prefix}${suffix}`;
  if (Buffer.byteLength(name) > maxBytes) throw new TestkitError("PADDOCK_E_TESTKIT_USAGE", `name ${name} is longer than ${maxBytes} bytes: use a shorter prefix than ${prefix}`);
  return name;
}
let nameCounter = 0;

function randomChars(n: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");
}

/**
 * Creates a lab: its unique id, temporary directory and registry record, and (unless told not
 * to) first removes what dead runs with the same prefix left behind. Namespaces and veth pairs
 * are added with {@link Lab.namespace} and {@link Lab.veth}. Call {@link Lab.destroy} in
 * afterEach/afterAll; if the process exits or gets SIGINT/SIGTERM/SIGHUP first, a hook does it.
 */
export function createLab(options: LabOptions): Lab {
  const { prefix } = options;
  if (!/^[a-z][a-z0-9]*$/.test(prefix) || prefix.length > MAX_PREFIX_CHARS) {
    throw new TestkitError("PADDOCK_E_TESTKIT_USAGE", `a lab prefix is 1–${MAX_PREFIX_CHARS} characters [a-z0-9] starting with a letter, not ${JSON.stringify(prefix)}`);
  }
  const registryDir = options.registryDir ?? defaultRegistryDir();
  if ((options.removeLeftovers ?? true) && !cleanedPrefixes.has(`${registryDir}\0${prefix}`)) {
    cleanedPrefixes.add(`${registryDir}\0${prefix}`);
    removeLeftovers(prefix, { registryDir });
  }
  mkdirSync(registryDir, { recursive: true, mode: 0o700 });
  const lab = new Lab(prefix, registryDir);
  liveLabs.add(lab);
  installExitHooks();
  return lab;
}

/** Namespaces, veth pairs, processes and files of one test, removed together by {@link destroy}. */
export class Lab {
  /** Prefix + random characters: the start of every name the lab makes. */
  readonly id: string;
  /** The lab's temporary directory (mode 0711), removed by destroy(). */
  readonly dir: string;
  private readonly record: LabRecord;
  private readonly recordFile: string;
  private readonly namespaces: Netns[] = [];
  private readonly processes: LabProcess[] = [];
  private readonly deferred: Array<() => void> = [];
  private ifCounter = 0;
  private fileCounter = 0;
  private state: "live" | "destroying" | "destroyed" = "live";

  /** Use {@link createLab}. */
  constructor(
    readonly prefix: string,
    registryDir: string,
  ) {
    // Claim an id whose registry file does not exist yet (O_EXCL), so two runs never share one.
    for (;;) {
      const id = `${prefix}${randomChars(ID_RANDOM_CHARS)}`;
      const file = path.join(registryDir, `${id}.json`);
      try {
        writeFileSync(file, "{}", { flag: "wx", mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw err;
      }
      this.id = id;
      this.recordFile = file;
      break;
    }
    this.record = { id: this.id, prefix, owner: { pid: process.pid, start: procStartTime(process.pid) }, dir: "", namespaces: [], pids: [] };
    this.dir = mkdtempSync(path.join(tmpdir(), `${this.id}-`));
    this.record.dir = this.dir;
    this.save();
    // A calf (unprivileged uid, under runc) mounts its rootfs from under here: traverse, not list.
    chmodSync(this.dir, 0o711);
  }

  /** Whether destroy() has started. */
  get destroyed(): boolean {
    return this.state !== "live";
  }

  /** A path inside the lab's temporary directory. */
  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** A path in the lab's directory not used before by this lab: `STEM-N.EXT`. */
  uniqueFile(stem: string, ext = ""): string {
    return this.file(`${stem}-${++this.fileCounter}${ext}`);
  }

  /** Creates namespace `${id}-${label}` with lo up. */
  namespace(label: string, options: NamespaceOptions = {}): Netns {
    this.assertLive();
    const name = `${this.id}-${label}`;
    const ns: Netns = { name, path: `/run/netns/${name}` };
    this.record.namespaces.push(name);
    this.save();
    runOk("ip", ["netns", "add", name]);
    this.namespaces.push(ns);
    if (options.ipv6 === false) this.sysctl(ns, { "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1" });
    this.ip(ns, ["link", "set", "lo", "up"]);
    return ns;
  }

  /** A unique interface name for this lab (≤ 15 bytes). */
  ifname(): string {
    return `${this.id}${(this.ifCounter++).toString(36)}`;
  }

  /** Creates a veth pair between `a` and `b` (which may be the same namespace), up, with the given addresses. */
  veth(a: NsRef, b: NsRef, options: VethOptions = {}): Veth {
    this.assertLive();
    const nameA = options.names?.a ?? this.ifname();
    const nameB = options.names?.b ?? this.ifname();
    for (const n of [nameA, nameB]) {
      if (Buffer.byteLength(n) > MAX_IFNAME_BYTES) throw new TestkitError("PADDOCK_E_TESTKIT_USAGE", `interface name ${n} is longer than ${MAX_IFNAME_BYTES} bytes`);
    }
    const mac = (m: string | undefined) => (m ? ["address", m] : []);
    runOk("ip", ["link", "add", nameA, ...mac(options.macs?.a), "netns", nsName(a), "type", "veth", "peer", "name", nameB, ...mac(options.macs?.b), "netns", nsName(b)]);
    const ends: Array<[NsRef, string, string | string[] | undefined, boolean | undefined]> = [
      [a, nameA, options.addresses?.a, options.up?.a],
      [b, nameB, options.addresses?.b, options.up?.b],
    ];
    for (const [ns, name, addrs, up] of ends) {
      for (const cidr of addrs === undefined ? [] : Array.isArray(addrs) ? addrs : [addrs]) this.ip(ns, ["addr", "add", cidr, "dev", name]);
      if (up ?? true) this.ip(ns, ["link", "set", name, "up"]);
    }
    const end = (ns: NsRef, name: string): VethEnd => ({
      ns: this.resolve(ns),
      name,
      mac: this.ipJson<Array<{ address: string }>>(ns, ["link", "show", "dev", name])[0]!.address,
    });
    return { a: end(a, nameA), b: end(b, nameB) };
  }

  /** `ip -n NS ARGS…` to completion; returns stdout, throws on failure. */
  ip(ns: NsRef, args: readonly string[]): string {
    return runOk("ip", ["-n", nsName(ns), ...args]);
  }

  /** `ip -j -n NS ARGS…`, parsed. */
  ipJson<T = unknown>(ns: NsRef, args: readonly string[]): T {
    return ipJson<T>(ns, args);
  }

  /** Sets sysctls inside a namespace (they are per-namespace for net.*). */
  sysctl(ns: NsRef, values: Record<string, string>): void {
    this.exec(ns, ["sysctl", "-q", "-w", ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
  }

  /** Runs `argv` to completion inside `ns` (null: the host's), synchronously; returns stdout, throws on failure. */
  exec(ns: NsRef | null, argv: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
    const [cmd, ...args] = inNamespace(ns, argv);
    return runOk(cmd!, args, options);
  }

  /** Runs `argv` to completion inside `ns` (null: the host's) without blocking the event loop; never throws. */
  run(ns: NsRef | null, argv: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
    const [cmd, ...args] = inNamespace(ns, argv);
    return runAsync(cmd!, args, options);
  }

  /**
   * Starts `argv` inside `ns` (null: the host's). Its pid is the program's own (nsenter execs
   * it); destroy() stops it if it still runs.
   */
  spawn<P extends LabProcess = LabProcess>(ns: NsRef | null, argv: readonly string[], options: SpawnOptions<P> = {}): P {
    this.assertLive();
    const [cmd, ...args] = inNamespace(ns, argv);
    const child = spawn(cmd!, args, { stdio: [options.stdin ?? "ignore", "pipe", "pipe"], env: options.env ?? process.env });
    const name = options.name ?? path.basename(argv[0] ?? "?");
    const p = options.create ? options.create(name, child) : (new LabProcess(name, child) as P);
    return this.adopt(p);
  }

  /** Makes destroy() stop a process started elsewhere (by its pid); returns it. */
  adopt<P extends LabProcess>(p: P): P {
    this.processes.push(p);
    if (p.pid !== undefined) {
      this.record.pids.push({ pid: p.pid, start: p.procStart });
      this.save();
    }
    return p;
  }

  /** Registers a synchronous cleanup step, run by destroy() after the processes stopped, last registered first. */
  defer(step: () => void): void {
    this.deferred.push(step);
  }

  /**
   * Stops every process the lab started that still runs (SIGTERM, SIGKILL after a grace; last
   * started first), then whatever they left (descendants, processes naming the lab's directory),
   * runs the deferred steps, deletes the namespaces (their veths go with them) and the files.
   * Idempotent; safe to call from afterEach whether or not the test failed.
   */
  async destroy(): Promise<void> {
    if (this.state !== "live") return;
    this.state = "destroying";
    const descendants = this.descendants();
    for (const p of [...this.processes].reverse()) await p.stop("SIGTERM", STOP_GRACE_MS);
    this.finish(descendants);
  }

  /**
   * The same as {@link destroy} without waiting on the event loop: SIGTERM, at most a second for
   * the processes to exit, then SIGKILL. Used by the exit and signal hooks.
   */
  destroySync(): void {
    if (this.state !== "live") return;
    this.state = "destroying";
    const descendants = this.descendants();
    const running = this.processes.filter((p) => p.running);
    for (const p of running) signalPid(p.pid!, "SIGTERM");
    const end = Date.now() + SYNC_STOP_GRACE_MS;
    while (running.some((p) => isAlive(p.pid!, p.procStart)) && Date.now() < end) sleepSync(10);
    for (const p of running) if (isAlive(p.pid!, p.procStart)) signalPid(p.pid!, "SIGKILL");
    this.finish(descendants);
  }

  private descendants(): Array<{ pid: number; start: string | undefined }> {
    return this.processes.filter((p) => p.running).flatMap((p) => processTree(p.pid!).slice(1).map((pid) => ({ pid, start: procStartTime(pid) })));
  }

  private finish(descendants: Array<{ pid: number; start: string | undefined }>): void {
    for (const d of descendants) if (isAlive(d.pid, d.start)) signalPid(d.pid, "SIGKILL");
    const errors: unknown[] = [];
    for (const step of this.deferred.splice(0).reverse()) {
      try {
        step();
      } catch (err) {
        errors.push(err);
      }
    }
    // A runc that a killed shim orphaned names the lab's directory on its command line.
    for (const pid of processesNaming(this.dir)) signalPid(pid, "SIGKILL");
    const left = removeNamespaces(this.record.namespaces);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.recordFile, { force: true });
    this.state = "destroyed";
    liveLabs.delete(this);
    if (left.length > 0) errors.push(new TestkitError("PADDOCK_E_TESTKIT_COMMAND_FAILED", `namespaces still present after ip netns delete: ${left.join(", ")}`));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `lab ${this.id}: ${errors.length} cleanup steps failed`);
  }

  private resolve(ns: NsRef): Netns {
    return typeof ns === "string" ? (this.namespaces.find((n) => n.name === ns) ?? { name: ns, path: `/run/netns/${ns}` }) : ns;
  }

  private assertLive(): void {
    if (this.state !== "live") throw new TestkitError("PADDOCK_E_TESTKIT_USAGE", `lab ${this.id} is already destroyed`);
  }

  private save(): void {
    writeFileSync(this.recordFile, JSON.stringify(this.record));
  }
}

/**
 * Finds labs of `prefix` (every prefix when undefined) whose owning process is gone, and removes
 * what they left: kills their recorded processes (checked by start time, so a reused pid is
 * spared) and any process naming their directory, deletes their namespaces, directory and record.
 */
export function removeLeftovers(prefix: string | undefined, options: { registryDir?: string } = {}): LeftoverReport {
  const registryDir = options.registryDir ?? defaultRegistryDir();
  const report: LeftoverReport = { labs: [], namespaces: [], pids: [], dirs: [] };
  let files: string[];
  try {
    files = readdirSync(registryDir).filter((f) => f.endsWith(".json"));
  } catch {
    return report;
  }
  for (const f of files) {
    const file = path.join(registryDir, f);
    let rec: LabRecord;
    try {
      rec = JSON.parse(readFileSync(file, "utf8")) as LabRecord;
    } catch {
      continue;
    }
    // "{}" is a record being claimed right now by a live createLab.
    if (rec.id === undefined || (prefix !== undefined && rec.prefix !== prefix)) continue;
    if (isAlive(rec.owner.pid, rec.owner.start)) continue;
    report.labs.push(rec.id);
    for (const { pid, start } of rec.pids) {
      if (isAlive(pid, start) && signalPid(pid, "SIGKILL")) report.pids.push(pid);
    }
    if (rec.dir) {
      for (const pid of processesNaming(rec.dir)) if (signalPid(pid, "SIGKILL")) report.pids.push(pid);
      if (existsSync(rec.dir)) report.dirs.push(rec.dir);
      rmSync(rec.dir, { recursive: true, force: true });
    }
    const present = rec.namespaces.filter((n) => existsSync(`/run/netns/${n}`));
    removeNamespaces(present);
    report.namespaces.push(...present);
    rmSync(file, { force: true });
  }
  return report;
}

/** Deletes namespaces; returns those still present afterwards. */
function removeNamespaces(names: readonly string[]): string[] {
  for (const ns of names) spawnSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
  return names.filter((n) => existsSync(`/run/netns/${n}`));
}

/** Alive and not a zombie, and (when known) the same process as when recorded. */
function isAlive(pid: number, start: string | undefined): boolean {
  if (!isSameProcess(pid, start)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Once per process: on exit, and on SIGINT/SIGTERM/SIGHUP, destroy every live lab synchronously.
 * A signal is then re-raised with its default action, unless someone else also listens for it
 * (they decide what the signal means).
 */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const destroyAll = () => {
    for (const lab of [...liveLabs]) {
      try {
        lab.destroySync();
      } catch {
        // Best effort on the way out: the next run's removeLeftovers() finishes the job.
      }
    }
  };
  process.on("exit", destroyAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      destroyAll();
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
