/**
 * The checks `paddock generate` runs on what it wrote, read back from the output directory (not
 * from the values it wrote them from), each one a rule with how it was verified. Tools that are
 * missing (systemd-analyze, the OCI schema) make their checks "skipped" with the reason, never a
 * silent pass.
 */
import { execFile } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { CALF_SCRIPT_PATH, calfHeapMiB, calfRootfsFiles, PACKED_CALF_ARG, parseServiceOptions, RUNC_CAPABILITIES, type NodeRuntime, type OciConfig } from "@paddock/runtime";
import { parse as parseYaml } from "yaml";
import type { Deployment } from "./deployment.ts";
import { calfSyscallFilter } from "./calf-units.ts";
import type { GeneratedBundle, GeneratedCalfUnit, GeneratedUnit, ResolvedService } from "./index.ts";
import { parseUnit, PRIV_ADDRESS_FAMILIES } from "./unit.ts";

const execFileP = promisify(execFile);

/** One rule checked on one artefact. */
export interface CheckResult {
  /** The artefact: "bundle dhcp4-eth0", "unit paddock-edge", "linuxkit.yml". */
  readonly subject: string;
  readonly rule: string;
  /** How it was verified. */
  readonly how: string;
  readonly status: "pass" | "fail" | "skipped";
  /** What was found when it failed, or why it was skipped, or a figure. */
  readonly detail?: string;
}

/**
 * The goal: systemd-networkd's own unit scores 2.8 in systemd-analyze security on Debian 12
 * (systemd 252), and a DHCP client should be no more exposed than networkd. Not met yet: the
 * priv runs runc in its own unit, which needs namespaces, CAP_SYS_ADMIN, CAP_SETUID/SETGID and
 * the DAC capabilities (docs/generate.md, "Exposure"). The report gives both figures.
 */
export const NETWORKD_EXPOSURE = 2.8;

/**
 * What a generated unit must not exceed: the measured exposure of a unit with every directive
 * ./unit.ts sets (4.7 for DHCP alone, 5.2 with the NTP service setting the clock, which adds
 * CAP_SYS_TIME and lifts ProtectClock). A directive lost in a change raises it past this.
 */
export const MAX_UNIT_EXPOSURE = 5.2;

/**
 * The same bound for a priv whose calves start outside it (calf-launch: external, decision 0013):
 * measured 2.3 for DHCP alone and 2.8 with the NTP service setting the clock (CAP_SYS_TIME, no
 * ProtectClock, @clock: 0.6 of it).
 */
export const MAX_EXTERNAL_UNIT_EXPOSURE = 2.8;

/** The same bound for a calf's own unit (./calf-units.ts): measured 0.2. */
export const MAX_CALF_UNIT_EXPOSURE = 0.2;

/** Debian's golang-github-opencontainers-specs-dev installs the runtime-spec's JSON schemas here. */
export const DEFAULT_OCI_SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema";

/** What the checks look at. */
export interface CheckInput {
  readonly outDir: string;
  readonly deployment: Deployment;
  readonly services: readonly ResolvedService[];
  readonly bundles: readonly GeneratedBundle[];
  readonly units: readonly GeneratedUnit[];
  readonly runtime: NodeRuntime;
  readonly ociSchemaDir?: string;
  readonly systemdAnalyze: boolean;
}

/** Runs every check; never throws for what it finds (a failure is a result). */
export async function runChecks(input: CheckInput): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const validate = await ociValidator(input.ociSchemaDir ?? DEFAULT_OCI_SCHEMA_DIR);
  for (const b of input.bundles) results.push(...(await checkBundle(b, input, validate)));
  for (const u of input.units) results.push(...(await checkUnit(u, input)));
  for (const u of input.units) for (const c of u.calfUnits ?? []) results.push(...(await checkCalfUnits(c, u, input)));
  results.push(...(await checkLinuxkit(input)));
  return results;
}

/** The validator's package, named here so that a build without it reports the check skipped. */
const AJV_DRAFT_04: string = "ajv-draft-04";

type Validator = { ok: true; check(config: unknown): string | undefined } | { ok: false; reason: string };

/**
 * The OCI runtime-spec's own JSON schema (config-schema.json and the files it refers to), as
 * Debian packages it, compiled with ajv's draft-04 support (the schema's dialect).
 */
async function ociValidator(dir: string): Promise<Validator> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(".json"));
  } catch {
    return { ok: false, reason: `the OCI runtime-spec schema is not installed (${dir}; Debian package golang-github-opencontainers-specs-dev)` };
  }
  type AjvClass = new (o: object) => { addSchema(s: object, key: string): void; compile(s: object): ((x: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null } };
  let Ajv: AjvClass;
  try {
    // ajv's draft-04 build: the dialect the runtime-spec's schema is written in.
    Ajv = ((await import(AJV_DRAFT_04)) as { default: AjvClass }).default;
  } catch {
    return { ok: false, reason: `the JSON schema validator ${AJV_DRAFT_04} is not installed` };
  }
  try {
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const f of files.filter((f) => f !== "config-schema.json")) ajv.addSchema(JSON.parse(await readFile(path.join(dir, f), "utf8")) as object, f);
    const compiled = ajv.compile(JSON.parse(await readFile(path.join(dir, "config-schema.json"), "utf8")) as object);
    return {
      ok: true,
      check: (config) => (compiled(config) ? undefined : (compiled.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ")),
    };
  } catch (err) {
    return { ok: false, reason: `the OCI runtime-spec schema in ${dir} could not be compiled: ${(err as Error).message}` };
  }
}

const has = (options: readonly string[], ...want: string[]) => want.every((w) => options.includes(w));

async function checkBundle(b: GeneratedBundle, input: CheckInput, validate: Validator): Promise<CheckResult[]> {
  const subject = `bundle ${path.basename(b.dir)}`;
  const out: CheckResult[] = [];
  const result = (rule: string, how: string, problem: string | undefined, detail?: string) => out.push({ subject, rule, how, status: problem === undefined ? "pass" : "fail", ...(problem !== undefined ? { detail: problem } : detail ? { detail } : {}) });
  const config = JSON.parse(await readFile(path.join(b.dir, "config.json"), "utf8")) as OciConfig;
  const def = input.services.find((s) => s.name === b.service)!.definition;

  if (validate.ok) result("config.json is valid against the OCI runtime-spec schema", "ajv (draft-04) with the runtime-spec's config-schema.json", validate.check(config));
  else out.push({ subject, rule: "config.json is valid against the OCI runtime-spec schema", how: "ajv with the runtime-spec's config-schema.json", status: "skipped", detail: validate.reason });

  result("the root file system is read-only", "config.json root.readonly", config.root.readonly === true ? undefined : "root.readonly is not true");
  const exec = new Set([input.runtime.binary, ...input.runtime.libraries]);
  const binds = config.mounts.filter((m) => m.type === "bind");
  const badBind = binds.find((m) => !has(m.options, "bind", "ro", "nosuid", "nodev") || (!exec.has(m.destination) && !m.options.includes("noexec")));
  result(
    "every bind mount is ro,nosuid,nodev, and noexec unless it is Node or a library it maps executable",
    "each mount of config.json against the Node runtime's file list (ldd)",
    badBind ? `${badBind.destination}: ${badBind.options.join(",")}` : undefined,
    `${binds.length} bind mounts, ${binds.filter((m) => m.options.includes("noexec")).length} noexec`,
  );
  result("the calf's script is noexec", `the bind mount at ${CALF_SCRIPT_PATH}`, binds.find((m) => m.destination === CALF_SCRIPT_PATH)?.options.includes("noexec") ? undefined : "the script is mounted without noexec");
  const proc = config.mounts.find((m) => m.destination === "/proc");
  result("/proc has hidepid, nosuid, noexec, nodev", "the /proc mount's options", proc && has(proc.options, "hidepid=invisible", "nosuid", "noexec", "nodev") ? undefined : `/proc: ${proc?.options.join(",") ?? "absent"}`);
  const tmpfs = config.mounts.filter((m) => m.type === "tmpfs");
  const unsized = tmpfs.find((m) => !m.options.some((o) => /^size=\d+$/.test(o)) || !has(m.options, "nosuid", "noexec"));
  result("every tmpfs has a size and is nosuid,noexec", "the tmpfs mounts' options", unsized ? `${unsized.destination}: ${unsized.options.join(",")}` : undefined, tmpfs.map((m) => `${m.destination} ${m.options.find((o) => o.startsWith("size="))}`).join(", "));

  // passwd and group: exactly the calf's user, as the runtime writes them.
  const rootfs = path.join(b.dir, config.root.path);
  const want = calfRootfsFiles((config.process as { user: { uid: number } }).user.uid);
  const problems: string[] = [];
  for (const f of want) {
    const text = await readFile(path.join(rootfs, f.path), "utf8").catch(() => undefined);
    if (text === undefined) problems.push(`${f.path} is missing`);
    else if (text !== f.content) problems.push(`${f.path} holds ${text.split("\n").filter(Boolean).length} entries, not only the calf's`);
  }
  result("passwd and group hold only the calf's user", "rootfs/etc/passwd and rootfs/etc/group read back", problems[0]);
  // The rootfs holds nothing else: empty mount targets, directories, no set-id bit.
  const own = new Set(want.map((f) => path.join(rootfs, f.path)));
  const strays: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const st = await stat(p);
      if ((st.mode & 0o6000) !== 0) strays.push(`${p} is set-id`);
      if (e.isDirectory()) await walk(p);
      else if (!e.isFile() || (st.size > 0 && !own.has(p))) strays.push(p);
    }
  };
  await walk(rootfs);
  result("the rootfs holds only empty mount targets and passwd/group", "a walk of rootfs/", strays[0]);

  const proc0 = config.process as { capabilities: Record<string, string[]>; noNewPrivileges: boolean; env: string[]; args: string[] };
  result("no capabilities, no new privileges", "process.capabilities (all five sets) and process.noNewPrivileges", Object.values(proc0.capabilities).some((s) => s.length > 0) || proc0.noNewPrivileges !== true ? "a capability set is not empty or noNewPrivileges is off" : undefined);
  const seccomp = config.linux.seccomp;
  const seccompFile = JSON.parse(await readFile(path.join(b.dir, "seccomp.json"), "utf8")) as unknown;
  result("a seccomp allowlist (default action is not allow), the same as seccomp.json", "linux.seccomp.defaultAction and seccomp.json compared", seccomp.defaultAction.includes("ALLOW") ? `defaultAction ${seccomp.defaultAction}` : JSON.stringify(seccompFile) !== JSON.stringify(seccomp) ? "seccomp.json differs from config.json" : undefined, `${seccomp.syscalls.reduce((n, r) => n + r.names.length, 0)} system calls allowed`);
  const res = config.linux.resources as { memory: { limit: number }; pids: { limit: number }; cpu: { quota: number; period: number } };
  const wantCpu = Math.min(1, Math.max(0.05, def.calf.cpuCores ?? 1));
  result(
    "memory, pids and CPU limits are the service definition's",
    `linux.resources against ${def.name}'s calf (memoryMiB ${def.calf.memoryMiB}, pids ${def.calf.pids}, cpuCores ${wantCpu})`,
    res.memory.limit !== def.calf.memoryMiB * 1024 * 1024 || res.pids.limit !== def.calf.pids || Math.abs(res.cpu.quota / res.cpu.period - wantCpu) > 0.001 ? JSON.stringify(res) : undefined,
  );
  // A packed Paddock's calf (paddock pack, docs/pack.md) gets its V8 flags in NODE_OPTIONS, and only them.
  const packedEnv = proc0.args[1] === PACKED_CALF_ARG ? [`NODE_OPTIONS=--jitless --max-old-space-size=${calfHeapMiB(res.memory.limit)}`] : [];
  result("the environment is empty (HOME only)", "process.env (a packed Paddock's calf: and NODE_OPTIONS with --jitless and the heap limit)", JSON.stringify(proc0.env) === JSON.stringify(["HOME=/", ...packedEnv]) ? undefined : proc0.env.join(" "));
  const ns = (config.linux.namespaces as Array<{ type: string; path?: string }>).filter((n) => !n.path).map((n) => n.type).sort();
  result("own pid, network, ipc, uts, mount, cgroup and user namespaces", "linux.namespaces (none joined by path)", ns.join(",") === "cgroup,ipc,mount,network,pid,user,uts" ? undefined : ns.join(","));
  return out;
}

async function checkUnit(u: GeneratedUnit, input: CheckInput): Promise<CheckResult[]> {
  const subject = `unit ${u.name}`;
  const text = await readFile(u.file, "utf8");
  const d = parseUnit(text);
  const one = (k: string) => d.get(k)?.at(-1);
  const out: CheckResult[] = [];
  const expect = (rule: string, key: string, ok: (v: string | undefined) => boolean) => {
    const v = one(key);
    out.push({ subject, rule, how: `${key}= in the unit file`, status: ok(v) ? "pass" : "fail", ...(ok(v) ? {} : { detail: `${key}=${v ?? "(absent)"}` }) });
  };
  const caps = u.capabilities.map((c) => c.name);
  expect("Type=notify: started once the services are ready", "Type", (v) => v === "notify");
  expect("restarted on failure", "Restart", (v) => v === "on-failure");
  expect("ordered after network-pre and before network-online", "Before", (v) => !!v?.split(" ").includes("network-online.target"));
  expect("the bounding set is the union the services need, nothing more", "CapabilityBoundingSet", (v) => v?.split(" ").sort().join(" ") === [...caps].sort().join(" "));
  expect("no ambient capabilities", "AmbientCapabilities", (v) => v === "");
  expect("NoNewPrivileges", "NoNewPrivileges", (v) => v === "yes");
  expect("the file system is read-only but for the priv's own directories", "ProtectSystem", (v) => v === "strict");
  expect("home directories are not visible", "ProtectHome", (v) => v === "yes");
  expect("a private /tmp", "PrivateTmp", (v) => v === "yes");
  expect("only the address families the priv uses", "RestrictAddressFamilies", (v) => v === PRIV_ADDRESS_FAMILIES.join(" "));
  expect("a system call filter", "SystemCallFilter", (v) => !!v?.includes("@system-service"));
  expect("native system calls only", "SystemCallArchitectures", (v) => v === "native");
  expect("kernel modules cannot be loaded", "ProtectKernelModules", (v) => v === "yes");
  expect("the kernel log is not readable", "ProtectKernelLogs", (v) => v === "yes");
  expect("the clock is protected unless a service sets it", "ProtectClock", (v) => v === (caps.includes("CAP_SYS_TIME") ? "no" : "yes"));
  expect("personality locked", "LockPersonality", (v) => v === "yes");
  expect("no realtime scheduling", "RestrictRealtime", (v) => v === "yes");
  expect("a memory limit", "MemoryMax", (v) => v === `${input.deployment.limits.memoryMaxMiB}M`);
  expect("a task limit", "TasksMax", (v) => v === String(input.deployment.limits.tasksMax));
  expect("no inspector or preloaded code through NODE_OPTIONS", "Environment", (v) => v === "NODE_OPTIONS=");
  // A writable system directory undoes ProtectSystem=strict: name the service and its option.
  const writable = (one("ReadWritePaths") ?? "").split(" ").filter((p) => SYSTEM_DIRS.includes(p));
  const writers = writable.flatMap((dir) =>
    input.services.filter((s) => u.services.includes(s.name) && (s.definition.privWritePaths?.(parseServiceOptions(s.definition, s.settings) as never) ?? []).includes(dir)).map((s) => `${dir}: written by ${s.name} with its options (${Object.entries(s.settings).map(([k, v]) => `${k}=${v}`).join(", ") || "defaults"}); point that file under ${input.deployment.install.runtimeDir} and link to it in the image`),
  );
  out.push({ subject, rule: "no system directory is writable (ReadWritePaths)", how: `ReadWritePaths= against ${SYSTEM_DIRS.join(" ")}`, status: writable.length === 0 ? "pass" : "fail", ...(writable.length ? { detail: writers[0] ?? writable.join(" ") } : {}) });
  const external = u.calfUnits !== undefined;
  if (external) {
    expect("no namespaces: the calves start outside this unit", "RestrictNamespaces", (v) => v === "yes");
    expect("no cgroup writes: the calves start outside this unit", "ProtectControlGroups", (v) => v === "yes");
    expect("the calves' sockets are handed to the priv", "Sockets", (v) => v?.split(" ").sort().join(" ") === u.calfUnits!.map((c) => `${c.name}.socket`).sort().join(" "));
    expect("nothing of runc's capabilities", "CapabilityBoundingSet", (v) => (v ?? "").split(" ").filter((c) => (RUNC_CAPABILITIES as readonly string[]).includes(c)).every((c) => u.capabilities.find((n) => n.name === c)?.reasons.some((r) => r.endsWith("its channels or its options"))));
  }
  const max = external ? MAX_EXTERNAL_UNIT_EXPOSURE : MAX_UNIT_EXPOSURE;
  out.push(...(input.systemdAnalyze ? await analyze(subject, u.file, max, external ? undefined : "runc runs inside this unit (docs/generate.md)") : notAskedAnalyze(subject, max)));
  return out;
}

function notAskedAnalyze(subject: string, max: number): CheckResult[] {
  const notAsked = (rule: string, how: string): CheckResult => ({ subject, rule, how, status: "skipped", detail: "not asked for (--no-systemd-analyze)" });
  return [notAsked(`exposure at most ${max}`, "systemd-analyze security --offline=yes"), notAsked("the unit file verifies", "systemd-analyze verify")];
}

/** A calf's .socket and .service (calf-launch: external), read back: the sandbox systemd gives it. */
async function checkCalfUnits(c: GeneratedCalfUnit, priv: GeneratedUnit, input: CheckInput): Promise<CheckResult[]> {
  const subject = `unit ${c.name}`;
  const d = parseUnit(await readFile(c.file, "utf8"));
  const sock = parseUnit(await readFile(c.socketFile, "utf8"));
  const out: CheckResult[] = [];
  const check = (unit: Map<string, string[]>, file: string, rule: string, key: string, ok: (v: string | undefined) => boolean) => {
    const v = unit.get(key)?.at(-1);
    out.push({ subject, rule, how: `${key}= in ${path.basename(file)}`, status: ok(v) ? "pass" : "fail", ...(ok(v) ? {} : { detail: `${key}=${v ?? "(absent)"}` }) });
  };
  const expect = (rule: string, key: string, ok: (v: string | undefined) => boolean) => check(d, c.file, rule, key, ok);
  const service = input.services.find((s) => priv.services.includes(s.name) && c.calf.startsWith(`${s.name}-`))!;
  const def = service.definition;
  check(sock, c.socketFile, "only the calf's user can connect to its socket", "SocketMode", (v) => v === "0600");
  check(sock, c.socketFile, "the socket belongs to the calves' user", "SocketUser", (v) => v === input.deployment.calfUser);
  check(sock, c.socketFile, "the priv finds the socket by the calf's name", "FileDescriptorName", (v) => v === c.calf);
  expect("runs as the calves' user, not root", "User", (v) => v === input.deployment.calfUser);
  expect("no capabilities", "CapabilityBoundingSet", (v) => v === "");
  expect("no new privileges", "NoNewPrivileges", (v) => v === "yes");
  expect("no network: only loopback in its own namespace", "PrivateNetwork", (v) => v === "yes");
  expect("only AF_UNIX sockets", "RestrictAddressFamilies", (v) => v === "AF_UNIX");
  expect("the OCI bundle's seccomp allowlist and the launcher's two calls", "SystemCallFilter", (v) => v === calfSyscallFilter("node").join(" "));
  expect("W^X: no writable and executable memory", "MemoryDenyWriteExecute", (v) => v === "yes");
  expect("no namespaces", "RestrictNamespaces", (v) => v === "yes");
  expect("a read-only file system", "ProtectSystem", (v) => v === "strict");
  expect("its definition's memory limit", "MemoryMax", (v) => v === `${def.calf.memoryMiB}M`);
  expect("its definition's task limit", "TasksMax", (v) => v === String(def.calf.pids));
  expect("restarted when it exits, within a start limit", "Restart", (v) => v === "always");
  expect("stopped and restarted with its priv", "PartOf", (v) => v === `${priv.name}.service`);
  out.push(...(input.systemdAnalyze ? await analyze(subject, c.file, MAX_CALF_UNIT_EXPOSURE, undefined) : notAskedAnalyze(subject, MAX_CALF_UNIT_EXPOSURE)));
  return out;
}

/**
 * systemd-analyze: the unit verifies, and its exposure is at most `max` (and below networkd's,
 * unless `whyNot` says why it cannot be).
 */
async function analyze(subject: string, file: string, max: number, whyNot: string | undefined): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const u = { file };
  const security = await execFileP("systemd-analyze", ["security", "--offline=yes", "--no-pager", u.file], { env: { ...process.env, SYSTEMD_COLORS: "0" } }).then(
    (r) => ({ ok: true as const, text: r.stdout }),
    (err: NodeJS.ErrnoException & { stdout?: string }) => (err.code === "ENOENT" ? { ok: false as const, missing: true } : { ok: true as const, text: err.stdout ?? "" }),
  );
  if (!security.ok) {
    return [{ subject, rule: `exposure at most ${max}`, how: "systemd-analyze security --offline=yes", status: "skipped", detail: "systemd-analyze is not installed (Debian package systemd)" }];
  }
  const exposure = unitExposure(security.text);
  out.push({
    subject,
    rule: `exposure at most ${max}, every hardening directive in force`,
    how: "systemd-analyze security --offline=yes",
    status: exposure !== undefined && exposure <= max ? "pass" : "fail",
    detail: exposure === undefined ? "no exposure level in its output" : `exposure ${exposure}; the goal, systemd-networkd's ${NETWORKD_EXPOSURE}, is ${exposure < NETWORKD_EXPOSURE ? "met" : `not met${whyNot ? `: ${whyNot}` : ""}`}`,
  });
  // verify checks ExecStart's program exists: run it against a root holding the unit and a stand-in.
  const root = await mkdtemp(path.join(tmpdir(), "paddock-verify-"));
  try {
    // The system's own units (targets, slices) the unit names, as systemd would find them.
    await cp("/usr/lib/systemd/system", path.join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true }).catch(() => {});
    const unitDir = path.join(root, "etc/systemd/system");
    await mkdir(unitDir, { recursive: true });
    // Its sibling units too (a calf's socket, a priv's calves), which it names.
    const siblings = (await readdir(path.dirname(u.file))).filter((f) => /\.(service|socket)$/.test(f));
    for (const f of siblings) await writeFile(path.join(unitDir, f), await readFile(path.join(path.dirname(u.file), f)));
    const texts = await Promise.all(siblings.map((f) => readFile(path.join(path.dirname(u.file), f), "utf8")));
    const programs = texts.flatMap((t) => [...t.matchAll(/^Exec[A-Za-z]+=[-@:+!]*(\/\S+)/gm)].map((m) => m[1]!));
    for (const program of programs) {
      const bin = path.join(root, program);
      await mkdir(path.dirname(bin), { recursive: true });
      await writeFile(bin, "#!/bin/sh\n");
      await chmod(bin, 0o755);
    }
    const r = await execFileP("systemd-analyze", ["verify", `--root=${root}`, "--man=no", `/etc/systemd/system/${path.basename(u.file)}`], { env: { ...process.env, SYSTEMD_COLORS: "0" } }).then(
      (x) => ({ code: 0, text: `${x.stdout}${x.stderr}` }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === "number" ? err.code : 1, text: `${err.stdout ?? ""}${err.stderr ?? ""}` }),
    );
    // Lines about other units on this machine (not ours) are not our problem.
    const ours = r.text.split("\n").filter((l) => l.includes(path.basename(u.file)));
    out.push({ subject, rule: "the unit file verifies", how: "systemd-analyze verify (the unit in a scratch root with the system's units, its programs stood in)", status: r.code === 0 && ours.length === 0 ? "pass" : "fail", ...(r.code === 0 && ours.length === 0 ? {} : { detail: (ours[0] ?? r.text.trim().split("\n")[0] ?? "").slice(0, 300) }) });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return out;
}

/** Directories a service must not make writable: ProtectSystem=strict would protect nothing that matters. */
const SYSTEM_DIRS = ["/", "/etc", "/usr", "/var", "/boot", "/opt", "/srv", "/home", "/root", "/lib", "/bin", "/sbin"];

/** The "Overall exposure level" figure of systemd-analyze security's output. */
export function unitExposure(text: string): number | undefined {
  const m = /Overall exposure level for \S+: ([0-9.]+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function checkLinuxkit(input: CheckInput): Promise<CheckResult[]> {
  const subject = "linuxkit.yml";
  const doc = parseYaml(await readFile(path.join(input.outDir, "linuxkit.yml"), "utf8")) as { services?: Array<{ name: string; capabilities: string[]; binds: string[]; pid?: string; command: string[] }> };
  const out: CheckResult[] = [];
  for (const u of input.units) {
    const s = doc.services?.find((x) => x.name === u.name);
    const caps = u.capabilities.map((c) => c.name).sort().join(" ");
    out.push({ subject, rule: `${u.name}: the same capabilities as its unit`, how: "services[].capabilities against CapabilityBoundingSet", status: s?.capabilities.slice().sort().join(" ") === caps ? "pass" : "fail" });
    const blanket = s?.binds.find((b) => [...SYSTEM_DIRS, "/run"].includes(b.split(":")[0]!));
    out.push({ subject, rule: `${u.name}: no blanket host binds, no host pid namespace`, how: "services[].binds and pid", status: s && !blanket && s.pid === undefined ? "pass" : "fail", ...(blanket ? { detail: blanket } : {}) });
    out.push({ subject, rule: `${u.name}: runs what the unit runs`, how: "services[].command against ExecStart", status: s?.command.join(" ") === u.execStart.join(" ") ? "pass" : "fail" });
  }
  return out;
}
