/**
 * `paddock generate`: one deployment file (./deployment.ts) → the artefacts an image needs, in
 * one directory:
 *
 *     bundles/SERVICE-IFACE/   an OCI bundle per calf: config.json, seccomp.json, rootfs/
 *     services/NAME/           module services, built (service.mjs, calf.mjs)
 *     config/UNIT.yaml         the services' options per interface (the configuration file format)
 *     systemd/UNIT.service     the priv's unit, hardened (./unit.ts)
 *     systemd/UNIT-CALF.socket, UNIT-CALF.service, sysusers.d/paddock.conf
 *                              with calf-launch: external, each calf's socket and unit (./calf-units.ts)
 *     linuxkit.yml             a LinuxKit `services:` fragment for the same deployment
 *     check-report.txt, .json  every rule checked on what was written, and how
 *
 * The calf bundles are written by the runtime's own functions (calfOciConfig, writeCalfBundle,
 * calfRootfsFiles in @paddock/runtime), so a generated bundle is the one the priv would write at
 * start for the same inputs; `paddock run --bundle-dir DIR` runs them as they are.
 *
 * Interfaces that run the same services share one priv (one unit); interfaces with different
 * sets of services get one unit each.
 */
import { copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  calfNameFor,
  calfOciConfig,
  calfSocketPath,
  calfRootfsFiles,
  parseCalfName,
  parseServiceOptions,
  resolveNodeRuntime,
  writeCalfBundle,
  type NodeRuntime,
  type ServiceDefinition,
} from "@paddock/runtime";
import { stringify } from "yaml";
import { UserError } from "../errors.ts";
import { BUILT_CALF_FILE, BUILT_SERVICE_FILE, paddockVersion } from "../services.ts";
import { unitCapabilities, type CapabilityNeed } from "./capabilities.ts";
import { runChecks, type CheckResult } from "./checks.ts";
import type { Deployment, DeploymentService } from "./deployment.ts";
import { calfServiceDirectives, calfSocketDirectives, calfSysusers, type CalfUnitPlan } from "./calf-units.ts";
import { renderDirectives, renderUnit, type UnitPlan } from "./unit.ts";

/** A service of the deployment with its definition, and for a module its built directory. */
export interface ResolvedService extends DeploymentService {
  readonly definition: ServiceDefinition<any>;
  /** A module service's `paddock build` output (service.mjs, calf.mjs), copied into services/NAME. */
  readonly builtDir: string | undefined;
}

/** One priv of the deployment: its unit, its services and interfaces. */
export interface GeneratedUnit {
  readonly name: string;
  readonly file: string;
  readonly configFile: string;
  readonly services: readonly string[];
  readonly interfaces: readonly string[];
  readonly capabilities: readonly CapabilityNeed[];
  readonly execStart: readonly string[];
  /** calf-launch: external: each calf's units. */
  readonly calfUnits?: readonly GeneratedCalfUnit[];
}

/** One calf's units (calf-launch: external). */
export interface GeneratedCalfUnit {
  readonly calf: string;
  readonly name: string;
  /** The .service file. */
  readonly file: string;
  readonly socketFile: string;
}

/** One calf bundle written. */
export interface GeneratedBundle {
  readonly service: string;
  readonly iface: string;
  readonly dir: string;
  /** Where the calf's script must be on the target (the bundle's bind mount source). */
  readonly script: string;
}

/** What `generateDeployment` wrote and what its checks found. */
export interface GenerateReport {
  readonly deployment: string;
  readonly variant: string | undefined;
  readonly outDir: string;
  readonly units: readonly GeneratedUnit[];
  readonly bundles: readonly GeneratedBundle[];
  readonly linuxkit: string;
  readonly checks: readonly CheckResult[];
  /** Checks that failed (skipped ones are not failures). */
  readonly failed: number;
}

/** Options of a generation; each has a default suited to this machine. */
export interface GenerateOptions {
  /** The Node runtime the calves bind-mount (default: ldd on the deployment's install.node). */
  readonly nodeRuntime?: NodeRuntime;
  /** The OCI runtime-spec schema directory (default: Debian's golang-github-opencontainers-specs-dev). */
  readonly ociSchemaDir?: string;
  /** Run systemd-analyze on the units when it is installed (default true). */
  readonly systemdAnalyze?: boolean;
}

/** The file the report is written to (and whose presence marks a directory as a previous output). */
export const REPORT_FILE = "check-report.json";
const OUTPUTS = ["bundles", "services", "config", "systemd", "sysusers.d", "linuxkit.yml", "check-report.txt", REPORT_FILE];

/** Interfaces grouped by the services they run: one priv (one unit) per group, in file order. */
export function privGroups(services: readonly DeploymentService[]): Array<{ services: string[]; interfaces: string[] }> {
  const ifaces: string[] = [];
  for (const s of services) for (const i of s.interfaces) if (!ifaces.includes(i)) ifaces.push(i);
  const groups = new Map<string, { services: string[]; interfaces: string[] }>();
  for (const iface of ifaces) {
    const names = services.filter((s) => s.interfaces.includes(iface)).map((s) => s.name);
    const key = names.join(" ");
    const g = groups.get(key) ?? { services: names, interfaces: [] };
    g.interfaces.push(iface);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/** Refuses an output directory that holds anything but a previous generation's files. */
async function prepareOutDir(outDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return void (await mkdir(outDir, { recursive: true, mode: 0o755 }));
    throw new UserError(`cannot use ${outDir} as the output directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const foreign = entries.filter((e) => !OUTPUTS.includes(e));
  if (entries.length > 0 && (foreign.length > 0 || !entries.includes(REPORT_FILE))) {
    throw new UserError(`the output directory ${outDir} is not empty and not a previous paddock generate output (it holds ${(foreign.length > 0 ? foreign : entries).slice(0, 3).join(", ")}); give a new or empty directory`);
  }
  for (const e of entries) await rm(path.join(outDir, e), { recursive: true, force: true });
}

/**
 * Writes the artefacts of `deployment` (its variant already applied) into `outDir`, then checks
 * them (./checks.ts) and writes the report. Resolves with the report; the caller decides what a
 * failed check means (the CLI exits 1). Throws UserError for what the user can fix.
 */
export async function generateDeployment(deployment: Deployment, services: readonly ResolvedService[], outDir: string, opts: GenerateOptions = {}): Promise<GenerateReport> {
  const out = path.resolve(outDir);
  await prepareOutDir(out);
  const install = deployment.install;
  let runtime: NodeRuntime;
  try {
    runtime = opts.nodeRuntime ?? (await resolveNodeRuntime(install.node));
  } catch (err) {
    throw new UserError(`cannot list the libraries of ${install.node} (install.node) with ldd: ${(err as Error).message}; the calves bind-mount them, so generate on a machine with the target's Node`);
  }
  const byName = new Map(services.map((s) => [s.name, s] as const));

  // Module services: their built files, where the unit and the bundles expect them.
  for (const s of services) {
    if (!s.builtDir) continue;
    const dir = path.join(out, "services", s.name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    for (const f of [BUILT_SERVICE_FILE, BUILT_CALF_FILE]) {
      await copyFile(path.join(s.builtDir, f), path.join(dir, f));
    }
  }

  // One bundle per calf: the runtime's own config and writer.
  const bundles: GeneratedBundle[] = [];
  for (const s of services) {
    const script = s.module ? path.posix.join(install.serviceDir, s.name, BUILT_CALF_FILE) : path.posix.join(install.calfDir, `calf-${s.name}.mjs`);
    for (const iface of s.interfaces) {
      const name = parseCalfName(calfNameFor(s.name, iface, undefined));
      if (!name.ok) throw new UserError(`cannot name the calf of ${s.name} on ${iface}: ${name.error.message}`);
      const dir = path.join(out, "bundles", name.value);
      const def = s.definition;
      const config = calfOciConfig(
        { name: name.value, script, memoryBytes: def.calf.memoryMiB * 1024 * 1024, pids: def.calf.pids, ...(def.calf.cpuCores ? { cpuCores: def.calf.cpuCores } : {}) },
        runtime,
      );
      await mkdir(path.dirname(dir), { recursive: true, mode: 0o711 });
      await writeCalfBundle(dir, config, calfRootfsFiles(), name.value);
      await writeFile(path.join(dir, "seccomp.json"), `${JSON.stringify(config.linux.seccomp, null, 2)}\n`, { mode: 0o644 });
      bundles.push({ service: s.name, iface, dir, script });
    }
  }

  // One unit (and configuration file) per priv.
  const groups = privGroups(services);
  const units: GeneratedUnit[] = [];
  const plans: UnitPlan[] = [];
  for (const g of groups) {
    const unitName = groups.length === 1 ? `paddock-${deployment.name}` : `paddock-${deployment.name}-${g.interfaces[0]!.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`;
    const members = g.services.map((n) => byName.get(n)!);
    const configText = stringify({ interfaces: Object.fromEntries(g.interfaces.map((i) => [i, Object.fromEntries(members.filter((m) => Object.keys(m.settings).length > 0).map((m) => [m.name, m.settings]))])) });
    const configFile = path.join(out, "config", `${unitName}.yaml`);
    await mkdir(path.dirname(configFile), { recursive: true, mode: 0o755 });
    await writeFile(configFile, `# Generated by paddock generate from ${path.basename(deployment.file)}${deployment.variant ? ` (variant ${deployment.variant})` : ""}: the options of ${unitName}.\n${configText}`, { mode: 0o644 });
    const withOptions = members.map((m) => ({ definition: m.definition, options: parseServiceOptions(m.definition, m.settings) }));
    const capabilities = unitCapabilities(members, { runsCalves: deployment.calfLaunch !== "external" });
    const stateDir = path.posix.join(install.stateDir, unitName);
    const within = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
    const writePaths = [...new Set(withOptions.flatMap((m) => m.definition.privWritePaths?.(m.options as never) ?? []))].filter((p) => !within(p, stateDir) && !within(p, install.runtimeDir));
    const external = deployment.calfLaunch === "external";
    const execStart = [
      install.paddock,
      "run",
      ...members.map((m) => (m.module ? path.posix.join(install.serviceDir, m.name) : m.name)),
      ...g.interfaces.flatMap((i) => ["--iface", i]),
      "--config", path.posix.join(install.configDir, `${unitName}.yaml`),
      ...(external ? ["--calf-launch", "external", "--calf-user", deployment.calfUser] : ["--bundle-dir", install.bundleDir]),
      "--state-dir", stateDir,
      "--runtime-dir", install.runtimeDir,
      "--ready-timeout", String(deployment.readyTimeoutSeconds),
      "--log-level", deployment.logLevel,
      "--log-format", "text",
    ];
    for (const p of writePaths) {
      if (/[\s"'\\$%;]/.test(p) || !path.posix.isAbsolute(p)) throw new UserError(`a service writes ${JSON.stringify(p)}, which cannot go into a unit file (it must be absolute, without spaces, quotes, '\\', '$', '%' or ';')`);
    }
    const calfPlans: CalfUnitPlan[] = !external ? [] : members.flatMap((m) => g.interfaces.map((iface): CalfUnitPlan => {
      const calf = calfNameFor(m.name, iface, undefined);
      const def = m.definition;
      return {
        calf, service: m.name, iface, privUnit: unitName, unit: `${unitName}-${calf}`,
        socketPath: calfSocketPath(path.posix.join(install.runtimeDir, "calves"), calf),
        launcher: install.launcher,
        script: bundles.find((b) => b.service === m.name && b.iface === iface)!.script,
        engine: "node", memoryMiB: def.calf.memoryMiB, pids: def.calf.pids, cpuCores: def.calf.cpuCores,
        user: deployment.calfUser, runtime, source: `${path.basename(deployment.file)}${deployment.variant ? ` (variant ${deployment.variant})` : ""}`,
      };
    }));
    const plan: UnitPlan = {
      ...(external ? { external: { sockets: calfPlans.map((c) => `${c.unit}.socket`), calves: calfPlans.map((c) => `${c.unit}.service`) } } : {}),
      name: unitName,
      description: `Paddock: ${g.services.join(", ")} on ${g.interfaces.join(", ")} (${deployment.name}${deployment.variant ? `, ${deployment.variant}` : ""})`,
      execStart,
      capabilities,
      stateDir,
      runtimeDir: install.runtimeDir,
      writePaths,
      limits: deployment.limits,
      readyTimeoutSeconds: deployment.readyTimeoutSeconds,
      source: `${path.basename(deployment.file)}${deployment.variant ? ` (variant ${deployment.variant})` : ""}`,
    };
    plans.push(plan);
    const file = path.join(out, "systemd", `${unitName}.service`);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFile(file, renderUnit(plan), { mode: 0o644 });
    const calfUnits: GeneratedCalfUnit[] = [];
    for (const c of calfPlans) {
      const unitFile = path.join(out, "systemd", `${c.unit}.service`);
      const socketFile = path.join(out, "systemd", `${c.unit}.socket`);
      await writeFile(socketFile, renderDirectives(calfSocketDirectives(c), c.source), { mode: 0o644 });
      await writeFile(unitFile, renderDirectives(calfServiceDirectives(c), c.source), { mode: 0o644 });
      calfUnits.push({ calf: c.calf, name: c.unit, file: unitFile, socketFile });
    }
    if (external) {
      await mkdir(path.join(out, "sysusers.d"), { recursive: true, mode: 0o755 });
      await writeFile(path.join(out, "sysusers.d", "paddock.conf"), calfSysusers(deployment.calfUser), { mode: 0o644 });
    }
    units.push({ name: unitName, file, configFile, services: g.services, interfaces: g.interfaces, capabilities, execStart, ...(external ? { calfUnits } : {}) });
  }

  // The LinuxKit fragment: one service entry per priv, in the image paddock pack builds.
  const linuxkit = path.join(out, "linuxkit.yml");
  await writeFile(linuxkit, renderLinuxkit(deployment, plans), { mode: 0o644 });

  const checks = await runChecks({ outDir: out, deployment, services, bundles, units, runtime, ...(opts.ociSchemaDir ? { ociSchemaDir: opts.ociSchemaDir } : {}), systemdAnalyze: opts.systemdAnalyze ?? true });
  const failed = checks.filter((c) => c.status === "fail").length;
  const report: GenerateReport = { deployment: deployment.file, variant: deployment.variant, outDir: out, units, bundles, linuxkit, checks, failed };
  await writeFile(path.join(out, REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`, { mode: 0o644 });
  await writeFile(path.join(out, "check-report.txt"), renderReport(report), { mode: 0o644 });
  return report;
}

/**
 * A LinuxKit `services:` fragment: the priv with exactly its unit's capabilities, the host's
 * network (it configures it) but its own pid namespace, a read-only root, and binds of only what
 * it writes; no blanket host binds.
 */
export function renderLinuxkit(deployment: Deployment, plans: readonly UnitPlan[]): string {
  const i = deployment.install;
  const entries = plans.map((p) => ({
    name: p.name,
    image: `paddock:${paddockVersion()}`,
    capabilities: p.capabilities.map((c) => c.name),
    net: "host",
    readonly: true,
    binds: [
      `${i.stateDir}:${i.stateDir}`,
      `${i.runtimeDir}:${i.runtimeDir}`,
      "/sys/fs/cgroup:/sys/fs/cgroup",
      `${i.configDir}:${i.configDir}:ro`,
      ...p.writePaths.filter((w) => !w.startsWith(`${i.stateDir}/`) && !w.startsWith(`${i.runtimeDir}/`) && w !== i.stateDir && w !== i.runtimeDir).map((w) => `${w}:${w}`),
    ],
    runtime: { mkdir: [i.stateDir, i.runtimeDir] },
    command: [...p.execStart],
  }));
  return `# Generated by paddock generate from ${path.basename(deployment.file)}${deployment.variant ? ` (variant ${deployment.variant})` : ""}.\n# A LinuxKit services: fragment; the image is the one paddock pack builds (docs/generate.md).\n${stringify({ services: entries })}`;
}

/** The report as text: one line per check. */
export function renderReport(report: GenerateReport): string {
  const lines = [
    `paddock generate: ${report.deployment}${report.variant ? ` (variant ${report.variant})` : ""} → ${report.outDir}`,
    `${report.units.length} unit(s), ${report.bundles.length} calf bundle(s); ${report.checks.length} checks: ${report.checks.filter((c) => c.status === "pass").length} passed, ${report.failed} failed, ${report.checks.filter((c) => c.status === "skipped").length} skipped`,
    "",
  ];
  for (const c of report.checks) lines.push(`${c.status.toUpperCase().padEnd(7)} ${c.subject}: ${c.rule} — ${c.how}${c.detail ? ` (${c.detail})` : ""}`);
  return `${lines.join("\n")}\n`;
}
