/**
 * The `paddock dhcp` harness of the integration tests, on @paddock/testkit (docs/testkit.md):
 *
 *   server namespace                                client namespace
 *   DHCP server on SIF NET.1/24  ── veth pair ──  CIF ← paddock dhcp (priv + calf under runc)
 *
 * The kit gives the unique names, the servers (configured from one {@link ServerOffer}, so a test
 * can compare what the shim applied with what the server was told to send), processes stopped by
 * pid, and a `destroy()` that removes everything, also after an interrupted or killed run. What
 * stays here is specific to the shim: its sockets, metrics and KV, and an address watch.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { connectKv, KvClient } from "@paddock/kv";
import {
  addresses,
  createLab,
  dnsmasqCommand,
  hasCommands,
  iscDhcpdCommand,
  kea4Command,
  LabProcess,
  linkMtu,
  PaddockProcess,
  routes,
  runningCalfPid,
  runAsync as runAsyncKit,
  startPaddock,
  udhcpdCommand,
  waitFor,
  waitForAddress,
  waitForNetlinkSubscription,
  type IpAddrInfo,
  type IpRoute,
  type Lab,
  type RunResult,
  type ServerCommand,
  type ServerOffer,
} from "@paddock/testkit";
import { paddockBin } from "./paddock.ts";

export { classlessBytes, defaultOffer, prefixToMask, runOk, type IpAddrInfo, type IpRoute, type RunResult, type ServerOffer } from "@paddock/testkit";
export { LabProcess as Proc };

/** Runs a command to completion without blocking the event loop (the kit's runAsync, positional). */
export function runAsync(cmd: string, args: string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return runAsyncKit(cmd, args, { timeoutMs, env });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether every command is on PATH. */
export const haveAll = hasCommands;

/** A metric sample from the shim's Prometheus text. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parsed Prometheus text with a lookup that sums the samples matching some labels. */
export class Metrics {
  constructor(readonly samples: MetricSample[]) {}

  static parse(text: string): Metrics {
    const samples: MetricSample[] = [];
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
    return new Metrics(samples);
  }

  /** Sum of the samples named `name` whose labels include `labels`; undefined if there is none. */
  get(name: string, labels: Record<string, string> = {}): number | undefined {
    const matching = this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    return matching.length === 0 ? undefined : matching.reduce((a, s) => a + s.value, 0);
  }
}

/** A running `paddock dhcp` in the client namespace. */
export class ShimProc extends PaddockProcess {
  constructor(
    name: string,
    child: ChildProcess,
    readonly stateDir: string,
    readonly runtimeDir: string,
    readonly adminSocket: string,
    readonly metricsSocket: string,
  ) {
    super(name, child);
  }

  /** The shim's metrics, read over its Unix socket. */
  metrics(): Promise<Metrics> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.metricsSocket, path: "/metrics", timeout: 5000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => (res.statusCode === 200 ? resolve(Metrics.parse(body)) : reject(new Error(`metrics answered ${res.statusCode}: ${body}`))));
      });
      req.on("timeout", () => req.destroy(new Error("metrics request timed out")));
      req.on("error", reject);
    });
  }

  /** Reads KV keys through the admin socket; a missing key is undefined. */
  async kv(keys: string[]): Promise<Record<string, string | undefined>> {
    const client = await connectKv(this.adminSocket);
    try {
      const out: Record<string, string | undefined> = {};
      for (const k of keys) {
        try {
          out[k] = await client.read(k);
        } catch (err) {
          if (!/NOT_FOUND/.test(String((err as { code?: string }).code ?? (err as Error).message))) throw err;
          out[k] = undefined;
        }
      }
      return out;
    } finally {
      client.close();
    }
  }

  /** Waits until the handlers have reconciled and gone quiet (their counter unchanged for 300 ms). */
  async settle(ms = 10_000): Promise<void> {
    let last = -1;
    await waitFor(
      async () => {
        const n = (await this.metrics()).get("paddock_handler_reconciles_total") ?? 0;
        const quiet = n === last && n > 0;
        last = n;
        return quiet;
      },
      { what: "the handlers to go quiet (reconcile count unchanged for 300 ms)", timeoutMs: ms, intervalMs: 300, state: () => `${last} reconciles` },
    );
  }

  /** The calf's host pid, from its container runtime's state (runc's or crun's) under the runtime directory. */
  async calfPid(): Promise<number | undefined> {
    return runningCalfPid(this.runtimeDir);
  }
}

/** Options of {@link NetLab.startShim}. */
export interface ShimOptions {
  stateDir?: string;
  releaseOnExit?: boolean;
  /** Run the RFC 5227 ARP probe (default false: `--no-arp-probe`, so a lease is applied without its 4–7 s). */
  arpProbe?: boolean;
  extraArgs?: string[];
  /** The command's whole environment (default this process's). */
  env?: NodeJS.ProcessEnv;
}

/** Watches the client interface's IPv4 addresses: `ip monitor` events and a poll every `intervalMs`. */
export class AddressWatch {
  /**
   * Every poll: when it began (`t`) and ended (`done`), and the IPv4 addresses on the interface at
   * some moment in between (a loaded machine can stretch that span).
   */
  readonly samples: Array<{ t: number; done: number; addrs: IpAddrInfo[] }> = [];
  private stopped = false;
  private readonly polling: Promise<void>;

  constructor(
    private readonly lab: NetLab,
    private readonly monitor: LabProcess,
    intervalMs: number,
  ) {
    this.polling = (async () => {
      while (!this.stopped) {
        const t = Date.now();
        const addrs = await lab.addrs().catch(() => null);
        // A failed poll after stop() (or after destroy() removed the namespace) is no sample.
        if (addrs === null || this.stopped) break;
        this.samples.push({ t, done: Date.now(), addrs });
        await sleep(intervalMs);
      }
    })();
  }

  /** `ip monitor` lines that delete an IPv4 address of the client interface. */
  deletions(): string[] {
    return this.monitor.lines(new RegExp(`^Deleted .*${this.lab.clientIf}\\s+inet `));
  }

  /** Polls that did not see `address` on the interface. */
  gaps(address: string): Array<{ t: number; done: number; addrs: IpAddrInfo[] }> {
    return this.samples.filter((s) => !s.addrs.some((a) => a.local === address));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.polling;
    await this.monitor.stop();
  }
}

/** Two network namespaces joined by a veth pair, and every process started in them. */
export class NetLab {
  private readonly watches = new Set<AddressWatch>();

  private constructor(
    /** The kit's lab underneath: namespaces, processes, files and their cleanup. */
    readonly lab: Lab,
    readonly serverNs: string,
    readonly clientNs: string,
    readonly serverIf: string,
    readonly clientIf: string,
  ) {}

  /** Creates the namespaces and the veth pair, with `net`.1/24 on the server side; `prefix` starts the lab's names. */
  static create(net: string, prefix = "pdt"): NetLab {
    const lab = createLab({ prefix });
    try {
      const link = lab.veth(lab.namespace("s"), lab.namespace("c"), { addresses: { a: `${net}.1/24` } });
      return new NetLab(lab, link.a.ns.name, link.b.ns.name, link.a.name, link.b.name);
    } catch (err) {
      lab.destroySync();
      throw err;
    }
  }

  /** The lab's unique id (also the start of its interface names). */
  get id(): string {
    return this.lab.id;
  }

  /** The lab's temporary directory. */
  get work(): string {
    return this.lab.dir;
  }

  /** `ip -n SERVER_NS ARGS…`. */
  server(args: string[]): string {
    return this.lab.ip(this.serverNs, args);
  }

  /** `ip -n CLIENT_NS ARGS…`. */
  client(args: string[]): string {
    return this.lab.ip(this.clientNs, args);
  }

  /** A file path in the lab's temporary directory. */
  file(name: string): string {
    return this.lab.file(name);
  }

  /** Starts `argv` in a namespace (null: the host's); it is stopped by `destroy()` if still running. */
  spawnIn(ns: string | null, name: string, argv: string[], env?: NodeJS.ProcessEnv): LabProcess {
    return this.lab.spawn(ns, argv, { name, env });
  }

  /** Runs `argv` to completion in a namespace. */
  runIn(ns: string, argv: string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
    return this.lab.run(ns, argv, { timeoutMs, env });
  }

  // ---- servers (started without waiting: the tests wait on the shim's result) --------------

  private startServer(c: ServerCommand): LabProcess {
    return this.lab.spawn(this.serverNs, c.argv, { name: c.name, env: c.env });
  }

  /** dnsmasq serving `o`, logging every exchange (--log-dhcp) to its output. */
  startDnsmasq(o: ServerOffer, extra: string[] = [], leaseFile = this.file("dnsmasq.leases")): LabProcess {
    return this.startServer(dnsmasqCommand(this.lab, { iface: this.serverIf, offer: o, extraArgs: extra, leaseFile }));
  }

  /** Kea's DHCPv4 server serving `o`, with T1/T2 in seconds. `authoritative`: NAK requests for addresses it does not serve. */
  startKea(o: ServerOffer, timers: { renew: number; rebind: number }, authoritative = false): LabProcess {
    return this.startServer(kea4Command(this.lab, { iface: this.serverIf, offer: o, timers, authoritative }));
  }

  /** ISC dhcpd serving `o` (foreground, logging to its output). */
  startDhcpd(o: ServerOffer): LabProcess {
    return this.startServer(iscDhcpdCommand(this.lab, { iface: this.serverIf, offer: o }));
  }

  /** busybox udhcpd serving `o`, with a short ARP-ping timeout. */
  startUdhcpd(o: ServerOffer): LabProcess {
    return this.startServer(udhcpdCommand(this.lab, { iface: this.serverIf, offer: o }));
  }

  // ---- the shim --------------------------------------------------------------------------

  /**
   * Starts `paddock dhcp` on the client interface. The runtime directory, admin and metrics
   * sockets and resolv.conf are the lab's; the state directory defaults to the lab's too, so a
   * second start resumes from the first one's store.
   */
  startShim(opts: ShimOptions = {}): ShimProc {
    const stateDir = opts.stateDir ?? this.file("state");
    const runtimeDir = this.file("run");
    const adminSocket = this.file("admin.sock");
    const metricsSocket = this.file("metrics.sock");
    mkdirSync(runtimeDir, { recursive: true, mode: 0o711 });
    const args = [
      "dhcp", "--iface", this.clientIf, "--state-dir", stateDir, "--runtime-dir", runtimeDir,
      "--resolv-conf", this.resolvConf, "--admin-socket", adminSocket, "--metrics", metricsSocket,
      ...(opts.releaseOnExit ? ["--release-on-exit"] : []), ...(opts.arpProbe ? [] : ["--no-arp-probe"]), ...(opts.extraArgs ?? []),
    ];
    return startPaddock(this.lab, this.clientNs, args, {
      bin: paddockBin,
      ...(opts.env ? { env: opts.env } : {}),
      create: (name, child) => new ShimProc(name, child, stateDir, runtimeDir, adminSocket, metricsSocket),
    });
  }

  /** The resolv.conf the shim manages (never the host's). */
  get resolvConf(): string {
    return this.file("resolv.conf");
  }

  // ---- the client side as the kernel sees it -----------------------------------------------

  /** IPv4 addresses on the client interface. */
  addrs(): Promise<IpAddrInfo[]> {
    return addresses(this.clientNs, this.clientIf, "inet");
  }

  /** The client interface's MTU. */
  mtu(): Promise<number> {
    return linkMtu(this.clientNs, this.clientIf);
  }

  /** IPv4 routes in the main table of the client namespace. */
  routes(): Promise<IpRoute[]> {
    return routes(this.clientNs, "inet");
  }

  /** Routes that Paddock installed (protocol 176). */
  async paddockRoutes(): Promise<IpRoute[]> {
    return (await this.routes()).filter((r) => r.protocol === "176");
  }

  /** Waits until the client interface has an IPv4 address (matching `pred`); returns it. */
  waitForAddress(ms = 15_000, pred: (a: IpAddrInfo) => boolean = () => true): Promise<IpAddrInfo> {
    return waitForAddress(this.lab, this.clientNs, this.clientIf, "inet", { timeoutMs: ms, match: pred });
  }

  /** Waits until `check` holds, polling every 50 ms; returns the time it took. */
  async waitUntil(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<number> {
    const start = Date.now();
    await waitFor(check, { what, timeoutMs: ms, intervalMs: 50 });
    return Date.now() - start;
  }

  /** Starts watching the client's addresses (ip monitor + a poll every `intervalMs`). */
  async watchAddresses(intervalMs = 20): Promise<AddressWatch> {
    const monitor = this.spawnIn(null, "ip monitor", ["ip", "-n", this.clientNs, "monitor", "address"]);
    // ip prints nothing until an event: wait until it has subscribed before the test acts.
    await waitForNetlinkSubscription(monitor);
    const watch = new AddressWatch(this, monitor, intervalMs);
    this.watches.add(watch);
    return watch;
  }

  /** Stops the watches, then the lab: the shim first (it stops its calf), the servers, the namespaces and files. */
  async destroy(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.stop()));
    await this.lab.destroy();
  }
}
