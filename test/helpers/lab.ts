/**
 * A reusable harness for integration tests of `paddock dhcp` against real DHCP servers.
 *
 *   server namespace                                client namespace
 *   DHCP server on SIF NET.1/24  ── veth pair ──  CIF ← paddock dhcp (priv + calf under runc)
 *
 * Every name is unique (process id and a counter), every process is started by the harness and
 * stopped by its pid, and `destroy()` removes the namespaces and the temporary directory; call it
 * in afterEach so a failing test leaves nothing behind. Namespaces are entered with
 * `nsenter --net=` (never `ip netns exec`, which remounts /sys and breaks runc).
 *
 * Servers are configured at test time from one description ({@link ServerOffer}), so a test can
 * compare what the shim applied with what the server was told to send.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { KvClient } from "@paddock/kv";
import { paddockBin } from "./paddock.ts";

/** SIGTERM → SIGKILL grace for anything the harness started: the shim's own stop takes ≤ 5 s. */
const STOP_GRACE_MS = 8000;
/** How much output a process may accumulate before the oldest is dropped (a flood of logs). */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

let counter = 0;

/** The result of a command run to completion. */
export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop. */
export function runAsync(cmd: string, args: string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: env ?? process.env }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === "number" ? ((err as unknown as { code: number }).code) : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs a command to completion; throws with its stderr when it fails. */
export function runOk(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A process the harness started, with its output kept for assertions. */
export class Proc {
  output = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly startedAt = Date.now();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString();
      if (this.output.length > MAX_OUTPUT_CHARS) this.output = this.output.slice(-MAX_OUTPUT_CHARS / 2);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    // A command that cannot start (ENOENT) must fail the test that needs it, not the process.
    child.once("error", (err) => (this.output += `\n[harness] ${name} could not start: ${err.message}\n`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Lines of output matching `pattern`. */
  lines(pattern: RegExp): string[] {
    return this.output.split("\n").filter((l) => pattern.test(l));
  }

  /** Waits until a line of output matches `pattern` (counting output already seen); returns the line. */
  async waitFor(pattern: RegExp, ms = 10_000, occurrence = 1): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this.lines(pattern);
      if (found.length >= occurrence) return found[occurrence - 1]!;
      if (!this.running) throw new Error(`${this.name} exited before printing ${pattern}; output:\n${this.output.slice(-3000)}`);
      if (Date.now() > end) throw new Error(`${this.name} printed no ${pattern} (×${occurrence}) within ${ms} ms; output:\n${this.output.slice(-3000)}`);
      await sleep(20);
    }
  }

  /** Sends `signal` to the process (by its pid) and waits for it to exit; SIGKILL after a grace. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, signal);
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        if (this.running && this.child.pid !== undefined) process.kill(this.child.pid, "SIGKILL");
      }, STOP_GRACE_MS);
      const r = await this.exited;
      clearTimeout(timer);
      return r;
    }
    return this.exited;
  }
}

/** What a DHCP server is told to hand out; tests compare the applied configuration with it. */
export interface ServerOffer {
  /** First three octets of the /24 ("10.81.0"). */
  net: string;
  /** The server's own address, NET.1. */
  server: string;
  prefixLen: number;
  rangeStart: string;
  rangeEnd: string;
  router: string;
  dns: string[];
  domain: string;
  search: string[];
  mtu: number;
  /** Option 121 routes besides the default (which is always 0.0.0.0/0 via the router). */
  classless: Array<{ dst: string; via: string }>;
  /** Lease time the server grants, seconds. */
  leaseSeconds: number;
}

/** The default offer on a /24 `net`: a range, a router, two name servers, a search list, MTU and a classless route. */
export function defaultOffer(net: string, overrides: Partial<ServerOffer> = {}): ServerOffer {
  return {
    net,
    server: `${net}.1`,
    prefixLen: 24,
    rangeStart: `${net}.100`,
    rangeEnd: `${net}.200`,
    router: `${net}.1`,
    dns: [`${net}.1`, `${net}.53`],
    domain: "paddock.test",
    search: ["paddock.test", "example.test"],
    mtu: 1420,
    classless: [{ dst: "10.99.0.0/16", via: `${net}.1` }],
    leaseSeconds: 600,
    ...overrides,
  };
}

/** Option 121 (RFC 3442 §2) as bytes: width, significant octets of the destination, router. */
export function classlessBytes(routes: Array<{ dst: string; via: string }>): number[] {
  const out: number[] = [];
  for (const r of routes) {
    const [dst, lenText] = r.dst.split("/") as [string, string];
    const len = Number(lenText);
    out.push(len, ...dst.split(".").map(Number).slice(0, Math.ceil(len / 8)), ...r.via.split(".").map(Number));
  }
  return out;
}

/** The classless routes a server sends: the offer's and a default route via the router. */
function allClassless(o: ServerOffer): Array<{ dst: string; via: string }> {
  return [...o.classless, { dst: "0.0.0.0/0", via: o.router }];
}

/** One address of `ip -j addr`. */
export interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  valid_life_time: number;
  preferred_life_time: number;
  dynamic?: boolean;
}

/** One route of `ip -j route`. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
}

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
export class ShimProc extends Proc {
  constructor(
    child: ChildProcess,
    readonly stateDir: string,
    readonly runtimeDir: string,
    readonly adminSocket: string,
    readonly metricsSocket: string,
  ) {
    super("paddock dhcp", child);
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
    const client = await KvClient.connect(this.adminSocket);
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
    const end = Date.now() + ms;
    let last = -1;
    for (;;) {
      const n = (await this.metrics()).get("paddock_handler_reconciles_total") ?? 0;
      if (n === last && n > 0) return;
      if (Date.now() > end) throw new Error(`the handlers did not go quiet within ${ms} ms`);
      last = n;
      await sleep(300);
    }
  }

  /** The calf's host pid, from runc's state under the runtime directory. */
  async calfPid(): Promise<number | undefined> {
    const r = await runAsync("runc", ["--root", path.join(this.runtimeDir, "runc"), "list", "--format", "json"]);
    if (r.status !== 0) return undefined;
    const list = (JSON.parse(r.stdout || "null") ?? []) as Array<{ id: string; pid: number; status: string }>;
    return list.find((c) => c.status === "running" && c.pid > 0)?.pid;
  }
}

/** Options of {@link NetLab.startShim}. */
export interface ShimOptions {
  stateDir?: string;
  releaseOnExit?: boolean;
  extraArgs?: string[];
}

/** Watches the client interface's IPv4 addresses: `ip monitor` events and a poll every `intervalMs`. */
export class AddressWatch {
  /** Every poll: when, and the IPv4 addresses then on the interface. */
  readonly samples: Array<{ t: number; addrs: IpAddrInfo[] }> = [];
  private stopped = false;
  private readonly polling: Promise<void>;

  constructor(
    private readonly lab: NetLab,
    private readonly monitor: Proc,
    intervalMs: number,
  ) {
    this.polling = (async () => {
      while (!this.stopped) {
        const t = Date.now();
        const addrs = await lab.addrs().catch(() => null);
        // A failed poll after stop() (or after destroy() removed the namespace) is no sample.
        if (addrs === null || this.stopped) break;
        this.samples.push({ t, addrs });
        await sleep(intervalMs);
      }
    })();
  }

  /** `ip monitor` lines that delete an IPv4 address of the client interface. */
  deletions(): string[] {
    return this.monitor.lines(new RegExp(`^Deleted .*${this.lab.clientIf}\\s+inet `));
  }

  /** Polls that did not see `address` on the interface. */
  gaps(address: string): Array<{ t: number; addrs: IpAddrInfo[] }> {
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
  readonly serverNs: string;
  readonly clientNs: string;
  readonly serverIf: string;
  readonly clientIf: string;
  readonly work: string;
  private readonly procs = new Set<Proc>();
  private readonly watches = new Set<AddressWatch>();
  private destroyed = false;

  private constructor(readonly id: string) {
    this.serverNs = `pdt-s-${id}`;
    this.clientNs = `pdt-c-${id}`;
    this.serverIf = `ps${id}`.slice(0, 15);
    this.clientIf = `pc${id}`.slice(0, 15);
    this.work = mkdtempSync(path.join(tmpdir(), `paddock-dhcp-test-${process.pid}-`));
    // The calf runs as an unprivileged uid and runc mounts its rootfs from under here.
    chmodSync(this.work, 0o711);
  }

  /** Creates the namespaces and the veth pair, with `net`.1/24 on the server side. */
  static create(net: string): NetLab {
    if (counter === 0) removeLeftovers();
    const lab = new NetLab(`${process.pid}-${++counter}`);
    try {
      runOk("ip", ["netns", "add", lab.serverNs]);
      runOk("ip", ["netns", "add", lab.clientNs]);
      runOk("ip", ["link", "add", lab.serverIf, "netns", lab.serverNs, "type", "veth", "peer", "name", lab.clientIf, "netns", lab.clientNs]);
      lab.server(["addr", "add", `${net}.1/24`, "dev", lab.serverIf]);
      lab.server(["link", "set", lab.serverIf, "up"]);
      lab.server(["link", "set", "lo", "up"]);
      lab.client(["link", "set", "lo", "up"]);
      lab.client(["link", "set", lab.clientIf, "up"]);
    } catch (err) {
      void lab.destroy();
      throw err;
    }
    return lab;
  }

  /** `ip -n SERVER_NS ARGS…`. */
  server(args: string[]): string {
    return runOk("ip", ["-n", this.serverNs, ...args]);
  }

  /** `ip -n CLIENT_NS ARGS…`. */
  client(args: string[]): string {
    return runOk("ip", ["-n", this.clientNs, ...args]);
  }

  /** A file path in the lab's temporary directory. */
  file(name: string): string {
    return path.join(this.work, name);
  }

  /** Starts `argv` in a namespace (null: the host's); it is stopped by `destroy()` if still running. */
  spawnIn(ns: string | null, name: string, argv: string[], env?: NodeJS.ProcessEnv): Proc {
    const [cmd, args] = ns === null ? [argv[0]!, argv.slice(1)] : ["nsenter", [`--net=/run/netns/${ns}`, ...argv]];
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    const p = new Proc(name, child);
    this.procs.add(p);
    return p;
  }

  /** Runs `argv` to completion in a namespace. */
  runIn(ns: string, argv: string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
    return runAsync("nsenter", [`--net=/run/netns/${ns}`, ...argv], timeoutMs, env);
  }

  // ---- servers ---------------------------------------------------------------------------

  /** dnsmasq serving `o`, logging every exchange (--log-dhcp) to its output. */
  startDnsmasq(o: ServerOffer, extra: string[] = [], leaseFile = this.file("dnsmasq.leases")): Proc {
    if (!existsSync(leaseFile)) writeFileSync(leaseFile, "");
    const mask = prefixToMask(o.prefixLen);
    return this.spawnIn(this.serverNs, "dnsmasq", [
      "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping", "--conf-file=/dev/null",
      `--interface=${this.serverIf}`, "--bind-interfaces", `--dhcp-range=${o.rangeStart},${o.rangeEnd},${mask},${o.leaseSeconds}`,
      `--dhcp-leasefile=${leaseFile}`, `--dhcp-option=option:router,${o.router}`, `--dhcp-option=option:dns-server,${o.dns.join(",")}`,
      `--dhcp-option=option:domain-name,${o.domain}`, `--dhcp-option=option:domain-search,${o.search.join(",")}`,
      `--dhcp-option=option:mtu,${o.mtu}`,
      `--dhcp-option=option:classless-static-route,${allClassless(o).map((r) => `${r.dst},${r.via}`).join(",")}`,
      "--log-facility=-", "--log-dhcp", ...extra,
    ]);
  }

  /**
   * Kea's DHCPv4 server serving `o`, with T1/T2 given in seconds (Kea accepts leases of a few
   * seconds). `authoritative`: NAK requests for addresses it does not serve.
   */
  startKea(o: ServerOffer, timers: { renew: number; rebind: number }, authoritative = false): Proc {
    const conf = this.file("kea-dhcp4.json");
    const hex = classlessBytes(allClassless(o)).map((b) => b.toString(16).padStart(2, "0")).join("");
    writeFileSync(conf, JSON.stringify({
      Dhcp4: {
        "interfaces-config": { interfaces: [this.serverIf], "dhcp-socket-type": "raw" },
        "lease-database": { type: "memfile", persist: false },
        authoritative,
        "valid-lifetime": o.leaseSeconds,
        "renew-timer": timers.renew,
        "rebind-timer": timers.rebind,
        subnet4: [{
          id: 1,
          subnet: `${o.net}.0/${o.prefixLen}`,
          pools: [{ pool: `${o.rangeStart} - ${o.rangeEnd}` }],
          "option-data": [
            { name: "routers", data: o.router },
            { name: "domain-name-servers", data: o.dns.join(", ") },
            { name: "domain-name", data: o.domain },
            { name: "domain-search", data: o.search.join(", ") },
            { name: "interface-mtu", data: String(o.mtu) },
            { code: 121, "csv-format": false, data: hex },
          ],
        }],
        loggers: [{ name: "kea-dhcp4", output_options: [{ output: "stdout" }], severity: "INFO" }],
      },
    }, null, 2));
    // Kea puts its pid and lock files in system directories unless told otherwise.
    const env = { ...process.env, KEA_PIDFILE_DIR: this.work, KEA_LOCKFILE_DIR: this.work };
    return this.spawnIn(this.serverNs, "kea-dhcp4", ["kea-dhcp4", "-c", conf], env);
  }

  /** ISC dhcpd serving `o` (foreground, logging to its output). */
  startDhcpd(o: ServerOffer): Proc {
    const conf = this.file("dhcpd.conf");
    const leases = this.file("dhcpd.leases");
    writeFileSync(leases, "");
    writeFileSync(conf, [
      "authoritative;",
      // The default ping before an offer would add a second to every exchange.
      "ping-check false;",
      `default-lease-time ${o.leaseSeconds};`,
      `max-lease-time ${o.leaseSeconds};`,
      "option rfc3442-classless-static-routes code 121 = array of integer 8;",
      `subnet ${o.net}.0 netmask ${prefixToMask(o.prefixLen)} {`,
      `  range ${o.rangeStart} ${o.rangeEnd};`,
      `  option routers ${o.router};`,
      `  option domain-name-servers ${o.dns.join(", ")};`,
      `  option domain-name "${o.domain}";`,
      `  option domain-search ${o.search.map((s) => `"${s}"`).join(", ")};`,
      `  option interface-mtu ${o.mtu};`,
      `  option rfc3442-classless-static-routes ${classlessBytes(allClassless(o)).join(", ")};`,
      "}",
      "",
    ].join("\n"));
    return this.spawnIn(this.serverNs, "dhcpd", ["dhcpd", "-f", "-d", "-4", "-cf", conf, "-lf", leases, "-pf", this.file("dhcpd.pid"), this.serverIf]);
  }

  /** busybox udhcpd serving `o`, with a short ARP-ping timeout (its default 2 s would dominate). */
  startUdhcpd(o: ServerOffer): Proc {
    const conf = this.file("udhcpd.conf");
    writeFileSync(this.file("udhcpd.leases"), "");
    writeFileSync(conf, [
      `start ${o.rangeStart}`,
      `end ${o.rangeEnd}`,
      `interface ${this.serverIf}`,
      `lease_file ${this.file("udhcpd.leases")}`,
      `pidfile ${this.file("udhcpd.pid")}`,
      "max_leases 50",
      "auto_time 0",
      `option subnet ${prefixToMask(o.prefixLen)}`,
      `option router ${o.router}`,
      `option dns ${o.dns.join(" ")}`,
      `option domain ${o.domain}`,
      `option search ${o.search.join(" ")}`,
      `option mtu ${o.mtu}`,
      `option staticroutes ${allClassless(o).map((r) => `${r.dst} ${r.via}`).join(" ")}`,
      `option lease ${o.leaseSeconds}`,
      "",
    ].join("\n"));
    return this.spawnIn(this.serverNs, "udhcpd", ["busybox", "udhcpd", "-f", "-a", "100", conf]);
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
      ...(opts.releaseOnExit ? ["--release-on-exit"] : []), ...(opts.extraArgs ?? []),
    ];
    const child = spawn("nsenter", [`--net=/run/netns/${this.clientNs}`, paddockBin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const shim = new ShimProc(child, stateDir, runtimeDir, adminSocket, metricsSocket);
    this.procs.add(shim);
    return shim;
  }

  /** The resolv.conf the shim manages (never the host's). */
  get resolvConf(): string {
    return this.file("resolv.conf");
  }

  // ---- the client side as the kernel sees it -----------------------------------------------

  /** IPv4 addresses on the client interface. */
  async addrs(): Promise<IpAddrInfo[]> {
    const r = await runAsync("ip", ["-j", "-n", this.clientNs, "-4", "addr", "show", "dev", this.clientIf]);
    if (r.status !== 0) throw new Error(`ip addr failed: ${r.stderr}`);
    const links = JSON.parse(r.stdout || "[]") as Array<{ addr_info: IpAddrInfo[] }>;
    return (links[0]?.addr_info ?? []).filter((a) => a.family === "inet");
  }

  /** The client interface's MTU. */
  async mtu(): Promise<number> {
    const r = await runAsync("ip", ["-j", "-n", this.clientNs, "link", "show", "dev", this.clientIf]);
    return (JSON.parse(r.stdout) as Array<{ mtu: number }>)[0]!.mtu;
  }

  /** IPv4 routes in every table of the client namespace. */
  async routes(): Promise<IpRoute[]> {
    const r = await runAsync("ip", ["-j", "-n", this.clientNs, "-4", "route", "show", "table", "all"]);
    if (r.status !== 0) throw new Error(`ip route failed: ${r.stderr}`);
    return (JSON.parse(r.stdout || "[]") as Array<IpRoute & { table?: string; type?: string }>).filter((x) => x.table === undefined || x.table === "main");
  }

  /** Routes that Paddock installed (protocol 176). */
  async paddockRoutes(): Promise<IpRoute[]> {
    return (await this.routes()).filter((r) => r.protocol === "176");
  }

  /** Waits until the client interface has an IPv4 address (matching `pred`); returns it. */
  async waitForAddress(ms = 15_000, pred: (a: IpAddrInfo) => boolean = () => true): Promise<IpAddrInfo> {
    const end = Date.now() + ms;
    for (;;) {
      const found = (await this.addrs()).find(pred);
      if (found) return found;
      if (Date.now() > end) throw new Error(`no matching address on ${this.clientIf} within ${ms} ms`);
      await sleep(20);
    }
  }

  /** Waits until `check` holds, polling every 50 ms; returns the time it took. */
  async waitUntil(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<number> {
    const start = Date.now();
    for (;;) {
      if (await check()) return Date.now() - start;
      if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(50);
    }
  }

  /** Starts watching the client's addresses (ip monitor + a poll every `intervalMs`). */
  async watchAddresses(intervalMs = 20): Promise<AddressWatch> {
    const monitor = this.spawnIn(null, "ip monitor", ["ip", "-n", this.clientNs, "monitor", "address"]);
    // ip prints nothing until an event: give it a moment to subscribe before the test acts.
    await sleep(100);
    const watch = new AddressWatch(this, monitor, intervalMs);
    this.watches.add(watch);
    return watch;
  }

  /** Stops every process still running (SIGTERM, then SIGKILL), removes the namespaces and files. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.watches].map((w) => w.stop()));
    // The shim first (it stops its calf), then the servers and monitors.
    const all = [...this.procs];
    const shims = all.filter((p) => p instanceof ShimProc);
    await Promise.all(shims.map((p) => p.stop()));
    await Promise.all(all.filter((p) => !(p instanceof ShimProc)).map((p) => p.stop()));
    // A shim killed hard may have left its calf: runc's state under our runtime dir names it.
    const runcRoot = path.join(this.work, "run", "runc");
    if (existsSync(runcRoot)) {
      const r = spawnSync("runc", ["--root", runcRoot, "list", "--format", "json"], { encoding: "utf8" });
      for (const c of (JSON.parse(r.stdout || "null") ?? []) as Array<{ id: string }>) {
        spawnSync("runc", ["--root", runcRoot, "delete", "--force", c.id]);
      }
    }
    // Anything still running from the lab's directory (a runc a killed shim orphaned) goes too.
    for (const pid of processesUsing(this.work)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    for (const ns of [this.clientNs, this.serverNs]) spawnSync("ip", ["netns", "delete", ns]);
    rmSync(this.work, { recursive: true, force: true });
  }
}

/**
 * Removes what a killed test run of this harness left: namespaces and temporary directories
 * named for a test process that no longer exists, and processes still running from those
 * directories (a runc whose shim was killed).
 */
function removeLeftovers(): void {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const m = /^(pdt-[sc]-(\d+)-\d+)\b/.exec(line);
    if (m && !alive(Number(m[2]))) spawnSync("ip", ["netns", "delete", m[1]!]);
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^paddock-dhcp-test-(\d+)-/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const dir = path.join(tmpdir(), name);
    for (const pid of processesUsing(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Pids of processes whose command line names `dir` (never this process). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/** "255.255.255.0" for 24. */
export function prefixToMask(len: number): string {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join(".");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether every command is on PATH. */
export function haveAll(cmds: string[]): boolean {
  return cmds.every((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);
}
