/**
 * The service host: one priv process running one or more services on one interface, each from
 * its `defineService()` definition, in the start-up order of docs/architecture.md:
 *
 *   0. (optional) a calf started early by the CLI, adopted here (./early.ts)
 *   1. preflight: root, the container runtime (runc or crun), calf bundles, directories — everything a user can get wrong,
 *      checked before anything changes; then the pid locks (one per service and interface, one
 *      per state directory)
 *   1a. the interface (./link-watch.ts): waited for if absent, set up if down
 *   2. per service: its store, the keys the priv writes before the calf starts (one commit)
 *   3. per service: its channels — tc egress program in the service's own slot (a dead owner's
 *      leftover removed first), the filtered, locked, marked packet socket and/or the marked
 *      UDP socket — and the relay with its egress checks
 *   4. the calves (one supervisor), each with its KV connection and data channel
 *   5. per service: the handler runner, reconciling from the persisted store at once
 *   6. per service: the admin socket; then metrics
 *
 * Then link events, one at a time: a change is told to the calves and the services' hooks; the
 * interface's deletion closes its parts (channels, tc programs, handler runners) while the calves
 * wait; its re-creation runs 2 (setup), 3 and 5 again for the new index, and restarts a calf whose
 * MAC changed.
 *
 * `stop()` undoes all of it in reverse. Nothing here names a service: what differs between
 * services reaches the host only through their definitions.
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { KvServer, KvStore, matchesPattern, parseKvPath, type KvCaller, type ServiceSchema } from "@paddock/kv";
import {
  compileSocketFilter,
  EgressPolicy,
  isNativeError,
  openPacketSocket,
  openUdpSocket,
  removeEgressFilter,
  socketMatchProtocol,
  type PacketSocket,
  type UdpSocket,
} from "@paddock/native";
import { openRtnetlink, type Link, type RtnetlinkClient } from "@paddock/netlink";
import { calfNameFor, interfaceLockFile } from "./calf-name.ts";
import { datagramEgress, packetEgress } from "./datapath/egress.ts";
import { DataPathRelay, type RelayChannels } from "./datapath/relay.ts";
import { calfTarget, type EarlyCalf } from "./early.ts";
import { takeListenFds } from "./sandbox/listen-fds.ts";
import { resolveContainerRuntime, type ContainerRuntime, type ContainerRuntimeChoice } from "./sandbox/container-runtime.ts";
import { foreignWriteAccess } from "./handlers/files.ts";
import { HandlerRunner } from "./handlers/reconciler.ts";
import { hookMetrics, HookTrigger } from "./hooks.ts";
import { LinkLocalError, waitForLinkLocal } from "./link-local.ts";
import { linkState, LinkWaitAborted, LinkWatch, type LinkState } from "./link-watch.ts";
import { checkMetricsAddress, Metrics } from "./metrics.ts";
import { acquirePidLock, LockedError, type PidLock } from "./pid-lock.ts";
import { parseCalfName, type CalfName } from "./sandbox/bundle.ts";
import {
  parseServiceOptions,
  ServiceOptionError,
  type OptionDefinition,
  type OptionValues,
  type ServiceDefinition,
  type ServiceInterface,
  type ServiceSetup,
  type SetupContext,
} from "./service.ts";
import type { HandlerLogger } from "./handlers/reconciler.ts";
import { reloadServices, type ReloadOutcome } from "./reload.ts";
import { Supervisor } from "./supervisor.ts";
import { SdNotifier } from "./sd-notify.ts";
import { calvesHealthy, readinessSource, SystemdBridge, type ReadinessSource } from "./systemd.ts";
import { serviceInfo } from "./admin-info.ts";
import { calfEngineOf, calfFileMismatch, type CalfEngine } from "./sandbox/engine.ts";
import { logStartPhase } from "./start-phases.ts";

/** A failure the user can fix: the message is one sentence for the terminal. */
export class HostError extends Error {
  override readonly name = "HostError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One service to run, and where. */
export interface HostedService {
  readonly definition: ServiceDefinition<any>;
  /** The calf's bundled script (built from definition.calf.entry); on QuickJS, its static executable. */
  readonly calfScript: string;
  /** The engine the calf runs on, when the operator chose one (`--calf-engine`): else the definition's `calf.engine`, else Node. */
  readonly calfEngine?: CalfEngine;
  /** Option settings (NAME → value), checked against the definition's options. */
  readonly options?: Readonly<Record<string, string | boolean | number>>;
  /** Store, audit log and handler records (default /var/lib/paddock/SERVICE-IFACE). */
  readonly stateDir: string;
  /** The operators' KV socket, mode 0600. */
  readonly adminSocket: string;
  /**
   * A calf bundle written beforehand (`paddock generate`'s bundles/SERVICE-IFACE): run as it is,
   * instead of the bundle the priv would write. It must hold config.json.
   */
  readonly bundleDir?: string;
}

/** Options of a service host. */
export interface ServiceHostOptions {
  readonly iface: string;
  /** Parent of the calf bundles, runc's state and the locks (e.g. /run/paddock). */
  readonly runtimeDir: string;
  readonly services: readonly HostedService[];
  /** Metrics address: a Unix socket path or a loopback HOST:PORT. */
  readonly metrics?: string;
  readonly log: Logger;
  /** The calves' log level (their lines go through the priv's log). */
  readonly calfLogLevel?: "debug" | "info" | "warn" | "error";
  /**
   * Set the interface up when it is administratively down, at start and whenever it (re)appears
   * (default true, as dhcpcd and systemd-networkd do); false leaves that to the administrator.
   */
  readonly linkUp?: boolean;
  /** Aborts a start that is waiting for its interface (HostError PADDOCK_E_HOST_STOPPED): SIGTERM before it appeared. */
  readonly signal?: AbortSignal;
  /** A calf started early (./early.ts) for one of the services: adopted, or discarded if the host cannot start. */
  readonly early?: EarlyCalf;
  /** systemd: READY=1 anyway after this long when a service is not ready (./systemd.ts; default 30 s). */
  readonly readyTimeoutMs?: number;
  /** The process's systemd bridge, shared by every host in it (InterfaceHosts); without it the host has its own. */
  readonly systemd?: SystemdBridge;
  /** The runc binary (when runc runs the calves). */
  readonly runc?: string;
  /** Which container runtime runs the calves (./sandbox/container-runtime.ts); default auto: crun where it works, runc otherwise. */
  readonly containerRuntime?: ContainerRuntimeChoice;
  /**
   * Calves started outside the priv (their own systemd units, `--calf-launch external`): no
   * container runtime; each calf connects as `uid` to RUNTIME_DIR/calves/NAME.sock or to the
   * socket systemd hands over (./sandbox/external.ts, docs/decisions/0013-external-calves.md).
   */
  readonly externalCalves?: { readonly uid: number };
}

/** The socket mark, tc handle and tc priority of a service: its own, so services coexist on one link. */
export interface ServiceSlot {
  readonly mark: number;
  readonly handle: number;
  readonly priority: number;
}

/** FNV-1a, 32 bits: a stable hash of a service name. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * A service's slot, derived from its name so that separate priv processes on one interface agree
 * without talking: mark and tc handle 0x9a000000 | 24 bits of the name's hash (0x9a: "paddock";
 * nothing else on a host is expected to use marks in that range), priority 0x4000 + 12 bits.
 * Two names that collide are refused when they meet (one host) or when the second attaches (EEXIST).
 */
export function serviceSlot(service: string): ServiceSlot {
  const h = fnv1a(service);
  const mark = (0x9a000000 | (h & 0x00ffffff)) >>> 0;
  return { mark, handle: mark, priority: 0x4000 + (h >>> 20) };
}

const PRIV: KvCaller = { role: "priv", name: "priv" };
const enc = new TextEncoder();

/** Where a reader finds another service's key: "/ntp/001" of dhcp4 is "/input/dhcp4/ntp/001". */
export function inputPath(service: string, path: string): string {
  return `/input/${service}${path}`;
}

/** What a service's `setup` gets, over its store (the host's, or `paddock calf dev`'s). */
export function setupContext<O extends Readonly<Record<string, OptionDefinition>>>(
  store: KvStore,
  ctx: { iface: ServiceInterface; options: OptionValues<O>; stateDir: string; runtimeDir?: string; log: HandlerLogger },
): SetupContext<O> {
  return {
    ...ctx,
    store: {
      get: (p) => store.values.get(p),
      get parsed() {
        return store.parsed;
      },
    },
    records: store,
    commit: (changes, opts) => commitAsPriv(store, changes, opts),
  };
}

/** Writes keys with the priv's rights as one commit (null: delete); rejects with the store's KvError. */
async function commitAsPriv(store: KvStore, changes: Readonly<Record<string, string | null>>, opts?: { withNextPersist?: boolean }): Promise<void> {
  const r = await store.commit(PRIV, Object.entries(changes).map(([k, v]) => ({ path: k.split("/").filter(Boolean), value: v === null ? null : enc.encode(v) })), opts);
  if (!r.ok) throw r.error;
}

/** Everything one running service holds. */
interface Instance {
  readonly hosted: HostedService;
  readonly def: ServiceDefinition<any>;
  readonly name: CalfName;
  readonly slot: ServiceSlot;
  readonly locks: PidLock[];
  store?: KvStore;
  kv?: KvServer;
  relay?: DataPathRelay;
  runner?: HandlerRunner;
  /** The administrator's hooks on this service's events (when its setup declares them). */
  hooks?: HookTrigger;
  setup?: ServiceSetup;
  /** The option values it runs with (a reload replaces the live ones). */
  options?: OptionValues<any>;
  packet?: PacketSocket;
  udp?: UdpSocket;
  egress?: EgressPolicy;
  connected: boolean;
}

/**
 * Refuses a state or runtime directory that someone other than the priv's `uid` can change: its
 * owner, or anyone in its group or others, could plant a symlink where the priv writes, replace the
 * store or an ownership record, or swap a calf's bundle. 0711 (others traverse, nobody else
 * writes) is fine; an absent directory is too (the priv creates it). Only the directory itself is
 * checked: its parents are the administrator's choice (/var/lib, /run), as for any daemon.
 */
function refuseForeignDir(dir: string, what: string, uid: number): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return; // Absent (created next), or not usable: the writability check says so.
  }
  if (!st.isDirectory()) return;
  const why = foreignWriteAccess(st, uid);
  if (why?.kind === "owner") {
    throw new HostError("PADDOCK_E_HOST_DIR_OWNER", `the ${what} ${dir} belongs to uid ${why.owner}, so that user could change the priv's files in it; chown root ${dir}, or choose another directory`);
  }
  if (why?.kind === "mode") {
    throw new HostError("PADDOCK_E_HOST_DIR_MODE", `the ${what} ${dir} is writable by group or others (mode ${why.mode.toString(8).padStart(4, "0")}), so they could change the priv's files in it; chmod go-w ${dir}, or choose another directory`);
  }
}

/** A service's option settings parsed by its declarations; a bad value is the user's to fix. */
function hostedOptions(hosted: HostedService): OptionValues<any> {
  try {
    return parseServiceOptions(hosted.definition, hosted.options ?? {});
  } catch (err) {
    if (err instanceof ServiceOptionError) throw new HostError(err.code, err.message);
    throw err;
  }
}

/** Refuses to go on unless root: what every command that runs services checks first. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new HostError("PADDOCK_E_HOST_NOT_ROOT", "paddock must run as root to run a service: it opens packet sockets, configures the interface and starts sandboxed calves");
}

/** Checks what a user can get wrong, before anything is changed (and before waiting for the interface). */
function preflight(opts: ServiceHostOptions): ContainerRuntime {
  requireRoot();
  if (opts.services.length === 0) throw new HostError("PADDOCK_E_HOST_NO_SERVICE", "no service to run");
  const metricsProblem = opts.metrics === undefined ? null : checkMetricsAddress(opts.metrics);
  if (metricsProblem) throw new HostError("PADDOCK_E_HOST_METRICS", metricsProblem);
  const names = new Set<string>();
  const slots = new Map<number, string>();
  for (const s of opts.services) {
    const name = s.definition.name;
    if (names.has(name)) throw new HostError("PADDOCK_E_HOST_DUPLICATE", `the service ${name} is named twice`);
    names.add(name);
    const mark = serviceSlot(name).mark;
    const other = slots.get(mark);
    if (other) throw new HostError("PADDOCK_E_HOST_SLOT", `the services ${other} and ${name} hash to the same socket mark; rename one`);
    slots.set(mark, name);
    if (!existsSync(s.calfScript)) throw new HostError("PADDOCK_E_HOST_NO_CALF", `the calf bundle of ${name}, ${s.calfScript}, is missing; build it first (make setup for the built-in services, paddock build for yours)`);
    const mismatch = calfFileMismatch(name, s.calfScript, calfEngineOf(s));
    if (mismatch) throw new HostError("PADDOCK_E_HOST_NO_CALF", mismatch);
    if (s.bundleDir !== undefined && !existsSync(path.join(s.bundleDir, "config.json"))) throw new HostError("PADDOCK_E_HOST_NO_BUNDLE", `the calf bundle directory of ${name}, ${s.bundleDir}, has no config.json; write it with paddock generate, or leave the bundle to the priv`);
    for (const input of s.definition.inputs ?? []) {
      if (!opts.services.some((o) => o.definition.name === input.service)) {
        opts.log[input.optional ? "debug" : "warn"]({ service: name, input: input.service }, `${name} reads keys of ${input.service}, which this priv does not run; those inputs stay empty`);
      }
    }
  }
  // External calves need no container runtime: the host keeps its placeholder, which nothing runs.
  const runtime = opts.externalCalves ? ({ ok: true, value: { name: "runc", argv: ["runc"] } } as const) : resolveContainerRuntime(opts.containerRuntime ?? "auto", opts.runc ? { runc: opts.runc } : {});
  if (!runtime.ok) throw new HostError(runtime.error.code, runtime.error.message);
  const dirs: Array<[string, string]> = [[opts.runtimeDir, "runtime directory"], ...opts.services.map((s) => [s.stateDir, `state directory of ${s.definition.name}`] as [string, string])];
  const uid = process.getuid?.() ?? 0;
  for (const [dir, what] of dirs) {
    // Checked before it is created or changed (the runtime directory is chmod'ed below, which would
    // hide a group/other write bit), and again once it exists.
    refuseForeignDir(dir, what, uid);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!statSync(dir).isDirectory()) throw new Error("not a directory");
      accessSync(dir, constants.W_OK);
    } catch (err) {
      throw new HostError("PADDOCK_E_HOST_STATE_DIR", `the ${what} ${dir} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    refuseForeignDir(dir, what, uid);
  }
  // The calf's user namespace maps it to an unprivileged host uid, and runc mounts its rootfs
  // from under the runtime directory: every directory on the way must be traversable by others.
  chmodSync(opts.runtimeDir, 0o711);
  for (let dir = path.resolve(opts.runtimeDir); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new HostError("PADDOCK_E_HOST_RUNTIME_DIR", `the runtime directory ${opts.runtimeDir} must be reachable by the calf's unprivileged user, but ${dir} is not searchable by others (chmod o+x ${dir}, or choose another --runtime-dir)`);
    }
    if (dir === path.dirname(dir)) break;
  }
  for (const s of opts.services) {
    if (!existsSync(path.dirname(s.adminSocket))) mkdirSync(path.dirname(s.adminSocket), { recursive: true, mode: 0o755 });
  }
  return runtime.value;
}

/** One lock per service and interface (in its network namespace), one per state directory. */
function takeLocks(opts: ServiceHostOptions, hosted: HostedService): PidLock[] {
  const service = hosted.definition.name;
  const early = opts.early && opts.early.name === calfNameFor(service, opts.iface) ? opts.early : undefined;
  const wanted: Array<[string, string]> = [
    [path.join(hosted.stateDir, "paddock.pid"), `the state directory ${hosted.stateDir} is in use`],
  ];
  // The early start took the interface's lock already; it is ours now.
  const held: PidLock[] = early ? [early.lock] : [];
  if (!early) wanted.unshift([interfaceLockFile(opts.runtimeDir, service, opts.iface), `the service ${service} is already running on ${opts.iface}`]);
  try {
    for (const [file, what] of wanted) {
      try {
        held.push(acquirePidLock(file));
      } catch (err) {
        if (err instanceof LockedError) throw new HostError("PADDOCK_E_HOST_ALREADY_RUNNING", `${what} (process ${err.pid}, lock ${err.file})`);
        throw new HostError("PADDOCK_E_HOST_LOCK", `cannot create the lock file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  } catch (err) {
    for (const l of held) if (l !== early?.lock) l.release();
    throw err;
  }
  return held;
}

/** A running priv hosting services on one interface. */
export class ServiceHost {
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  private readonly instances: Instance[] = [];
  private supervisor: Supervisor | undefined;
  private stopping: Promise<void> | undefined;
  private adopted = false;
  /** What belongs to the interface as it is now (channels, handler runners): closed when it goes. */
  private ifaceParts: Array<() => Promise<void> | void> = [];
  /** The interface's MAC as the services were set up with it (a re-created interface may differ). */
  private ifaceMac: string | undefined;
  readonly metrics = new Metrics();

  /** The container runtime the calves run under, chosen by preflight. */
  private runtime: ContainerRuntime = { name: "runc", argv: ["runc"] };

  private constructor(readonly opts: ServiceHostOptions) {}

  /** Starts the host; on failure undoes whatever it had done and throws (a HostError if the user can fix it). */
  static async start(opts: ServiceHostOptions): Promise<ServiceHost> {
    const host = new ServiceHost(opts);
    // An early calf the supervisor has not taken over (the start failed before) is stopped and
    // removed; one it took over is stopped by the supervisor.
    host.cleanups.push(async () => {
      if (host.adopted || !opts.early) return;
      await opts.early.discard();
      opts.early.lock.release();
    });
    try {
      host.runtime = preflight(opts);
      logStartPhase(opts.log, "preflight done");
      for (const hosted of opts.services) {
        const def = hosted.definition;
        const name = parseCalfName(calfNameFor(def.name, opts.iface));
        if (!name.ok) throw new HostError("PADDOCK_E_HOST_IFACE", `cannot name the calf of ${def.name} on ${opts.iface}: ${name.error.message}`);
        // Before anything that removes "leftovers": a live host's state is not left over.
        const locks = takeLocks(opts, hosted);
        host.cleanups.push(() => {
          for (const l of locks) l.release();
        });
        host.instances.push({ hosted, def, name: name.value, slot: serviceSlot(def.name), locks, connected: false, options: hostedOptions(hosted) });
      }
      logStartPhase(opts.log, "locks taken");
      // The metrics endpoint before anything on the system changes: a port in use or an
      // unwritable socket path is the user's to fix, and is said before a lease is applied.
      if (opts.metrics) {
        try {
          await host.metrics.listen(opts.metrics);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          throw new HostError("PADDOCK_E_HOST_METRICS", `cannot serve metrics on ${opts.metrics}: ${e.code === "EADDRINUSE" ? "the address is in use" : (e.code ?? e.message)}`, { cause: err });
        }
        host.cleanups.push(() => host.metrics.close());
      }
      await host.startParts();
      return host;
    } catch (err) {
      await host.stop().catch(() => {});
      throw err;
    }
  }

  /** Healthy enough for a systemd watchdog ping: running, and no calf crash-looping (./systemd.ts). */
  healthy(): boolean {
    return this.stopping === undefined && (this.supervisor === undefined || calvesHealthy(this.supervisor.statuses(), this.supervisor.backoff.maxMs));
  }

  /** The store of a hosted service (for tests, `paddock lab` and the admin view). */
  store(service: string): KvStore | undefined {
    return this.instances.find((i) => i.def.name === service)?.store;
  }

  /** The handler runner of a hosted service. */
  runner(service: string): HandlerRunner | undefined {
    return this.instances.find((i) => i.def.name === service)?.runner;
  }

  /** The host pid of a service's calf (for tests and `paddock lab`). */
  calfPid(service: string): Promise<number | undefined> {
    const i = this.instances.find((x) => x.def.name === service);
    return i && this.supervisor ? this.supervisor.calfPid(i.name) : Promise.resolve(undefined);
  }

  private async startParts(): Promise<void> {
    const { opts } = this;
    const log = opts.log;
    const phase = (name: string) => logStartPhase(log, name);

    // The interface: waited for if it does not exist yet, set up if it is down (./link-watch.ts).
    const nl: RtnetlinkClient = openRtnetlink({ events: true });
    this.cleanups.push(() => nl.close());
    const watch = new LinkWatch({ netlink: nl, iface: opts.iface, log, bringUp: opts.linkUp !== false });
    this.cleanups.push(() => watch.close());
    // A calf started early would only time out waiting for its store while the interface is
    // absent: it goes, and the supervisor starts one once the interface is there.
    let earlyDiscarded = false;
    const discardEarly = async () => {
      earlyDiscarded = opts.early !== undefined;
      await opts.early?.discard();
    };
    const link = await watch.waitForLink(opts.signal, discardEarly).catch((err: unknown) => {
      throw err instanceof LinkWaitAborted ? new HostError("PADDOCK_E_HOST_STOPPED", err.message) : err;
    });
    const { iface, mac } = this.interfaceOf(link);
    phase("interface checked");

    // 2. Stores, setup, and the keys the priv writes before the calf starts.
    for (const i of this.instances) {
      const def = i.def;
      const schema: ServiceSchema = { name: def.name, description: def.description, entries: def.schema.entries, maxTotalBytes: def.schema.maxTotalBytes };
      try {
        i.store = new KvStore({ schema, stateDir: i.hosted.stateDir, log: log.child({ component: "kv", service: def.name }) });
      } catch (err) {
        throw new HostError("PADDOCK_E_HOST_STORE", `cannot open the store of ${def.name} in ${i.hosted.stateDir}: ${(err as Error).message}`, { cause: err });
      }
      const store = i.store;
      this.cleanups.push(() => store.close());
    }
    for (const i of this.instances) await this.setupService(i, iface);
    await this.mirrorInputs();
    phase("stores open");

    // 3. Channels: tc egress program first (a dead owner's leftover removed), then the sockets.
    await this.linkLocalReady(link.index);
    for (const i of this.instances) {
      const channels = this.openChannels(i, mac, link.index);
      const relay = new DataPathRelay(i.name, channels, log.child({ component: "datapath", service: i.def.name }), i.def.calf.sendRate);
      i.relay = relay;
      this.cleanups.push(() => relay.detach());
    }
    // The interface's channels and runners close with the host (or earlier, when it goes).
    this.cleanups.push(() => this.closeInterfaceParts());
    let linkNow: LinkState = linkState(link);
    phase("data path ready");

    // 4. The calves, as early as possible (runc and Node take tens of ms).
    let connection = 0;
    // READY=1, STATUS= and the watchdog (./systemd.ts); the supervisor sends STOPPING=1.
    const systemd = opts.systemd ?? new SystemdBridge({ notifier: SdNotifier.fromEnv(), log, ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}), healthy: () => this.healthy() });
    if (!opts.systemd) this.cleanups.push(() => systemd.stop());
    const target = calfTarget(opts.runtimeDir, this.runtime);
    const supervisor = new Supervisor({
      ...target,
      ...(opts.externalCalves ? { external: { socketDir: target.runtimeDir, uid: opts.externalCalves.uid, listenFds: takeListenFds() } } : {}),
      logger: log,
      notifier: systemd.notifier,
      onStart: (calf, channels) => {
        const i = this.instances.find((x) => x.name === calf);
        if (!i) return;
        i.kv!.serve(channels.control, { role: "calf", name: `calf:${calf}#${++connection}` });
        i.relay!.attach(channels.data);
        i.relay!.sendLink(linkNow);
        // A service without its own readiness is ready once its calf's first request came through.
        channels.control.once("data", () => {
          if (i.connected) return;
          i.connected = true;
          systemd.calfSpoke(`${i.def.name}-${opts.iface}`);
        });
      },
    });
    this.supervisor = supervisor;
    const readinessSources: ReadinessSource[] = [];
    for (const i of this.instances) {
      // `info` on the admin socket: what `paddock status` shows beside the store (./admin-info.ts).
      const readiness = readinessSource(i.def, opts.iface, i.store!, () => i.runner);
      readinessSources.push(readiness);
      const info = () => serviceInfo({ service: i.def.name, iface: opts.iface, readiness: readiness.evaluate(), calf: supervisor.status(i.name), handlers: i.runner?.status() ?? [] }) as unknown as Record<string, unknown>;
      i.kv = new KvServer(i.store!, log.child({ component: "kv", service: i.def.name }), { info });
      const kv = i.kv;
      this.cleanups.push(() => kv.close());
    }
    // An early calf on another engine than the service's calf is not adopted.
    if (opts.early && !earlyDiscarded && this.instances.some((i) => i.name === opts.early!.name && calfEngineOf(i.hosted) !== opts.early!.engine)) await discardEarly();
    // An early calf under another container runtime (its state is in the other's directory) is not adopted either.
    if (opts.early && !earlyDiscarded && opts.early.runtime.name !== this.runtime.name) await discardEarly();
    const early = opts.early && !earlyDiscarded && this.instances.some((i) => i.name === opts.early!.name) ? opts.early : undefined;
    this.adopted = early !== undefined;
    if (early) log.debug({ calf: early.name }, "calf started early, adopted");
    await supervisor.start(
      this.instances.map((i) => ({ name: i.name, script: i.hosted.calfScript, engine: calfEngineOf(i.hosted), memoryBytes: i.def.calf.memoryMiB * 1024 * 1024, pids: i.def.calf.pids, ...(i.def.calf.cpuCores ? { cpuCores: i.def.calf.cpuCores } : {}), ...(i.hosted.bundleDir !== undefined ? { prebuiltBundle: i.hosted.bundleDir } : {}) })),
      early ? new Map([[early.name, { bundleDir: early.bundleDir, started: early.started }]]) : undefined,
    );
    phase("calves starting");

    // 5. Handlers reconcile from the persisted store (invariant 5) while the calves start.
    for (const i of this.instances) this.startRunner(i);
    // Link events from here on (those since the interface was found come first, in order): the
    // runners exist, so what the interface's going closes is all there.
    watch.start({
      changed: (next, cameBack) => {
        linkNow = next;
        log.info({ iface: opts.iface, ...next }, "link changed");
        for (const i of this.instances) {
          i.relay?.sendLink(next);
          // The kernel drops a link's routes while it is down: put ours back without waiting.
          if (cameBack) i.runner?.reconcileNow();
          this.tellService(i, next, cameBack);
        }
      },
      gone: async () => {
        if (this.stopping) return;
        log.warn({}, `${opts.iface} is gone: its channels are closed and the calves wait for it to come back`);
        linkNow = { ...linkNow, up: false, carrier: false };
        for (const i of this.instances) {
          i.relay?.sendLink(linkNow);
          i.relay?.rebind(null);
          this.tellService(i, linkNow, false);
        }
        await this.closeInterfaceParts();
      },
      appeared: async (l) => {
        if (this.stopping) return;
        linkNow = linkState(l);
        await this.interfaceBack(l, linkNow);
      },
    });
    phase("handlers started");

    // 6. Admin sockets, metrics.
    for (const i of this.instances) await i.kv!.listen(i.hosted.adminSocket, "admin", "admin");
    phase("admin sockets listening");
    systemd.add(readinessSources);
    if (!opts.systemd) systemd.start();
    this.registerMetrics();
    for (const i of this.instances) {
      log.info({ service: i.def.name, iface: opts.iface, stateDir: i.hosted.stateDir, adminSocket: i.hosted.adminSocket }, `${i.def.name} started on ${opts.iface}`);
    }
  }

  /** The interface as setup sees it, and its MAC as bytes; refuses one without a MAC where a service needs it. */
  private interfaceOf(link: Link): { iface: ServiceInterface; mac: Uint8Array | undefined } {
    const macString = link.mac !== undefined && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(link.mac) && link.mac !== "00:00:00:00:00:00" ? link.mac : undefined;
    const mac = macString ? new Uint8Array(macString.split(":").map((h) => parseInt(h, 16))) : undefined;
    for (const i of this.instances) {
      if (i.def.needsMac && !mac) throw new HostError("PADDOCK_E_HOST_NO_MAC", `the interface ${this.opts.iface} has no Ethernet (MAC) address, so ${i.def.name} cannot run on it`);
    }
    this.ifaceMac = macString;
    return { iface: { name: this.opts.iface, index: link.index, mac: macString, mtu: link.mtu ?? 1500 }, mac };
  }

  /** Runs a service's setup for the interface as it is now, and writes its priv keys as one commit. */
  private async setupService(i: Instance, iface: ServiceInterface): Promise<void> {
    const store = i.store!;
    try {
      i.setup = (await i.def.setup?.(setupContext(store, { iface, options: i.options!, stateDir: i.hosted.stateDir, runtimeDir: this.opts.runtimeDir, log: this.opts.log.child({ service: i.def.name }) }))) ?? {};
    } catch (err) {
      // A service refuses what the user set with a ServiceOptionError: one sentence, no bug report.
      if (err instanceof ServiceOptionError) throw new HostError(err.code, err.message);
      throw err;
    }
    const keys = Object.entries(i.setup.privKeys ?? {});
    if (keys.length === 0) return;
    const r = await store.commit(PRIV, keys.map(([key, value]) => ({ path: key.split("/").filter(Boolean), value: value === null ? null : enc.encode(value) })));
    if (!r.ok) throw new HostError("PADDOCK_E_HOST_CONFIG", `cannot set ${keys.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ")} for ${i.def.name}: ${r.error.message}`);
  }

  /** Starts a service's handler runner (its handlers from the latest setup); it stops with the interface. */
  private startRunner(i: Instance): void {
    // Hooks follow the handlers' applies (docs/hooks.md): one queue per service for the host's life.
    if (i.setup?.hooks) i.hooks ??= new HookTrigger({ service: i.def.name, iface: this.opts.iface, log: this.opts.log.child({ component: "hooks", service: i.def.name }) });
    i.hooks?.declare(i.setup?.hooks);
    const runner = new HandlerRunner({ source: i.store!, handlers: i.setup?.handlers ?? [], log: this.opts.log.child({ component: "handlers", service: i.def.name }), ...(i.hooks ? { onApplied: i.hooks.applied } : {}) });
    i.runner = runner;
    runner.start();
    this.ifaceParts.push(() => runner.stop());
  }

  /** Closes what belongs to the interface, last opened first: runners, sockets, tc programs. */
  private async closeInterfaceParts(): Promise<void> {
    const parts = this.ifaceParts.reverse();
    this.ifaceParts = [];
    for (const close of parts) {
      try {
        await close();
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, "closing a part of the interface failed");
      }
    }
    for (const i of this.instances) {
      i.packet = undefined;
      i.udp = undefined;
      i.egress = undefined;
    }
  }

  /** The service's own hook for link changes (setup's onLinkChange); its failure is logged, never fatal. */
  private tellService(i: Instance, state: LinkState, cameBack: boolean): void {
    try {
      i.setup?.onLinkChange?.(state, cameBack);
    } catch (err) {
      this.opts.log.warn({ service: i.def.name, err: (err as Error).message }, "the service's link hook failed");
    }
  }

  /**
   * The interface exists again under a new index (re-created, maybe with another MAC): each
   * service is set up again for it (its priv keys rewritten in one commit, fresh handlers, egress
   * check and observer), its channels reopened and handed to its relay, its runner started. A calf
   * whose MAC is unchanged is told the link state (the DHCP client then confirms its lease,
   * INIT-REBOOT); one whose MAC changed is restarted, so it starts over with the new one.
   */
  /** When a service has an IPv6 UDP channel: waits until the interface's link-local address left DAD (./link-local.ts). */
  private async linkLocalReady(ifindex: number): Promise<void> {
    if (!this.instances.some((i) => i.def.channels.udp?.family === 6)) return;
    try {
      const address = await waitForLinkLocal({ ifindex, ifname: this.opts.iface, ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
      this.opts.log.debug({ address }, "the IPv6 link-local address is usable");
    } catch (err) {
      throw err instanceof LinkLocalError ? new HostError(err.code, err.message) : err;
    }
  }

  private async interfaceBack(link: Link, state: LinkState): Promise<void> {
    const log = this.opts.log;
    const macBefore = this.ifaceMac;
    let found;
    try {
      found = this.interfaceOf(link);
    } catch (err) {
      log.error({ err: (err as Error).message }, `${this.opts.iface} is back but cannot be used: ${(err as Error).message}`);
      return;
    }
    const macChanged = found.iface.mac !== macBefore;
    log.info({ index: link.index, mac: found.iface.mac, macChanged }, `${this.opts.iface} is back (index ${link.index}): reopening its channels`);
    for (const i of this.instances) {
      try {
        await this.setupService(i, found.iface);
        if (i.def.channels.udp?.family === 6) await this.linkLocalReady(link.index);
        i.relay!.rebind(this.openChannels(i, found.mac, link.index));
      } catch (err) {
        log.error({ service: i.def.name, err: (err as Error).message }, `${i.def.name} cannot use ${this.opts.iface} again; it waits for the next change`);
        continue;
      }
      this.startRunner(i);
      if (macChanged) void this.supervisor?.restart(i.name);
      else i.relay!.sendLink(state);
      this.tellService(i, state, state.up && state.carrier);
    }
  }

  /**
   * Declared inputs: another hosted service's keys, copied into the reader's store under
   * /input/SERVICE/… as priv-written keys, so the reader's schema validates them and its calf and
   * handlers see them like any key. Copied now, then on every commit of the source, as one commit.
   */
  private async mirrorInputs(): Promise<void> {
    const log = this.opts.log;
    for (const reader of this.instances) {
      for (const input of reader.def.inputs ?? []) {
        const source = this.instances.find((o) => o.def.name === input.service)?.store;
        if (!source) continue;
        const target = reader.store!;
        const patterns = input.keys.map((pattern) => ({ pattern }) as Parameters<typeof matchesPattern>[0]);
        const wanted = (p: string) => {
          const parsed = parseKvPath(p);
          return parsed.ok && patterns.some((e) => matchesPattern(e, parsed.segments));
        };
        let warned = false;
        const copy = async (changes: ReadonlyArray<{ path: string; value: string | null }>) => {
          const mine = changes.filter((c) => wanted(c.path));
          if (mine.length === 0) return;
          const r = await target.commit(PRIV, mine.map((c) => ({ path: inputPath(input.service, c.path).split("/").filter(Boolean), value: c.value === null ? null : enc.encode(c.value) })));
          if (!r.ok && !warned) {
            warned = true;
            log.warn({ service: reader.def.name, input: input.service, err: r.error.message }, `${reader.def.name} cannot take its input from ${input.service} (its schema must declare ${inputPath(input.service, "/…")} keys, written by the priv)`);
          }
        };
        // What the reader holds from an earlier run but the source no longer has goes too.
        const stale = [...target.values.keys()].filter((k) => k.startsWith(inputPath(input.service, "/")) && !source.values.has(k.slice(inputPath(input.service, "").length)));
        await copy([...source.values].map(([path, value]) => ({ path, value })));
        if (stale.length > 0) {
          await target.commit(PRIV, stale.map((k) => ({ path: k.split("/").filter(Boolean), value: null })));
        }
        const unwatch = source.watch("/", (e) => void copy(e.changes));
        this.cleanups.push(unwatch);
      }
    }
  }

  /**
   * Opens a service's channels on the interface as it is now (index `ifindex`): its tc egress
   * program and its sockets, closed with the interface's other parts. Returns them for the relay.
   */
  private openChannels(i: Instance, mac: Uint8Array | undefined, ifindex: number): RelayChannels {
    const { opts } = this;
    const log = opts.log.child({ component: "datapath", service: i.def.name });
    // By index: this interface, not one re-created under its name meanwhile.
    const target = { ifindex };
    const ch = i.def.channels;
    const rules = [...(ch.packet?.egress ?? []), ...(ch.udp ? [{ family: ch.udp.family === 6 ? ("ipv6" as const) : ("ipv4" as const), protocol: "udp" as const, ...(ch.udp.localPort ? { srcPort: ch.udp.localPort } : {}), dstPort: ch.udp.remotePort }] : [])];
    try {
      // We hold the service's interface lock: whatever sits in its slot is a dead owner's.
      if (removeEgressFilter(target, i.slot.handle, i.slot.priority)) log.info({ handle: i.slot.handle }, "removed the tc egress program a previous run left");
      const egress = EgressPolicy.attach({ ...target, mark: i.slot.mark, rules, handle: i.slot.handle, priority: i.slot.priority });
      i.egress = egress;
      this.ifaceParts.push(() => egress.detach());
    } catch (err) {
      log.warn({ err: (err as Error).message }, "could not attach the tc egress program; the priv's egress checks still apply");
    }
    const channels: { packet?: RelayChannels["packet"]; udp?: RelayChannels["udp"] } = {};
    if (ch.packet) {
      const filter = compileSocketFilter(ch.packet.receive);
      const socket = openPacketSocket({ ifindex, filter: filter.bytes, protocol: socketMatchProtocol(ch.packet.receive), mark: i.slot.mark });
      // ENETDOWN is the interface going down (the link events say so too); it clears by itself.
      socket.onError((err) => (err.errno === "ENETDOWN" ? log.debug({ err: err.message }, "packet socket: interface down") : log.warn({ err: err.message }, "packet socket receive error")));
      i.packet = socket;
      this.ifaceParts.push(() => socket.close());
      channels.packet = {
        socket,
        check: packetEgress({ mac, rules: ch.packet.egress, maxFrameBytes: ch.packet.maxFrameBytes, ...(i.setup?.checkFrame ? { check: i.setup.checkFrame } : {}) }),
        ...(i.setup?.observeFrame ? { observe: i.setup.observeFrame } : {}),
      };
    }
    if (ch.udp) {
      let socket: UdpSocket;
      const udpOptions = { address: ch.udp.family === 6 ? "::" : "0.0.0.0", port: ch.udp.localPort, ifname: opts.iface, mark: i.slot.mark };
      let txTimestamps = ch.udp.txTimestamps === true;
      try {
        try {
          socket = openUdpSocket({ ...udpOptions, txTimestamps });
        } catch (err) {
          // Kernels before 6.13 cannot pair a transmit timestamp with its send: run without them.
          if (!(txTimestamps && isNativeError(err, "EOPNOTSUPP"))) throw err;
          log.warn({ err: (err as Error).message }, "this kernel gives no per-send transmit timestamps; the calf gets no txTime messages");
          txTimestamps = false;
          socket = openUdpSocket(udpOptions);
        }
      } catch (err) {
        throw new HostError("PADDOCK_E_HOST_UDP", `cannot open UDP port ${ch.udp.localPort} on ${opts.iface} for ${i.def.name}: ${(err as Error).message}`, { cause: err });
      }
      socket.onError((err) => log.debug({ err: err.message }, "UDP socket receive error"));
      i.udp = socket;
      this.ifaceParts.push(() => socket.close());
      const peers = i.setup?.udpPeers ?? (() => []);
      channels.udp = { socket, check: datagramEgress({ remotePort: ch.udp.remotePort, maxDatagramBytes: ch.udp.maxDatagramBytes, peers, family: ch.udp.family ?? 4 }), txTimestamps };
    }
    return channels;
  }

  private registerMetrics(): void {
    const m = this.metrics;
    const per = <T>(read: (i: Instance) => T[]) => () => this.instances.flatMap(read);
    m.add({ name: "paddock_filter_frames_total", help: "Frames that passed a service's kernel socket filter (verdict pass; what it drops never reaches user space)", type: "counter", labelNames: ["service", "verdict"], read: per((i) => (i.packet ? [{ labels: { service: i.def.name, verdict: "pass" }, value: i.packet.stats().kernelPackets }] : [])) });
    m.add({ name: "paddock_datapath_frames_total", help: "Frames and datagrams relayed by the data path, by direction", type: "counter", labelNames: ["service", "direction"], read: per((i) => {
      const s = i.relay!.stats;
      return [
        { labels: { service: i.def.name, direction: "to_calf" }, value: s.toCalf },
        { labels: { service: i.def.name, direction: "from_calf" }, value: s.fromCalf },
        { labels: { service: i.def.name, direction: "sent" }, value: s.sent },
        { labels: { service: i.def.name, direction: "dropped_to_calf" }, value: s.droppedToCalf },
      ];
    }) });
    m.add({ name: "paddock_egress_rejected_total", help: "Frames or datagrams from a calf refused by its egress checks, by reason", type: "counter", labelNames: ["service", "reason"], read: per((i) =>
      Object.entries(i.relay!.stats.rejected).map(([reason, value]) => ({ labels: { service: i.def.name, reason }, value }))) });
    m.add({ name: "paddock_tc_egress_dropped_total", help: "Marked frames dropped in the kernel by a service's tc egress program", type: "counter", labelNames: ["service"], read: per((i) => {
      const c = i.egress?.counters();
      return c ? [{ labels: { service: i.def.name }, value: Number(c.dropped) }] : [];
    }) });
    m.add({ name: "paddock_kv_requests_total", help: "KV requests answered, by result", type: "counter", labelNames: ["service", "result"], read: per((i) =>
      Object.entries(i.kv!.stats.requests).map(([result, value]) => ({ labels: { service: i.def.name, result }, value }))) });
    m.add({ name: "paddock_kv_protocol_violations_total", help: "KV connections closed for breaking the protocol", type: "counter", labelNames: ["service"], read: per((i) => [{ labels: { service: i.def.name }, value: i.kv!.stats.protocolViolations }]) });
    m.add({ name: "paddock_handler_reconciles_total", help: "Reconciles by handler and outcome", type: "counter", labelNames: ["service", "handler", "outcome"], read: per((i) =>
      i.runner!.status().flatMap((s) => [
        { labels: { service: i.def.name, handler: s.name, outcome: "ok" }, value: s.reconciles - s.failures },
        { labels: { service: i.def.name, handler: s.name, outcome: "error" }, value: s.failures },
      ])) });
    m.add({ name: "paddock_calf_restarts_total", help: "Calf restarts by the supervisor", type: "counter", labelNames: ["calf"], read: () =>
      this.supervisor!.statuses().map((s) => ({ labels: { calf: s.name }, value: s.restarts })) });
    m.add({ name: "paddock_calf_log_dropped_bytes_total", help: "Bytes of a calf's stdout/stderr dropped by its log budget", type: "counter", labelNames: ["calf"], read: () =>
      this.supervisor!.statuses().map((s) => ({ labels: { calf: s.name }, value: s.logDroppedBytes })) });
    for (const i of this.instances) for (const source of i.setup?.metrics ?? []) m.add(source);
    for (const source of hookMetrics(() => this.instances.flatMap((i) => (i.hooks ? [{ service: i.def.name, stats: i.hooks.runner.stats }] : [])))) m.add(source);
  }

  /**
   * Takes new option settings (SERVICE → NAME → value, the whole wanted configuration) while
   * running: validated whole, then each service's changed priv keys in one commit (./reload.ts).
   * Throws ServiceOptionError, having changed nothing, for a value a service refuses.
   */
  reload(settings: ReadonlyMap<string, Readonly<Record<string, string | boolean | number>>>): Promise<ReloadOutcome> {
    return reloadServices(
      this.instances.map((i) => ({
        def: i.def,
        setup: i.setup,
        get options() {
          return i.options!;
        },
        set options(next) {
          i.options = next;
        },
        value: (p: string) => i.store!.values.get(p),
        commit: (changes: Readonly<Record<string, string | null>>, opts?: { withNextPersist?: boolean }) => commitAsPriv(i.store!, changes, opts),
      })),
      settings,
    );
  }

  /** Stops the calves (which finish their stop work), lets the handlers converge, then closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const log = this.opts.log;
      // What a calf withdraws from now on, it released: the hooks say so (RELEASE, not EXPIRE).
      for (const i of this.instances) i.hooks?.stopping();
      if (this.supervisor) {
        await this.supervisor.stop().catch((err: Error) => log.error({ err: err.message }, "stopping the calves failed"));
      }
      for (const i of this.instances) {
        await i.store?.settled();
        if (i.runner) {
          i.runner.reconcileNow();
          await i.runner.settled();
        }
        // The final event (STOP) and whatever is queued run before the priv exits, each within its timeout.
        await i.hooks?.stop();
      }
      for (const c of this.cleanups.reverse()) {
        try {
          await c();
        } catch (err) {
          log.warn({ err: (err as Error).message }, "cleanup step failed");
        }
      }
      if (this.supervisor) log.info({ services: this.instances.map((i) => i.def.name) }, "stopped");
    })();
    return this.stopping;
  }
}
