/**
 * Benchmark (not a test) of IPv6 router discovery (issue 11 item 8), side by side in one run
 * against radvd in two throwaway network namespaces joined by a veth pair: `paddock ra` and
 * `dhcpcd -6` (slaac private: RFC 7217 addresses like paddock's; no hook scripts). Root; run it in
 * the foreground (DESIGN.md); it removes every namespace, process and file it made:
 *   node_modules/.bin/tsx bench/ipv6.ts [RUNS]          (default 8 runs per client)
 *
 * radvd advertises unsolicited only every 30–60 s, so each client's own Router Solicitation brings
 * the RA (radvd answers after its random 0–0.5 s, RFC 4861 §6.2.6, and at most one RA per 3 s:
 * the runs are 3.5 s apart). Start → address thus includes each client's own delay before its
 * first solicitation (paddock: a random 0–1 s, RFC 4861 §6.3.7). Per run, with the clients
 * interleaved so the machine's load hits them alike, and the client's global addresses, routes and
 * the kernel's own router discovery (accept_ra 0) reset before each:
 *   - start → address: process start (just before spawn) → the RTM_NEWADDR of the SLAAC address,
 *     seen on an rtnetlink socket in the client namespace;
 *   - RA → address: the first Router Advertisement seen on a packet socket in the client
 *     namespace → that RTM_NEWADDR: what each client adds between hearing the router and having
 *     the address (paddock: the relay, the calf's core, one KV commit, the handler's netlink work).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLab, ipJson, startRadvd, waitFor } from "@paddock/testkit";
import { ACCEPT_ALL_FILTER, ETH_P_ALL, openPacketSocket } from "../native/lib/index.ts";
import { openRtnetlink, RTNLGRP_IPV6_IFADDR } from "../packages/netlink/src/index.ts";
import { fmt, summarize, table } from "./dhcp-lib.ts";

const RUNS = Number(process.argv[2] ?? 8);
/** Longest wait for one address: the RS delay (≤ 1 s), radvd's (≤ 0.5 s), DAD is not waited for. */
const ADDRESS_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 8_000;
/** radvd's MinDelayBetweenRAs (3 s) and a margin. */
const RA_RATE_LIMIT_MS = 3_500;
const PREFIX = "2001:db8:70:";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PADDOCK_BIN = path.join(root, "packages/cli/bin/paddock.mjs");
const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

if (process.getuid?.() !== 0) {
  console.error("bench/ipv6.ts needs root (it creates network namespaces)");
  process.exit(1);
}
for (const cmd of ["radvd", "dhcpcd", "runc", "nsenter"]) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/ipv6.ts needs ${cmd}`);
    process.exit(1);
  }
}

/** dhcpcd has no option for its database directory (its RFC 7217 secret, DUID): what it adds there is removed at the end. */
const DHCPCD_DB = "/var/lib/dhcpcd";
const dhcpcdDbBefore = new Set(existsSync(DHCPCD_DB) ? readdirSync(DHCPCD_DB) : []);

type ClientName = "paddock" | "dhcpcd";
interface RunResult {
  startToAddress: number;
  raToAddress: number;
}

const lab = createLab({ prefix: "pdb6" });
const onSignal = () => {
  lab.destroySync();
  process.exit(130);
};
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);

try {
  const router = lab.namespace("router");
  const client = lab.namespace("client");
  lab.sysctl(router, { "net.ipv6.conf.all.forwarding": "1" });
  const link = lab.veth(router, client);
  const iface = link.b.name;
  lab.sysctl(client, { [`net.ipv6.conf.${iface}.accept_ra`]: "0" });
  await startRadvd(lab, router, {
    iface: link.a.name,
    config: [`interface ${link.a.name} {`, "  AdvSendAdvert on; MinRtrAdvInterval 30; MaxRtrAdvInterval 60;", `  prefix ${PREFIX}:/64 { AdvOnLink on; AdvAutonomous on; };`, "};", ""].join("\n"),
    readyTimeoutMs: 20_000,
  });
  const ifindex = ipJson<Array<{ ifindex: number }>>(client, ["link", "show", "dev", iface])[0]!.ifindex;
  const dhcpcdConf = lab.file("dhcpcd.conf");
  // IPv6 only, RFC 7217 addresses, no DHCPv6 (radvd sets neither M nor O), no hook scripts (the host's resolv.conf is safe).
  writeFileSync(dhcpcdConf, 'ipv6only\nslaac private\nipv6rs\nscript ""\n');

  const nl = openRtnetlink({ netnsPath: client.path, events: [RTNLGRP_IPV6_IFADDR] });
  let addressAt: number | undefined;
  nl.onEvent((e) => {
    if (e.kind === "address6" && e.action === "new" && e.address.index === ifindex && e.address.address?.startsWith(PREFIX) && addressAt === undefined) addressAt = performance.now();
  });
  const observer = openPacketSocket({ ifname: iface, netnsPath: client.path, filter: ACCEPT_ALL_FILTER.bytes, protocol: ETH_P_ALL });
  let raAt: number | undefined;
  observer.onFrame((f) => {
    // IPv6 (0x86dd), ICMPv6 (58) right after the fixed header, type 134.
    if (raAt === undefined && f[12] === 0x86 && f[13] === 0xdd && f[20] === 58 && f[54] === 134) raAt = performance.now();
  });

  const command = (c: ClientName, dir: string): string[] =>
    c === "paddock"
      ? [process.execPath, PADDOCK_BIN, "ra", "--iface", iface, "--state-dir", path.join(dir, "state"), "--runtime-dir", path.join(dir, "run"), "--admin-socket", path.join(dir, "admin.sock"), "--resolv-conf", "", "--log-format", "json"]
      : ["dhcpcd", "-B", "-6", "-f", dhcpcdConf, iface];

  const stop = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await done;
    clearTimeout(timer);
  };
  const reset = async () => {
    lab.exec(client, ["ip", "-6", "addr", "flush", "dev", iface, "scope", "global"]);
    for (const proto of ["176", "ra"]) await lab.run(client, ["ip", "-6", "route", "flush", "dev", iface, "proto", proto]);
    lab.sysctl(client, { [`net.ipv6.conf.${iface}.accept_ra`]: "0" });
    for (const f of existsSync(DHCPCD_DB) ? readdirSync(DHCPCD_DB) : []) if (f.startsWith(iface)) rmSync(path.join(DHCPCD_DB, f), { force: true });
    // radvd sends RAs at most every MinDelayBetweenRAs (3 s, RFC 4861 MIN_DELAY_BETWEEN_RAS) and
    // holds a solicited one back until then: without this pause the second client of each pair
    // would wait for the first one's RA to age.
    await new Promise((r) => setTimeout(r, RA_RATE_LIMIT_MS));
  };

  let counter = 0;
  const run = async (c: ClientName): Promise<RunResult> => {
    await reset();
    const dir = lab.file(`run-${++counter}`);
    mkdirSync(path.join(dir, "run"), { recursive: true, mode: 0o711 });
    addressAt = undefined;
    raAt = undefined;
    const argv = command(c, dir);
    const t0 = performance.now();
    const child = spawn("nsenter", [`--net=${client.path}`, ...argv], { stdio: ["ignore", "ignore", "pipe"], env: ENV });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    try {
      await waitFor(() => addressAt, { what: `${c}'s SLAAC address`, timeoutMs: ADDRESS_TIMEOUT_MS, intervalMs: 5, state: () => stderr });
      return { startToAddress: addressAt! - t0, raToAddress: raAt === undefined ? NaN : addressAt! - raAt };
    } finally {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const clients: ClientName[] = ["paddock", "dhcpcd"];
  const results: Record<ClientName, RunResult[]> = { paddock: [], dhcpcd: [] };
  // One untimed run each: page cache, dhcpcd's secret and DUID files.
  for (const c of clients) await run(c);
  for (let i = 0; i < RUNS; i++) {
    for (const c of clients) results[c].push(await run(c));
    process.stdout.write(`  round ${i + 1}/${RUNS}: ${clients.map((c) => `${c} ${results[c].at(-1)!.startToAddress.toFixed(1)} ms (RA → address ${results[c].at(-1)!.raToAddress.toFixed(1)})`).join(", ")}\n`);
  }
  const s = (c: ClientName, k: keyof RunResult) => summarize(results[c].map((r) => r[k]));
  const ratio = (a: ReturnType<typeof summarize>, b: ReturnType<typeof summarize>) => (a.median / b.median).toFixed(2);
  console.log(`\nmedian (min–max) of ${RUNS} runs, ms; radvd answering solicitations, the clients interleaved\n`);
  console.log(table([
    ["client", "start → address", "/ dhcpcd", "RA → address", "/ dhcpcd"],
    ["paddock ra", fmt(s("paddock", "startToAddress")), ratio(s("paddock", "startToAddress"), s("dhcpcd", "startToAddress")), fmt(s("paddock", "raToAddress")), ratio(s("paddock", "raToAddress"), s("dhcpcd", "raToAddress"))],
    ["dhcpcd -6 (slaac private)", fmt(s("dhcpcd", "startToAddress")), "1.00", fmt(s("dhcpcd", "raToAddress")), "1.00"],
  ]));
  observer.close();
  nl.close();
} finally {
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await lab.destroy();
  if (existsSync(DHCPCD_DB)) for (const f of readdirSync(DHCPCD_DB)) if (!dhcpcdDbBefore.has(f)) rmSync(path.join(DHCPCD_DB, f), { force: true });
}
