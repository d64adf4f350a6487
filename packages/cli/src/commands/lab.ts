/**
 * `paddock lab`: the DHCP shim against a real DHCP server, in two throwaway network namespaces.
 *
 *   pdlab-s-PID (server)                      pdlab-c-PID (client)
 *   dnsmasq on ps-PID 10.77.0.1/24  ── veth ──  pc-PID ← paddock dhcp (priv + calf under runc)
 *
 * It prints what the shim applied (address, routes, MTU, resolv.conf), the KV audit log and the
 * calf's sandbox as observed from outside, then removes everything: also on Ctrl-C or failure.
 * Nothing touches the host's own network or /etc/resolv.conf.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { UserError } from "../errors.ts";

/** The lab's addresses: a private range used only inside the lab's own namespaces. */
const SERVER_ADDRESS = "10.77.0.1";
const RANGE = "10.77.0.100,10.77.0.200,255.255.255.0,1h";
/** How long to wait for the lease to appear on the interface. */
const LEASE_TIMEOUT_MS = 20_000;

interface LabOptions {
  keep?: boolean;
  timeout: string;
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) throw new UserError(`${what}: ${cmd} could not be started (${(r.error as NodeJS.ErrnoException).code})`);
  if (r.status !== 0) throw new UserError(`${what} failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}`);
  return r.stdout;
}

function need(cmd: string, pkg: string): void {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    throw new UserError(`${cmd} is not installed; install the Debian package ${pkg} (make setup does)`);
  }
}

function ipJson<T>(ns: string, args: string[]): T {
  return JSON.parse(run("ip", ["-j", "-n", ns, ...args], `ip ${args.join(" ")}`) || "[]") as T;
}

interface IpAddr { ifname: string; mtu: number; addr_info: Array<{ family: string; local: string; prefixlen: number; valid_life_time: number; preferred_life_time: number }> }
interface IpRoute { dst: string; gateway?: string; dev: string; protocol?: string }

/** The calf's properties read from /proc, in one line. */
function describeCalf(runtimeDir: string): string {
  const state = path.join(runtimeDir, "runc");
  const r = spawnSync("runc", ["--root", state, "list", "--format", "json"], { encoding: "utf8" });
  const list = (r.status === 0 ? JSON.parse(r.stdout || "[]") : []) as Array<{ id: string; pid: number; status: string }>;
  const calf = list.find((c) => c.status === "running");
  if (!calf) return "calf: not running";
  const status = readFileSync(`/proc/${calf.pid}/status`, "utf8");
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "?";
  const caps = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].every((c) => /^0+$/.test(field(c))) ? "none" : "SOME";
  const ownNs = ["net", "pid", "mnt", "ipc", "uts", "user", "cgroup"].filter((n) => readlinkSync(`/proc/${calf.pid}/ns/${n}`) !== readlinkSync(`/proc/self/ns/${n}`));
  const fds = readdirSync(`/proc/${calf.pid}/fd`).length;
  const env = readFileSync(`/proc/${calf.pid}/environ`, "utf8").split("\0").filter(Boolean).join(" ") || "(empty)";
  return `calf ${calf.id}: pid ${calf.pid}, uid ${field("Uid").split(/\s+/)[0]} on the host, capabilities ${caps}, NoNewPrivs ${field("NoNewPrivs")}, seccomp mode ${field("Seccomp")}, own namespaces ${ownNs.join(",")}, ${fds} fds, environment ${env}, jitless ${readFileSync(`/proc/${calf.pid}/cmdline`, "utf8").includes("--jitless") ? "yes" : "no"}`;
}

async function lab(opts: LabOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new UserError("paddock lab creates network namespaces and must run as root");
  need("dnsmasq", "dnsmasq-base");
  need("runc", "runc");
  need("ip", "iproute2");
  const timeoutMs = Number(opts.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new UserError(`--timeout must be a positive number of seconds, not ${JSON.stringify(opts.timeout)}`);

  const id = process.pid;
  const serverNs = `pdlab-s-${id}`;
  const clientNs = `pdlab-c-${id}`;
  const serverIf = `ps-${id}`.slice(0, 15);
  const clientIf = `pc-${id}`.slice(0, 15);
  const work = mkdtempSync(path.join(tmpdir(), "paddock-lab-"));
  // The calf runs as an unprivileged uid and its rootfs lives under here: let it traverse (not list).
  chmodSync(work, 0o711);
  const children: ChildProcess[] = [];
  let cleaned = false;

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        const t = setTimeout(() => c.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
    }
    for (const ns of [clientNs, serverNs]) spawnSync("ip", ["netns", "delete", ns]);
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    console.log(`\n== removed the namespaces ${serverNs} and ${clientNs}${opts.keep ? `; kept ${work}` : " and every file the lab made"}`);
  };
  const onSignal = () => {
    console.log("\n== interrupted");
    void cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    console.log(`== namespaces ${serverNs} (dnsmasq) and ${clientNs} (paddock dhcp), joined by a veth pair`);
    run("ip", ["netns", "add", serverNs], "creating a namespace");
    run("ip", ["netns", "add", clientNs], "creating a namespace");
    run("ip", ["link", "add", serverIf, "netns", serverNs, "type", "veth", "peer", "name", clientIf, "netns", clientNs], "creating the veth pair");
    run("ip", ["-n", serverNs, "addr", "add", `${SERVER_ADDRESS}/24`, "dev", serverIf], "addressing the server side");
    run("ip", ["-n", serverNs, "link", "set", serverIf, "up"], "bringing the server side up");
    run("ip", ["-n", clientNs, "link", "set", "lo", "up"], "bringing lo up");
    run("ip", ["-n", clientNs, "link", "set", clientIf, "up"], "bringing the client side up");

    const leases = path.join(work, "dnsmasq.leases");
    writeFileSync(leases, "");
    const dnsmasq = spawn("nsenter", [`--net=/run/netns/${serverNs}`, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--no-ping",
      "--conf-file=/dev/null", `--interface=${serverIf}`, "--bind-interfaces", `--dhcp-range=${RANGE}`, `--dhcp-leasefile=${leases}`,
      `--dhcp-option=option:router,${SERVER_ADDRESS}`, `--dhcp-option=option:dns-server,${SERVER_ADDRESS}`,
      "--dhcp-option=option:domain-name,lab.test", "--dhcp-option=option:domain-search,lab.test,anc.test",
      "--dhcp-option=option:mtu,1400", "--dhcp-option=option:classless-static-route,10.99.0.0/16,10.77.0.1,0.0.0.0/0,10.77.0.1",
      "--log-facility=-", "--log-dhcp"], { stdio: ["ignore", "ignore", "pipe"] });
    children.push(dnsmasq);
    console.log(`== dnsmasq serves ${RANGE.split(",").slice(0, 2).join("–")} on ${serverIf}, with router, DNS, domain, search list, MTU 1400 and classless routes`);

    const stateDir = path.join(work, "state");
    const resolvConf = path.join(work, "resolv.conf");
    const adminSocket = path.join(work, "admin.sock");
    const runtimeDir = path.join(work, "run");
    const bin = process.argv[1]!;
    const shim = spawn("nsenter", [`--net=/run/netns/${clientNs}`, process.execPath, bin, "dhcp", "--iface", clientIf, "--state-dir", stateDir,
      "--resolv-conf", resolvConf, "--admin-socket", adminSocket, "--runtime-dir", runtimeDir], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(shim);
    let shimLog = "";
    const logFile = path.join(work, "shim.log");
    const keepLog = (c: Buffer) => {
      shimLog += c.toString();
      appendFileSync(logFile, c);
    };
    shim.stdout!.on("data", keepLog);
    shim.stderr!.on("data", keepLog);
    console.log(`== paddock dhcp --iface ${clientIf} (resolv.conf at ${resolvConf}, never the host's)`);

    const start = Date.now();
    let applied: IpAddr | undefined;
    while (Date.now() - start < Math.min(timeoutMs, LEASE_TIMEOUT_MS * 3)) {
      if (shim.exitCode !== null) throw new UserError(`paddock dhcp exited (${shim.exitCode}) before a lease was applied:\n${shimLog.trim()}`);
      const link = ipJson<IpAddr[]>(clientNs, ["addr", "show", "dev", clientIf])[0];
      const routes = ipJson<IpRoute[]>(clientNs, ["route", "show", "default"]);
      if (link?.addr_info.some((a) => a.family === "inet") && routes.length > 0 && existsSync(resolvConf)) {
        applied = link;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!applied) throw new UserError(`no lease was applied within ${Math.round((Date.now() - start) / 1000)} s; shim output:\n${shimLog.trim()}`);
    console.log(`\n== lease applied ${Date.now() - start} ms after the shim started`);
    for (const a of applied.addr_info.filter((x) => x.family === "inet")) {
      console.log(`address   ${a.local}/${a.prefixlen} on ${clientIf} (valid ${a.valid_life_time} s, preferred ${a.preferred_life_time} s)`);
    }
    for (const r of ipJson<IpRoute[]>(clientNs, ["route", "show"])) {
      console.log(`route     ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} dev ${r.dev} proto ${r.protocol ?? "?"}`);
    }
    console.log(`mtu       ${applied.mtu}`);
    console.log(`resolv.conf:\n${readFileSync(resolvConf, "utf8").trim().replace(/^/gm, "  ")}`);
    const audit = spawnSync(process.execPath, [bin, "kv", "audit", "--socket", adminSocket], { encoding: "utf8" });
    console.log(`KV audit log:\n${audit.stdout.trim().replace(/^/gm, "  ")}`);
    console.log(describeCalf(runtimeDir));
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export function registerLab(program: Command): void {
  program
    .command("lab")
    .description("run the DHCP shim against dnsmasq in two throwaway network namespaces, show what it applied, and clean up (root)")
    .option("--keep", "keep the lab's temporary directory (state, logs) for inspection")
    .option("--timeout <seconds>", "give up waiting for a lease after this long", "60")
    .action(lab);
}
