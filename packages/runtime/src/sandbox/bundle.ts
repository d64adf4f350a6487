/**
 * OCI bundles for calves: a `config.json` and an empty rootfs whose every mount target exists.
 *
 * The rootfs holds nothing of its own: runc assembles it from read-only bind mounts of the Node
 * binary, exactly the shared libraries `ldd` lists for it, and the calf's single bundled script,
 * plus a small noexec tmpfs /tmp, a minimal /dev, /proc with hidepid, and an /etc/passwd and
 * /etc/group naming only the calf's user (calfRootfsFiles). `paddock generate` writes its bundles
 * with the same functions (calfOciConfig, writeCalfBundle). The calf runs as uid 1000 in its own
 * user namespace (host uid 101000 by default), with no capabilities, no new privileges, the seccomp
 * allowlist of seccomp.ts, memory and pids limits and an empty environment.
 *
 * Why uid 1000 rather than the namespace's root with empty capability sets: on execve() the kernel
 * gives a uid-0 process the full capability set of its user namespace back (unless securebits say
 * otherwise, which runc does not set), and the Node binary is executable inside the container. A
 * non-zero uid gains nothing from execve, so a calf that re-execs Node stays capability-less.
 */

import { execFile } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, chmod, mkdir, open, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { foreignWriteAccess, replaceFileAtomic } from "../handlers/files.ts";
import { SandboxError } from "./errors.ts";
import { elfInterpreter } from "./elf-interp.ts";
import { calfSeccompProfile, type SeccompProfile } from "./seccomp.ts";
import { CALF_QUICKJS_PATH, quickjsCalfCommand, quickjsCalfMounts, type CalfEngine } from "./engine.ts";
import { calfCommandFor, defaultCalfNodePath } from "./packed.ts";

const execFileP = promisify(execFile);

/** A calf's name, validated: it becomes a container id, a cgroup and a directory name. */
export type CalfName = string & { readonly __brand: "CalfName" };

/** 32 bytes keeps "paddock-" + name a readable container id and cgroup leaf. */
export const MAX_CALF_NAME_BYTES = 32;

/** Parses a calf name: `[a-z0-9][a-z0-9-]*`, 1–32 bytes (no dots or slashes: it is a path part). */
export function parseCalfName(s: string): { ok: true; value: CalfName } | { ok: false; error: SandboxError } {
  if (s.length === 0 || s.length > MAX_CALF_NAME_BYTES || !/^[a-z0-9][a-z0-9-]*$/.test(s)) {
    return { ok: false, error: new SandboxError("PADDOCK_E_SANDBOX_BAD_NAME", `calf name ${JSON.stringify(s)} is not [a-z0-9][a-z0-9-]{0,31}`) };
  }
  return { ok: true, value: s as CalfName };
}

/** Every container Paddock starts has this id prefix, so stale ones can be found after a crash. */
export const CALF_CONTAINER_PREFIX = "paddock-";

/** The runc container id of a calf. */
export function calfContainerId(name: CalfName): string {
  return `${CALF_CONTAINER_PREFIX}${name}`;
}

/** An extra read-only mount for a calf (a data file it needs, say). Always ro,nosuid,nodev,noexec. */
export interface CalfMount {
  /** Absolute host path of a file or directory. */
  readonly source: string;
  /** Absolute path inside the calf; must not be /, /proc, /dev, /tmp or under them. */
  readonly destination: string;
}

/** What a calf is and what it may use. */
export interface CalfSandboxSpec {
  readonly name: CalfName;
  /** Absolute host path of the calf's bundled script (see bundleCalf); on QuickJS, its static executable. */
  readonly script: string;
  /** The engine it runs on (default "node"; sandbox/engine.ts). */
  readonly engine?: CalfEngine;
  /** Memory limit (cgroup), bytes; swap is not added on top. */
  readonly memoryBytes: number;
  /** Limit on processes and threads (cgroup pids.max); Node itself uses about a dozen threads. */
  readonly pids: number;
  /** CPU quota in cores (0.05–1; default 1: one core at most). */
  readonly cpuCores?: number;
  readonly extraMounts?: readonly CalfMount[];
  /**
   * A bundle directory written beforehand (`paddock generate`): the supervisor runs it as it is
   * instead of writing one; its config.json, not the fields above, is what the calf gets.
   */
  readonly prebuiltBundle?: string;
}

/** Where and how bundles are made; every field has a default suited to production. */
export interface BundleOptions {
  /** Parent of the bundle directories, e.g. /run/paddock/calves. */
  readonly runtimeDir: string;
  /** The Node binary the calf runs (its libraries are found with ldd). */
  readonly nodePath?: string;
  /** First host uid/gid of the calf's user namespace (container 0 → hostIdBase). */
  readonly hostIdBase?: number;
  /** Size of the mapped range. */
  readonly hostIdCount?: number;
  /** The uid/gid the calf runs as inside its namespace. */
  readonly calfId?: number;
  /** cgroup parent (absolute, relative to each hierarchy's root). */
  readonly cgroupParent?: string;
  /** Told about a Node runtime cache that is not trusted (see cachedNodeRuntime). */
  readonly warn?: (fields: object, msg: string) => void;
}

/** Defaults: the conventional unprivileged subordinate range of container runtimes. */
export const DEFAULT_HOST_ID_BASE = 100_000;
/** 65536 ids: a full 16-bit range, so every uid a file in the rootfs might carry is mapped. */
export const DEFAULT_HOST_ID_COUNT = 65_536;
/** An ordinary non-root uid inside the namespace (see the module comment for why not 0). */
export const DEFAULT_CALF_ID = 1000;
/** Calves' cgroups live under this parent in every hierarchy. */
export const DEFAULT_CGROUP_PARENT = "/paddock";
/** Node's binary on Debian (the nodejs package). */
export const DEFAULT_NODE_PATH = "/usr/bin/node";

/** Where the calf's script is mounted inside its rootfs. */
export const CALF_SCRIPT_PATH = "/calf/main.mjs";
/** /tmp: enough for scratch files, small enough that filling it costs the host nothing. */
export const CALF_TMP_BYTES = 4 * 1024 * 1024;
/** /dev holds only device nodes; 64 KiB is what it takes. */
export const CALF_DEV_BYTES = 64 * 1024;
/**
 * RLIMIT_NOFILE: Node at rest holds ~20 descriptors (stdio, fds 3/4, epoll, eventfds, signal
 * pipes, the script while loading); 64 leaves room and stops a descriptor leak early.
 */
export const CALF_NOFILE = 64;
/** Smallest memory limit: below this Node cannot start. */
export const MIN_CALF_MEMORY_BYTES = 32 * 1024 * 1024;
/** Smallest pids limit: Node's main thread, 4 V8 workers, 4 libuv pool threads and a spare few. */
export const MIN_CALF_PIDS = 16;
/** oom_score_adj: under host memory pressure, a calf goes before priv and the rest of the host. */
export const CALF_OOM_SCORE_ADJ = 500;

/** The files of a Node runtime that must be mounted for it to start. */
export interface NodeRuntime {
  /** The binary itself. */
  readonly binary: string;
  /** Absolute paths the dynamic loader opens (the ELF interpreter first); empty when static. */
  readonly libraries: readonly string[];
  /** The binary is a packed Paddock (paddock pack), which calves run in calf mode (packed.ts). */
  readonly packed?: boolean;
}

/**
 * Lists the Node binary's shared libraries as the loader would resolve them now: its ELF
 * interpreter run with --list (one exec; ./elf-interp.ts), or ldd when the binary names none or
 * the loader refuses. Called at bundle time, so an upgraded Node or libc is picked up at the next
 * calf start.
 */
export async function resolveNodeRuntime(nodePath: string = DEFAULT_NODE_PATH): Promise<NodeRuntime> {
  const loader = elfInterpreter(nodePath);
  if (loader) {
    const listed = await execFileP(loader, ["--list", nodePath], { env: { LC_ALL: "C" } }).then((r) => r.stdout, () => undefined);
    if (listed !== undefined) return { binary: nodePath, libraries: parseLdd(listed, nodePath) };
  }
  let out: string;
  try {
    ({ stdout: out } = await execFileP("ldd", [nodePath], { env: { LC_ALL: "C" } }));
  } catch (e) {
    const stdout = (e as { stdout?: string }).stdout ?? "";
    if (/not a dynamic executable|statically linked/.test(stdout + String((e as { stderr?: string }).stderr ?? ""))) {
      return { binary: nodePath, libraries: [] };
    }
    throw new SandboxError("PADDOCK_E_SANDBOX_NODE_RUNTIME", `ldd ${nodePath} failed`, undefined, { cause: e });
  }
  return { binary: nodePath, libraries: parseLdd(out, nodePath) };
}

/** One file's identity: if any of these changes, the file was replaced (a package upgrade). */
type FileStamp = { path: string; size: number; mtimeMs: number; ino: number };

async function stamp(file: string): Promise<FileStamp> {
  const st = await stat(file);
  return { path: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

/** Where `cachedNodeRuntime` is told about a cache it does not trust. */
export interface RuntimeCacheOptions {
  /** The uid the cache and its directory must belong to: the priv's (root). */
  readonly uid?: number;
  /** Told about a cache that is not trusted; by default a process warning (stderr). */
  readonly warn?: (fields: object, msg: string) => void;
}

/**
 * Why the cache at `file` in `dir` is not to be believed (null when it is): the calf's bind mounts
 * are taken from it, so it must be a regular file that only `uid` can have written, in a directory
 * only `uid` can change. The file is opened without following a symlink and checked on the open
 * descriptor, so what is checked is what is read.
 */
async function readTrustedCache(file: string, dir: string, uid: number): Promise<{ text: string } | { untrusted: string; dirTrusted: boolean } | null> {
  const describe = (what: string, why: NonNullable<ReturnType<typeof foreignWriteAccess>>): string =>
    why.kind === "owner" ? `${what} is owned by uid ${why.owner}, not ${uid}` : `${what} is writable by group or others (mode ${why.mode.toString(8).padStart(4, "0")})`;
  let dirStat;
  try {
    dirStat = await stat(dir);
  } catch {
    return null;
  }
  const dirWhy = foreignWriteAccess(dirStat, uid);
  if (dirWhy) return { untrusted: describe(`its directory ${dir}`, dirWhy), dirTrusted: false };
  let fh;
  try {
    fh = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") return { untrusted: `${file} is a symbolic link`, dirTrusted: true };
    return null;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { untrusted: `${file} is not a regular file`, dirTrusted: true };
    const why = foreignWriteAccess(st, uid);
    if (why) return { untrusted: describe(file, why), dirTrusted: true };
    return { text: await fh.readFile("utf8") };
  } finally {
    await fh.close();
  }
}

/**
 * resolveNodeRuntime, remembered in `cacheDir/node-runtime.json` across starts: running ldd costs
 * ~9 ms of every calf start. The cache is used only while the binary and every library it lists
 * are the very same files (path, size, mtime, inode); an upgrade of Node or a library, or a
 * library that moved, runs ldd again.
 *
 * The list becomes the calf's read-only bind mounts, so a cache a non-root user could have
 * written (see `readTrustedCache`) is ignored with a warning and ldd runs; the fresh answer
 * replaces the file only when its directory is trusted (atomically, with an unpredictable temp name).
 */
export async function cachedNodeRuntime(nodePath: string, cacheDir: string, opts: RuntimeCacheOptions = {}): Promise<NodeRuntime> {
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const warn = opts.warn ?? ((fields: object, msg: string) => process.emitWarning(`${msg} ${JSON.stringify(fields)}`));
  const file = path.join(cacheDir, "node-runtime.json");
  let dirTrusted = true;
  try {
    const read = await readTrustedCache(file, cacheDir, uid);
    if (read && "untrusted" in read) {
      warn({ file, reason: read.untrusted }, "ignoring the cached list of the calf's Node libraries: a non-root user could have written it; running ldd");
      dirTrusted = read.dirTrusted;
    } else if (read) {
      const cached = JSON.parse(read.text) as { runtime: NodeRuntime; stamps: FileStamp[] };
      if (cached.runtime.binary === nodePath && cached.stamps.length === cached.runtime.libraries.length + 1) {
        const now = await Promise.all(cached.stamps.map((s) => stamp(s.path)));
        if (now.every((n, i) => JSON.stringify(n) === JSON.stringify(cached.stamps[i]))) return cached.runtime;
      }
    }
  } catch {
    // An unreadable cache, or a file that is gone: resolve afresh.
  }
  const runtime = await resolveNodeRuntime(nodePath);
  if (!dirTrusted) return runtime;
  try {
    const stamps = await Promise.all([runtime.binary, ...runtime.libraries].map(stamp));
    await mkdir(cacheDir, { recursive: true, mode: 0o711 });
    await replaceFileAtomic(file, JSON.stringify({ runtime, stamps }), 0o600);
  } catch {
    // A cache we cannot write only costs the next start an ldd.
  }
  return runtime;
}

/**
 * Parses ldd's output: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and the interpreter
 * line "/lib64/ld-linux-x86-64.so.2 (0x…)"; the vDSO has no file and is skipped. A library that
 * ldd could not find ("=> not found") makes the runtime unusable, so it is an error.
 */
export function parseLdd(out: string, nodePath: string): string[] {
  const libs: string[] = [];
  for (const raw of out.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.includes("=> not found")) {
      throw new SandboxError("PADDOCK_E_SANDBOX_NODE_RUNTIME", `${nodePath} needs a library ldd cannot find: ${line}`);
    }
    const arrow = /=>\s+(\/\S+)\s+\(/.exec(line);
    const bare = /^(\/\S+)\s+\(/.exec(line);
    const lib = arrow?.[1] ?? bare?.[1];
    if (lib !== undefined && !libs.includes(lib)) libs.push(lib);
  }
  // The interpreter must come first only for readability of config.json; order is irrelevant to runc.
  libs.sort((a, b) => Number(isInterpreter(b)) - Number(isInterpreter(a)));
  return libs;
}

function isInterpreter(p: string): boolean {
  return /\/ld-linux[^/]*\.so/.test(p);
}

/** A mount entry of the OCI runtime spec. */
export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/** CFS period of a calf's CPU quota (100 ms, the kernel's default); the quota is the definition's share of it (one core at most). */
export const CALF_CPU_PERIOD_US = 100_000;
/** cgroup v1 cpu.shares of a calf: a quarter of the default 1024, so host work comes first. */
export const CALF_CPU_SHARES = 256;

/** The subset of the OCI runtime spec (1.0.2) Paddock writes. */
export interface OciConfig {
  readonly ociVersion: string;
  readonly process: Record<string, unknown>;
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly linux: Record<string, unknown> & { readonly seccomp: SeccompProfile };
}

/** Bind-mount flags of everything in the rootfs. */
const RO_BIND = ["bind", "ro", "nosuid", "nodev"] as const;

/** The Node heap limit V8 is told about: half the cgroup limit, so V8 collects before the kernel kills. */
export function calfHeapMiB(memoryBytes: number): number {
  return Math.max(16, Math.floor(memoryBytes / (2 * 1024 * 1024)));
}

/**
 * The OCI config of a calf (pure: the bundle writer and the tests share it).
 * Mount sources are host paths; rootfs is relative to the bundle dir.
 */
export function calfOciConfig(spec: CalfSandboxSpec, runtime: NodeRuntime, opts: Omit<BundleOptions, "runtimeDir"> = {}): OciConfig {
  checkSpec(spec);
  const hostIdBase = opts.hostIdBase ?? DEFAULT_HOST_ID_BASE;
  const hostIdCount = opts.hostIdCount ?? DEFAULT_HOST_ID_COUNT;
  const calfId = opts.calfId ?? DEFAULT_CALF_ID;
  const cgroupParent = opts.cgroupParent ?? DEFAULT_CGROUP_PARENT;
  const mounts: OciMount[] = [
    // hidepid=invisible: the calf sees no process of another uid in /proc (it is pid 1 of its own
    // pid namespace anyway; this also holds if a calf ever shares one).
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev", "hidepid=invisible"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "noexec", "strictatime", "mode=755", `size=${CALF_DEV_BYTES}`] },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "mode=1777", `size=${CALF_TMP_BYTES}`] },
    ...(spec.engine === "quickjs"
      ? quickjsCalfMounts(spec.script)
      : [
          // The binary and its libraries are mapped executable, so these cannot be noexec.
          { destination: runtime.binary, type: "bind", source: runtime.binary, options: [...RO_BIND] },
          ...runtime.libraries.map((lib): OciMount => ({ destination: lib, type: "bind", source: lib, options: [...RO_BIND] })),
          { destination: CALF_SCRIPT_PATH, type: "bind", source: spec.script, options: [...RO_BIND, "noexec"] },
        ]),
    ...(spec.extraMounts ?? []).map((m): OciMount => ({ destination: m.destination, type: "bind", source: m.source, options: [...RO_BIND, "noexec"] })),
  ];
  const caps: string[] = [];
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: calfId, gid: calfId, additionalGids: [] },
      // The packed executable (paddock pack) takes the same Node options in NODE_OPTIONS (packed.ts).
      ...(spec.engine === "quickjs" ? quickjsCalfCommand() : calfCommandFor(runtime, {
        // --jitless: V8 interprets and never compiles to machine code, so the calf has no writable
        // and executable memory and no WebAssembly — the JIT is the usual way an exploit of V8
        // gets native code. A calf parses a few packets a minute; it saves ~1 MiB of code space.
        // --no-expose-wasm says what --jitless implies: without it Node warns "disabling flag
        // --expose_wasm due to conflicting flags" at every calf start.
        args: [runtime.binary, "--jitless", "--no-expose-wasm", `--max-old-space-size=${calfHeapMiB(spec.memoryBytes)}`, CALF_SCRIPT_PATH],
        // Nothing of priv's environment (NODE_OPTIONS, NODE_EXTRA_CA_CERTS — ~55 ms of start-up —,
        // NOTIFY_SOCKET, …). HOME is listed because runc adds HOME=/ when absent: saying it here
        // keeps config.json an exact description of the calf's environment.
        env: ["HOME=/"],
      })),
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, inheritable: caps, permitted: caps, ambient: caps },
      rlimits: [
        { type: "RLIMIT_NOFILE", hard: CALF_NOFILE, soft: CALF_NOFILE },
        { type: "RLIMIT_CORE", hard: 0, soft: 0 },
      ],
      noNewPrivileges: true,
      oomScoreAdj: CALF_OOM_SCORE_ADJ,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "calf",
    mounts,
    linux: {
      uidMappings: [{ containerID: 0, hostID: hostIdBase, size: hostIdCount }],
      gidMappings: [{ containerID: 0, hostID: hostIdBase, size: hostIdCount }],
      namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"].map((type) => ({ type })),
      cgroupsPath: `${cgroupParent}/${spec.name}`,
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        memory: { limit: spec.memoryBytes, swap: spec.memoryBytes },
        pids: { limit: spec.pids },
        // At most one core in all, and a quarter of the default weight: a calf that spins (or a
        // compromised one) cannot take the host's CPU, and yields to the host's own work.
        cpu: { shares: CALF_CPU_SHARES, quota: Math.round(CALF_CPU_PERIOD_US * Math.min(1, Math.max(0.05, spec.cpuCores ?? 1))), period: CALF_CPU_PERIOD_US },
      },
      rootfsPropagation: "private",
      seccomp: calfSeccompProfile(undefined, spec.engine),
      // runc's default spec (`runc spec`): kernel state a container has no business reading.
      maskedPaths: [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

function checkSpec(spec: CalfSandboxSpec): void {
  const bad = (what: string): never => {
    throw new SandboxError("PADDOCK_E_SANDBOX_BAD_SPEC", what, spec.name);
  };
  if (!Number.isSafeInteger(spec.memoryBytes) || spec.memoryBytes < MIN_CALF_MEMORY_BYTES) bad(`memoryBytes ${spec.memoryBytes} < ${MIN_CALF_MEMORY_BYTES}`);
  if (!Number.isSafeInteger(spec.pids) || spec.pids < MIN_CALF_PIDS) bad(`pids ${spec.pids} < ${MIN_CALF_PIDS}`);
  if (!path.isAbsolute(spec.script)) bad(`script ${spec.script} is not absolute`);
  for (const m of spec.extraMounts ?? []) {
    const d = path.posix.normalize(m.destination);
    if (!path.isAbsolute(m.source) || !path.posix.isAbsolute(m.destination) || d !== m.destination) bad(`mount ${m.source} → ${m.destination} is not absolute and normalized`);
    const reserved = d === "/" || ["/proc", "/dev", "/tmp", "/calf"].some((p) => d === p || d.startsWith(`${p}/`));
    if (reserved) bad(`mount destination ${d} is reserved`);
  }
}

/** A file the rootfs holds itself (not a mount): path inside the rootfs, content, mode. */
export interface RootfsFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/**
 * The files a calf's rootfs holds: a passwd and a group naming only the calf's user, so a library
 * that looks the uid up finds it, and nothing about the host's users is visible.
 */
export function calfRootfsFiles(calfId: number = DEFAULT_CALF_ID): RootfsFile[] {
  return [
    { path: "/etc/passwd", content: `calf:x:${calfId}:${calfId}:Paddock calf:/:/usr/sbin/nologin\n`, mode: 0o444 },
    { path: "/etc/group", content: `calf:x:${calfId}:\n`, mode: 0o444 },
  ];
}

/** A bundle on disk. */
export interface CalfBundle {
  readonly name: CalfName;
  readonly containerId: string;
  /** The bundle directory (`runc run --bundle`). */
  readonly dir: string;
  readonly config: OciConfig;
}

/**
 * Writes a calf's bundle under `opts.runtimeDir/NAME`, replacing any previous one: config.json
 * (0600) and rootfs/ with every mount target pre-created (runc cannot create them in a read-only
 * root). Directories are 0711: the calf's mapped root must traverse them, nobody may list them.
 */
export async function createCalfBundle(spec: CalfSandboxSpec, opts: BundleOptions): Promise<CalfBundle> {
  // A QuickJS calf is one static executable: no Node, no libraries to list.
  const runtime = spec.engine === "quickjs" ? { binary: CALF_QUICKJS_PATH, libraries: [] } : await cachedNodeRuntime(opts.nodePath ?? defaultCalfNodePath(DEFAULT_NODE_PATH), opts.runtimeDir, opts.warn ? { warn: opts.warn } : {});
  const config = calfOciConfig(spec, runtime, opts);
  const dir = path.join(opts.runtimeDir, spec.name);
  try {
    await mkdir(opts.runtimeDir, { recursive: true, mode: 0o711 });
    await chmod(opts.runtimeDir, 0o711);
  } catch (e) {
    throw new SandboxError("PADDOCK_E_SANDBOX_BUNDLE_WRITE", `writing bundle ${dir} failed`, spec.name, { cause: e });
  }
  await writeCalfBundle(dir, config, calfRootfsFiles(opts.calfId), spec.name);
  // The script must be readable by the calf's uid, which is "other" to the host.
  try {
    await access(spec.script, fsConstants.R_OK);
    if (((await stat(spec.script)).mode & 0o004) === 0) throw new Error(`${spec.script} is not world-readable`);
    if (spec.engine === "quickjs" && ((await stat(spec.script)).mode & 0o001) === 0) throw new Error(`${spec.script} is not executable by others`);
  } catch (e) {
    throw new SandboxError("PADDOCK_E_SANDBOX_BAD_SPEC", `calf script unreadable`, spec.name, { cause: e });
  }
  return { name: spec.name, containerId: calfContainerId(spec.name), dir, config };
}

/**
 * Writes a bundle directory from its config (the runtime's bundles above, and `paddock generate`'s):
 * replaces `dir`, writes config.json (0600), and a rootfs/ holding `files` and every mount target
 * (runc cannot create them in a read-only root). A bind source that does not exist here (a
 * generated bundle names the target machine's paths) is taken to be a file. Directories are 0711:
 * the calf's mapped root must traverse them, nobody may list them.
 */
export async function writeCalfBundle(dir: string, config: OciConfig, files: readonly RootfsFile[], name: string): Promise<void> {
  const rootfs = path.join(dir, config.root.path);
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(rootfs, { recursive: true, mode: 0o711 });
    await chmod(dir, 0o711);
    await chmod(rootfs, 0o755);
    for (const m of config.mounts) {
      const target = path.join(rootfs, m.destination);
      const isFile = m.type === "bind" && !(await stat(m.source).catch(() => undefined))?.isDirectory();
      await mkdir(isFile ? path.dirname(target) : target, { recursive: true, mode: 0o755 });
      if (isFile) await writeFile(target, "", { mode: 0o444 });
      // runc gives a tmpfs the mode of the directory it covers, whatever its mode= option says.
      const mode = /^mode=([0-7]+)$/.exec(m.options.find((o) => o.startsWith("mode=")) ?? "")?.[1];
      if (mode !== undefined) await chmod(target, parseInt(mode, 8));
    }
    for (const f of files) {
      const target = path.join(rootfs, f.path);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      await writeFile(target, f.content, { mode: f.mode });
      await chmod(target, f.mode);
    }
    await writeFile(path.join(dir, "config.json"), JSON.stringify(config, null, 2), { mode: 0o600 });
  } catch (e) {
    throw new SandboxError("PADDOCK_E_SANDBOX_BUNDLE_WRITE", `writing bundle ${dir} failed`, name, { cause: e });
  }
}
