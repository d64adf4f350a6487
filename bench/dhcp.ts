/**
 * Benchmark (not a test) of the DHCP client, side by side in one run against dnsmasq --no-ping
 * in two throwaway network namespaces joined by a veth pair: `paddock dhcp` in every calf engine ×
 * container runtime combination (node or quickjs, decision 0010; runc or crun, decision 0011),
 * busybox udhcpc and dhcpcd (nodelay noarp), none of them probing the offered address with ARP
 * (paddock with --no-arp-probe: like with like). Root; run it in the foreground (DESIGN.md); it
 * takes several minutes and removes every namespace, process and file it made, also on failure or
 * Ctrl-C:
 *   node_modules/.bin/tsx bench/dhcp.ts [RUNS]          (default 10 runs per client and case)
 * With BENCH_LOG_DIR=DIR set, every paddock run's JSON log is kept there (the profile's raw data).
 *
 * Measured (method and figures in docs/performance.md):
 * - cold: process start (just before spawn of `nsenter --net=… CLIENT`) → the RTM_NEWADDR of the
 *   leased address, seen by this process on an rtnetlink socket in the client namespace. Fresh
 *   state every run (no INIT-REBOOT), the client's IPv4 addresses flushed before each run, the
 *   clients interleaved run by run so the machine's load hits them alike.
 * - memory: VmHWM (peak RSS) of every process of the client, sampled 300 ms after the address
 *   appeared, before it is stopped; for paddock, priv, calf and runtime separately, and the tree.
 * - ACK → address: the ACK as tcpdump sees it on the server's side → the RTM_NEWADDR.
 * - warm: the client already running with the server's side of the veth down (so no carrier and
 *   no lease); time from setting the server's side up (carrier on) → RTM_NEWADDR.
 * - the timeline of every run: the DISCOVER and ACK as tcpdump sees them on the server's side,
 *   and for paddock its JSON log lines (priv and calf) — the profile, one column per combination.
 * - the profile's fixed costs: node start-up, CLI bundle load, runc, ldd, the calf in its sandbox.
 */

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isSameProcess, procStartTime, signalPid, startServer, waitFor, waitForUdpPort, type LabProcess } from "@paddock/testkit";
import { openRtnetlink, type RtnetlinkClient } from "../packages/netlink/src/index.ts";
import { createCalfBundle, parseCalfName } from "../packages/runtime/src/sandbox/bundle.ts";
import { cpuProfileByOrigin, dhcpBenchLab, DHCPCD_DB, fmt, procMemory, processTree, summarize, table, TcpdumpDhcpParser, type ProcMemory, type Summary } from "./dhcp-lib.ts";

const RUNS = Number(process.argv[2] ?? 10);
/** The whole benchmark gives up (and cleans up) after this long: about 5× its normal duration. */
const DEADLINE_MS = 40 * 60_000;
/** Longest wait for one lease; every client gets one in well under a second on a veth. */
const LEASE_TIMEOUT_MS = 10_000;
/** After the address appears, the clients still apply routes and resolv.conf: sample memory after that. */
const SETTLE_MS = 300;
/** In the warm case, how long the client idles with no carrier before the link comes up. */
const WARM_IDLE_MS = 500;
/** SIGTERM → SIGKILL grace when stopping a client (the paddock calf gets 5 s from priv). */
const STOP_TIMEOUT_MS = 8_000;
/** The DHCP server port (RFC 2131 §4.1): dnsmasq is ready once it holds it. */
const DHCP_SERVER_PORT = 67;
/** Carrier loss reaches IFF_RUNNING through the kernel's linkwatch, up to a second later. */
const CARRIER_DOWN_TIMEOUT_MS = 3_000;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** PADDOCK_BENCH_CLI=DIR runs another build of the CLI (DIR/bin, DIR/dist), e.g. a copy of an older one, under the same load. */
const CLI_DIR = process.env.PADDOCK_BENCH_CLI ? path.resolve(process.env.PADDOCK_BENCH_CLI) : path.join(root, "packages/cli");
const PADDOCK_BIN = path.join(CLI_DIR, "bin/paddock.mjs");
const CLI_BUNDLE = path.join(CLI_DIR, "dist/paddock.mjs");
const CALF_BUNDLE = path.join(root, "packages/services/dhcp4/calf/dist/calf-dhcp4.mjs");
/** The DHCP calf on QuickJS: one static executable (scripts/build.ts; decision 0010). */
const CALF_QUICKJS = path.join(root, "packages/services/dhcp4/calf/dist/calf-dhcp4-quickjs");
/** Clients run with a bare environment: what a service manager gives them (no NODE_EXTRA_CA_CERTS). */
const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

if (process.getuid?.() !== 0) {
  console.error("bench/dhcp.ts needs root (it creates network namespaces)");
  process.exit(1);
}
for (const [cmd, pkg] of [["dnsmasq", "dnsmasq-base"], ["busybox", "busybox"], ["dhcpcd", "dhcpcd-base"], ["runc", "runc"], ["crun", "crun"], ["tcpdump", "tcpdump"], ["nsenter", "util-linux"]]) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/dhcp.ts needs ${cmd} (Debian package ${pkg})`);
    process.exit(1);
  }
}
for (const f of [CLI_BUNDLE, CALF_BUNDLE, CALF_QUICKJS]) {
  if (!existsSync(f)) {
    console.error(`${f} is missing: run node_modules/.bin/tsx scripts/build.ts`);
    process.exit(1);
  }
}

// ---- names, cleanup ---------------------------------------------------------------------------

// A testkit lab (./dhcp-lib.ts dhcpBenchLab): unique names, everything removed at the end, also on
// Ctrl-C or after a killed run.
const SERVER_ADDRESS = "10.79.0.1";
const { lab, link, serverNs: SERVER_NS, clientNs: CLIENT_NS, serverIf: SERVER_IF, clientIf: CLIENT_IF } = dhcpBenchLab("pdb", SERVER_ADDRESS);
const id = lab.id;
/** The lab's directory: mode 0711, so the calf (an unprivileged uid) can traverse to its rootfs here. */
const work = lab.dir;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; after a SIGKILL, also to what it left of its process tree. */
async function stop(p: LabProcess): Promise<void> {
  if (!p.running) return;
  const tree = processTree(p.pid!).map((pid) => ({ pid, start: procStartTime(pid) }));
  const exit = await p.stop("SIGTERM", STOP_TIMEOUT_MS);
  if (exit.signal === "SIGKILL") {
    console.error(`${p.name} (pid ${p.pid}) did not stop on SIGTERM; SIGKILL to ${tree.map((t) => t.pid).join(" ")}`);
    for (const t of tree) if (isSameProcess(t.pid, t.start)) signalPid(t.pid, "SIGKILL");
  }
}

const deadline = setTimeout(() => {
  console.error(`bench/dhcp.ts: still running after ${DEADLINE_MS / 60_000} min; giving up`);
  void lab.destroy().finally(() => process.exit(2));
}, DEADLINE_MS);

/** A client or server process in a namespace, its stdout (paddock: the JSON log) kept apart too. */
interface Spawned {
  proc: LabProcess;
  stdout: () => string;
}

/** Spawns `cmd` inside the client (or server) namespace, with the bare environment. */
function spawnIn(ns: string, cmd: string[]): Spawned {
  const proc = lab.spawn(ns, cmd, { env: ENV });
  let out = "";
  proc.child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  return { proc, stdout: () => out };
}

// ---- the lab ----------------------------------------------------------------------------------

let nlClient: RtnetlinkClient;
let nlServer: RtnetlinkClient;
let clientIndex = 0;
let tcpdump: TcpdumpDhcpParser;

/** Resolves with performance.now() at the next RTM_NEWADDR of an IPv4 address on the client link. */
let addressWaiter: ((t: number) => void) | undefined;

function waitForAddress(): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      addressWaiter = undefined;
      reject(new Error(`no address within ${LEASE_TIMEOUT_MS} ms`));
    }, LEASE_TIMEOUT_MS);
    addressWaiter = (t) => {
      clearTimeout(timer);
      resolve(t);
    };
  });
}

/** Wall-clock ms of a performance.now() value (log lines and tcpdump use the wall clock). */
const wall = (t: number) => performance.timeOrigin + t;

async function setUpLab(): Promise<void> {
  nlClient = openRtnetlink({ netnsPath: link.b.ns.path, events: true });
  nlServer = openRtnetlink({ netnsPath: link.a.ns.path });
  lab.defer(() => nlClient.close());
  lab.defer(() => nlServer.close());
  clientIndex = (await nlClient.getLink(CLIENT_IF)).index;
  nlClient.onEvent((e) => {
    if (e.kind === "address" && e.action === "new" && e.address.index === clientIndex && e.address.address?.startsWith("10.79.")) {
      const t = performance.now();
      const w = addressWaiter;
      addressWaiter = undefined;
      w?.(t);
    }
  });

  const leases = path.join(work, "dnsmasq.leases");
  writeFileSync(leases, "");
  // This benchmark's own offer (no MTU, search list or classless routes: the figures in
  // docs/performance.md were measured with it); ready once it holds the DHCP server port.
  await startServer(lab, SERVER_NS, {
    name: "dnsmasq",
    argv: ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping", "--conf-file=/dev/null",
      `--interface=${SERVER_IF}`, "--bind-interfaces", "--dhcp-range=10.79.0.100,10.79.0.200,255.255.255.0,1h", `--dhcp-leasefile=${leases}`,
      `--dhcp-option=option:router,${SERVER_ADDRESS}`, `--dhcp-option=option:dns-server,${SERVER_ADDRESS}`, "--dhcp-option=option:domain-name,bench.test",
      "--log-facility=-"],
    ready: (p, timeoutMs) => waitForUdpPort(p, DHCP_SERVER_PORT, timeoutMs),
  });
  const td = spawnIn(SERVER_NS, ["tcpdump", "-i", SERVER_IF, "-n", "-l", "-v", "-tt", "--time-stamp-precision=micro", "udp and (port 67 or port 68)"]);
  tcpdump = new TcpdumpDhcpParser();
  td.proc.child.stdout!.on("data", (c: Buffer) => tcpdump.push(c.toString()));
  await td.proc.waitForLog(/listening on/);
}

/** Removes what a client applied, so the next run starts from the same bare link. */
function resetClient(): void {
  sh("ip", ["-n", CLIENT_NS, "-4", "addr", "flush", "dev", CLIENT_IF]);
  sh("ip", ["-n", CLIENT_NS, "-4", "route", "flush", "dev", CLIENT_IF]);
  sh("ip", ["-n", CLIENT_NS, "link", "set", CLIENT_IF, "mtu", "1500"]);
}

// ---- the clients --------------------------------------------------------------------------------

/** The calf engines and container runtimes paddock is run with: every combination, side by side. */
const ENGINES = ["node", "quickjs"] as const;
const RUNTIMES = ["runc", "crun"] as const;
type Engine = (typeof ENGINES)[number];
type Runtime = (typeof RUNTIMES)[number];
/** paddock-ENGINE-RUNTIME: `paddock dhcp` with its calf on ENGINE (decision 0010) under RUNTIME (decision 0011). */
type PaddockName = `paddock-${Engine}-${Runtime}`;
type ClientName = PaddockName | "udhcpc" | "dhcpcd";
const PADDOCKS: PaddockName[] = ENGINES.flatMap((e) => RUNTIMES.map((r): PaddockName => `paddock-${e}-${r}`));

const isPaddock = (client: ClientName): client is PaddockName => client.startsWith("paddock-");
const engineOf = (client: PaddockName): Engine => client.split("-")[1] as Engine;
const runtimeOf = (client: PaddockName): Runtime => client.split("-")[2] as Runtime;
/** "paddock (node, runc)". */
const labelOf = (client: ClientName): string => (isPaddock(client) ? `paddock (${engineOf(client)}, ${runtimeOf(client)})` : client === "udhcpc" ? "busybox udhcpc" : client);

interface RunResult {
  ms: number;
  /** performance.now() at spawn (cold) or at link up (warm), and when the address appeared. */
  t0: number;
  tAddr: number;
  /** Memory per role: paddock priv / calf / runc; the others: every process of the client. */
  memory: Record<string, ProcMemory[]>;
  /** The client's output (paddock: JSON log lines). */
  log: string;
  /** paddock: when its calf's container was created (the runtime's state; wall ms): early or not. */
  calfCreated?: number;
}

const UDHCPC_SCRIPT = path.join(work, "udhcpc.script");
writeFileSync(
  UDHCPC_SCRIPT,
  // What busybox's example default.script does with iproute2: the address (with its lifetime)
  // first, then the default route, the MTU and resolv.conf (a file of the benchmark's, never /etc's).
  `#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew)
    ip addr replace "$ip/$mask" dev "$interface" valid_lft "$lease" preferred_lft "$lease"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    { [ -n "$domain" ] && echo "search $domain"; for s in $dns; do echo "nameserver $s"; done; } > "${path.join(work, "udhcpc.resolv.conf")}"
    ;;
esac
exit 0
`,
  { mode: 0o755 },
);

const DHCPCD_CONF = path.join(work, "dhcpcd.conf");
writeFileSync(
  DHCPCD_CONF,
  // nodelay: no random 0–1 s wait before the first DISCOVER; noarp: no ARP probe of the offered
  // address (paddock runs with --no-arp-probe, udhcpc probes none); no hook scripts, so the
  // host's resolv.conf is safe.
  `nodelay
noarp
ipv4only
noipv4ll
noipv6rs
script ""
option domain_name_servers, domain_name, domain_search, interface_mtu
`,
);

function command(client: ClientName, dir: string): string[] {
  switch (client) {
    case "udhcpc":
      // Without -q: it stays, so its memory can be read; the timing is the same.
      return ["busybox", "udhcpc", "-f", "-n", "-i", CLIENT_IF, "-s", UDHCPC_SCRIPT];
    case "dhcpcd":
      return ["dhcpcd", "-B", "-4", "-f", DHCPCD_CONF, CLIENT_IF];
    default:
      // --no-arp-probe: RFC 5227 probing adds 4–7 s; dhcpcd runs with noarp, so neither probes.
      // --calf-engine always: the built-in services' default (QuickJS) falls back to Node where it
      // is not built, and a row must be the engine it names. The early start takes the option.
      return [process.execPath, PADDOCK_BIN, "dhcp", "--no-arp-probe", "--calf-engine", engineOf(client),
        "--container-runtime", runtimeOf(client), "--iface", CLIENT_IF, "--state-dir", path.join(dir, "state"), "--runtime-dir", path.join(dir, "run"),
        "--admin-socket", path.join(dir, "admin.sock"), "--resolv-conf", path.join(dir, "resolv.conf"), "--log-format", "json", "--log-level", "debug"];
  }
}

/** The calf's host pid: its runtime's list (runc or crun), in the run's runtime dir. */
function runningCalf(dir: string, runtime: "runc" | "crun"): { pid: number; created: number } | undefined {
  const r = spawnSync(runtime, ["--root", path.join(dir, "run", runtime), "list", "--format", "json"], { encoding: "utf8" });
  const list = (r.status === 0 ? JSON.parse(r.stdout || "null") ?? [] : []) as Array<{ pid: number; status: string; created: string }>;
  const c = list.find((x) => x.status === "running");
  return c && { pid: c.pid, created: Date.parse(c.created) };
}

function sampleMemory(client: ClientName, pid: number, dir: string): Record<string, ProcMemory[]> {
  const tree = processTree(pid);
  const all = tree.map(procMemory).filter((m): m is ProcMemory => m !== undefined);
  if (!isPaddock(client)) return { all };
  const calf = runningCalf(dir, runtimeOf(client))?.pid;
  return {
    priv: all.filter((m) => m.pid === pid),
    calf: all.filter((m) => m.pid === calf),
    runtime: all.filter((m) => m.pid !== pid && m.pid !== calf),
  };
}

async function afterRun(client: ClientName, dir: string): Promise<void> {
  resetClient();
  if (client === "dhcpcd") {
    // Its lease file would make the next run an INIT-REBOOT.
    for (const f of readdirSync(DHCPCD_DB)) if (f.startsWith(CLIENT_IF)) rmSync(path.join(DHCPCD_DB, f), { force: true });
  }
  rmSync(dir, { recursive: true, force: true });
}

let runCounter = 0;

/** Cold: spawn → address. */
async function coldRun(client: ClientName): Promise<RunResult> {
  const dir = path.join(work, `run-${++runCounter}`);
  mkdirSync(dir, { mode: 0o711 });
  const waiting = waitForAddress();
  const t0 = performance.now();
  const p = spawnIn(CLIENT_NS, command(client, dir));
  const died = diedBeforeAddress(client, p.proc);
  try {
    return await measured(client, p, dir, t0, Promise.race([waiting, died]));
  } finally {
    died.catch(() => {});
    addressWaiter = undefined;
    await stop(p.proc);
    await afterRun(client, dir);
  }
}

/** The run's result once the address appeared (at `address`), with the client's memory after it settled. */
async function measured(client: ClientName, p: Spawned, dir: string, t0: number, address: Promise<number>): Promise<RunResult> {
  const tAddr = await address;
  await sleep(SETTLE_MS);
  const log = p.stdout();
  if (process.env.BENCH_LOG_DIR && isPaddock(client)) writeFileSync(path.join(process.env.BENCH_LOG_DIR, `${path.basename(dir)}-${client}.log`), log);
  const calfCreated = isPaddock(client) ? runningCalf(dir, runtimeOf(client))?.created : undefined;
  return { ms: tAddr - t0, t0, tAddr, memory: sampleMemory(client, p.proc.pid!, dir), log, ...(calfCreated !== undefined ? { calfCreated } : {}) };
}

/** Rejects when the client exits (before an address appeared: the caller stops waiting after). */
function diedBeforeAddress(client: ClientName, p: LabProcess): Promise<never> {
  return p.exited.then((e) => {
    throw new Error(`${client} exited (${e.code ?? e.signal}) before an address appeared:\n${p.output.trim()}`);
  });
}

/** Warm: the client idles with no carrier; server side up → address. */
async function warmRun(client: ClientName): Promise<RunResult> {
  const dir = path.join(work, `run-${++runCounter}`);
  mkdirSync(dir, { mode: 0o711 });
  await nlServer.setLinkUp(SERVER_IF, false);
  // Start the client only once the link reads as down, or it may begin with a carrier that then goes.
  await waitFor(async () => {
    const l = await nlClient.getLink(clientIndex);
    return !l.running && !l.carrier;
  }, { what: `${CLIENT_IF} to lose its carrier`, timeoutMs: CARRIER_DOWN_TIMEOUT_MS });
  const p = spawnIn(CLIENT_NS, command(client, dir));
  const died = diedBeforeAddress(client, p.proc);
  try {
    // Ready: paddock once the calf runs its client; dhcpcd once it waits for the carrier.
    await p.proc.waitForLog(isPaddock(client) ? /DHCP client started/ : /waiting for carrier|carrier lost/, { timeoutMs: LEASE_TIMEOUT_MS });
    // Part of what is measured: the client idles without a carrier before the link comes up.
    await sleep(WARM_IDLE_MS);
    const waiting = waitForAddress();
    const t0 = performance.now();
    await nlServer.setLinkUp(SERVER_IF, true);
    return await measured(client, p, dir, t0, Promise.race([waiting, died]));
  } finally {
    died.catch(() => {});
    addressWaiter = undefined;
    await nlServer.setLinkUp(SERVER_IF, true);
    await stop(p.proc);
    await afterRun(client, dir);
  }
}

/** Runs repeated because the CLI bundle was being rebuilt under them (reported at the end). */
let rebuildRetries = 0;

/**
 * `run()`, once more (up to 3 times) when paddock died because its CLI bundle's chunks were being
 * replaced by a concurrent `scripts/build.ts` (a shared checkout): that run measured nothing.
 */
async function rebuildSafe(run: () => Promise<RunResult>): Promise<RunResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (attempt >= 3 || !/ERR_MODULE_NOT_FOUND/.test(String(e))) throw e;
      rebuildRetries++;
      await sleep(2_000);
    }
  }
}

// ---- the timeline of one run -------------------------------------------------------------------

/** Wall-clock ms of named points of a paddock run, from its JSON log (priv and calf lines). */
function paddockPoints(log: string): Record<string, number> {
  const points: Record<string, number> = {};
  const mark = (name: string, t: unknown) => {
    if (typeof t === "number" && points[name] === undefined) points[name] = t;
  };
  for (const line of log.split("\n")) {
    let o: { time?: number; msg?: string; calf?: string; stream?: string; component?: string; changes?: unknown[]; durationMs?: number; phase?: string; ms?: number; at?: number };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      continue;
    }
    if (o.msg === "start-up phase" && typeof o.phase === "string" && typeof o.time === "number" && typeof o.ms === "number") {
      // The priv's start-up phases (debug level): wall time, and ms since the priv process began.
      // Those marked before the logger existed are logged later, with `at` the time they ended.
      const at = typeof o.at === "number" ? o.at : o.time;
      if (points.processStart === undefined) mark("processStart", at - o.ms);
      mark(`phase:${o.phase}`, at);
      continue;
    }
    if (o.calf?.startsWith("dhcp4") && o.stream === "stdout" && typeof o.msg === "string") {
      // A calf line. The priv re-emits the calf's JSON line as its own record (message and
      // fields, stamped when the priv read it); older priv builds logged the raw line as msg.
      let c = { time: o.time, msg: o.msg };
      if (o.msg.startsWith("{")) {
        try {
          c = JSON.parse(o.msg) as typeof c;
        } catch {
          // Not JSON after all: keep the priv's record.
        }
      }
      const m = c.msg ?? "";
      if (m === "DHCP client started") mark("calfStarted", c.time);
      else if (/link up in/.test(m)) mark("calfLinkUp", c.time);
      else if (/→ SELECTING: DISCOVER/.test(m)) mark("calfDiscover", c.time);
      else if (/→ BOUND/.test(m)) mark("calfBound", c.time);
      continue;
    }
    const m = o.msg ?? "";
    if (o.component === "handlers" && points.handlersStarted === undefined) mark("handlersStarted", o.time);
    else if (m === "paddock dhcp started") mark("privStarted", o.time);
    else if (m === "calf started") mark("runcSpawned", o.time);
    else if (m === "link changed") mark("privLinkChanged", o.time);
    // The handler's line after the reconcile that added the address: when it began is its time
    // minus its duration.
    if (o.component === "handlers" && Array.isArray(o.changes) && o.changes.some((c) => /^add /.test(String(c))) && typeof o.durationMs === "number") {
      mark("reconcileStart", o.time! - o.durationMs);
    }
  }
  return points;
}

/** The DHCP exchange as the server saw it: the first DISCOVER after `fromWall`, and the ACK after it. */
function exchange(fromWall: number): { discover?: number; offer?: number; request?: number; ack?: number } {
  const discover = tcpdump.first("Discover", fromWall)?.timeMs;
  if (discover === undefined) return {};
  const offer = tcpdump.first("Offer", discover)?.timeMs;
  const request = tcpdump.first("Request", offer ?? discover)?.timeMs;
  const ack = tcpdump.first("ACK", request ?? discover)?.timeMs;
  return { discover, offer, request, ack };
}

// ---- fixed costs for the profile ------------------------------------------------------------

/** Wall time of a short command, N times. */
function timeCommand(cmd: string, args: string[], n: number, env: NodeJS.ProcessEnv = ENV): Summary {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    spawnSync(cmd, args, { stdio: "ignore", env });
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

/** Peak RSS (MiB) of a Node command, reported by a preload at exit. */
function nodeMaxRss(args: string[]): number {
  const preload = path.join(work, "maxrss.cjs");
  writeFileSync(preload, "process.on('exit', () => require('fs').writeSync(2, `\\nMAXRSS ${process.resourceUsage().maxRSS}\\n`));\n");
  const r = spawnSync(process.execPath, ["-r", preload, ...args], { encoding: "utf8", env: ENV });
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** What the store's commit costs on this file system: write a temp file, fsync it, rename it. */
function fsyncCost(n: number): Summary {
  const samples: number[] = [];
  const data = Buffer.alloc(1024, 0x61);
  for (let i = 0; i < n; i++) {
    const f = path.join(work, "fsync-test");
    const t0 = performance.now();
    const fd = openSync(`${f}.tmp`, "w", 0o600);
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(`${f}.tmp`, f);
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

/**
 * Self time by package while Node loads a bundle (V8's sampling profiler, 100 µs), median of
 * `n` runs: which dependencies the start-up pays for.
 */
function bundleLoadProfile(args: string[], bundle: string, n: number): Array<[string, number]> {
  const text = readFileSync(bundle, "utf8");
  const runs: Array<Map<string, number>> = [];
  for (let i = 0; i < n; i++) {
    const dir = path.join(work, `cpuprof-${i}`);
    spawnSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=100", ...args], { stdio: "ignore", env: ENV });
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (file) runs.push(cpuProfileByOrigin(JSON.parse(readFileSync(path.join(dir, file), "utf8")), path.basename(bundle), text));
    rmSync(dir, { recursive: true, force: true });
  }
  const keys = new Set(runs.flatMap((m) => [...m.keys()]));
  return [...keys].map((k): [string, number] => [k, summarize(runs.map((m) => m.get(k) ?? 0)).median]).sort((a, b) => b[1] - a[1]);
}

/** `runc run` of the calf's own sandbox (its bundle, a private cgroup) with other arguments. */
async function sandboxRuns(n: number): Promise<Record<string, Summary>> {
  const name = parseCalfName("dhcp4");
  if (!name.ok) throw name.error;
  const runtimeDir = path.join(work, "sandbox");
  const runcRoot = path.join(work, "sandbox-runc");
  const bundle = await createCalfBundle(
    { name: name.value, script: CALF_BUNDLE, memoryBytes: 96 * 1024 * 1024, pids: 32 },
    { runtimeDir, cgroupParent: `/paddock-bench-${id}` },
  );
  const configPath = path.join(bundle.dir, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as { process: { args: string[] }; linux: Record<string, unknown> };
  const original = config.process.args;
  const out: Record<string, Summary> = {};
  const { seccomp: _seccomp, ...linuxWithoutSeccomp } = config.linux;
  const variants: Record<string, typeof config> = {
    // runc + Node start-up inside the sandbox.
    "node -e 0": { ...config, process: { ...config.process, args: [original[0]!, "-e", "0"] } },
    // … + loading the calf bundle: it then stops at its first use of fd 3, which is not there.
    "node calf-dhcp4.mjs (no fds)": config,
    // The same without the seccomp filter: what the filter costs a syscall-heavy start-up.
    "node calf-dhcp4.mjs (no fds), seccomp filter removed": { ...config, linux: linuxWithoutSeccomp },
  };
  for (const [label, variant] of Object.entries(variants)) {
    writeFileSync(configPath, JSON.stringify(variant));
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = spawnSync("runc", ["--root", runcRoot, "run", "--bundle", bundle.dir, `pdb-${id}-${i}`], { encoding: "utf8", env: ENV, timeout: 10_000 });
      samples.push(performance.now() - t0);
      if (r.status === null) throw new Error(`runc run ${label}: ${r.error?.message ?? r.signal}`);
    }
    out[label] = summarize(samples);
  }
  // The QuickJS calf in its own sandbox (the same limits, its one executable mounted): runc + the
  // engine + the calf's bytecode, until its first use of fd 3.
  const quickjs = await createCalfBundle(
    { name: name.value, script: CALF_QUICKJS, engine: "quickjs", memoryBytes: 96 * 1024 * 1024, pids: 32 },
    { runtimeDir: path.join(work, "sandbox-quickjs"), cgroupParent: `/paddock-bench-${id}` },
  );
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = spawnSync("runc", ["--root", runcRoot, "run", "--bundle", quickjs.dir, `pdb-${id}-q${i}`], { encoding: "utf8", env: ENV, timeout: 10_000 });
    samples.push(performance.now() - t0);
    if (r.status === null) throw new Error(`runc run of the QuickJS calf: ${r.error?.message ?? r.signal}`);
  }
  out["calf-dhcp4-quickjs (no fds)"] = summarize(samples);
  lab.defer(() => {
    spawnSync("sh", ["-c", `for d in /sys/fs/cgroup/*/paddock-bench-${id} /sys/fs/cgroup/paddock-bench-${id}; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \\; ; done; true`]);
  });
  return out;
}

// ---- main -----------------------------------------------------------------------------------

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

try {
  const loadBefore = load();
  await setUpLab();
  console.log(`DHCP client benchmark, ${RUNS} runs per client and case, ${new Date().toISOString()}, node ${process.version}, load average before ${loadBefore}`);
  console.log("No client probes the offered address with ARP (RFC 5227): paddock --no-arp-probe, dhcpcd noarp, udhcpc without -a.");

  const clients: ClientName[] = [...PADDOCKS, "udhcpc", "dhcpcd"];
  const warmClients: ClientName[] = [...PADDOCKS, "dhcpcd"];
  const cold = Object.fromEntries(clients.map((c) => [c, [] as RunResult[]])) as Record<ClientName, RunResult[]>;
  const warm = Object.fromEntries(warmClients.map((c) => [c, [] as RunResult[]])) as Partial<Record<ClientName, RunResult[]>>;
  // One untimed run each: page cache, dnsmasq's lease database, dhcpcd's DUID file.
  for (const c of clients) await rebuildSafe(() => coldRun(c));
  for (let i = 0; i < RUNS; i++) {
    // Rotate the order each round so no client always follows the same one.
    for (let k = 0; k < clients.length; k++) {
      const c = clients[(i + k) % clients.length]!;
      cold[c].push(await rebuildSafe(() => coldRun(c)));
    }
    for (let k = 0; k < warmClients.length; k++) {
      const c = warmClients[(i + k) % warmClients.length]!;
      warm[c]!.push(await rebuildSafe(() => warmRun(c)));
    }
    const last = (rs: RunResult[] | undefined) => rs?.[rs.length - 1]?.ms.toFixed(1) ?? "–";
    process.stdout.write(`  round ${i + 1}/${RUNS}: cold ${clients.map((c) => `${c} ${last(cold[c])}`).join(", ")} ms; warm ${warmClients.map((c) => `${c} ${last(warm[c])}`).join(", ")} ms\n`);
  }
  const loadAfter = load();

  // ---- the comparison table: every engine × runtime beside udhcpc and dhcpcd ----
  /** Per run, the sum over `roles` (all roles when none given) of a memory field, MiB. */
  const mib = (rs: RunResult[], roles?: string[], field: "hwmKiB" | "pssKiB" = "hwmKiB") =>
    summarize(rs.map((r) => Object.entries(r.memory).filter(([role]) => !roles || roles.includes(role)).flatMap(([, ms]) => ms).reduce((s, m) => s + m[field], 0) / 1024));
  const coldS = Object.fromEntries(clients.map((c) => [c, summarize(cold[c].map((r) => r.ms))])) as Record<ClientName, Summary>;
  const warmS = Object.fromEntries(warmClients.map((c) => [c, summarize(warm[c]!.map((r) => r.ms))])) as Partial<Record<ClientName, Summary>>;
  /** ACK at the server (tcpdump) → the address on the client's interface, cold runs. */
  const ackS = Object.fromEntries(clients.map((c) => [c, summarize(cold[c].map((r) => wall(r.tAddr) - (exchange(wall(r.t0)).ack ?? NaN)))])) as Record<ClientName, Summary>;
  const ratio = (a: Summary | undefined, b: Summary | undefined) => (a && b && a.n > 0 && b.n > 0 ? (a.median / b.median).toFixed(2) : "");
  const med = (s: Summary) => (s.n > 0 ? s.median.toFixed(1) : "n/a");
  console.log(`\nEvery engine × runtime beside udhcpc and dhcpcd (medians of ${RUNS}; ms; peak RSS = VmHWM, MiB)`);
  console.log(table([
    ["client", "cold ms", "/ dhcpcd", "/ udhcpc", "warm ms", "/ dhcpcd", "ACK → address ms", "priv", "calf", "runtime", "tree (sum)", "PSS tree"],
    ...clients.map((c) => {
      const rs = cold[c];
      const mem = isPaddock(c)
        ? [med(mib(rs, ["priv"])), med(mib(rs, ["calf"])), `${runtimeOf(c)} ${med(mib(rs, ["runtime"]))}`]
        : ["", "", ""];
      const n = Math.round(summarize(rs.map((r) => Object.values(r.memory).flat().length)).median);
      return [labelOf(c), fmt(coldS[c]), ratio(coldS[c], coldS.dhcpcd), ratio(coldS[c], coldS.udhcpc),
        warmS[c] ? fmt(warmS[c]!) : "n/a", ratio(warmS[c], warmS.dhcpcd), fmt(ackS[c], 2), ...mem, `${med(mib(rs))} (${n} processes)`, med(mib(rs, undefined, "pssKiB"))];
    }),
  ]));
  console.log("udhcpc does not watch the carrier (it retransmits on its own timer): no warm figure.");

  // ---- the targets of issue 14 (ratios to dhcpcd in this run) ----
  const verdict = (ok: boolean) => (ok ? "met" : "missed");
  console.log(`\nIssue 14's targets, per combination (this run)`);
  console.log(table([
    ["client", "warm ≤ 1.0× dhcpcd", "cold ≤ 1.5× dhcpcd and < udhcpc", "ACK → address ≤ 1 ms", "calf ≤ 4 MiB", "priv ≤ 40 MiB"],
    ...PADDOCKS.map((c) => {
      const w = warmS[c]!.median / warmS.dhcpcd!.median;
      const k = coldS[c].median / coldS.dhcpcd.median;
      const calf = mib(cold[c], ["calf"]).median;
      const priv = mib(cold[c], ["priv"]).median;
      return [labelOf(c), `${verdict(w <= 1)} (${w.toFixed(2)}×)`, `${verdict(k <= 1.5 && coldS[c].median < coldS.udhcpc.median)} (${k.toFixed(2)}×, udhcpc ${(coldS[c].median / coldS.udhcpc.median).toFixed(2)}×)`,
        `${verdict(ackS[c].median <= 1)} (${ackS[c].median.toFixed(2)} ms)`, `${verdict(calf <= 4)} (${calf.toFixed(1)})`, `${verdict(priv <= 40)} (${priv.toFixed(1)})`];
    }),
  ]));

  // ---- the per-run timeline (all clients: tcpdump; paddock: its log) ----
  const phaseRows: string[][] = [["client", "start → DISCOVER at server", "DISCOVER → ACK at server", "ACK → address"]];
  for (const c of clients) {
    const ph = cold[c].map((r) => ({ r, x: exchange(wall(r.t0)) }));
    phaseRows.push([labelOf(c),
      fmt(summarize(ph.map(({ r, x }) => (x.discover ?? NaN) - wall(r.t0)))),
      fmt(summarize(ph.map(({ x }) => (x.ack ?? NaN) - (x.discover ?? NaN)))),
      fmt(summarize(ph.map(({ r, x }) => wall(r.tAddr) - (x.ack ?? NaN))))]);
  }
  console.log(`\nCold start by phase, from tcpdump on the server's side (ms)`);
  console.log(table(phaseRows));

  // ---- the profile: paddock's phases, one column per engine × runtime ----
  const points = Object.fromEntries(PADDOCKS.map((c) => [c, cold[c].map((r) => ({ r, p: paddockPoints(r.log), x: exchange(wall(r.t0)) }))])) as Record<PaddockName, Array<{ r: RunResult; p: Record<string, number>; x: ReturnType<typeof exchange> }>>;
  type Point = (typeof points)[PaddockName][number];
  const row = (label: string, f: (q: Point) => number) => [label, ...PADDOCKS.map((c) => fmt(summarize(points[c].map(f))))];
  // The priv's own start-up phases, in the order it logs them (the names are the shim's).
  const phases = [...new Set(PADDOCKS.flatMap((c) => Object.keys(points[c][0]?.p ?? {}).filter((k) => k.startsWith("phase:"))))];
  const phaseNotes: Record<string, string> = {
    "node started": "Node's own start-up, until bin/paddock.mjs runs",
    "early start loaded": "dist/early.mjs and the built-ins it imports",
    "early: calf spawned": "the runtime spawned: the calf's container starts from here",
    "CLI loaded": "dist/paddock.mjs, commander",
    "command loaded": "the command's chunks: runtime, pino, capnp-ts, services",
    "store open": "Node start-up, CLI bundle load, preflight (directories), store",
    "interface checked": "rtnetlink socket, RTM_GETLINK",
    "priv keys written": "the priv's keys, one commit",
    "data path ready": "tc egress program, eBPF socket filter, packet socket",
    "calf started": "supervisor: stale check, bundle written (or the early calf adopted)",
  };
  const privRows = phases.map((k, i) => {
    const name = k.slice("phase:".length);
    const from = i === 0 ? "processStart" : phases[i - 1]!;
    return row(`${i === 0 ? "priv process start → " : "→ "}${name}${phaseNotes[name] ? ` (${phaseNotes[name]})` : ""}`, ({ p }) => p[k]! - p[from]!);
  });
  console.log(`\npaddock dhcp cold start, phase by phase (ms, medians (min–max); log timestamps have 1 ms resolution)`);
  console.log(table([
    ["phase", ...PADDOCKS.map(labelOf)],
    row("spawn → priv process start (nsenter, exec)", ({ r, p }) => p.processStart! - wall(r.t0)),
    ...privRows,
    row("priv process start → the calf's container created (the runtime's state; before 'stores open' when the calf started early)", ({ r, p }) => (r.calfCreated ?? NaN) - p.processStart!),
    row("runtime spawned (the supervisor's 'calf started') → the calf's client started (runtime, engine start-up, calf code, KV reads)", ({ p }) => p.calfStarted! - p.runcSpawned!),
    row("priv process start → the calf's client started", ({ p }) => p.calfStarted! - p.processStart!),
    row("→ DISCOVER at the server (calf → fd 4 → priv egress check → packet socket)", ({ p, x }) => x.discover! - p.calfStarted!),
    row("DISCOVER → OFFER (dnsmasq)", ({ x }) => x.offer! - x.discover!),
    row("OFFER → REQUEST (priv relay → calf → priv)", ({ x }) => x.request! - x.offer!),
    row("REQUEST → ACK (dnsmasq)", ({ x }) => x.ack! - x.request!),
    row("ACK → handler reconcile begins (relay → calf decode → KV commit)", ({ p, x }) => p.reconcileStart! - x.ack!),
    row("reconcile begins → address (the handler: ownership record, netlink)", ({ r, p }) => wall(r.tAddr) - p.reconcileStart!),
    row("(for reference: ACK → the calf's BOUND line, logged once its KV writes are acknowledged)", ({ p, x }) => p.calfBound! - x.ack!),
    ["total", ...PADDOCKS.map((c) => fmt(coldS[c]))],
  ]));

  const wpoints = Object.fromEntries(PADDOCKS.map((c) => [c, warm[c]!.map((r) => ({ r, p: paddockPoints(r.log), x: exchange(wall(r.t0)) }))])) as typeof points;
  const wrow = (label: string, f: (q: Point) => number) => [label, ...PADDOCKS.map((c) => fmt(summarize(wpoints[c].map(f))))];
  console.log(`\npaddock dhcp warm, phase by phase (ms)`);
  console.log(table([
    ["phase", ...PADDOCKS.map(labelOf)],
    wrow("link up → priv's rtnetlink event logged", ({ r, p }) => p.privLinkChanged! - wall(r.t0)),
    wrow("→ calf 'link up' (fd 4 link message)", ({ p }) => p.calfLinkUp! - p.privLinkChanged!),
    wrow("→ DISCOVER at the server", ({ p, x }) => x.discover! - p.calfLinkUp!),
    wrow("DISCOVER → ACK at the server", ({ x }) => x.ack! - x.discover!),
    wrow("ACK → handler reconcile begins (relay → calf decode → KV commit)", ({ p, x }) => p.reconcileStart! - x.ack!),
    wrow("reconcile begins → address (the handler: ownership record, netlink)", ({ r, p }) => wall(r.tAddr) - p.reconcileStart!),
    wrow("(for reference: ACK → the calf's BOUND line)", ({ p, x }) => p.calfBound! - x.ack!),
    ["total", ...PADDOCKS.map((c) => fmt(warmS[c]!))],
  ]));

  // ---- fixed costs ----
  const N = RUNS;
  const nsNode = ["nsenter", `--net=/run/netns/${CLIENT_NS}`];
  const fixed: Array<[string, Summary]> = [
    ["nsenter --net=… true (every client pays it)", timeCommand(nsNode[0]!, [...nsNode.slice(1), "true"], N)],
    ["node -e 0", timeCommand(process.execPath, ["-e", "0"], N)],
    ["node -e 0 with NODE_EXTRA_CA_CERTS set (this machine's login environment)", timeCommand(process.execPath, ["-e", "0"], N, { ...ENV, NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt" })],
    ["node paddock.mjs --version (node + CLI bundle load)", timeCommand(process.execPath, [PADDOCK_BIN, "--version"], N)],
    ["node calf-dhcp4.mjs on the host, no fds (node + calf bundle load)", timeCommand(process.execPath, [CALF_BUNDLE], N)],
    ["calf-dhcp4-quickjs on the host, no fds (QuickJS + calf bytecode, until its fd 3 error)", timeCommand(CALF_QUICKJS, [], N)],
    ["runc --version (preflight)", timeCommand("runc", ["--version"], N)],
    ["runc list (stale-container check)", timeCommand("runc", ["--root", path.join(work, "empty-runc"), "list", "--format", "json"], N)],
    ["ldd /usr/bin/node (calf bundle: which libraries to bind-mount)", timeCommand("ldd", ["/usr/bin/node"], N)],
    ["store commit on this file system: write 1 KiB, fsync, rename", fsyncCost(N)],
  ];
  const sandbox = await sandboxRuns(N);
  for (const [k, v] of Object.entries(sandbox)) fixed.push([`runc run of the calf's sandbox: ${k}`, v]);
  console.log(`\nFixed costs (ms, ${N} runs each, sequential)`);
  console.log(table([["step", "ms"], ...fixed.map(([k, v]) => [k, fmt(v)])]));

  for (const [label, args, bundle] of [
    ["paddock --version", [PADDOCK_BIN, "--version"], CLI_BUNDLE],
    ["the calf bundle (host, no fds)", [CALF_BUNDLE], CALF_BUNDLE],
  ] as const) {
    const prof = bundleLoadProfile([...args], bundle, 5);
    const total = prof.reduce((s, [, v]) => s + v, 0);
    console.log(`\nWhere the time goes while Node runs ${label} (CPU profile self time, ms, median of 5; ${total.toFixed(0)} ms sampled)`);
    console.log(table([["origin", "ms"], ...prof.filter(([, v]) => v >= 0.5).map(([k, v]) => [k, v.toFixed(1)])]));
  }

  const memRows: string[][] = [
    ["process", "peak RSS MiB"],
    ["node -e 0", nodeMaxRss(["-e", "0"]).toFixed(1)],
    ["node paddock.mjs --version", nodeMaxRss([PADDOCK_BIN, "--version"]).toFixed(1)],
    ["node --max-old-space-size=48 calf-dhcp4.mjs (until its fd 3 error)", nodeMaxRss(["--max-old-space-size=48", CALF_BUNDLE]).toFixed(1)],
  ];
  const anonFile = (client: PaddockName, role: string) => {
    const ms = cold[client].map((r) => r.memory[role]?.[0]).filter((m): m is ProcMemory => m !== undefined);
    return `anon ${fmt(summarize(ms.map((m) => m.anonKiB / 1024)))}, file ${fmt(summarize(ms.map((m) => m.fileKiB / 1024)))}`;
  };
  for (const c of PADDOCKS) {
    memRows.push([`${labelOf(c)}: priv at sample time (RSS split)`, anonFile(c, "priv")], [`${labelOf(c)}: calf at sample time (RSS split)`, anonFile(c, "calf")]);
  }
  console.log(`\nMemory baselines`);
  console.log(table(memRows));
  console.log(`\nload average before ${loadBefore}, after ${loadAfter} (2 cores, shared with other work)`);
  if (rebuildRetries > 0) console.log(`${rebuildRetries} run(s) repeated: the CLI bundle was being rebuilt under them`);
} finally {
  clearTimeout(deadline);
  await lab.destroy();
}
