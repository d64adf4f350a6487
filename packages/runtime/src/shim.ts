/**
 * The DHCPv4 shim: one priv process composed of the store, the handlers, the admin socket, the
 * data path and the supervised DHCP calf, in the start-up order of docs/architecture.md.
 *
 * `DhcpShim.start()` checks everything a user can get wrong before it changes anything, and each
 * such failure is a ShimError with one sentence. `stop()` undoes what start did, in reverse.
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { dhcp4Schema, KvServer, KvStore, type KvCaller } from "@paddock/kv";
import {
  DHCP_CLIENT_FILTER,
  EbpfSocketFilter,
  EgressPolicy,
  ETH_P_IP,
  openPacketSocket,
  removeEgressLeftovers,
  type PacketSocket,
} from "@paddock/native";
import { NetlinkError, openRtnetlink, type Link, type RtnetlinkClient } from "@paddock/netlink";
import { dhcpClientEgress } from "./datapath/egress.ts";
import { DataPathRelay } from "./datapath/relay.ts";
import { HandlerRunner } from "./handlers/reconciler.ts";
import { HostnameHandler } from "./handlers/hostname-handler.ts";
import { LeaseHandler } from "./handlers/lease-handler.ts";
import { calfNameFor, interfaceLockFile } from "./calf-name.ts";
import { calfTarget, findExecutable, type EarlyCalf } from "./early.ts";
import { Metrics } from "./metrics.ts";
import { acquirePidLock, LockedError, type PidLock } from "./pid-lock.ts";
import { parseCalfName } from "./sandbox/bundle.ts";
import { Supervisor } from "./supervisor.ts";

/**
 * The SO_MARK of the data-path socket; the tc egress program polices frames carrying it. Any
 * value works as long as nothing else on the host uses it; 0x9add0c ("paddock") is ours.
 */
export const PADDOCK_EGRESS_MARK = 0x9add0c;

/** A failure the user can fix: the message is one sentence for the terminal. */
export class ShimError extends Error {
  override readonly name = "ShimError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DhcpShimOptions {
  iface: string;
  stateDir: string;
  /** Parent of the calf bundles and runc's state (e.g. /run/paddock). */
  runtimeDir: string;
  adminSocket: string;
  /** The resolv.conf to manage; null: leave resolv.conf alone. */
  resolvConf: string | null;
  /** Host name to send to the server (option 12). */
  hostname?: string;
  /** Apply the host name the server assigns (the priv's UTS namespace); off by default. */
  setHostname?: boolean;
  /** Where the host name is written (default /proc/sys/kernel/hostname); tests point it elsewhere. */
  hostnamePath?: string;
  /** Send RELEASE and withdraw the configuration on stop. */
  releaseOnExit: boolean;
  /** Metrics address: a Unix socket path or a loopback HOST:PORT. */
  metrics?: string;
  /** The DHCP calf's bundled script. */
  calfScript: string;
  /** Calf memory limit in bytes and pids limit. */
  calfMemoryBytes: number;
  calfPids: number;
  log: Logger;
  /**
   * The calf, if it was started early (./early.ts) with these same options: the shim takes it
   * over instead of starting one, or discards it if the shim cannot start.
   */
  early?: EarlyCalf;
  /** The calf's log level (its lines go through the priv's log). */
  calfLogLevel?: "debug" | "info" | "warn" | "error";
  runc?: string;
}

const PRIV: KvCaller = { role: "priv", name: "priv" };

export { calfNameFor } from "./calf-name.ts";

const enc = new TextEncoder();

/** Checks what a user can get wrong, before anything is changed. */
function preflight(opts: DhcpShimOptions): void {
  if (process.getuid?.() !== 0) throw new ShimError("PADDOCK_E_SHIM_NOT_ROOT", "paddock dhcp must run as root: it configures the interface and starts a sandboxed calf");
  const runc = opts.runc ?? "runc";
  if (!findExecutable(runc)) throw new ShimError("PADDOCK_E_SHIM_NO_RUNC", `${runc} is not installed (not found on PATH); install the Debian package runc`);
  if (!existsSync(opts.calfScript)) throw new ShimError("PADDOCK_E_SHIM_NO_CALF", `the DHCP calf bundle ${opts.calfScript} is missing; run make setup`);
  for (const [dir, what] of [[opts.stateDir, "state directory"], [opts.runtimeDir, "runtime directory"]] as const) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!statSync(dir).isDirectory()) throw new Error("not a directory");
      accessSync(dir, constants.W_OK);
    } catch (err) {
      throw new ShimError("PADDOCK_E_SHIM_STATE_DIR", `the ${what} ${dir} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  // The calf's user namespace maps it to an unprivileged host uid, and runc mounts its rootfs
  // from under the runtime directory: every directory on the way must be traversable by others.
  chmodSync(opts.runtimeDir, 0o711);
  for (let dir = path.resolve(opts.runtimeDir); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new ShimError("PADDOCK_E_SHIM_RUNTIME_DIR", `the runtime directory ${opts.runtimeDir} must be reachable by the calf's unprivileged user, but ${dir} is not searchable by others (chmod o+x ${dir}, or choose another --runtime-dir)`);
    }
    if (dir === path.dirname(dir)) break;
  }
  if (!existsSync(path.dirname(opts.adminSocket))) mkdirSync(path.dirname(opts.adminSocket), { recursive: true, mode: 0o755 });
}

/** One shim per interface (in its network namespace) and one per state directory. */
function takeLocks(opts: DhcpShimOptions): PidLock[] {
  const wanted: Array<[string, string]> = [
    [interfaceLockFile(opts.runtimeDir, opts.iface), `paddock dhcp is already running on ${opts.iface}`],
    [path.join(opts.stateDir, "paddock.pid"), `the state directory ${opts.stateDir} is in use`],
  ];
  // The early start took the interface's lock already; it is ours now.
  const held: PidLock[] = opts.early ? [opts.early.lock] : [];
  if (opts.early) wanted.shift();
  try {
    for (const [file, what] of wanted) {
      try {
        held.push(acquirePidLock(file));
      } catch (err) {
        if (err instanceof LockedError) throw new ShimError("PADDOCK_E_SHIM_ALREADY_RUNNING", `${what} (process ${err.pid}, lock ${err.file})`);
        throw new ShimError("PADDOCK_E_SHIM_LOCK", `cannot create the lock file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  } catch (err) {
    for (const l of held) l.release();
    throw err;
  }
  return held;
}

export class DhcpShim {
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  private supervisor: Supervisor | undefined;
  private runner: HandlerRunner | undefined;
  private stopping: Promise<void> | undefined;
  private adopted = false;
  readonly metrics = new Metrics();

  private constructor(
    readonly opts: DhcpShimOptions,
    readonly store: KvStore,
  ) {}

  /** Starts the shim; on failure undoes whatever it had done and throws (a ShimError if the user can fix it). */
  static async start(opts: DhcpShimOptions): Promise<DhcpShim> {
    let locks: PidLock[];
    try {
      preflight(opts);
      // Before anything that removes "leftovers": a live shim's state is not left over.
      locks = takeLocks(opts);
    } catch (err) {
      await opts.early?.discard();
      opts.early?.lock.release();
      throw err;
    }
    const log = opts.log;
    let store: KvStore;
    try {
      store = new KvStore({ schema: dhcp4Schema, stateDir: opts.stateDir, log: log.child({ component: "kv" }) });
    } catch (err) {
      await opts.early?.discard();
      for (const l of locks) l.release();
      throw new ShimError("PADDOCK_E_SHIM_STORE", `cannot open the store in ${opts.stateDir}: ${(err as Error).message}`, { cause: err });
    }
    const shim = new DhcpShim(opts, store);
    shim.cleanups.push(() => {
      for (const l of locks) l.release();
    });
    shim.cleanups.push(() => store.close());
    // An early calf the supervisor has not taken over (the start failed before) is stopped and
    // removed; one it took over is stopped by the supervisor.
    shim.cleanups.push(() => (shim.adopted ? undefined : opts.early?.discard()));
    try {
      await shim.startParts();
      return shim;
    } catch (err) {
      await shim.stop().catch(() => {});
      throw err;
    }
  }

  private async startParts(): Promise<void> {
    const { opts, store } = this;
    const log = opts.log;
    // Start-up phases at debug level, in ms since the process started: where the time goes.
    const phase = (name: string) => log.debug({ phase: name, ms: Math.round(performance.now()) }, "start-up phase");
    phase("store open");

    // The interface: it must exist and have an Ethernet address.
    const nl: RtnetlinkClient = openRtnetlink({ events: true });
    this.cleanups.push(() => nl.close());
    let link: Link;
    try {
      link = await nl.getLink(opts.iface);
    } catch (err) {
      if (err instanceof NetlinkError && (err.errno === "ENODEV" || err.code === "PADDOCK_E_NETLINK_NOT_FOUND")) {
        throw new ShimError("PADDOCK_E_SHIM_NO_IFACE", `there is no network interface named ${opts.iface}`, { cause: err });
      }
      throw err;
    }
    const macString = link.mac ?? "";
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(macString) || macString === "00:00:00:00:00:00") {
      throw new ShimError("PADDOCK_E_SHIM_NO_MAC", `the interface ${opts.iface} has no Ethernet (MAC) address, so DHCP cannot run on it`);
    }
    const mac = new Uint8Array(macString.split(":").map((h) => parseInt(h, 16)));

    phase("interface checked");
    // 2. The priv's own keys, before the calf starts.
    const privKeys: Array<[string, string | null]> = [
      ["/mac", macString],
      ["/iface", opts.iface],
      ["/config/hostname", opts.hostname ?? null],
      ["/config/release-on-stop", opts.releaseOnExit ? "true" : "false"],
      ["/config/log-level", opts.calfLogLevel ?? "info"],
    ];
    // Issued together: one commit (one round of fsyncs) for all of them.
    const written = await Promise.all(
      privKeys.map(([key, value]) => {
        const segments = key.split("/").filter(Boolean);
        return value === null ? store.delete(PRIV, segments) : store.write(PRIV, segments, enc.encode(value));
      }),
    );
    written.forEach((r, i) => {
      if (!r.ok) throw new ShimError("PADDOCK_E_SHIM_CONFIG", `cannot use ${privKeys[i]![0]} = ${JSON.stringify(privKeys[i]![1])}: ${r.error.message}`);
    });

    phase("priv keys written");
    // 3. The data path: tc egress program first (leftovers of a crashed run removed), then the
    //    filtered, locked, marked packet socket.
    let egress: EgressPolicy | undefined;
    try {
      removeEgressLeftovers({ ifname: opts.iface });
      egress = EgressPolicy.attach({ ifname: opts.iface, mark: PADDOCK_EGRESS_MARK });
      const e = egress;
      this.cleanups.push(() => e.detach());
    } catch (err) {
      log.warn({ err: (err as Error).message }, "could not attach the tc egress program; the priv's egress policy still applies");
    }
    let ebpfFilter: EbpfSocketFilter | undefined;
    try {
      ebpfFilter = EbpfSocketFilter.loadDhcp();
    } catch (err) {
      log.warn({ err: (err as Error).message }, "eBPF socket filter unavailable; using the classic DHCP filter (no filter counters)");
    }
    const socket: PacketSocket = openPacketSocket({
      ifname: opts.iface,
      filter: ebpfFilter ?? DHCP_CLIENT_FILTER.bytes,
      protocol: ETH_P_IP,
      mark: PADDOCK_EGRESS_MARK,
    });
    // ENETDOWN is the interface going down (the link events say so too); it clears by itself.
    socket.onError((err) =>
      err.errno === "ENETDOWN" ? log.debug({ err: err.message }, "packet socket: interface down") : log.warn({ err: err.message }, "packet socket receive error"),
    );
    this.cleanups.push(() => {
      socket.close();
      ebpfFilter?.close();
    });
    const leased = () => store.values.get("/ip")?.split("/")[0];
    const relay = new DataPathRelay(calfNameFor(opts.iface), socket, dhcpClientEgress({ mac, leasedAddress: leased }), log.child({ component: "datapath" }));
    this.cleanups.push(() => relay.detach());
    let linkState = { up: link.up, carrier: link.carrier ?? link.lowerUp, mtu: link.mtu ?? 1500 };
    nl.onEvent((e) => {
      if ((e.kind === "link" && e.action === "new") || e.kind === "carrier") {
        const l = e.link;
        if (l.index !== link.index) return;
        const next = { up: l.up, carrier: l.carrier ?? l.lowerUp, mtu: l.mtu ?? linkState.mtu };
        if (next.up !== linkState.up || next.carrier !== linkState.carrier || next.mtu !== linkState.mtu) {
          const cameBack = next.up && next.carrier && !(linkState.up && linkState.carrier);
          linkState = next;
          log.info({ iface: opts.iface, ...next }, "link changed");
          relay.sendLink(next);
          // The kernel drops a link's routes while it is down: put ours back without waiting.
          if (cameBack) this.runner?.reconcileNow();
        }
      }
    });

    phase("data path ready");
    // 4. The calf, as early as possible (runc and Node take tens of ms), with the KV server that
    //    serves its control channel. One shim per interface: the calf's name (container id,
    //    cgroup) says which.
    const kvServer = new KvServer(store, log.child({ component: "kv" }));
    this.cleanups.push(() => kvServer.close());
    const name = parseCalfName(calfNameFor(opts.iface));
    if (!name.ok) throw name.error;
    let ready = false;
    let connection = 0;
    const supervisor = new Supervisor({
      ...calfTarget(opts.runtimeDir, opts.runc),
      logger: log,
      onStart: (calf, channels) => {
        kvServer.serve(channels.control, { role: "calf", name: `calf:${calf}#${++connection}` });
        if (connection > 1) log.info({ calf, connection }, "calf reconnected");
        relay.attach(channels.data);
        relay.sendLink(linkState);
        // Ready (systemd Type=notify) once the calf's first request has come through its channel.
        channels.control.once("data", () => {
          if (ready) return;
          ready = true;
          void supervisor.notifyReady();
        });
      },
    });
    this.supervisor = supervisor;
    const early = opts.early && opts.early.name === name.value ? opts.early : undefined;
    if (opts.early && !early) await opts.early.discard();
    this.adopted = early !== undefined;
    await supervisor.start(
      [{ name: name.value, script: opts.calfScript, memoryBytes: opts.calfMemoryBytes, pids: opts.calfPids }],
      early ? new Map([[name.value, { bundleDir: early.bundleDir, started: early.started }]]) : undefined,
    );

    phase("calf starting");
    // 5. Handlers reconcile from the persisted store (invariant 5) while the calf starts: it
    //    takes tens of ms before its first write, and the runner is level-triggered anyway.
    const leaseHandler = new LeaseHandler({ link: opts.iface, stateDir: opts.stateDir, resolvConfPath: opts.resolvConf, log: log.child({ component: "handler" }) });
    const hostnameHandler = new HostnameHandler({
      enabled: opts.setHostname === true,
      stateDir: opts.stateDir,
      ...(opts.hostnamePath ? { hostnamePath: opts.hostnamePath } : {}),
      log: log.child({ component: "handler" }),
    });
    const runner = new HandlerRunner({ source: store, handlers: [leaseHandler, hostnameHandler], log: log.child({ component: "handlers" }) });
    this.runner = runner;
    runner.start();
    this.cleanups.push(() => runner.stop());

    phase("handlers started");
    // 6. The admin socket.
    await kvServer.listen(opts.adminSocket, "admin", "admin");

    phase("admin socket listening");
    // 7. Metrics.
    this.registerMetrics(kvServer, relay, socket, ebpfFilter, egress, runner, supervisor);
    if (opts.metrics) {
      await this.metrics.listen(opts.metrics);
      this.cleanups.push(() => this.metrics.close());
    }
    log.info({ iface: opts.iface, mac: macString, stateDir: opts.stateDir, adminSocket: opts.adminSocket }, "paddock dhcp started");
  }

  private registerMetrics(
    kv: KvServer,
    relay: DataPathRelay,
    socket: PacketSocket,
    filter: EbpfSocketFilter | undefined,
    egress: EgressPolicy | undefined,
    runner: HandlerRunner,
    supervisor: Supervisor,
  ): void {
    const m = this.metrics;
    const calf = { calf: calfNameFor(this.opts.iface) };
    m.add({ name: "paddock_filter_frames_total", help: "Frames seen by the kernel socket filter, by verdict", type: "counter", labelNames: ["verdict"], read: () => {
      const c = filter?.counters();
      return c ? [{ labels: { verdict: "pass" }, value: Number(c.passed) }, { labels: { verdict: "drop" }, value: Number(c.dropped) }] : [{ labels: { verdict: "pass" }, value: socket.stats().kernelPackets }];
    } });
    m.add({ name: "paddock_datapath_frames_total", help: "Frames relayed by the data path", type: "counter", labelNames: ["calf", "direction"], read: () => [
      { labels: { ...calf, direction: "to_calf" }, value: relay.stats.toCalf },
      { labels: { ...calf, direction: "from_calf" }, value: relay.stats.fromCalf },
      { labels: { ...calf, direction: "sent" }, value: relay.stats.sent },
    ] });
    m.add({ name: "paddock_egress_rejected_total", help: "Frames from a calf refused by its egress policy, by reason", type: "counter", labelNames: ["calf", "reason"], read: () =>
      Object.entries(relay.stats.rejected).map(([reason, value]) => ({ labels: { ...calf, reason }, value })) });
    m.add({ name: "paddock_tc_egress_dropped_total", help: "Marked frames dropped in the kernel by the tc egress program", type: "counter", labelNames: [], read: () => {
      const c = egress?.counters();
      return c ? [{ labels: {}, value: Number(c.dropped) }] : [];
    } });
    m.add({ name: "paddock_kv_requests_total", help: "KV requests answered, by result", type: "counter", labelNames: ["result"], read: () =>
      Object.entries(kv.stats.requests).map(([result, value]) => ({ labels: { result }, value })) });
    m.add({ name: "paddock_kv_protocol_violations_total", help: "KV connections closed for breaking the protocol", type: "counter", labelNames: [], read: () => [{ labels: {}, value: kv.stats.protocolViolations }] });
    m.add({ name: "paddock_handler_reconciles_total", help: "Reconciles by handler and outcome", type: "counter", labelNames: ["handler", "outcome"], read: () =>
      runner.status().flatMap((s) => [
        { labels: { handler: s.name, outcome: "ok" }, value: s.reconciles - s.failures },
        { labels: { handler: s.name, outcome: "error" }, value: s.failures },
      ]) });
    m.add({ name: "paddock_calf_restarts_total", help: "Calf restarts by the supervisor", type: "counter", labelNames: ["calf"], read: () =>
      supervisor.statuses().map((s) => ({ labels: { calf: s.name }, value: s.restarts })) });
    m.add({ name: "paddock_lease_expiry_seconds", help: "Unix time the current lease expires (0: infinite); absent without a lease", type: "gauge", labelNames: [], read: () => {
      const v = this.store.values.get("/lease/expires");
      return v === undefined ? [] : [{ labels: {}, value: Number(v) }];
    } });
    m.add({ name: "paddock_lease_bound", help: "1 when a lease is published", type: "gauge", labelNames: [], read: () => [{ labels: {}, value: this.store.values.has("/ip") ? 1 : 0 }] });
  }

  /** The calf's host pid (for tests and `paddock lab`). */
  calfPid(): Promise<number | undefined> {
    return this.supervisor?.calfPid(calfNameFor(this.opts.iface)) ?? Promise.resolve(undefined);
  }

  /** Stops the calf (which releases when configured), lets the handlers converge, then closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const log = this.opts.log;
      if (this.supervisor) {
        await this.supervisor.stop().catch((err: Error) => log.error({ err: err.message }, "stopping the calf failed"));
      }
      await this.store.settled();
      if (this.runner) {
        this.runner.reconcileNow();
        await this.runner.settled();
      }
      for (const c of this.cleanups.reverse()) {
        try {
          await c();
        } catch (err) {
          log.warn({ err: (err as Error).message }, "cleanup step failed");
        }
      }
      if (this.supervisor) log.info({}, "paddock dhcp stopped");
    })();
    return this.stopping;
  }
}
