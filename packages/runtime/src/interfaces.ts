/**
 * Several interfaces in one priv (issue 13 A2): one ServiceHost per interface, each with its own
 * locks, stores, state directories, admin sockets, calves and handlers (so stopping or losing one
 * interface never touches another's configuration), and around them what a process has once:
 * one log (every line carries `iface`), one metrics endpoint (every sample gets an `iface`
 * label), one start and one stop.
 *
 * Start is all or nothing: the interfaces start side by side; if any cannot start, the others are
 * stopped again and the error names the interface (its own message otherwise unchanged). What the
 * host then reports per interface (a link that goes away and comes back) stays that host's.
 */
import type { Logger } from "pino";
import { calfNameFor } from "./calf-name.ts";
import type { EarlyCalf } from "./early.ts";
import { HostError, ServiceHost, type ServiceHostOptions } from "./host.ts";
import { checkMetricsAddress, Metrics, type MetricSource } from "./metrics.ts";
import { SdNotifier } from "./sd-notify.ts";
import { SystemdBridge } from "./systemd.ts";

/** The label every metric gets: the interface its host serves. */
export const IFACE_LABEL = "iface";

/** One interface's host, as the coordinator starts it (its log, metrics and systemd bridge are the coordinator's). */
export type InterfaceHostOptions = Omit<ServiceHostOptions, "log" | "metrics" | "early" | "systemd">;

/** Options of InterfaceHosts. */
export interface InterfaceHostsOptions {
  /** One entry per interface, each naming a different one. */
  readonly hosts: readonly InterfaceHostOptions[];
  /** Metrics address for all of them: a Unix socket path or a loopback HOST:PORT. */
  readonly metrics?: string;
  /** The process's log; each host logs through a child carrying its `iface`. */
  readonly log: Logger;
  /** A calf started early for one service on one of the interfaces: given to that host, discarded otherwise. */
  readonly early?: EarlyCalf;
}

/**
 * Every host's metrics as one set: a metric name served by several hosts becomes one metric whose
 * samples carry the host's interface in IFACE_LABEL.
 */
export function mergeInterfaceMetrics(hosts: ReadonlyArray<{ readonly iface: string; readonly metrics: Metrics }>): MetricSource[] {
  const byName = new Map<string, { first: MetricSource; parts: Array<{ iface: string; source: MetricSource }> }>();
  for (const h of hosts) {
    for (const source of h.metrics.list()) {
      const entry = byName.get(source.name) ?? { first: source, parts: [] };
      entry.parts.push({ iface: h.iface, source });
      byName.set(source.name, entry);
    }
  }
  return [...byName.values()].map(({ first, parts }) => ({
    name: first.name,
    help: first.help,
    type: first.type,
    labelNames: [...first.labelNames.filter((l) => l !== IFACE_LABEL), IFACE_LABEL],
    read: () => parts.flatMap(({ iface, source }) => source.read().map((s) => ({ labels: { ...s.labels, [IFACE_LABEL]: iface }, value: s.value }))),
  }));
}

/** Running hosts, one per interface, in one process. */
export class InterfaceHosts {
  private stopping: Promise<void> | undefined;

  private constructor(
    /** The hosts by interface, in the order given. */
    readonly hosts: ReadonlyMap<string, ServiceHost>,
    /** Every host's metrics, labelled with its interface (served on the `metrics` address, if any). */
    readonly metrics: Metrics,
    private readonly log: Logger,
    /** READY=1 once every interface's services are ready; STATUS=; the watchdog (./systemd.ts). */
    private readonly systemd: SystemdBridge,
  ) {}

  /** Starts a host per interface; if any fails, stops the others and throws (a HostError naming the interface). */
  static async start(opts: InterfaceHostsOptions): Promise<InterfaceHosts> {
    const ifaces = opts.hosts.map((h) => h.iface);
    // The early calf belongs to the host of its interface (any other host would discard it at its
    // stop); until that host has it, it is ours to discard.
    let early = opts.early;
    const discardEarly = async () => {
      const e = early;
      early = undefined;
      await e?.discard();
      e?.lock.release();
    };
    const earlyIface = early === undefined ? undefined : opts.hosts.find((h) => h.services.some((s) => calfNameFor(s.definition.name, h.iface) === early!.name))?.iface;
    if (earlyIface === undefined) await discardEarly();
    const metrics = new Metrics();
    try {
      if (ifaces.length === 0) throw new HostError("PADDOCK_E_HOST_NO_IFACE", "no interface to run on");
      const twice = ifaces.find((i, n) => ifaces.indexOf(i) !== n);
      if (twice !== undefined) throw new HostError("PADDOCK_E_HOST_DUPLICATE_IFACE", `the interface ${twice} is named twice`);
      const problem = opts.metrics === undefined ? null : checkMetricsAddress(opts.metrics);
      if (problem) throw new HostError("PADDOCK_E_HOST_METRICS", problem);
      // Listened on before anything on the system changes: a port in use is said before a lease is applied.
      if (opts.metrics !== undefined) {
        await metrics.listen(opts.metrics).catch((err: NodeJS.ErrnoException) => {
          throw new HostError("PADDOCK_E_HOST_METRICS", `cannot serve metrics on ${opts.metrics}: ${err.code === "EADDRINUSE" ? "the address is in use" : (err.code ?? err.message)}`, { cause: err });
        });
      }
    } catch (err) {
      await discardEarly();
      throw err;
    }
    const handOver = early;
    early = undefined;
    const coordinator = new Map<string, ServiceHost>();
    const readyTimeoutMs = opts.hosts.find((h) => h.readyTimeoutMs !== undefined)?.readyTimeoutMs;
    const systemd = new SystemdBridge({ notifier: SdNotifier.fromEnv(), log: opts.log, ...(readyTimeoutMs !== undefined ? { readyTimeoutMs } : {}), healthy: () => [...coordinator.values()].every((h) => h.healthy()) });
    // The ready timeout and the watchdog run from here, also while a host waits for its interface.
    systemd.expect(opts.hosts.flatMap((h) => h.services.map((s) => ({ service: s.definition.name, iface: h.iface }))));
    systemd.start();
    const results = await Promise.allSettled(
      opts.hosts.map((h) => ServiceHost.start({ ...h, systemd, log: opts.log.child({ iface: h.iface }), ...(handOver !== undefined && h.iface === earlyIface ? { early: handOver } : {}) })),
    );
    const failed = results.flatMap((r, n) => (r.status === "rejected" ? [{ iface: ifaces[n]!, err: r.reason as unknown }] : []));
    results.forEach((r, n) => {
      if (r.status === "fulfilled") coordinator.set(ifaces[n]!, r.value);
    });
    if (failed.length > 0) {
      systemd.stop();
      await Promise.all([...coordinator.values()].map((h) => h.stop().catch(() => {})));
      await metrics.close();
      if (ifaces.length === 1) throw failed[0]!.err;
      // A user's error is said as one, naming the interface; anything else is a bug, thrown as it is.
      const first = failed.find((f) => f.err instanceof HostError) ?? failed[0]!;
      for (const f of failed) if (f !== first) opts.log.error({ iface: f.iface, err: (f.err as Error).message }, `${f.iface} could not start either`);
      if (!(first.err instanceof HostError)) throw first.err;
      const e = first.err;
      throw new HostError(e.code, `${first.iface}: ${e.message}${failed.length > 1 ? ` (and ${failed.length - 1} more interface${failed.length > 2 ? "s" : ""}: ${failed.filter((f) => f !== first).map((f) => f.iface).join(", ")})` : ""}; no interface was started`, { cause: e });
    }
    const hosts = new InterfaceHosts(coordinator, metrics, opts.log, systemd);
    for (const source of mergeInterfaceMetrics([...coordinator].map(([iface, h]) => ({ iface, metrics: h.metrics })))) metrics.add(source);
    return hosts;
  }

  /** Stops every host (side by side: each finishes its own stop work), then the metrics endpoint. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.systemd.stop();
      await Promise.all([...this.hosts].map(([iface, h]) => h.stop().catch((err: Error) => this.log.error({ iface, err: err.message }, `stopping ${iface} failed`))));
      await this.metrics.close();
    })();
    return this.stopping;
  }
}
