/**
 * A priv run from a deployment file, that `paddock apply NEW.yaml` changes while it runs
 * (Bottlerocket's host-containers, applied to services): `paddock serve DEPLOYMENT`.
 *
 * The priv runs one service host per *group*: the services of one interface that read each
 * other's keys (the NTP service reads the DHCP lease's servers) share a host, the others get one
 * each. An apply compares the new deployment with what runs, group by group:
 *   - a group no longer wanted is stopped (its calves, channels, tc programs, locks);
 *   - a new group is started;
 *   - a group whose settings changed is reloaded (the reload machinery: live options change in
 *     place, ../reload.ts), and restarted only when an option that cannot change live did, or
 *     its user data did;
 *   - every other group, and so every other calf, is left alone.
 * Each service's `user-data` is written to USER_DATA_DIR/SERVICE/user-data (directory 0700, file
 * 0600) before its group starts. A group that fails to start is reported, and the others stay up:
 * the outcome says "N of M services failed".
 *
 * `paddock apply` hands the new file over through the runtime directory (request.json, then
 * SIGHUP to the process holding serve.pid, as `paddock reload` signals a priv) and reads the
 * outcome back from result.json.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { HostError, replaceFileAtomic, SdNotifier, serviceCapabilities, ServiceHost, SystemdBridge, type CapabilityName, type HostedService } from "@paddock/runtime";
import type { ResolvedService } from "../generate/index.ts";
import { generatedBundleDir } from "../commands/run.ts";

/** A set of services on one interface that runs in one service host. */
export interface ServiceGroup {
  /** "eth0:dhcp4+ntp": stable across applies while the services and interface are the same. */
  readonly key: string;
  readonly iface: string;
  readonly services: readonly ResolvedService[];
  /** A digest of everything that needs a restart when it changes (the services' user data). */
  readonly userDataDigest: string;
}

/**
 * The groups of a deployment: per interface, services joined when one reads another's keys
 * (ServiceDefinition.inputs), the rest alone; in file order.
 */
export function serviceGroups(services: readonly ResolvedService[]): ServiceGroup[] {
  const ifaces: string[] = [];
  for (const s of services) for (const i of s.interfaces) if (!ifaces.includes(i)) ifaces.push(i);
  const groups: ServiceGroup[] = [];
  for (const iface of ifaces) {
    const here = services.filter((s) => s.interfaces.includes(iface));
    // Union-find over "reads the keys of".
    const parent = new Map(here.map((s) => [s.name, s.name] as const));
    const find = (n: string): string => (parent.get(n) === n ? n : find(parent.get(n)!));
    for (const s of here) for (const input of s.definition.inputs ?? []) if (parent.has(input.service)) parent.set(find(s.name), find(input.service));
    const byRoot = new Map<string, ResolvedService[]>();
    for (const s of here) byRoot.set(find(s.name), [...(byRoot.get(find(s.name)) ?? []), s]);
    for (const members of byRoot.values()) {
      const digest = createHash("sha256").update(JSON.stringify(members.map((m) => [m.name, m.userData ?? null]))).digest("hex");
      groups.push({ key: `${iface}:${members.map((m) => m.name).join("+")}`, iface, services: members, userDataDigest: digest });
    }
  }
  return groups;
}

/** What happened to one service on one interface in an apply. */
export interface ServiceOutcome {
  readonly service: string;
  readonly iface: string;
  readonly outcome: "started" | "stopped" | "restarted" | "reloaded" | "unchanged" | "failed";
  readonly detail?: string;
}

/** The outcome of an apply (result.json). */
/** What an apply with failures says: the others run, or (all failed) serve waits for the next apply. */
export function failedSummary(failed: number, total: number): string {
  return `${failed} of ${total} services failed; ${failed < total ? "the others run" : "none runs, and paddock serve waits for the next apply"}`;
}

export interface ApplyResult {
  readonly generation: number;
  readonly file: string;
  readonly services: readonly ServiceOutcome[];
  /** Services wanted by the deployment (M of "N of M"). */
  readonly total: number;
  readonly failed: number;
}

/** Where a serving priv keeps its files, and how it runs its hosts. */
export interface ServeOptions {
  readonly runtimeDir: string;
  /** Parent of each group's state directories (STATE/IFACE/SERVICE). */
  readonly stateDir: string;
  /** Per-service user data: USER_DATA_DIR/SERVICE/user-data. */
  readonly userDataDir: string;
  /** Generated calf bundles (paddock generate), or undefined to let the priv write them. */
  readonly bundleDir?: string;
  /** A service's Node calf (the engine of a deployment's calves). */
  readonly calfScript: (service: ResolvedService) => string;
  readonly log: Logger;
  readonly calfLogLevel: "debug" | "info" | "warn" | "error";
  readonly readyTimeoutMs?: number;
  /** calf-launch: external — the calves are started outside the priv and connect as this uid. */
  readonly externalCalves?: { readonly uid: number };
}

/** The running groups of a serving priv; `apply` moves them to a new deployment's. */
export class ServedDeployment {
  private readonly running = new Map<string, { group: ServiceGroup; host: ServiceHost }>();
  private readonly systemd: SystemdBridge;
  private generation = 0;
  /** The capabilities the sandboxed priv kept; undefined before the sandbox or without one. */
  private kept: ReadonlySet<CapabilityName> | undefined;

  constructor(private readonly opts: ServeOptions) {
    this.systemd = new SystemdBridge({ notifier: SdNotifier.fromEnv(), log: opts.log, ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}), healthy: () => [...this.running.values()].every((r) => r.host.healthy()) });
  }

  /** The first deployment: READY=1 once its services are ready (or the ready timeout). */
  async start(file: string, services: readonly ResolvedService[]): Promise<ApplyResult> {
    this.systemd.expect(services.flatMap((s) => s.interfaces.map((iface) => ({ service: s.name, iface }))));
    this.systemd.start();
    return this.apply(file, services);
  }

  /**
   * Moves the running groups to `services` (see the module comment); never throws for a group that
   * fails, but throws, changing nothing, when the services need a capability the sandbox dropped.
   */
  async apply(file: string, services: readonly ResolvedService[]): Promise<ApplyResult> {
    const missing = this.missingCapabilities(services);
    if (missing.length > 0) throw new Error(missing.join("; "));
    const generation = ++this.generation;
    const wanted = serviceGroups(services);
    const outcomes: ServiceOutcome[] = [];
    const each = (g: ServiceGroup, outcome: ServiceOutcome["outcome"], detail?: string) => {
      for (const s of g.services) outcomes.push({ service: s.name, iface: g.iface, outcome, ...(detail !== undefined ? { detail } : {}) });
    };
    // Disabled first: what goes away frees its locks and slots before anything new starts.
    for (const [key, r] of [...this.running]) {
      if (wanted.some((g) => g.key === key)) continue;
      await this.stopGroup(key);
      each(r.group, "stopped");
    }
    // Groups to start, side by side once the rest is settled (each waits for its calves).
    const starts: Array<{ group: ServiceGroup; as: "started" | "restarted" }> = [];
    for (const g of wanted) {
      const current = this.running.get(g.key);
      if (!current) {
        starts.push({ group: g, as: "started" });
        continue;
      }
      const settingsNow = JSON.stringify(current.group.services.map((s) => s.settings));
      const settingsNext = JSON.stringify(g.services.map((s) => s.settings));
      if (settingsNow === settingsNext && current.group.userDataDigest === g.userDataDigest) {
        each(g, "unchanged");
        continue;
      }
      let restart = current.group.userDataDigest !== g.userDataDigest;
      if (!restart) {
        try {
          const outcome = await current.host.reload(new Map(g.services.map((s) => [s.name, s.settings])));
          restart = outcome.needRestart.length > 0;
          if (!restart) {
            this.running.set(g.key, { group: g, host: current.host });
            each(g, "reloaded", outcome.applied.join(", ") || undefined);
            continue;
          }
        } catch (err) {
          each(g, "failed", (err as Error).message);
          continue;
        }
      }
      await this.stopGroup(g.key);
      starts.push({ group: g, as: "restarted" });
    }
    const errors = await Promise.all(starts.map((x) => this.startGroup(x.group)));
    starts.forEach((x, n) => each(x.group, errors[n] === undefined ? x.as : "failed", errors[n]));
    const total = outcomes.filter((o) => o.outcome !== "stopped").length;
    const failed = outcomes.filter((o) => o.outcome === "failed").length;
    const result: ApplyResult = { generation, file, services: outcomes, total, failed };
    this.opts.log[failed > 0 ? "error" : "info"]({ generation, outcomes: outcomes.map((o) => `${o.service}@${o.iface}: ${o.outcome}`) }, failed > 0 ? failedSummary(failed, total) : `applied: ${total} services`);
    return result;
  }

  /**
   * The priv has given up every capability but `kept` (its sandbox, after the first deployment
   * started): a later apply whose services need more is refused whole, with a sentence saying
   * so, since a capability dropped from the bounding set cannot come back.
   */
  keepCapabilities(kept: readonly CapabilityName[]): void {
    this.kept = new Set(kept);
  }

  /** What `services` need that the sandboxed priv no longer has, one sentence per service. */
  private missingCapabilities(services: readonly ResolvedService[]): string[] {
    const kept = this.kept;
    if (!kept) return [];
    return services.flatMap((s) => {
      const missing = serviceCapabilities(s.definition, s.settings).filter((c) => !kept.has(c));
      return missing.length === 0 ? [] : [`${s.name} needs ${missing.join(", ")}, which this priv gave up when it sandboxed itself after its first deployment started (restart paddock serve with a deployment that has it)`];
    });
  }

  /** Stops every group. */
  async stop(): Promise<void> {
    this.systemd.stop();
    await Promise.all([...this.running.keys()].map((k) => this.stopGroup(k)));
  }

  private async stopGroup(key: string): Promise<void> {
    const r = this.running.get(key);
    this.running.delete(key);
    await r?.host.stop().catch((err: Error) => this.opts.log.error({ group: key, err: err.message }, `stopping ${key} failed`));
  }

  /** Starts a group; resolves with the reason when it cannot (the other groups are not touched). */
  private async startGroup(g: ServiceGroup): Promise<string | undefined> {
    const o = this.opts;
    try {
      for (const s of g.services) {
        if (s.userData === undefined) continue;
        const dir = path.join(o.userDataDir, s.name);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chmod(dir, 0o700);
        await replaceFileAtomic(path.join(dir, "user-data"), s.userData, 0o600);
      }
      const host = await ServiceHost.start({
        iface: g.iface,
        runtimeDir: o.runtimeDir,
        services: g.services.map((s): HostedService => ({
          definition: s.definition,
          calfScript: o.calfScript(s),
          // A deployment's calves are Node calves, as paddock generate writes their bundles and units (decision 0010).
          calfEngine: "node",
          stateDir: path.join(o.stateDir, g.iface, s.name),
          adminSocket: path.join(o.runtimeDir, `${s.name}-${g.iface}.sock`),
          options: s.settings,
          ...(o.bundleDir !== undefined ? { bundleDir: generatedBundleDir(o.bundleDir, s.name, g.iface) } : {}),
        })),
        log: o.log.child({ iface: g.iface }),
        calfLogLevel: o.calfLogLevel,
        systemd: this.systemd,
        ...(o.externalCalves ? { externalCalves: o.externalCalves } : {}),
      });
      this.running.set(g.key, { group: g, host });
      return undefined;
    } catch (err) {
      const message = (err as Error).message;
      o.log.error({ group: g.key, ...(err instanceof HostError ? { code: err.code } : {}) }, `${g.key} could not start: ${message}`);
      return message;
    }
  }
}

/** Writes a file readable only by root, atomically (request.json, result.json). */
export async function writePrivate(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await replaceFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, 0o600);
}
