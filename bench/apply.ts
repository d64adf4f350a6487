/**
 * Benchmark (not a test) of the apply path: the ACK on the wire → the leased address on the
 * interface, `paddock dhcp` side by side with dhcpcd (nodelay noarp) in one run, against dnsmasq
 * --no-ping in two throwaway network namespaces joined by a veth pair (issue 14 item 4). Root; run
 * it in the foreground (DESIGN.md); it removes every namespace, process and file it made, also on
 * failure or Ctrl-C:
 *   node_modules/.bin/tsx bench/apply.ts [RUNS]          (default 20 runs per client)
 *
 * Measured, every run from a bare link and fresh client state (no INIT-REBOOT), the two clients
 * interleaved run by run:
 * - ACK → address: the ACK's kernel timestamp on the server's side of the veth (tcpdump, µs) →
 *   the RTM_NEWADDR of the leased address, received by this process on its own rtnetlink socket
 *   in the client namespace (wall clock, µs). Both clocks are this machine's wall clock.
 * - paddock's steps, from its debug log (`at`: the wall clock with µs): the store accepting the
 *   calf's commit ("commit accepted"), the commit durable ("store persisted", with its persist
 *   time), the lease handler's reconcile beginning ("reconcile begins").
 * Figures in docs/performance.md ("ACK → address") and docs/decisions/0012-one-durable-apply.md.
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, waitForUdpPort, type LabProcess } from "@paddock/testkit";
import { openRtnetlink, type RtnetlinkClient } from "../packages/netlink/src/index.ts";
import { dhcpBenchLab, DHCPCD_DB, fmt, summarize, table, TcpdumpDhcpParser } from "./dhcp-lib.ts";

const RUNS = Number(process.argv[2] ?? 20);
/** The whole benchmark gives up (and cleans up) after this long: about 5× its normal duration. */
const DEADLINE_MS = 15 * 60_000;
/** Longest wait for one lease; every client gets one in well under a second on a veth. */
const LEASE_TIMEOUT_MS = 15_000;
/** SIGTERM → SIGKILL grace when stopping a client (the paddock calf gets 5 s from priv). */
const STOP_TIMEOUT_MS = 8_000;
/** After the address: the client finishes the lease and writes its log lines before it is stopped. */
const SETTLE_MS = 300;
/** The DHCP server port (RFC 2131 §4.1): dnsmasq is ready once it holds it. */
const DHCP_SERVER_PORT = 67;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PADDOCK_BIN = path.join(root, "packages/cli/bin/paddock.mjs");
const CLI_BUNDLE = path.join(root, "packages/cli/dist/paddock.mjs");
/** Clients run with a bare environment: what a service manager gives them. */
const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

if (process.getuid?.() !== 0) {
  console.error("bench/apply.ts needs root (it creates network namespaces)");
  process.exit(1);
}
for (const [cmd, pkg] of [["dnsmasq", "dnsmasq-base"], ["dhcpcd", "dhcpcd-base"], ["tcpdump", "tcpdump"]]) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/apply.ts needs ${cmd} (Debian package ${pkg})`);
    process.exit(1);
  }
}
if (!existsSync(CLI_BUNDLE)) {
  console.error(`${CLI_BUNDLE} is missing: run node_modules/.bin/tsx scripts/build.ts`);
  process.exit(1);
}

const SERVER_ADDRESS = "10.78.0.1";
const { lab, link, serverNs: SERVER_NS, clientNs: CLIENT_NS, serverIf: SERVER_IF, clientIf: CLIENT_IF } = dhcpBenchLab("pap", SERVER_ADDRESS);
const work = lab.dir;

const deadline = setTimeout(() => {
  console.error(`bench/apply.ts: still running after ${DEADLINE_MS / 60_000} min; giving up`);
  void lab.destroy().finally(() => process.exit(2));
}, DEADLINE_MS);

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
}

const DHCPCD_CONF = path.join(work, "dhcpcd.conf");
// As bench/dhcp.ts: no random wait, no ARP probe (paddock runs with --no-arp-probe), no hooks.
writeFileSync(DHCPCD_CONF, "nodelay\nnoarp\nipv4only\nnoipv4ll\nnoipv6rs\nscript \"\"\noption domain_name_servers, domain_name, interface_mtu\n");

type Client = "paddock" | "dhcpcd";

function command(client: Client, dir: string): string[] {
  if (client === "dhcpcd") return ["dhcpcd", "-B", "-4", "-f", DHCPCD_CONF, CLIENT_IF];
  return [process.execPath, PADDOCK_BIN, "dhcp", "--no-arp-probe", "--iface", CLIENT_IF, "--state-dir", path.join(dir, "state"), "--runtime-dir", path.join(dir, "run"),
    "--admin-socket", path.join(dir, "admin.sock"), "--resolv-conf", path.join(dir, "resolv.conf"), "--log-format", "json", "--log-level", "debug"];
}

let nl: RtnetlinkClient;
let clientIndex = 0;
let tcpdump: TcpdumpDhcpParser;
let addressWaiter: ((wallMs: number) => void) | undefined;

async function setUpLab(): Promise<void> {
  nl = openRtnetlink({ netnsPath: link.b.ns.path, events: true });
  lab.defer(() => nl.close());
  clientIndex = (await nl.getLink(CLIENT_IF)).index;
  nl.onEvent((e) => {
    if (e.kind === "address" && e.action === "new" && e.address.index === clientIndex && e.address.address?.startsWith("10.78.")) {
      const t = performance.timeOrigin + performance.now();
      const w = addressWaiter;
      addressWaiter = undefined;
      w?.(t);
    }
  });
  const leases = path.join(work, "dnsmasq.leases");
  writeFileSync(leases, "");
  await startServer(lab, SERVER_NS, {
    name: "dnsmasq",
    argv: ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping", "--conf-file=/dev/null",
      `--interface=${SERVER_IF}`, "--bind-interfaces", "--dhcp-range=10.78.0.100,10.78.0.200,255.255.255.0,1h", `--dhcp-leasefile=${leases}`,
      `--dhcp-option=option:router,${SERVER_ADDRESS}`, `--dhcp-option=option:dns-server,${SERVER_ADDRESS}`, "--dhcp-option=option:domain-name,bench.test",
      "--dhcp-option=option:mtu,1400", "--log-facility=-"],
    ready: (p, timeoutMs) => waitForUdpPort(p, DHCP_SERVER_PORT, timeoutMs),
  });
  const td = lab.spawn(SERVER_NS, ["tcpdump", "-i", SERVER_IF, "-n", "-l", "-v", "-tt", "--time-stamp-precision=micro", "udp and (port 67 or port 68)"], { env: ENV });
  tcpdump = new TcpdumpDhcpParser();
  td.child.stdout!.on("data", (c: Buffer) => tcpdump.push(c.toString()));
  await td.waitForLog(/listening on/);
}

/** The wall-clock points of one paddock run, from its debug log. */
interface Points {
  commitAccepted?: number;
  persisted?: number;
  persistMs?: number;
  /** Of which the before-persist hooks (the lease handler's prepare: its netlink look-ups). */
  hooksMs?: number;
  /** Records (the lease handler's ownership record) written in the lease's persist. */
  records?: number;
  reconcileStart?: number;
}

/**
 * The lease's commit is the calf's commit with the most changes (the lease's dozen keys; the
 * client's state changes are one or two), its persist the first "store persisted" after it, then
 * the lease handler's reconcile.
 */
function paddockPoints(log: string): Points {
  const p: Points = {};
  type Line = { msg?: string; at?: number; persistMs?: number; hooksMs?: number; records?: number; client?: string; changes?: number };
  const lines: Line[] = [];
  for (const text of log.split("\n")) {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      // Not a JSON line.
    }
  }
  let lease = -1;
  lines.forEach((o, i) => {
    if (o.msg === "commit accepted" && String(o.client).startsWith("calf") && typeof o.changes === "number" && (lease < 0 || o.changes > lines[lease]!.changes!)) lease = i;
  });
  if (lease < 0) return p;
  p.commitAccepted = lines[lease]!.at;
  for (const o of lines.slice(lease + 1)) {
    if (o.msg === "store persisted" && p.persisted === undefined) {
      p.persisted = o.at;
      p.persistMs = o.persistMs;
      p.hooksMs = o.hooksMs;
      p.records = o.records;
    } else if (o.msg === "handler lease: reconcile begins" && p.persisted !== undefined && p.reconcileStart === undefined) p.reconcileStart = o.at;
  }
  return p;
}

interface Run {
  ackToAddress: number;
  ack: number;
  address: number;
  log: string;
}

let runNo = 0;

async function run(client: Client): Promise<Run> {
  const dir = path.join(work, `run-${++runNo}`);
  mkdirSync(dir, { mode: 0o711 });
  const from = performance.timeOrigin + performance.now();
  const address = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${client}: no address within ${LEASE_TIMEOUT_MS} ms`)), LEASE_TIMEOUT_MS);
    addressWaiter = (t) => {
      clearTimeout(timer);
      resolve(t);
    };
  });
  const proc: LabProcess = lab.spawn(CLIENT_NS, command(client, dir), { env: ENV });
  let out = "";
  proc.child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  try {
    const died = proc.exited.then((e) => {
      throw new Error(`${client} exited (${e.code ?? e.signal}) before an address appeared:\n${proc.output.trim()}`);
    });
    died.catch(() => {});
    const tAddr = await Promise.race([address, died]);
    // tcpdump's line for the ACK may come a moment after the address: wait for it (bounded).
    let ack: number | undefined;
    for (let i = 0; i < 200 && ack === undefined; i++) {
      ack = tcpdump.first("ACK", from)?.timeMs;
      if (ack === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    if (ack === undefined) throw new Error(`${client}: tcpdump saw no ACK`);
    // The rest of the lease (MTU, routes) and its log lines, before the client is stopped.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return { ackToAddress: tAddr - ack, ack, address: tAddr, log: out };
  } finally {
    addressWaiter = undefined;
    if (proc.running) await proc.stop("SIGTERM", STOP_TIMEOUT_MS);
    sh("ip", ["-n", CLIENT_NS, "-4", "addr", "flush", "dev", CLIENT_IF]);
    sh("ip", ["-n", CLIENT_NS, "-4", "route", "flush", "dev", CLIENT_IF]);
    sh("ip", ["-n", CLIENT_NS, "link", "set", CLIENT_IF, "mtu", "1500"]);
    if (client === "dhcpcd" && existsSync(DHCPCD_DB)) {
      for (const f of readdirSync(DHCPCD_DB)) if (f.startsWith(CLIENT_IF)) rmSync(path.join(DHCPCD_DB, f), { force: true });
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await setUpLab();
  const before = loadavg()[0]!;
  // One untimed run each (page cache, dnsmasq's first lease).
  for (const c of ["paddock", "dhcpcd"] as const) await run(c);
  const runs: Record<Client, Run[]> = { paddock: [], dhcpcd: [] };
  for (let i = 0; i < RUNS; i++) {
    const order: Client[] = i % 2 === 0 ? ["paddock", "dhcpcd"] : ["dhcpcd", "paddock"];
    for (const c of order) runs[c].push(await run(c));
  }
  const after = loadavg()[0]!;
  const p = summarize(runs.paddock.map((r) => r.ackToAddress));
  const d = summarize(runs.dhcpcd.map((r) => r.ackToAddress));
  console.log(`\nACK → address (ms, median (min–max) of ${RUNS} runs; load average ${before.toFixed(1)} before, ${after.toFixed(1)} after)`);
  console.log(table([
    ["client", "ACK → address", "/ dhcpcd"],
    ["paddock dhcp", fmt(p, 2), (p.median / d.median).toFixed(2)],
    ["dhcpcd", fmt(d, 2), "1.00"],
  ]));
  if (process.env.PADDOCK_BENCH_LOG) writeFileSync(process.env.PADDOCK_BENCH_LOG, runs.paddock.map((r) => r.log).join("\n"));
  const pts = runs.paddock.map((r) => ({ r, p: paddockPoints(r.log) }));
  const step = (label: string, f: (x: (typeof pts)[number]) => number | undefined) => [label, fmt(summarize(pts.map((x) => f(x) ?? NaN)), 2)];
  console.log(`\npaddock's apply path, step by step (ms, medians (min–max))`);
  console.log(table([
    ["step", "ms"],
    step("ACK at the server → the store accepts the calf's commit (relay, calf decode, KV request)", ({ r, p }) => (p.commitAccepted ?? NaN) - r.ack),
    step("→ commit durable (the store's persist)", ({ p }) => (p.persisted ?? NaN) - (p.commitAccepted ?? NaN)),
    step("   of which the persist itself (prepare, audit fsync, journal append and fdatasync)", ({ p }) => p.persistMs),
    step("   of which prepare (the lease handler's look-ups and record)", ({ p }) => p.hooksMs),
    step("→ the lease handler's reconcile begins (watch event, runner)", ({ p }) => (p.reconcileStart ?? NaN) - (p.persisted ?? NaN)),
    step("→ address (the handler: netlink, ownership record)", ({ r, p }) => r.address - (p.reconcileStart ?? NaN)),
    step("ACK → address", ({ r }) => r.ackToAddress),
  ]));
  const withRecord = pts.filter(({ p }) => (p.records ?? 0) > 0).length;
  console.log(`\nruns whose lease persist carried the handler's ownership record (decision 0012): ${withRecord} of ${pts.length}`);
}

try {
  await main();
} finally {
  clearTimeout(deadline);
  await lab.destroy();
}
