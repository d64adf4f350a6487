/**
 * Benchmark (not a test) of the apply path: the ACK on the wire → the leased address on the
 * interface, `paddock dhcp` side by side with dhcpcd (nodelay noarp) in one run, against dnsmasq
 * --no-ping in two throwaway network namespaces joined by a veth pair (issue 14 item 4). Root; run
 * it in the foreground (DESIGN.md); it removes every namespace, process and file it made, also on
 * failure or Ctrl-C:
 *   node_modules/.bin/tsx bench/apply.ts [RUNS]          (default 20 runs per client)
 * With PADDOCK_BENCH_BASELINE=DIR (another checkout, built) its `paddock dhcp` runs beside this
 * one's, interleaved too: a change measured before and after under the same load.
 *
 * Clients, interleaved run by run (the order rotates), every run from a bare link and fresh client
 * state (no INIT-REBOOT): `paddock dhcp` at --log-level debug (its steps below), the same at info
 * (what the debug lines cost), the baseline's if given, and dhcpcd. Measured:
 * - ACK → address: the ACK's kernel timestamp on the server's side of the veth (tcpdump, µs) →
 *   the RTM_NEWADDR of the leased address, received by this process on its own rtnetlink socket
 *   in the client namespace (wall clock, µs). Both clocks are this machine's wall clock.
 * - paddock's steps, from its debug log (`at`: the priv's wall clock with µs): the priv reading the
 *   ACK ("DHCP reply observed", just before it relays it to the calf), the store accepting the
 *   calf's commit ("commit accepted"), the commit durable ("store persisted", with its prepare,
 *   audit fsync and journal times), the lease handler's reconcile beginning ("reconcile begins");
 *   and the calf's own, on its monotonic clock ("commit acknowledged": decode, the client's step,
 *   the step → the commit sent on fd 3).
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

/** Another checkout's paddock, run beside this one's (PADDOCK_BENCH_BASELINE). */
const BASELINE = process.env.PADDOCK_BENCH_BASELINE;
if (BASELINE !== undefined && !existsSync(path.join(BASELINE, "packages/cli/dist/paddock.mjs"))) {
  console.error(`PADDOCK_BENCH_BASELINE=${BASELINE} holds no built CLI (packages/cli/dist/paddock.mjs)`);
  process.exit(1);
}

type Client = "paddock" | "paddock at info" | "baseline" | "dhcpcd";
const CLIENTS: Client[] = ["paddock", "paddock at info", ...(BASELINE !== undefined ? (["baseline"] as const) : []), "dhcpcd"];

function command(client: Client, dir: string): string[] {
  if (client === "dhcpcd") return ["dhcpcd", "-B", "-4", "-f", DHCPCD_CONF, CLIENT_IF];
  const bin = client === "baseline" ? path.join(BASELINE!, "packages/cli/bin/paddock.mjs") : PADDOCK_BIN;
  return [process.execPath, bin, "dhcp", "--no-arp-probe", "--iface", CLIENT_IF, "--state-dir", path.join(dir, "state"), "--runtime-dir", path.join(dir, "run"),
    "--admin-socket", path.join(dir, "admin.sock"), "--resolv-conf", path.join(dir, "resolv.conf"), "--log-format", "json", "--log-level", client === "paddock at info" ? "info" : "debug"];
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
  /** The priv read the ACK (and relays it to the calf): wall clock, and CLOCK_MONOTONIC in µs. */
  observed?: number;
  observedMonoUs?: number;
  /** The calf's own steps for the lease's frame (µs; CLOCK_MONOTONIC, the priv's clock too). */
  calf?: { readMonoUs: number; decodeUs: number; stepUs: number; toCommitUs: number; sentMonoUs: number };
  commitAccepted?: number;
  commitAcceptedMonoUs?: number;
  persisted?: number;
  persistMs?: number;
  /** Of which the before-persist hooks (the lease handler's prepare: its netlink look-ups). */
  hooksMs?: number;
  /** Of which the audit log's fsync. */
  auditMs?: number;
  /** Records (the lease handler's ownership record) written in the lease's persist. */
  records?: number;
  reconcileStart?: number;
  /** The lease handler sent RTM_NEWADDR. */
  addressSent?: number;
}

/**
 * The lease's commit is the calf's commit with the most changes (the lease's dozen keys; the
 * client's state changes are one or two), its persist the first "store persisted" after it, then
 * the lease handler's reconcile.
 */
function paddockPoints(log: string): Points {
  const p: Points = {};
  type Line = { msg?: string; at?: number; persistMs?: number; hooksMs?: number; auditMs?: number; records?: number; client?: string; changes?: number; reply?: string; keys?: number; monoUs?: number; readMonoUs?: number; decodeUs?: number; stepUs?: number; toCommitUs?: number; sentMonoUs?: number };
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
  p.commitAcceptedMonoUs = lines[lease]!.monoUs;
  const observed = lines.slice(0, lease).findLast((o) => o.msg === "DHCP reply observed" && o.reply === "ack");
  p.observed = observed?.at;
  p.observedMonoUs = observed?.monoUs;
  const c = lines.find((o) => o.msg === "commit acknowledged" && o.keys === lines[lease]!.changes);
  if (c?.readMonoUs !== undefined && c.decodeUs !== undefined && c.stepUs !== undefined && c.toCommitUs !== undefined && c.sentMonoUs !== undefined) {
    p.calf = { readMonoUs: c.readMonoUs, decodeUs: c.decodeUs, stepUs: c.stepUs, toCommitUs: c.toCommitUs, sentMonoUs: c.sentMonoUs };
  }
  for (const o of lines.slice(lease + 1)) {
    if (o.msg === "store persisted" && p.persisted === undefined) {
      p.persisted = o.at;
      p.persistMs = o.persistMs;
      p.hooksMs = o.hooksMs;
      p.auditMs = o.auditMs;
      p.records = o.records;
    } else if (o.msg === "handler lease: reconcile begins" && p.persisted !== undefined && p.reconcileStart === undefined) p.reconcileStart = o.at;
    else if (o.msg === "handler lease: address sent" && p.reconcileStart !== undefined && p.addressSent === undefined) p.addressSent = o.at;
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
  for (const c of CLIENTS) await run(c);
  const runs = Object.fromEntries(CLIENTS.map((c) => [c, [] as Run[]])) as Record<Client, Run[]>;
  for (let i = 0; i < RUNS; i++) {
    // The order rotates, so no client always follows the same one.
    for (let k = 0; k < CLIENTS.length; k++) {
      const c = CLIENTS[(i + k) % CLIENTS.length]!;
      runs[c].push(await run(c));
    }
  }
  const after = loadavg()[0]!;
  const d = summarize(runs.dhcpcd.map((r) => r.ackToAddress));
  console.log(`\nACK → address (ms, median (min–max) of ${RUNS} runs; load average ${before.toFixed(1)} before, ${after.toFixed(1)} after)`);
  const label: Record<Client, string> = { paddock: "paddock dhcp (debug log)", "paddock at info": "paddock dhcp (info log)", baseline: `baseline ${BASELINE ?? ""} (debug log)`, dhcpcd: "dhcpcd" };
  console.log(table([
    ["client", "ACK → address", "/ dhcpcd"],
    ...CLIENTS.map((c) => {
      const s = summarize(runs[c].map((r) => r.ackToAddress));
      return [label[c], fmt(s, 2), (s.median / d.median).toFixed(2)];
    }),
  ]));
  if (process.env.PADDOCK_BENCH_LOG) writeFileSync(process.env.PADDOCK_BENCH_LOG, runs.paddock.map((r) => r.log).join("\n"));
  const debugClients = CLIENTS.filter((c) => c === "paddock" || c === "baseline");
  const pts = Object.fromEntries(debugClients.map((c) => [c, runs[c].map((r) => ({ r, p: paddockPoints(r.log) }))])) as Record<Client, Array<{ r: Run; p: Points }>>;
  const step = (name: string, f: (x: { r: Run; p: Points }) => number | undefined) => [name, ...debugClients.map((c) => fmt(summarize(pts[c]!.map((x) => f(x) ?? NaN)), 2))];
  console.log(`\npaddock's apply path, step by step (ms, medians (min–max); n/a: a step the client does not log)`);
  console.log(table([
    ["step", ...debugClients.map((c) => label[c])],
    step("ACK at the server → the priv reads it (and relays it to the calf)", ({ r, p }) => (p.observed ?? NaN) - r.ack),
    step("→ the store accepts the calf's commit (calf: read, decode, step, commit on fd 3)", ({ p }) => (p.commitAccepted ?? NaN) - (p.observed ?? NaN)),
    step("   of which the relay → the calf reads the frame (fd 4)", ({ p }) => (p.calf && p.observedMonoUs !== undefined ? (p.calf.readMonoUs - p.observedMonoUs) / 1000 : NaN)),
    step("   of which the calf's decode", ({ p }) => (p.calf ? p.calf.decodeUs / 1000 : NaN)),
    step("   of which the client's step", ({ p }) => (p.calf ? p.calf.stepUs / 1000 : NaN)),
    step("   of which step → commit sent", ({ p }) => (p.calf ? p.calf.toCommitUs / 1000 : NaN)),
    step("   of which commit sent → the store accepts it (fd 3, decode, checks)", ({ p }) => (p.calf && p.commitAcceptedMonoUs !== undefined ? (p.commitAcceptedMonoUs - p.calf.sentMonoUs) / 1000 : NaN)),
    step("ACK at the server → the store accepts the calf's commit", ({ r, p }) => (p.commitAccepted ?? NaN) - r.ack),
    step("→ commit durable (the store's persist)", ({ p }) => (p.persisted ?? NaN) - (p.commitAccepted ?? NaN)),
    step("   of which prepare (the lease handler's look-ups and record)", ({ p }) => p.hooksMs),
    step("   of which the audit log's fsync", ({ p }) => p.auditMs),
    step("   of which the journal's append and fdatasync", ({ p }) => (p.persistMs !== undefined && p.hooksMs !== undefined && p.auditMs !== undefined ? p.persistMs - p.hooksMs - p.auditMs : NaN)),
    step("→ the lease handler's reconcile begins (watch event, runner)", ({ p }) => (p.reconcileStart ?? NaN) - (p.persisted ?? NaN)),
    step("→ the handler sends RTM_NEWADDR", ({ p }) => (p.addressSent ?? NaN) - (p.reconcileStart ?? NaN)),
    step("→ address (this bench's rtnetlink socket hears of it)", ({ r, p }) => r.address - (p.addressSent ?? NaN)),
    step("reconcile begins → address", ({ r, p }) => r.address - (p.reconcileStart ?? NaN)),
    step("ACK → address", ({ r }) => r.ackToAddress),
  ]));
  for (const c of debugClients) {
    const withRecord = pts[c]!.filter(({ p }) => (p.records ?? 0) > 0).length;
    console.log(`${label[c]}: runs whose lease persist carried the handler's ownership record (decision 0012): ${withRecord} of ${pts[c]!.length}`);
  }
}

try {
  await main();
} finally {
  clearTimeout(deadline);
  await lab.destroy();
}
